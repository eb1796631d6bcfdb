"""Import throughput end to end: rows per second from the file to every job ``Complete``, 1 to 100 parts.

    .venv/bin/python -m benchmarks.bench_throughput [--parts 1,10,100] [--part-size 200000]

Each run is a child process: ``BulkLeadImportOperator`` (non-deferrable, default ``max_active_jobs``)
reads, validates, splits and uploads a generated file, then ``BulkImportTrigger`` (what the sensor
uses) waits until every job is ``Complete``. A small ``part_size`` keeps 100 parts at about 20 MB.
The simulator runs in its own process at full speed (``rows_per_second=0``: a job completes on the
next API call) with Marketo's import queue (10 jobs). The call budget is lifted on both sides
(connection extras ``calls_per_window=100, window_seconds=0.001``; simulator ``calls_per_window``):
at Marketo's 50-100 calls / 20 s the budget, not our code, would set the pace (see the notes).
The baseline is the same pipeline with one part: per-row cost should not grow with the part count. Each child first imports a one-row file (lazy
imports, token, connection) so that one-time costs do not count as per-row costs.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from airflow_provider_marketo.testing.client import SimulatorAt
from benchmarks.harness import (
    LIFTED_BUDGET,
    Row,
    SimulatorProcess,
    budget_floor,
    emit,
    peak_rss_kb,
    prepare_environment,
    reset_peak_rss,
    row,
    rss_kb,
    run_child,
    write_leads,
    write_rows,
)
from benchmarks.table import print_table

BENCH = "import throughput"
PART_SIZE = 200_000
PARTS = (1, 10, 100)
#: Per-row cost at the most parts over per-row cost at one part.
TARGET_LINEAR = 1.2
#: Peak RSS at the most parts over peak RSS at one part.
TARGET_FLAT = 1.1


class _TaskInstance:
    """What the operator uses of a task instance outside a DAG run: ids and XCom."""

    dag_id, task_id, run_id, map_index, try_number = "bench", "import", "bench_run", -1, 1

    def __init__(self) -> None:
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


async def _wait_complete(batch_ids: list[int]) -> dict[str, Any]:
    from airflow_provider_marketo.objects import BulkTarget
    from airflow_provider_marketo.triggers.bulk_import import BulkImportTrigger

    trigger = BulkImportTrigger(
        marketo_conn_id="marketo_default", target=BulkTarget("leads").to_dict(), batch_ids=batch_ids
    )
    async for event in trigger.run():
        payload: dict[str, Any] = event.payload
        return payload
    raise RuntimeError("The trigger ended without an event")


def _api_calls() -> int:
    """API calls the simulator has counted so far."""
    base_url = json.loads(os.environ["AIRFLOW_CONN_MARKETO_DEFAULT"])["host"]
    return sum(SimulatorAt(base_url).api_calls().values())


def child(source: str, part_size: str) -> dict[str, Any]:
    """Import ``source`` and wait for every job; time, rows and memory of this process."""
    from airflow_provider_marketo.operators.bulk_import import BulkLeadImportOperator
    from airflow_provider_marketo.operators.output import batch_ids_of

    def import_file(path: Path) -> tuple[_TaskInstance, float]:
        ti = _TaskInstance()
        context = {"ti": ti, "task_instance": ti, "run_id": ti.run_id, "dag_run": SimpleNamespace()}
        operator = BulkLeadImportOperator(
            task_id="import",
            source=str(path),
            part_size=int(part_size),
            manifest_path=str(path.with_suffix(".manifest.json")),
        )
        start = time.perf_counter()
        output = operator.execute(context)  # type: ignore[arg-type]
        ti.xcoms["return_value"] = output
        payload = asyncio.run(_wait_complete(batch_ids_of(output)))
        seconds = time.perf_counter() - start
        if payload["status"] != "success":
            raise RuntimeError(f"The import of {path} did not complete: {payload['message']}")
        return ti, seconds

    # A warm-up import of one row: lazy imports, token and connection are not part of the measurement.
    with tempfile.TemporaryDirectory(prefix="bench-warm-up-") as tmp:
        warm_up = Path(tmp) / "warm-up.csv"
        write_rows(warm_up, 1, start=10**9)
        import_file(warm_up)
    calls_before = _api_calls()
    gc.collect()
    before = rss_kb()
    exact = reset_peak_rss()
    ti, seconds = import_file(Path(source))
    batch_ids = ti.xcoms["batch_ids"]
    return {
        "api_calls": _api_calls() - calls_before,
        "seconds": seconds,
        "rows": ti.xcoms["return_value"]["rows_sent"],
        "parts": len(batch_ids),
        "rss_before_kb": before,
        "peak_kb": peak_rss_kb(),
        "exact_peak": exact,
    }


def run(parts: Sequence[int] = PARTS, part_size: int = PART_SIZE) -> list[Row]:
    """Rows/s for each part count, per-row cost and peak RSS at the most parts vs one part."""
    results: dict[int, dict[str, Any]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="bench-throughput-") as tmp,
        SimulatorProcess(rows_per_second=0, calls_per_window=10**9) as sim,
    ):
        env = sim.conn_env(extra=LIFTED_BUDGET)
        for count in parts:
            sim.reset()
            source = Path(tmp) / f"leads-{count}.csv"
            write_leads(source, count * (part_size - 2_000))  # fills exactly ``count`` parts
            results[count] = run_child("bench_throughput", str(source), str(part_size), env=env)
            source.unlink()
    rows: list[Row] = []
    first, most = min(parts), max(parts)

    def per_row_us(count: int) -> float:
        return float(1e6 * results[count]["seconds"] / results[count]["rows"])

    for count in parts:
        r = results[count]
        rows.append(
            row(
                BENCH,
                f"rows/s, {r['parts']} part(s) of {part_size / 1e3:g} KB ({r['rows']:,} rows)",
                r["rows"] / r["seconds"],
                unit="rows/s",
                note=f"{r['api_calls']} API calls ({r['api_calls'] / r['parts']:.1f} per part); at the default "
                f"budget of 50 calls / 20 s they alone would take at least {budget_floor(r['api_calls']):.0f} s",
            )
        )
    if most != first:
        ratio_ok = per_row_us(most) <= TARGET_LINEAR * per_row_us(first)
        rows.append(
            row(
                BENCH,
                f"per-row cost, {most} parts vs {first}",
                per_row_us(most),
                per_row_us(first),
                unit="us/row",
                target=f"<= {TARGET_LINEAR:g}x (linear)",
                met=ratio_ok,
                note="file to every job Complete: read, validate, split, upload, status calls",
            )
        )
    for count in parts:
        peak, base = results[count]["peak_kb"] / 1024, results[first]["peak_kb"] / 1024
        is_most = count == most and most != first
        rows.append(
            row(
                BENCH,
                f"peak RSS of the operator process, {results[count]['parts']} part(s)",
                peak,
                None if count == first else base,
                unit="MB",
                target=f"<= {TARGET_FLAT:g}x {first} part (flat)" if is_most else "",
                met=peak <= TARGET_FLAT * base if is_most else None,
                note=f"growth during the import: {(results[count]['peak_kb'] - results[count]['rss_before_kb']) / 1024:.1f} MB",
            )
        )
    return rows


def main() -> None:
    prepare_environment()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default=",".join(map(str, PARTS)))
    parser.add_argument("--part-size", type=int, default=PART_SIZE)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        emit(child(*args.child))
        return
    print_table(run([int(p) for p in args.parts.split(",")], args.part_size))


if __name__ == "__main__":
    main()
