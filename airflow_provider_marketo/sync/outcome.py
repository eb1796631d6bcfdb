"""What Marketo took: the rows sent, matched with the jobs' outcomes, and the snapshot that records them.

The rows sent are the file the diff wrote, sent in its order: a job's rows are the next ``rows`` of
that file. A row is recorded as processed (its fingerprint committed, warned rows included) unless

- its job ended ``Failed``, or its counts do not add up (processed + failed != rows sent): none of
  that job's rows are recorded, so they are sent again;
- it is in the failures file: matched by its key, or, for a row that came back without its key
  column (Marketo leaves out an empty lookup value), by the fingerprint of the other fields it holds
  (every sent row of that job with the same fields counts as failed). A failed row that matches no
  row sent leaves its whole job unrecorded. A failed row keeps its committed fingerprint and is
  marked ``failed``: the next run sends it again (``retried``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_marketo.sync.engine import quote_identifier, read_csv_sql, sql_literal
from airflow_provider_marketo.sync.fingerprint import fingerprint_sql
from airflow_provider_marketo.sync.keys import normalize_key_sql
from airflow_provider_marketo.sync.spec import KeySpec

BATCH_ID_COLUMN = "batch_id"


@dataclass(frozen=True)
class JobOutcome:
    """One job, in the order its part was sent."""

    batch_id: int
    rows: int
    #: Complete, and its counts add up.
    usable: bool


@dataclass(frozen=True)
class SentFile:
    location: str
    header: tuple[str, ...]
    file_format: str


@dataclass(frozen=True)
class FailuresFile:
    """The merged failures file (``batch_id`` first, the data columns, the reason last)."""

    location: str
    header: tuple[str, ...]
    file_format: str


def _match(header: Sequence[str], field: str) -> str | None:
    return next((c for c in header if c.lower() == field.lower()), None)


def record_outcomes(
    con: Any,
    sent: SentFile,
    jobs: Sequence[JobOutcome],
    failures: FailuresFile | None,
    key: KeySpec,
) -> dict[str, int]:
    """Build temp table ``outcome`` (k0.., fp, state: processed | failed | unrecorded); return counts."""
    k_names = [f"_sync_k{i}" for i in range(len(key.fields))]
    key_cols = [_match(sent.header, f) or f for f in key.fields]
    keys_sql = [
        normalize_key_sql(quote_identifier(c), email=e) for c, e in zip(key_cols, key.email, strict=True)
    ]
    others = [c for c in sent.header if c not in key_cols]
    fp = fingerprint_sql((c, quote_identifier(c)) for c in sent.header)
    shared: list[tuple[str, str]] = []
    if failures is not None:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE failures AS SELECT * FROM "
            + read_csv_sql(failures.location, failures.header, failures.file_format)
        )
        data = list(failures.header[1:-1])
        shared = [(c, m) for c in others if (m := _match(data, c)) is not None]
    # Only keys and fingerprints are held (not the rows): ``_sync_ofp`` is the fingerprint of the
    # fields a failures row can be matched by when it lacks its key.
    ofp = fingerprint_sql((c, quote_identifier(c)) for c, _ in shared)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE sent AS SELECT row_number() OVER () AS _sync_row, "
        + ", ".join(f"{s} AS {k}" for s, k in zip(keys_sql, k_names, strict=True))
        + f", {fp} AS _sync_fp, {ofp} AS _sync_ofp FROM "
        + read_csv_sql(sent.location, sent.header, sent.file_format)
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE jobs (batch_id BIGINT, first_row BIGINT, last_row BIGINT, usable BOOLEAN)"
    )
    first = 1
    for job in jobs:
        con.execute(
            "INSERT INTO jobs VALUES (?, ?, ?, ?)", [job.batch_id, first, first + job.rows - 1, job.usable]
        )
        first += job.rows
    con.execute(
        "CREATE OR REPLACE TEMP TABLE sent_jobs AS SELECT s.*, j.batch_id AS _sync_batch, j.usable AS _sync_usable "
        "FROM sent s LEFT JOIN jobs j ON s._sync_row BETWEEN j.first_row AND j.last_row"
    )
    con.execute("CREATE OR REPLACE TEMP TABLE failed_rows (_sync_row BIGINT)")
    con.execute("CREATE OR REPLACE TEMP TABLE unmatched_jobs (batch_id BIGINT)")
    if failures is not None:
        _match_failures(con, failures, key, k_names, shared)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE outcome AS SELECT "
        + ", ".join(k_names)
        + ", _sync_fp AS fp, CASE WHEN _sync_batch IS NULL OR NOT _sync_usable OR _sync_batch IN (SELECT batch_id FROM unmatched_jobs) "
        "THEN 'unrecorded' WHEN _sync_row IN (SELECT _sync_row FROM failed_rows) THEN 'failed' ELSE 'processed' END "
        "AS state FROM sent_jobs"
    )
    return dict(con.execute("SELECT state, count(*) FROM outcome GROUP BY state").fetchall())


def _match_failures(
    con: Any, failures: FailuresFile, key: KeySpec, k_names: list[str], shared: list[tuple[str, str]]
) -> None:
    header = list(failures.header)
    data = header[1:-1]
    f_keys = [_match(data, f) for f in key.fields]
    key_sql = [
        "''" if col is None else normalize_key_sql(quote_identifier(col), email=e)
        for col, e in zip(f_keys, key.email, strict=True)
    ]
    batch = f"TRY_CAST({quote_identifier(header[0])} AS BIGINT)"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE f AS SELECT {batch} AS _sync_fbatch, "
        + ", ".join(f"{s} AS {k}" for s, k in zip(key_sql, k_names, strict=True))
        + ", * FROM failures"
    )
    with_key = " AND ".join(f"f.{k} <> ''" for k in k_names)
    on = " AND ".join(f"s.{k} = f.{k}" for k in k_names)
    con.execute(
        f"INSERT INTO failed_rows SELECT s._sync_row FROM sent_jobs s JOIN f ON {on} WHERE {with_key}"
    )
    # Rows that came back without their key: the fingerprint of the other fields they hold.
    s_fp = "s._sync_ofp"
    f_fp = fingerprint_sql((c, f"f.{quote_identifier(m)}") for c, m in shared)
    con.execute(
        f"INSERT INTO failed_rows SELECT s._sync_row FROM sent_jobs s JOIN f ON s._sync_batch = f._sync_fbatch "
        f"AND {s_fp} = {f_fp} WHERE NOT ({with_key})"
    )
    # A failed row that matches nothing sent: its job (or, without a batch id, every job) is not recorded.
    con.execute(
        "INSERT INTO unmatched_jobs SELECT DISTINCT coalesce(f._sync_fbatch, j.batch_id) FROM f "
        "LEFT JOIN jobs j ON f._sync_fbatch IS NULL "
        f"WHERE NOT EXISTS (SELECT 1 FROM sent_jobs s WHERE s._sync_batch = f._sync_fbatch AND ({on} AND {with_key} "
        f"OR NOT ({with_key}) AND {s_fp} = {f_fp}))"
    )


def write_snapshot(con: Any, *, key: KeySpec, base: str | None, run_id: str, dest: str) -> int:
    """Write the new snapshot to ``dest`` (Parquet) after :func:`record_outcomes`: ``base`` (None:
    rebuilt from this run only) with the processed rows' fingerprints and the failed rows marked;
    unrecorded rows keep their base row (or none). Returns its rows."""
    pairs = list(zip([f"_sync_k{i}" for i in range(len(key.fields))], key.fields, strict=True))
    fields = ", ".join(quote_identifier(f) for _, f in pairs)
    as_fields = ", ".join(f"o.{k} AS {quote_identifier(f)}" for k, f in pairs)
    on = " AND ".join(f"b.{quote_identifier(f)} = o.{k}" for k, f in pairs)
    touched = "(SELECT * FROM outcome WHERE state <> 'unrecorded')"
    if base is None:
        kept = ""
        prior = "NULL::VARCHAR"
        join = ""
    else:
        src = f"read_parquet({sql_literal(base)})"
        kept = (
            f"SELECT {fields}, fingerprint, failed, run_id FROM {src} b "
            f"WHERE NOT EXISTS (SELECT 1 FROM {touched} o WHERE {on}) UNION ALL "
        )
        prior = "b.fingerprint"
        join = f"LEFT JOIN {src} b ON {on}"
    con.execute(
        f"COPY ({kept}SELECT {as_fields}, "
        f"CASE WHEN o.state = 'processed' THEN o.fp ELSE {prior} END AS fingerprint, "
        f"o.state = 'failed' AS failed, {sql_literal(run_id)} AS run_id FROM {touched} o {join} "
        f"ORDER BY {fields}) TO {sql_literal(dest)} (FORMAT parquet, COMPRESSION zstd)"
    )
    return int(con.execute(f"SELECT count(*) FROM read_parquet({sql_literal(dest)})").fetchone()[0])
