"""Deferrable imports: source bytes read per file byte, and makespan against Marketo's two import slots.

    .venv/bin/python -m benchmarks.bench_deferral [--megabytes 1000] [--parts 20] [--job-seconds 10]

Each measurement is a child process that drives the deferral cycles itself, the way the task runner
and triggerer do: ``execute`` until ``TaskDeferred``; rebuild the trigger from ``serialize()`` and run
it to its event; build a new operator and resume it with ``{"event": ...}`` only (what dag.test() of
Airflow 3.3.2 passes). The manifest lives in a JSON task state store, as on Airflow 3.3.

- (a) **source bytes read / file size** for a generated lead CSV (1 GB: ~100 parts of 10 MB) with
  ``max_active_jobs=3``, counted by wrapping ``ObjectStoragePath.open``. Marketo is a stand-in in
  the child (jobs take 1 s each, two at a time; the upload stream is drained, not stored): the
  simulator would keep the whole gigabyte in memory, and only the source side is measured here.
- (d) **makespan** of a 20-part import whose jobs take ~10 s each on the simulator (its own process,
  ``rows_per_second`` set so), default ``poll_interval`` and ``max_active_jobs``, until every job is
  ``Complete``, against the ideal: the sum of the job durations / 2 (Marketo imports two at once).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from benchmarks.harness import (
    LIFTED_BUDGET,
    Row,
    SimulatorProcess,
    emit,
    prepare_environment,
    row,
    run_child,
    write_leads,
    write_rows,
)
from benchmarks.table import print_table

BENCH = "deferral"
TARGET_READS = 2.0
TARGET_MAKESPAN = 1.15
#: Rows per part in (d): with the simulator at ROWS / job_seconds rows/s, each job takes job_seconds.
ROWS_PER_PART = 1000


class _TaskInstance:
    """What the operator uses of a task instance: ids, try numbers and XCom."""

    dag_id, task_id, run_id, map_index, try_number, max_tries = "bench", "import", "bench_run", -1, 1, 0

    def __init__(self) -> None:
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


class _StateStore:
    """A JSON key/value store like Airflow's ``context["task_state_store"]``."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.values[key] = json.loads(json.dumps(value))


async def _first_event(trigger: Any) -> Any:
    async for event in trigger.run():
        return event.payload
    raise RuntimeError("The trigger ended without an event")


def drive(make_operator: Any) -> tuple[list[int], int]:
    """Run an import through its deferral cycles; return its batch ids and the number of deferrals."""
    from airflow_provider_marketo._compat import TaskDeferred
    from airflow_provider_marketo.operators.output import batch_ids_of

    ti = _TaskInstance()
    context: dict[str, Any] = {
        "ti": ti,
        "task_instance": ti,
        "run_id": ti.run_id,
        "dag_run": SimpleNamespace(),
    }
    context["task_state_store"] = _StateStore()
    method: str | None = None
    kwargs: dict[str, Any] = {}
    for deferrals in range(10_000):
        try:
            operator = make_operator()
            if method is None:
                return batch_ids_of(operator.execute(context)), deferrals
            return batch_ids_of(operator.resume_execution(method, kwargs, context)), deferrals
        except TaskDeferred as deferred:
            classpath, trigger_kwargs = deferred.trigger.serialize()
            module, _, name = classpath.rpartition(".")
            trigger = getattr(importlib.import_module(module), name)(**trigger_kwargs)
            method, kwargs = deferred.method_name, {"event": asyncio.run(_first_event(trigger))}
    raise RuntimeError("The import kept deferring")


class _CountingFile:
    def __init__(self, raw: Any, counts: dict[str, int]) -> None:
        self._raw, self._counts = raw, counts

    def read(self, size: int = -1) -> bytes:
        data: bytes = self._raw.read(size)
        self._counts["bytes"] += len(data)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)

    def __enter__(self) -> _CountingFile:
        return self

    def __exit__(self, *_: object) -> None:
        self._raw.close()


def _count_reads(source: Path) -> dict[str, int]:
    """Count opens of and bytes read from ``source`` through ``ObjectStoragePath.open``."""
    from airflow.sdk import ObjectStoragePath

    counts = {"bytes": 0, "opens": 0}
    real = ObjectStoragePath.open

    def open_(path: Any, mode: str = "r", **kwargs: Any) -> Any:
        raw = real(path, mode, **kwargs)
        if "r" in mode and str(path).endswith(source.name):
            counts["opens"] += 1
            return _CountingFile(raw, counts)
        return raw

    ObjectStoragePath.open = open_  # type: ignore[method-assign]
    return counts


class _StandInMarketo:
    """Jobs that take ``seconds`` each, two at a time in creation order; uploads drained, not kept."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.created: list[float] = []
        self.uploaded = 0
        self.lock = threading.Lock()

    def create(self, file: Any) -> int:
        while chunk := file.read(1 << 20):
            self.uploaded += len(chunk)
        with self.lock:
            self.created.append(time.monotonic())
            return len(self.created)

    def status(self, batch_id: int) -> str:
        with self.lock:
            slots = [0.0, 0.0]
            finish = 0.0
            for created in self.created[:batch_id]:
                slot = min(range(2), key=lambda i: slots[i])
                finish = max(created, slots[slot]) + self.seconds
                slots[slot] = finish
            start = finish - self.seconds
        now = time.monotonic()
        return "Queued" if now < start else "Importing" if now < finish else "Complete"

    def install(self) -> None:
        from airflow_provider_marketo.hooks.marketo import AsyncMarketoHook, MarketoHook
        from airflow_provider_marketo.objects import ImportStatus

        def status(target: Any, batch_id: int) -> ImportStatus:
            return ImportStatus(int(batch_id), target.kind, self.status(int(batch_id)), 0, 0, 0)

        async def async_status(_: Any, target: Any, batch_id: int) -> ImportStatus:
            return status(target, batch_id)

        MarketoHook.create_import = lambda _, target, file, **__: self.create(file)  # type: ignore[assignment,method-assign]
        MarketoHook.get_import_status = lambda _, target, batch_id: status(target, batch_id)  # type: ignore[assignment,method-assign]
        AsyncMarketoHook.get_import_status = async_status  # type: ignore[assignment,method-assign]


def child_reads(source: str) -> dict[str, Any]:
    """(a): drive a deferrable import of ``source`` against the stand-in; count the source's reads."""
    from airflow_provider_marketo.operators.bulk_import import BulkLeadImportOperator

    path = Path(source)
    marketo = _StandInMarketo(seconds=1.0)
    marketo.install()
    counts = _count_reads(path)
    start = time.perf_counter()
    batch_ids, deferrals = drive(
        lambda: BulkLeadImportOperator(
            task_id="import",
            source=source,
            deferrable=True,
            poll_interval=0.05,
            max_active_jobs=3,
            check_schema=False,  # the in-process stand-in has no Describe endpoints
        )
    )
    return {
        "seconds": time.perf_counter() - start,
        "size": path.stat().st_size,
        "read": counts["bytes"],
        "opens": counts["opens"],
        "uploaded": marketo.uploaded,
        "parts": len(batch_ids),
        "deferrals": deferrals,
    }


def child_makespan(source: str, part_size: str) -> dict[str, Any]:
    """(d): drive a deferrable import against the simulator, then wait until every job is Complete."""
    from airflow_provider_marketo.objects import BulkTarget
    from airflow_provider_marketo.operators.bulk_import import BulkLeadImportOperator
    from airflow_provider_marketo.triggers.bulk_import import BulkImportTrigger

    start = time.monotonic()
    batch_ids, deferrals = drive(
        lambda: BulkLeadImportOperator(
            task_id="import", source=source, part_size=int(part_size), deferrable=True, check_schema=False
        )
    )
    submitted = time.monotonic() - start
    # The measuring probe polls every 0.2 s, so that its own latency does not count.
    probe = BulkImportTrigger(
        marketo_conn_id="marketo_default",
        target=BulkTarget("leads").to_dict(),
        batch_ids=batch_ids,
        poll_interval=0.2,
        max_poll_interval=0.2,
    )
    payload = asyncio.run(_first_event(probe))
    if payload["status"] != "success":
        raise RuntimeError(f"The import did not complete: {payload['message']}")
    return {
        "makespan": time.monotonic() - start,
        "submitted": submitted,
        "parts": len(batch_ids),
        "deferrals": deferrals,
    }


def run(megabytes: int = 1000, parts: int = 20, job_seconds: float = 10.0) -> list[Row]:
    """Rows (a) and (d)."""
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-deferral-") as tmp:
        source = Path(tmp) / "leads.csv"
        write_leads(source, megabytes * 1_000_000)
        env = {
            "AIRFLOW_CONN_MARKETO_DEFAULT": json.dumps({"conn_type": "marketo", "host": "http://127.0.0.1:9"})
        }
        r = run_child("bench_deferral", "reads", str(source), env=env)
        source.unlink()
        rows.append(
            row(
                BENCH,
                f"(a) source bytes read / file size, {r['size'] / 1e6:,.0f} MB in {r['parts']} parts",
                r["read"] / 1e6,
                r["size"] / 1e6,
                unit="MB",
                target=f"<= {TARGET_READS:g}x",
                met=r["read"] <= TARGET_READS * r["size"],
                note=f"{r['deferrals']} deferral cycles, {r['opens']} opens (1 to plan, 1 per part), "
                f"{r['uploaded'] / 1e6:,.0f} MB uploaded, {r['seconds']:.0f} s; Marketo stand-in in-process",
            )
        )
        rows_per_second = ROWS_PER_PART / job_seconds
        source = Path(tmp) / "small.csv"
        write_rows(source, parts * ROWS_PER_PART)
        part_size = source.stat().st_size // parts + 200  # ``parts`` parts of about ROWS_PER_PART rows
        # The call budget is lifted on both sides: (d) measures the waits, not Marketo's 100 calls / 20 s.
        with SimulatorProcess(rows_per_second=rows_per_second, calls_per_window=10**9) as sim:
            env = sim.conn_env(extra=LIFTED_BUDGET)
            r = run_child("bench_deferral", "makespan", str(source), str(part_size), env=env)
        ideal = parts * ROWS_PER_PART / rows_per_second / 2
        rows.append(
            row(
                BENCH,
                f"(d) makespan, {r['parts']} parts of ~{job_seconds:g} s jobs vs ideal (sum / 2)",
                r["makespan"],
                ideal,
                unit="s",
                target=f"<= {TARGET_MAKESPAN:g}x",
                met=r["makespan"] <= TARGET_MAKESPAN * ideal,
                note=f"{r['deferrals']} deferral cycles; all parts submitted after {r['submitted']:.0f} s; "
                "defaults: max_active_jobs=3, poll_interval=5 s",
            )
        )
    return rows


def main() -> None:
    prepare_environment()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megabytes", type=int, default=1000)
    parser.add_argument("--parts", type=int, default=20)
    parser.add_argument("--job-seconds", type=float, default=10.0)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        emit(child_reads(*rest) if kind == "reads" else child_makespan(*rest))
        return
    print_table(run(args.megabytes, args.parts, args.job_seconds))


if __name__ == "__main__":
    main()
