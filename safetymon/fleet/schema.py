"""The central PostgreSQL schema and its versioned migrations.

Tables (all prefixed ``fleet_``):

- ``fleet_migrations(version, name, applied_at)``: the migrations applied, in order.
- ``fleet_stores(store_id, public_key, registered_at, head_seq, head_hash)``: one row per
  cell store; the public key is registered on the store's first accepted batch and never
  changes; ``head_*`` is the last accepted record.
- ``fleet_records(store_id, seq, kind, time_utc, body, hash, received_at)``: every accepted
  record, byte for byte as the cell wrote it; primary key (store_id, seq).
- ``fleet_heads(store_id, seq, hash, signature, accepted_at)``: every signed head accepted.
- ``fleet_refusals(id, store_id, first_divergent_seq, reason, detail, at)``: every refused
  batch or divergent cell, kept for the fleet operator.

Version 2 makes the database itself enforce what ingest checks first: records and heads
are append-only (UPDATE, DELETE and TRUNCATE raise), and an inserted record must hash to
its ``hash`` and link (body ``prev``) to the record before it. Ed25519 signatures are
checked by ingest (PostgreSQL has no Ed25519), see ``centre/ingest.py``.

``migrate`` applies missing versions one transaction each, under an advisory lock, so
concurrent shippers and repeated runs are safe; a database with a version newer than this
code is refused.
"""

from __future__ import annotations

import psycopg

_LOCK_KEY = 0x5AFE_7E1D
"""pg_advisory_xact_lock key serialising migrations."""

_V1 = """
CREATE TABLE fleet_stores (
    store_id text PRIMARY KEY,
    public_key text NOT NULL CHECK (public_key ~ '^[0-9a-f]{64}$'),
    registered_at timestamptz NOT NULL DEFAULT now(),
    head_seq bigint NOT NULL DEFAULT 0 CHECK (head_seq >= 0),
    head_hash text NOT NULL DEFAULT repeat('0', 64)
);
CREATE TABLE fleet_records (
    store_id text NOT NULL REFERENCES fleet_stores (store_id),
    seq bigint NOT NULL CHECK (seq >= 1),
    kind text NOT NULL,
    time_utc text NOT NULL,
    body text NOT NULL,
    hash text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, seq)
);
CREATE INDEX fleet_records_time ON fleet_records (time_utc);
CREATE TABLE fleet_heads (
    store_id text NOT NULL REFERENCES fleet_stores (store_id),
    seq bigint NOT NULL,
    hash text NOT NULL,
    signature text NOT NULL,
    accepted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, seq)
);
CREATE TABLE fleet_refusals (
    id bigserial PRIMARY KEY,
    store_id text NOT NULL,
    first_divergent_seq bigint,
    reason text NOT NULL,
    detail text NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);
"""

_V2 = """
CREATE FUNCTION fleet_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'safetymon centre: % on % is not allowed (append-only evidence)',
        TG_OP, TG_TABLE_NAME;
END $$;
CREATE TRIGGER fleet_records_append_only BEFORE UPDATE OR DELETE ON fleet_records
    FOR EACH ROW EXECUTE FUNCTION fleet_append_only();
CREATE TRIGGER fleet_records_no_truncate BEFORE TRUNCATE ON fleet_records
    FOR EACH STATEMENT EXECUTE FUNCTION fleet_append_only();
CREATE TRIGGER fleet_heads_append_only BEFORE UPDATE OR DELETE ON fleet_heads
    FOR EACH ROW EXECUTE FUNCTION fleet_append_only();
CREATE TRIGGER fleet_heads_no_truncate BEFORE TRUNCATE ON fleet_heads
    FOR EACH STATEMENT EXECUTE FUNCTION fleet_append_only();

CREATE FUNCTION fleet_check_link() RETURNS trigger LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    expected text;
BEGIN
    IF encode(sha256(convert_to(NEW.body, 'UTF8')), 'hex') <> NEW.hash THEN
        RAISE EXCEPTION 'safetymon centre: store % record #%: body does not match its hash',
            NEW.store_id, NEW.seq;
    END IF;
    IF NEW.seq = 1 THEN
        expected := repeat('0', 64);
    ELSE
        SELECT hash INTO expected FROM fleet_records
            WHERE store_id = NEW.store_id AND seq = NEW.seq - 1;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'safetymon centre: store % record #%: record #% is not held',
                NEW.store_id, NEW.seq, NEW.seq - 1;
        END IF;
    END IF;
    IF (NEW.body::jsonb ->> 'prev') IS DISTINCT FROM expected THEN
        RAISE EXCEPTION 'safetymon centre: store % record #%: does not link to record #%',
            NEW.store_id, NEW.seq, NEW.seq - 1;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER fleet_records_chain BEFORE INSERT ON fleet_records
    FOR EACH ROW EXECUTE FUNCTION fleet_check_link();
"""

MIGRATIONS: dict[int, tuple[str, str]] = {
    1: ("stores, records, heads, refusals", _V1),
    2: ("append-only records and heads; hash and link checked on insert", _V2),
}
"""Version -> (name, SQL). Applied in version order; never edit an applied one."""

SCHEMA_VERSION = max(MIGRATIONS)


class CentreSchemaError(Exception):
    """The central database's schema cannot be used by this code."""


def applied_versions(conn: psycopg.Connection) -> list[int]:
    """Versions recorded in ``fleet_migrations`` (empty when the table does not exist)."""
    row = conn.execute("SELECT to_regclass('fleet_migrations')").fetchone()
    if row is None or row[0] is None:
        return []
    return [int(r[0]) for r in conn.execute("SELECT version FROM fleet_migrations ORDER BY 1")]


def migrate(conn: psycopg.Connection) -> list[int]:
    """Apply the missing migrations in order (one transaction each); returns those applied.

    Idempotent and safe to run from several shippers at once. Raises CentreSchemaError when
    the database holds a version this code does not know (newer safetymon).
    """
    done: list[int] = []
    applied = applied_versions(conn)
    if set(applied) == set(MIGRATIONS):
        return done  # nothing to do: no DDL, so a role without CREATE rights may ship
    for version in sorted(MIGRATIONS):
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS fleet_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            applied = applied_versions(conn)
            newer = [v for v in applied if v not in MIGRATIONS]
            if newer:
                raise CentreSchemaError(
                    f"the central database has schema version(s) {newer} unknown to this "
                    f"safetymon (it knows up to {SCHEMA_VERSION}); upgrade safetymon"
                )
            if version in applied:
                continue
            missing = [v for v in MIGRATIONS if v < version and v not in applied]
            if missing:
                raise CentreSchemaError(f"migration {version} needs {missing} first")
            name, sql = MIGRATIONS[version]
            conn.execute(sql)
            conn.execute(
                "INSERT INTO fleet_migrations (version, name) VALUES (%s, %s)", (version, name)
            )
            done.append(version)
    return done
