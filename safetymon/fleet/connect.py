"""Connecting to the central PostgreSQL.

Connection details come from the ``postgresql://`` URL and, for anything it leaves out, the
standard libpq ``PG*`` environment variables (``PGHOST``, ``PGPORT``, ``PGUSER``,
``PGDATABASE``, ``PGPASSWORD``, ``PGSSLMODE``, ...) and ``~/.pgpass``; libpq resolves them.
A password inside the URL is refused: a command line is visible to every local user (and a
URL tends to end up in site files): use ``PGPASSWORD``, ``PGPASSFILE`` or ``~/.pgpass``.
"""

from __future__ import annotations

import psycopg
from psycopg import conninfo

URL_PREFIXES = ("postgresql://", "postgres://")


class CentreConnectionError(Exception):
    """The centre cannot be reached or the URL is unusable (message names which and why)."""


def is_postgres_url(text: str) -> bool:
    """True for a ``postgresql://`` (or ``postgres://``) URL."""
    return text.startswith(URL_PREFIXES)


def describe(url: str) -> str:
    """The URL without any secret, for messages (host, port, database, user)."""
    try:
        parts = conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "postgresql://(unparsable URL)"
    host = parts.get("host", "$PGHOST")
    port = f":{parts['port']}" if "port" in parts else ""
    user = f"{parts['user']}@" if "user" in parts else ""
    return f"postgresql://{user}{host}{port}/{parts.get('dbname', '$PGDATABASE')}"


def check_url(url: str) -> None:
    """Refuse a URL that is not PostgreSQL, does not parse, or carries a password."""
    if not is_postgres_url(url):
        raise CentreConnectionError(f"{url!r} is not a postgresql:// URL")
    try:
        parts = conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as error:
        raise CentreConnectionError(f"cannot parse the centre URL: {error}") from None
    if "password" in parts:
        raise CentreConnectionError(
            f"{describe(url)}: a password in the URL is refused; use PGPASSWORD, "
            "PGPASSFILE or ~/.pgpass"
        )


def connect(
    url: str, *, connect_timeout_s: float = 10.0, **params: str | int
) -> psycopg.Connection:
    """An autocommit connection to the centre (each ingest step opens its own transaction).

    ``params``: more libpq connection parameters (e.g. ``keepalives_idle``,
    ``tcp_user_timeout`` in milliseconds, ``options``).
    """
    check_url(url)
    try:
        return psycopg.connect(
            url,
            autocommit=True,
            connect_timeout=max(1, round(connect_timeout_s)),
            application_name="safetymon",
            **params,
        )
    except psycopg.Error as error:
        raise CentreConnectionError(
            f"cannot connect to the centre {describe(url)}: {str(error).strip()}"
        ) from None
