"""The diff: today's rows against the committed snapshot, and the file of rows to send.

Every row of the staged file gets its data row number, its key (normalised by
:mod:`airflow_provider_marketo.sync.keys`) and its fingerprint. A row is sent when its key is new,
when its fingerprint differs from the committed one, or when it failed last time (``retried``); the
others are ``unchanged``. Keys in the state but not in today's file are ``absent`` (they stay in the
state). Rows with an empty key cannot be tracked: in a change-only run they are not sent but written
to their own file. Duplicate keys fail the run (up to 10 named with their row numbers) unless
``duplicate_keys="keep_last"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from airflow_provider_marketo.sync.engine import (
    ORDERLESS_THREADS,
    copy_options,
    import_duckdb,
    input_error,
    quote_identifier,
    read_csv_sql,
)
from airflow_provider_marketo.sync.fingerprint import fingerprint_sql
from airflow_provider_marketo.sync.keys import normalize_key_sql
from airflow_provider_marketo.sync.spec import Columns, KeySpec
from airflow_provider_marketo.utils.formats import InputFileError

DuplicateKeys = Literal["fail", "keep_last"]
DUPLICATE_KEYS = ("fail", "keep_last")
#: Duplicate keys named in the error.
MAX_DUPLICATES_NAMED = 10
#: The counts of a diff, in the order reported.
COUNT_NAMES = (
    "rows_total",
    "rows_new",
    "rows_changed",
    "rows_unchanged",
    "rows_retried",
    "rows_absent",
    "rows_without_key",
    "duplicate_keys",
    "rows_to_send",
)


class DuplicateKeyError(InputFileError):
    """Two or more rows of one export have the same key."""


@dataclass(frozen=True)
class Source:
    """The file to diff, as DuckDB opens it, and its dialect."""

    location: str
    header: tuple[str, ...]
    file_format: str
    name: str


@dataclass(frozen=True)
class Baseline:
    """What the diff compares against: the committed snapshot (None: none, every row is new), and
    whether every row counts as changed (the columns, mapping or fingerprint algorithm changed)."""

    snapshot: str | None = None
    all_changed: bool = False


@dataclass
class DiffResult:
    counts: dict[str, int] = field(default_factory=dict)


def _keys(key: KeySpec, columns: Columns, source_name: str) -> list[str]:
    return [
        normalize_key_sql(quote_identifier(columns.source_of(f, source_name)), email=email)
        for f, email in zip(key.fields, key.email, strict=True)
    ]


def run_diff(
    con: Any,
    source: Source,
    *,
    key: KeySpec,
    columns: Columns,
    baseline: Baseline,
    duplicate_keys: DuplicateKeys,
    send_to: str,
    keyless_to: str | None,
    send_keyless: bool = False,
) -> DiffResult:
    """Diff ``source`` against ``baseline``; write the rows to send (Marketo header, same dialect, file
    order) to ``send_to`` and, when any, the rows without key (source header) to ``keyless_to``.

    ``send_keyless``: send rows without key too (a dry run of a plain import, which sends every row).
    """
    if duplicate_keys not in DUPLICATE_KEYS:
        raise ValueError(f"duplicate_keys must be 'fail' or 'keep_last', got {duplicate_keys!r}.")
    key_sql = _keys(key, columns, source.name)
    k_names = [f"k{i}" for i in range(len(key_sql))]
    fp = fingerprint_sql((name, quote_identifier(col)) for col, name in columns.pairs)
    # The file is read twice (keys and fingerprints, then the rows to send), never held whole: one
    # thread, so row_number() is the data row's place in the file both times.
    src = (
        "(SELECT row_number() OVER () AS _row, * FROM "
        + read_csv_sql(source.location, source.header, source.file_format)
        + ")"
    )
    keyless_cond = " OR ".join(f"{k} = ''" for k in k_names)
    con.execute("SET threads = 1")
    try:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE today AS SELECT _row, "
            + ", ".join(f"{sql} AS {k}" for sql, k in zip(key_sql, k_names, strict=True))
            + f", {fp} AS fp FROM {src}"
        )
    except import_duckdb().Error as err:
        raise input_error(err, source.name) from err
    total = con.execute("SELECT count(*) FROM today").fetchone()[0]
    keyless = con.execute(f"SELECT count(*) FROM today WHERE {keyless_cond}").fetchone()[0]
    k_list = ", ".join(k_names)
    # Counted first on several threads (order does not matter here); the rows of each repeated key are
    # listed only when there are any.
    con.execute(f"SET threads = {ORDERLESS_THREADS}")
    repeated = con.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM today WHERE NOT ({keyless_cond}) "
        f"GROUP BY {k_list} HAVING count(*) > 1)"
    ).fetchone()[0]
    dups = []
    if repeated:
        dups = con.execute(
            f"SELECT {k_list}, list(_row ORDER BY _row) FROM today WHERE NOT ({keyless_cond}) "
            f"GROUP BY {k_list} HAVING count(*) > 1 ORDER BY min(_row)"
        ).fetchall()
    if dups and duplicate_keys == "fail":
        raise _duplicate_error(dups, key, source.name)
    # One row per key: the last (keep_last), rows without key apart (no window without duplicates).
    last_of_key = f" QUALIFY row_number() OVER (PARTITION BY {k_list} ORDER BY _row DESC) = 1" if dups else ""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE keyed AS SELECT * FROM today WHERE NOT ({keyless_cond}){last_of_key}"
    )
    if baseline.snapshot is None:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE base AS SELECT "
            + ", ".join(f"NULL::VARCHAR AS {k}" for k in k_names)
            + ", NULL::VARCHAR AS fp, NULL::BOOLEAN AS failed LIMIT 0"
        )
    else:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE base AS SELECT "
            + ", ".join(f"{quote_identifier(f)} AS {k}" for f, k in zip(key.fields, k_names, strict=True))
            + f", fingerprint AS fp, failed FROM read_parquet('{baseline.snapshot.replace(chr(39), chr(39) * 2)}')"
        )
    changed = "true" if baseline.all_changed else "b.fp IS DISTINCT FROM t.fp"
    on = " AND ".join(f"b.{k} = t.{k}" for k in k_names)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE classified AS SELECT t._row, CASE "
        "WHEN b.k0 IS NULL THEN 'new' WHEN b.failed THEN 'retried' "
        f"WHEN {changed} THEN 'changed' ELSE 'unchanged' END AS kind "
        f"FROM keyed t LEFT JOIN base b ON {on}"
    )
    by_kind = dict(con.execute("SELECT kind, count(*) FROM classified GROUP BY kind").fetchall())
    absent = con.execute(
        f"SELECT count(*) FROM base b WHERE NOT EXISTS (SELECT 1 FROM keyed t WHERE {on})"
    ).fetchone()[0]
    con.execute("SET threads = 1")  # the file is read again: row_number() must follow its order
    send_rows = "SELECT _row FROM classified WHERE kind <> 'unchanged'"
    if send_keyless:
        send_rows += f" UNION ALL SELECT _row FROM today WHERE {keyless_cond}"
    selected = ", ".join(
        f"{quote_identifier(col)} AS {quote_identifier(name)}" for col, name in columns.pairs
    )
    con.execute(
        f"COPY (SELECT {selected} FROM {src} WHERE _row IN ({send_rows}) ORDER BY _row) "
        f"TO '{send_to.replace(chr(39), chr(39) * 2)}' ({copy_options(source.file_format)})"
    )
    if keyless and keyless_to is not None:
        everything = ", ".join(quote_identifier(c) for c in source.header)
        con.execute(
            f"COPY (SELECT {everything} FROM {src} WHERE _row IN (SELECT _row FROM today WHERE {keyless_cond}) "
            f"ORDER BY _row) TO '{keyless_to.replace(chr(39), chr(39) * 2)}' ({copy_options(source.file_format)})"
        )
    counts = {
        "rows_total": total,
        "rows_new": by_kind.get("new", 0),
        "rows_changed": by_kind.get("changed", 0),
        "rows_unchanged": by_kind.get("unchanged", 0),
        "rows_retried": by_kind.get("retried", 0),
        "rows_absent": absent,
        "rows_without_key": keyless,
        "duplicate_keys": sum(len(rows) - 1 for *_, rows in dups),
    }
    counts["rows_to_send"] = (
        counts["rows_new"]
        + counts["rows_changed"]
        + counts["rows_retried"]
        + (keyless if send_keyless else 0)
    )
    return DiffResult(counts)


def _duplicate_error(dups: list[Any], key: KeySpec, source_name: str) -> DuplicateKeyError:
    named = []
    for *values, rows in dups[:MAX_DUPLICATES_NAMED]:
        shown = ", ".join(f"{f}={v!r}" for f, v in zip(key.fields, values, strict=True))
        named.append(
            f"{shown} (data rows {', '.join(str(r) for r in rows[:5])}{'...' if len(rows) > 5 else ''})"
        )
    more = f" and {len(dups) - MAX_DUPLICATES_NAMED} more" if len(dups) > MAX_DUPLICATES_NAMED else ""
    return DuplicateKeyError(
        f"{source_name}: {len(dups)} key(s) appear in more than one row: {'; '.join(named)}{more}. "
        "Nothing was sent. Remove the duplicates, or pass duplicate_keys='keep_last' to send the last "
        "row of each key."
    )


def counts_of(result: DiffResult) -> Mapping[str, int]:
    return {name: result.counts[name] for name in COUNT_NAMES}
