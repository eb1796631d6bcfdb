"""Parquet staging benchmark: a Parquet export staged as Marketo CSV, from 100k to 5M rows.

    .venv/bin/python -m benchmarks.bench_parquet [--rows 100000,1000000,5000000]

For each size, DuckDB writes a Parquet file of typed lead rows (int64, decimal(18,4), timestamps with
and without a timezone, date, bool, NULLs, text with quotes, delimiters and CR/LF) in row groups of
50,000 rows. A child process per tool then stages it: ours is the import operator's
``resolve_source`` (DuckDB reads row group by row group, ``RowWriter`` writes each value by the SQL
transfer's rules); the baseline is DuckDB's own ``COPY ... TO 'x.csv'`` (C++, none of our value rules
or checks). Each child reports rows per second, memory growth and its peak RSS. Memory is flat when the
peak RSS at the largest size is at most 1.1x that at the smallest.
"""

from __future__ import annotations

import argparse
import shutil
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

BENCH = "parquet staging"
SELECT = """
SELECT 'lead' || i || '@example.com' AS email,
       CASE i % 4 WHEN 0 THEN 'VP "Growth", EMEA' WHEN 1 THEN 'line' || chr(13) || chr(10) || 'break'
                  WHEN 2 THEN 'naïve café' ELSE 'plain ' || i END AS title,
       (i % 100)::BIGINT AS leadScore,
       (i * 1.2345)::DECIMAL(18, 4) AS annualRevenue,
       TIMESTAMPTZ '2024-03-10 01:30:00+05:30' + to_seconds(i % 100000) AS seenAt,
       TIMESTAMP '2024-03-10 02:30:00' + to_seconds(i % 100000) AS localTime,
       DATE '1990-01-01' + (i % 10000)::INTEGER AS dateOfBirth,
       i % 2 = 0 AS unsubscribed,
       CASE WHEN i % 5 = 0 THEN NULL ELSE 'Company ' || (i % 997) END AS company
FROM range({rows}) t(i)
"""
#: Largest peak RSS of the staging process at the largest size relative to the smallest.
FLAT_PEAK_RATIO = 1.1


def build(path: Path, rows: int) -> None:
    import duckdb

    with duckdb.connect() as con:
        con.execute(f"COPY ({SELECT.format(rows=rows)}) TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 50000)")


def child(source: str, mode: str) -> dict[str, Any]:
    """Stage ``source`` once (``ours``: the operator; ``duckdb``: DuckDB's COPY TO CSV)."""
    import duckdb

    from airflow_provider_marketo.operators.bulk_import import BulkLeadImportOperator

    out = Path(tempfile.mkdtemp(prefix="bench-parquet-out-"))
    op = BulkLeadImportOperator(task_id="stage", source=source, staging_path=str(out), check_schema=False)
    context: Any = {"ti": SimpleNamespace(dag_id="bench", task_id="stage", run_id="bench", map_index=-1)}
    with duckdb.connect() as con:  # warm up: imports, the page cache
        con.execute("SELECT count(*) FROM read_parquet(?)", [source]).fetchone()
    before = rss_kb()
    exact = reset_peak_rss()
    start = time.perf_counter()
    if mode == "ours":
        staged = op.resolve_source(context)
        size = staged.stat().st_size
    else:
        target = out / "baseline.csv"
        with duckdb.connect() as con:
            con.execute(f"COPY (SELECT * FROM read_parquet('{source}')) TO '{target}' (HEADER)")
        size = target.stat().st_size
    seconds = time.perf_counter() - start
    peak = peak_rss_kb()
    with duckdb.connect() as con:
        (count,) = con.execute("SELECT count(*) FROM read_parquet(?)", [source]).fetchone() or (0,)
    shutil.rmtree(out)
    return {
        "seconds": seconds,
        "rows": count,
        "bytes": size,
        "growth_kb": peak - before,
        "peak_kb": peak,
        "exact_peak": exact,
    }


def run(sizes: tuple[int, ...] = (100_000, 1_000_000, 5_000_000)) -> list[Row]:
    """Rows per second and memory of ours vs DuckDB's COPY TO CSV, per size; flatness of the peak RSS."""
    results: dict[int, dict[str, dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-parquet-") as tmp:
        for size in sizes:
            source = Path(tmp) / f"leads-{size}.parquet"
            build(source, size)
            results[size] = {
                mode: run_child("bench_parquet", str(source), mode) for mode in ("ours", "duckdb")
            }
            source.unlink()
    rows: list[Row] = []
    for size, by_mode in results.items():
        ours, base = by_mode["ours"], by_mode["duckdb"]
        name = f"{BENCH} {size:,} rows ({ours['bytes'] / 1e6:.0f} MB CSV)"
        rows += [
            row(
                name,
                "throughput",
                ours["rows"] / ours["seconds"],
                base["rows"] / base["seconds"],
                unit="rows/s",
                note="baseline: DuckDB COPY TO csv (C++, multi-threaded, none of our value rules); ours "
                "converts each value in Python by the SQL transfer's rules (RowWriter)",
            ),
            row(
                name,
                "peak RSS of the staging process",
                ours["peak_kb"] / 1024,
                base["peak_kb"] / 1024,
                unit="MB",
            ),
        ]
    small, large = results[sizes[0]]["ours"], results[sizes[-1]]["ours"]
    rows.append(
        row(
            f"{BENCH} {sizes[-1]:,} vs {sizes[0]:,} rows",
            "peak RSS of the staging process, largest vs smallest",
            large["peak_kb"] / 1024,
            small["peak_kb"] / 1024,
            unit="MB",
            target=f"<= {FLAT_PEAK_RATIO:g}x (flat)",
            met=large["peak_kb"] <= FLAT_PEAK_RATIO * small["peak_kb"],
            note=f"{sizes[-1] // sizes[0]}x the rows; row groups of 50,000, fetched in batches of 10,000",
        )
    )
    rows.append(
        row(
            BENCH,
            "rows staged = rows in the file",
            None,
            target="ok",
            met=all(r["ours"]["rows"] == size for size, r in results.items()),
        )
    )
    return rows


def main() -> None:
    prepare_environment()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="100000,1000000,5000000", help="comma-separated sizes")
    parser.add_argument("--child", nargs=2, metavar=("SOURCE", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        emit(child(*args.child))
        return
    print_table(run(tuple(int(n) for n in args.rows.split(","))))


if __name__ == "__main__":
    main()
