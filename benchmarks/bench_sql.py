"""SQL transfer benchmark: staging a SQLite query result with ``SqlToMarketoOperator`` from 10k to 1M rows.

    .venv/bin/python -m benchmarks.bench_sql [--rows 10000,1000000]

For each size a SQLite table of lead rows with hostile text (quotes, delimiters, CR/LF, unicode),
NULLs, integers and floats is generated, then a child process per tool runs the query and writes the
staged CSV: ours is ``SqlToMarketoOperator.resolve_source`` (``fetchmany`` batches through
``RowWriter``); the baseline is the hand-written export of example DAG 1 (``fetchall()`` then
``csv.writer.writerows``). Each child reports its rows per second and its memory growth (peak RSS
during the staging minus RSS just before). Memory is flat when the growth at the largest size is at
most that at the smallest plus a few MB; the baseline's grows with the result.
"""

from __future__ import annotations

import argparse
import csv
import io
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from benchmarks.harness import (
    Row,
    emit,
    peak_rss_kb,
    prepare_environment,
    reset_peak_rss,
    row,
    rss_kb,
    run_child,
)
from benchmarks.table import print_table

BENCH = "sql transfer staging"
QUERY = (
    "SELECT email, first_name AS firstName, last_name AS lastName, company, title, score AS leadScore, "
    "revenue AS annualRevenue FROM leads ORDER BY id"
)
TEXTS = ['VP "Growth", EMEA', "line\nbreak", "crlf\r\ninside", "naïve café 日本", "semi;colon\ttab", "plain"]
#: Largest memory growth at the largest size beyond that at the smallest (MB): flat, not per row.
FLAT_SLACK_MB = 8.0
#: Largest peak RSS of the staging process at the largest size relative to the smallest.
FLAT_PEAK_RATIO = 1.1
#: Least throughput of ours relative to the fetchall + csv.writer baseline (ours converts each value).
TARGET_SPEED = 0.5


def build(path: Path, rows: int) -> None:
    """A SQLite table of ``rows`` lead rows (about 120 bytes each as CSV)."""
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE leads (id INTEGER PRIMARY KEY, email TEXT, first_name TEXT, last_name TEXT, "
            "company TEXT, title TEXT, score INTEGER, revenue REAL)"
        )
        for start in range(0, rows, 50_000):
            db.executemany(
                "INSERT INTO leads VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        i,
                        f"lead{i}@example.com",
                        f"{TEXTS[i % 6]} {i}",
                        TEXTS[(i * 5) % 6],
                        None if i % 7 == 0 else f"Company {i % 997}, Inc.",
                        TEXTS[(i * 3) % 6],
                        None if i % 5 == 0 else i % 100,
                        None if i % 3 == 0 else i / 8,
                    )
                    for i in range(start, min(start + 50_000, rows))
                ],
            )


def child(database: str, mode: str) -> dict[str, Any]:
    """Stage the query result once (``ours``: the operator; ``fetchall``: the hand-written baseline)."""
    import os

    from airflow_provider_marketo.transfers.sql_to_marketo import SqlToMarketoOperator

    out = Path(tempfile.mkdtemp(prefix="bench-sql-out-"))
    os.environ["AIRFLOW_CONN_BENCH_SQLITE"] = f'{{"conn_type": "sqlite", "host": "{database}"}}'
    # Staging only: no Marketo here, so no schema check (Describe) of the query's columns.
    op = SqlToMarketoOperator(
        task_id="stage", sql=QUERY, sql_conn_id="bench_sqlite", staging_path=str(out), check_schema=False
    )
    ti = SimpleNamespace(dag_id="bench", task_id="stage", run_id="bench", map_index=-1)
    context: Any = {"ti": ti}
    # Warm up outside the measurement: imports, provider discovery, connection lookup, page cache.
    warm = SqlToMarketoOperator(
        task_id="warm",
        sql=QUERY.replace("ORDER BY", "WHERE id < 10 ORDER BY"),
        sql_conn_id="bench_sqlite",
        check_schema=False,
    )
    warm.staging_path = str(out / "warm")
    warm.resolve_source(context)
    sqlite3.connect(database).execute("SELECT count(*), max(email) FROM leads").fetchone()
    before = rss_kb()
    exact = reset_peak_rss()
    start = time.perf_counter()
    if mode == "ours":
        staged = op.resolve_source(context)
        size = staged.stat().st_size
    else:
        with sqlite3.connect(database) as db:
            cursor = db.execute(QUERY)
            rows = cursor.fetchall()
            target = out / "baseline.csv"
            with target.open("w", encoding="utf-8", newline="") as stream:
                writer = csv.writer(stream)
                writer.writerow([d[0] for d in cursor.description])
                writer.writerows(rows)
            size = target.stat().st_size
    seconds = time.perf_counter() - start
    peak = peak_rss_kb()
    growth = peak - before
    with sqlite3.connect(database) as db:
        (count,) = db.execute("SELECT count(*) FROM leads").fetchone()
    shutil.rmtree(out)
    return {
        "seconds": seconds,
        "rows": count,
        "bytes": size,
        "growth_kb": growth,
        "peak_kb": peak,
        "exact_peak": exact,
    }


def _check_same_text(database: Path) -> bool:
    """Ours and the baseline write the same records for the benchmark's data (csv-parsed)."""
    import os

    from airflow_provider_marketo.transfers.sql_to_marketo import SqlToMarketoOperator

    os.environ["AIRFLOW_CONN_BENCH_SQLITE"] = f'{{"conn_type": "sqlite", "host": "{database}"}}'
    with tempfile.TemporaryDirectory(prefix="bench-sql-check-") as tmp:
        op = SqlToMarketoOperator(
            task_id="check", sql=QUERY, sql_conn_id="bench_sqlite", staging_path=tmp, check_schema=False
        )
        ti = SimpleNamespace(dag_id="bench", task_id="check", run_id="check", map_index=-1)
        staged = op.resolve_source({"ti": ti})  # type: ignore[arg-type]
        with staged.open("rb") as raw:  # type: ignore[no-untyped-call]
            ours = list(csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline="")))
    with sqlite3.connect(database) as db:
        cursor = db.execute(QUERY)
        expected = [[d[0] for d in cursor.description]]
        expected += [["" if v is None else str(v) for v in r] for r in cursor]
    return ours == expected


def run(sizes: tuple[int, ...] = (10_000, 1_000_000)) -> list[Row]:
    """Rows per second and memory growth of ours vs fetchall + csv.writer, per size; flatness."""
    results: dict[int, dict[str, dict[str, Any]]] = {}
    correct = True
    with tempfile.TemporaryDirectory(prefix="bench-sql-") as tmp:
        for size in sizes:
            database = Path(tmp) / f"leads-{size}.db"
            build(database, size)
            if size == sizes[0]:
                correct = _check_same_text(database)
            results[size] = {
                mode: run_child("bench_sql", str(database), mode) for mode in ("ours", "fetchall")
            }
            database.unlink()
    rows: list[Row] = []
    for size, by_mode in results.items():
        ours, base = by_mode["ours"], by_mode["fetchall"]
        name = f"{BENCH} {size:,} rows ({ours['bytes'] / 1e6:.0f} MB)"
        ours_speed, base_speed = ours["rows"] / ours["seconds"], base["rows"] / base["seconds"]
        rows += [
            row(
                name,
                "throughput",
                ours_speed,
                base_speed,
                unit="rows/s",
                target=f">= {TARGET_SPEED:g}x baseline",
                met=ours_speed >= TARGET_SPEED * base_speed,
                note="baseline: fetchall() + csv.writer (no value rules, no checks); ours converts floats, "
                "checks every value's type and writes CRLF-quoted CSV batch by batch",
            ),
            row(
                name,
                "memory growth while staging",
                ours["growth_kb"] / 1024,
                base["growth_kb"] / 1024,
                unit="MB",
                note="peak RSS during the staging minus RSS before it; baseline holds the whole result",
            ),
        ]
    small, large = results[sizes[0]]["ours"], results[sizes[-1]]["ours"]
    small_mb, large_mb = small["growth_kb"] / 1024, large["growth_kb"] / 1024
    rows.append(
        row(
            f"{BENCH} {sizes[-1]:,} vs {sizes[0]:,} rows",
            "memory growth, largest vs smallest",
            large_mb,
            small_mb,
            unit="MB",
            target=f"<= smallest + {FLAT_SLACK_MB:g} MB (flat)",
            met=large_mb <= small_mb + FLAT_SLACK_MB,
            note=f"{sizes[-1] // sizes[0]}x the rows; fetchmany batches of 2,000 rows",
        )
    )
    rows.append(
        row(
            f"{BENCH} {sizes[-1]:,} vs {sizes[0]:,} rows",
            "peak RSS of the staging process, largest vs smallest",
            large["peak_kb"] / 1024,
            small["peak_kb"] / 1024,
            unit="MB",
            target=f"<= {FLAT_PEAK_RATIO:g}x (flat)",
            met=large["peak_kb"] <= FLAT_PEAK_RATIO * small["peak_kb"],
            note="whole child process (Python, Airflow, sqlite3 and the staging)",
        )
    )
    rows.append(
        row(
            BENCH,
            "staged text = csv of the rows",
            None,
            target="ok",
            met=correct,
            note="ours parsed back with csv.reader equals the query's values (NULL as empty)",
        )
    )
    return rows


def main() -> None:
    prepare_environment()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="10000,1000000", help="comma-separated table sizes")
    parser.add_argument("--child", nargs=2, metavar=("DATABASE", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        emit(child(*args.child))
        return
    print_table(run(tuple(int(n) for n in args.rows.split(","))))


if __name__ == "__main__":
    main()
