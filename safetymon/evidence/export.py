"""Export records to CSV, JSON Lines or Parquet, streamed in batches (bounded memory).

JSON Lines: one object per record, ``{"seq", "hash", "record": <the hashed body>}``; the body
is copied byte for byte, so each line can be re-hashed independently. CSV and Parquet: one
row per record with the columns of ``COLUMNS``: episodes are flattened (list fields are
Parquet lists, ``;``-joined in CSV; ``snapshots`` is the JSON list of snapshot refs, empty
when there are none); other kinds leave the episode columns empty and carry their whole
payload as canonical JSON in ``payload``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tqdm import tqdm

from safetymon.evidence.reader import StoredRecord, count_records, iter_records, open_readonly
from safetymon.evidence.records import EPISODE

Format = Literal["csv", "jsonl", "parquet"]
FORMATS: tuple[str, ...] = ("csv", "jsonl", "parquet")

# (column, type) — types: str, int, float, list_str, list_int (nullable everywhere)
COLUMNS: tuple[tuple[str, str], ...] = (
    ("seq", "int"),
    ("kind", "str"),
    ("time_utc", "str"),
    ("hash", "str"),
    ("prev_hash", "str"),
    ("episode_id", "str"),
    ("continues_episode_id", "str"),
    ("episode_kind", "str"),
    ("category", "str"),
    ("start_utc", "str"),
    ("end_utc", "str"),
    ("duration_s", "float"),
    ("worst_state", "str"),
    ("min_speed_scale", "float"),
    ("reasons", "list_str"),
    ("zones", "list_str"),
    ("track_ids", "list_int"),
    ("robot_ids", "list_str"),
    ("closest_utc", "str"),
    ("min_distance_m", "float"),
    ("protective_separation_m", "float"),
    ("human_speed_mps", "float"),
    ("robot_speed_mps", "float"),
    ("reaction_latency_s", "float"),
    ("snapshots", "str"),
    ("snapshot_error", "str"),
    ("config_hash", "str"),
    ("model_hash", "str"),
    ("software_version", "str"),
    ("payload", "str"),
)
_EPISODE_HEAD = (
    "episode_id", "continues_episode_id", "kind", "category", "start_utc", "end_utc",
    "duration_s", "worst_state", "min_speed_scale",
)  # fmt: skip
_LISTS = ("reasons", "zones", "track_ids", "robot_ids")
_EPISODE_TAIL_A = (
    "closest_utc", "min_distance_m", "protective_separation_m", "human_speed_mps",
    "robot_speed_mps", "reaction_latency_s",
)  # fmt: skip
_EPISODE_TAIL_B = ("snapshot_error", "config_hash", "model_hash", "software_version")
_NO_EPISODE = (None,) * (len(COLUMNS) - 6)


class ExportError(Exception):
    """The export cannot be written (bad arguments, missing pyarrow, output error)."""


@dataclass(frozen=True)
class ExportSummary:
    """What was written."""

    path: Path
    format: str
    rows: int


def _canonical(value: Any) -> str:
    """Compact sorted JSON of a value read from a canonical body (so canonical too)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def payload_text(body: str) -> str:
    """The payload's canonical JSON, cut out of a canonical record body without re-encoding.

    Body keys are sorted (kind, payload, prev, time_utc) and ``prev``/``time_utc`` are fixed
    strings, so the payload runs from after ``"payload":`` to the last ``,"prev":"``.
    """
    start = body.index(',"payload":') + len(',"payload":')
    return body[start : body.rindex(',"prev":"')]


def prev_hash(body: str) -> str:
    """The ``prev`` hash of a canonical record body."""
    start = body.rindex(',"prev":"') + len(',"prev":"')
    return body[start : start + 64]


def flatten(record: StoredRecord) -> list[Any]:
    """One row (values in ``COLUMNS`` order; lists as Python lists) for a stored record."""
    text = payload_text(record.body)
    row: list[Any] = [record.seq, record.kind, record.time_utc, record.hash, prev_hash(record.body)]
    if record.kind != EPISODE:
        return [*row, *_NO_EPISODE, text]
    payload = json.loads(text)
    get = payload.get
    snapshots = get("snapshots")
    row += [get(name) for name in _EPISODE_HEAD]
    row += [get(name) or [] for name in _LISTS]
    row += [get(name) for name in _EPISODE_TAIL_A]
    row.append(_canonical(snapshots) if snapshots else None)
    row += [get(name) for name in _EPISODE_TAIL_B]
    row.append(None)
    return row


def with_progress(
    records: Iterable[StoredRecord], total: int, progress: bool
) -> Iterator[StoredRecord]:
    """``records`` passed through, with a progress bar of ``total`` on stderr if wanted."""
    bar = tqdm(total=total, unit="rec", disable=not progress, desc="export", mininterval=0.5)
    with bar:
        for number, record in enumerate(records, 1):
            yield record
            if number % 1000 == 0:
                bar.update(1000)
        bar.update(bar.total - bar.n if bar.total else 0)


def _records(
    db_path: Path,
    since: str | None,
    until: str | None,
    kinds: Sequence[str] | None,
    progress: bool,
) -> Iterator[StoredRecord]:
    conn = open_readonly(db_path)
    try:
        total = count_records(conn, since=since, until=until, kinds=kinds)
        yield from with_progress(
            iter_records(conn, since=since, until=until, kinds=kinds), total, progress
        )
    finally:
        conn.close()


def export_records(
    db_path: str | Path,
    out: str | Path,
    fmt: Format,
    *,
    since: str | None = None,
    until: str | None = None,
    kinds: Sequence[str] | None = None,
    progress: bool = False,
    batch_rows: int = 10_000,
) -> ExportSummary:
    """Write the records in ``[since, until)`` (UTC text) to ``out`` in format ``fmt``.

    The output is written to ``out`` + ``.partial`` and renamed when complete.
    """
    if fmt not in FORMATS:
        raise ExportError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    records = _records(Path(db_path), since, until, kinds, progress)
    return write_records(records, out, fmt, batch_rows=batch_rows)


def write_records(
    records: Iterator[StoredRecord], out: str | Path, fmt: Format, *, batch_rows: int = 10_000
) -> ExportSummary:
    """Write ``records`` (from any source: a cell's store, the central copy) to ``out`` in
    format ``fmt``, through ``out`` + ``.partial`` renamed when complete."""
    if fmt not in FORMATS:
        raise ExportError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    try:
        if fmt == "jsonl":
            rows = _write_jsonl(records, partial)
        elif fmt == "csv":
            rows = _write_csv(records, partial)
        else:
            rows = _write_parquet(records, partial, batch_rows)
        partial.replace(out)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise ExportError(f"{out}: cannot write: {error}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return ExportSummary(out, fmt, rows)


def _write_jsonl(records: Iterator[StoredRecord], path: Path) -> int:
    rows = 0
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for record in records:
            handle.write(f'{{"hash":"{record.hash}","record":{record.body},"seq":{record.seq}}}\n')
            rows += 1
    return rows


def _write_csv(records: Iterator[StoredRecord], path: Path) -> int:
    rows = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([name for name, _ in COLUMNS])
        lists = [index for index, (_, kind) in enumerate(COLUMNS) if kind.startswith("list")]
        for record in records:
            row = flatten(record)
            if row[1] == EPISODE:
                for index in lists:
                    row[index] = ";".join(map(str, row[index]))
            writer.writerow(row)
            rows += 1
    return rows


def _write_parquet(records: Iterator[StoredRecord], path: Path, batch_rows: int) -> int:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ExportError(
            "Parquet export needs pyarrow: pip install 'safetymon[parquet]'"
        ) from None
    types = {
        "int": pa.int64(),
        "float": pa.float64(),
        "str": pa.string(),
        "list_str": pa.list_(pa.string()),
        "list_int": pa.list_(pa.int64()),
    }
    schema = pa.schema([(name, types[kind]) for name, kind in COLUMNS])
    rows = 0
    with pq.ParquetWriter(str(path), schema, compression="zstd") as writer:
        batch: list[list[Any]] = []
        for record in records:
            batch.append(flatten(record))
            if len(batch) >= batch_rows:
                writer.write_table(_table(pa, batch, schema))
                rows += len(batch)
                batch = []
        if batch or rows == 0:
            writer.write_table(_table(pa, batch, schema))
            rows += len(batch)
    return rows


def _table(pa: Any, batch: list[list[Any]], schema: Any) -> Any:
    columns = [list(column) for column in zip(*batch, strict=True)] if batch else None
    columns = columns or [[] for _ in COLUMNS]
    return pa.Table.from_arrays(columns, schema=schema)
