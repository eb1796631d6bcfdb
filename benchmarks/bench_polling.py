"""API calls per job: status calls of the trigger's 5 -> 30 s backoff vs a fixed 5 s loop.

    .venv/bin/python -m benchmarks.bench_polling

The counts come from the trigger's own schedule (:func:`poll_delays`) for jobs of 10 s, 60 s and
10 min, on simulated time: a job that ends ``L`` seconds after the first poll is seen by the first
poll at or after ``L``. Each prediction is then checked against the simulator: the production
``BulkImportTrigger`` runs with its waits replaced by moves of the simulator clock (no real waiting),
once with the default schedule and once with ``poll_interval = max_poll_interval = 5`` (the fixed loop).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from benchmarks.harness import LIFTED_BUDGET, Row, prepare_environment, row, status_calls, write_rows
from benchmarks.table import print_table

BENCH = "status calls per job"
JOB_SECONDS = (10.0, 60.0, 600.0)
FIXED_INTERVAL = 5.0
#: The trigger's defaults.
POLL_INTERVAL, MAX_POLL_INTERVAL = 5.0, 30.0


def predicted(job_seconds: float, delays: Iterator[float]) -> tuple[int, float]:
    """Status calls until the job is seen complete, and when (seconds after the first poll)."""
    t, calls = 0.0, 0
    while True:
        calls += 1
        if t >= job_seconds:
            return calls, t
        t += next(delays)


async def _clocked_run(sim: Any, batch_id: int, interval: float, max_interval: float) -> str:
    """Run the production trigger with its waits turned into simulator-clock moves."""
    from airflow_provider_marketo.hooks._loops import loop_objects
    from airflow_provider_marketo.objects import BulkTarget
    from airflow_provider_marketo.triggers.bulk_import import BulkImportTrigger

    class SimClockTrigger(BulkImportTrigger):
        async def _sleep(self, seconds: float) -> None:
            sim.advance_clock(seconds)

    trigger = SimClockTrigger(
        marketo_conn_id="marketo_default",
        target=BulkTarget("leads").to_dict(),
        batch_ids=[batch_id],
        poll_interval=interval,
        max_poll_interval=max_interval,
    )
    status = "no event"
    async for event in trigger.run():
        status = str(event.payload["status"])
    for obj in loop_objects():
        if hasattr(obj, "aclose"):
            await obj.aclose()
    return status


@contextlib.contextmanager
def _connection(value: str) -> Iterator[None]:
    key = "AIRFLOW_CONN_MARKETO_DEFAULT"
    old = os.environ.get(key)
    os.environ[key] = value
    try:
        yield
    finally:
        if old is None:
            del os.environ[key]
        else:
            os.environ[key] = old


def measured(job_seconds: float, interval: float, max_interval: float) -> int:
    """Status calls the real trigger makes for a job of ``job_seconds`` on the simulator clock."""

    from airflow_provider_marketo.hooks.marketo import MarketoHook
    from airflow_provider_marketo.objects import BulkTarget
    from airflow_provider_marketo.testing import MarketoSimulator

    # One row per simulated second; the client budget is lifted (real time is not simulated).
    with (
        MarketoSimulator(rows_per_second=1.0) as sim,
        tempfile.TemporaryDirectory(prefix="bench-polling-") as tmp,
        _connection(sim.connection_json(extra=LIFTED_BUDGET)),
    ):
        path = Path(tmp) / "job.csv"
        write_rows(path, int(job_seconds))
        with path.open("rb") as file:
            batch_id = MarketoHook().create_import(
                BulkTarget("leads"), file, file_format="csv", filename="job.csv"
            )
        before = status_calls(sim.counters)
        status = asyncio.run(_clocked_run(sim, batch_id, interval, max_interval))
        if status != "success":
            raise RuntimeError(f"The trigger ended with {status!r}")
        return status_calls(sim.counters) - before


def run(job_seconds: Sequence[float] = JOB_SECONDS, verify: bool = True) -> list[Row]:
    """One row per job length: backoff calls (ours) vs fixed-loop calls (baseline)."""
    from airflow_provider_marketo.backoff import poll_delays

    rows: list[Row] = []
    for seconds in job_seconds:
        ours, seen = predicted(seconds, poll_delays(POLL_INTERVAL, MAX_POLL_INTERVAL))
        fixed, fixed_seen = predicted(seconds, itertools.repeat(FIXED_INTERVAL))
        check = ""
        ok = True
        if verify:
            real = measured(seconds, POLL_INTERVAL, MAX_POLL_INTERVAL)
            real_fixed = measured(seconds, FIXED_INTERVAL, FIXED_INTERVAL)
            ok = (real, real_fixed) == (ours, fixed)
            check = (
                f"; on the simulator: {real} and {real_fixed} calls ({'as predicted' if ok else 'MISMATCH'})"
            )
        rows.append(
            row(
                BENCH,
                f"{seconds:g} s job",
                ours,
                fixed,
                unit="calls",
                target="<= 1x fixed",
                met=ours <= fixed and ok,
                note=f"the fixed 5 s loop makes {fixed / ours:.1f}x the calls; completion seen at "
                f"{seen:.1f} s (fixed loop: {fixed_seen:.1f} s){check}",
            )
        )
    return rows


def main() -> None:
    prepare_environment()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args()
    print_table(run())


if __name__ == "__main__":
    main()
