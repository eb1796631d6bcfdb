"""The import pipeline run like a DAG would run it, without a database: operator, then deferrable sensor.

:func:`run_pipeline` runs ``BulkLeadImportOperator.execute`` and ``BulkImportSensor.execute``; every
``TaskDeferred`` is handled like the triggerer does it (the trigger is rebuilt from ``serialize()``,
run in a fresh event loop, and its event resumes the task). Everything a user could see (XComs,
trigger kwargs, exception texts) is collected in :data:`EVIDENCE` for the secrets check.
"""

from __future__ import annotations

import asyncio
import csv
import importlib
import io
import json
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import BaseOperator, ObjectStoragePath
from airflow.triggers.base import BaseTrigger

from airflow_provider_marketo._compat import TaskDeferred
from airflow_provider_marketo.hooks.marketo import MarketoHook
from airflow_provider_marketo.operators.bulk_import import BulkLeadImportOperator
from airflow_provider_marketo.operators.output import batch_ids_of, check_output
from airflow_provider_marketo.sensors.bulk_import import BulkImportSensor
from airflow_provider_marketo.testing import MarketoSimulator
from airflow_provider_marketo.triggers.bulk_import import BulkImportTrigger
from tests._support.files import write_rows
from tests._support.tasks import FakeTaskInstance, make_context

HEADER = ["email", "firstName", "lastName", "leadScore"]
FAST_TASK = {"poll_interval": 0.05}
TriggerRunner = Callable[[BaseTrigger], Any]


@dataclass
class Evidence:
    """Texts a user could see besides logs: XCom values, trigger kwargs, exception texts."""

    texts: list[tuple[str, str]] = field(default_factory=list)

    def add(self, where: str, value: Any) -> None:
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        self.texts.append((where, text))

    def add_exception(self, err: BaseException) -> None:
        self.add("exception", "".join(traceback.format_exception(err)))

    def reset(self) -> None:
        self.texts.clear()


EVIDENCE = Evidence()


@dataclass
class PipelineResult:
    """What one pipeline run produced."""

    batch_ids: list[int]
    rows_sent: dict[str, int]
    summary: dict[str, Any]
    #: Stored failures/warnings files by path: header and rows.
    stored: dict[str, list[list[str]]]
    #: Every trigger the run deferred to (as rebuilt from its kwargs).
    triggers: list[BaseTrigger]
    #: API calls made during the run, e.g. ``{"POST /bulk/v1/leads.json": 3}``.
    calls: Counter[str]


def lead_rows(count: int, *, failing: bool = True, warning: bool = True) -> list[list[str]]:
    """Header and ``count`` good lead rows; plus two rows Marketo fails and one it warns about."""
    rows = [HEADER]
    rows += [[f"lead{i}@example.com", f"First{i}", f"Last, {i}", str(i)] for i in range(count)]
    if failing:
        rows.insert(2, ["bad-score@example.com", "Bad", "Score", "not-a-number"])
        rows.append(["", "No", "Email", "7"])
    if warning:
        rows.insert(4, ["not-an-email", "Warn", "Ing", "9"])
    return rows


def lead_file(directory: Path, count: int = 30, **kwargs: Any) -> tuple[Path, list[list[str]]]:
    """Write :func:`lead_rows` as ``leads.csv`` in ``directory``; return the path and the rows."""
    rows = lead_rows(count, **kwargs)
    return write_rows(directory / "leads.csv", rows), rows


def on_first_create(
    monkeypatch: pytest.MonkeyPatch, sim: MarketoSimulator, action: Callable[[], object]
) -> None:
    """Run ``action`` once, right after Marketo accepted the first part (before the operator records it)."""
    real_create = MarketoHook.create_import
    done: list[bool] = []

    def create_import(hook: MarketoHook, *args: Any, **kwargs: Any) -> int:
        batch_id = real_create(hook, *args, **kwargs)
        if not done:
            done.append(True)
            action()
        return batch_id

    monkeypatch.setattr(MarketoHook, "create_import", create_import)


def rebuild(trigger: BaseTrigger) -> BaseTrigger:
    """A new trigger from ``serialize()``, as the triggerer builds it (kwargs through JSON)."""
    classpath, kwargs = trigger.serialize()
    module, _, name = classpath.rpartition(".")
    if isinstance(trigger, BulkImportTrigger):  # ours must survive JSON (Airflow's may hold datetimes)
        kwargs = json.loads(json.dumps(kwargs))
    rebuilt: BaseTrigger = getattr(importlib.import_module(module), name)(**kwargs)
    return rebuilt


async def only_event(trigger: BaseTrigger) -> Any:
    """Run any trigger to its end and return the payload of its one and only event."""
    events = [event async for event in trigger.run()]
    assert len(events) == 1, events
    return events[0].payload


def run_to_event(trigger: BaseTrigger) -> Any:
    """Run a trigger in a fresh event loop (a triggerer) and return its one event's payload."""
    return asyncio.run(only_event(trigger))


def run_task(
    task: BaseOperator,
    context: Any,
    triggers: list[BaseTrigger],
    run_trigger: TriggerRunner = run_to_event,
) -> Any:
    """``execute`` the task; on every deferral run the rebuilt trigger and resume the task with its event."""
    next_method: str | None = None
    next_kwargs: dict[str, Any] = {}
    for _ in range(100):
        try:
            if next_method is None:
                return task.execute(context)
            return task.resume_execution(next_method, next_kwargs, context)
        except TaskDeferred as deferred:
            EVIDENCE.add(f"{task.task_id} trigger kwargs", deferred.trigger.serialize()[1])
            EVIDENCE.add(f"{task.task_id} deferral kwargs", deferred.kwargs or {})
            trigger = rebuild(deferred.trigger)
            triggers.append(trigger)
            event = run_trigger(trigger)
            EVIDENCE.add(f"{task.task_id} trigger event", event)
            next_method = deferred.method_name
            next_kwargs = {**json.loads(json.dumps(deferred.kwargs or {})), "event": event}
    raise AssertionError(f"{task.task_id} kept deferring")


def run_pipeline(
    sim: MarketoSimulator,
    source_file: str | Path,
    *,
    operator_kwargs: dict[str, Any] | None = None,
    sensor_kwargs: dict[str, Any] | None = None,
    results_dir: str | Path | None = None,
    import_ti: FakeTaskInstance | None = None,
    run_trigger: TriggerRunner = run_to_event,
) -> PipelineResult:
    """Import ``source_file`` and wait for the jobs like a DAG ``import >> wait`` would.

    ``import_ti`` is the import task's instance (pass the same one again to run a retry of the
    same run); ``run_trigger`` runs a rebuilt trigger to its event (default: a fresh event loop).
    Exceptions propagate after being recorded in :data:`EVIDENCE`.
    """
    before = sim.api_calls()
    import_ti = import_ti or FakeTaskInstance(task_id="import")
    wait_ti = FakeTaskInstance(task_id="wait", run_id=import_ti.run_id)
    triggers: list[BaseTrigger] = []
    try:
        operator = BulkLeadImportOperator(
            task_id="import", source=str(source_file), **{**FAST_TASK, **(operator_kwargs or {})}
        )
        output = check_output(run_task(operator, make_context(import_ti), triggers, run_trigger))
        batch_ids = batch_ids_of(output)
        rows_sent = {str(batch["batch_id"]): batch["rows_sent"] for batch in output["batches"]}
        results_path = None if results_dir is None else ObjectStoragePath(Path(results_dir).as_uri())
        sensor = BulkImportSensor(
            task_id="wait",
            batch_ids=output,  # the hand-off: target and rows sent come with the output
            results_path=results_path,
            timeout=120,
            **{**FAST_TASK, "deferrable": True, **(sensor_kwargs or {})},  # not the [operators] default
        )
        summary = run_task(sensor, make_context(wait_ti), triggers, run_trigger)
    except BaseException as err:
        EVIDENCE.add_exception(err)
        raise
    finally:
        EVIDENCE.add("import xcom", import_ti.xcoms)
        EVIDENCE.add("wait xcom", wait_ti.xcoms)
    EVIDENCE.add("wait return value", summary)
    stored = {
        path: read_delimited(path)
        for batch in summary["batches"]
        for path in (batch["failures_path"], batch["warnings_path"])
        if path
    }
    calls = sim.api_calls()
    calls.subtract(before)
    return PipelineResult(batch_ids, rows_sent, summary, stored, triggers, +calls)


def read_delimited(path: str) -> list[list[str]]:
    """A stored failures/warnings file as rows (delimiter from its extension)."""
    delimiter = {".csv": ",", ".tsv": "\t", ".ssv": ";"}[Path(path).suffix]
    text = ObjectStoragePath(path).read_text(encoding="utf-8")
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


def sim_failed_rows(sim: MarketoSimulator, batch_ids: list[int]) -> list[list[str]]:
    """The rows the simulator failed in these jobs (without the reason): the truth to compare with."""
    return [row[:-1] for batch_id in batch_ids for row in sim.result_rows(batch_id, "failures")]


def check_row_accounting(
    sim: MarketoSimulator, result: PipelineResult, source_rows: list[list[str]], *, lookup: str = "email"
) -> None:
    """Every input row is accounted for, and every failed input row is in a stored failures file.

    Rows are compared by their lookup value and their full content, as dicts keyed by the header.
    """
    header, *data = source_rows
    summary = result.summary
    assert summary["rows_processed"] + summary["rows_failed"] == len(data), summary
    assert sum(result.rows_sent.values()) == len(data)
    assert summary["rows_accounted"] is True, summary

    def keyed(row: list[str], columns: list[str]) -> tuple[str, tuple[tuple[str, str], ...]]:
        values = dict(zip(columns, row, strict=True))
        return values.get(lookup, ""), tuple(sorted(values.items()))

    stored: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
    reasons: Counter[str] = Counter()
    for path, (file_header, *rows) in result.stored.items():
        if "_failures." not in path:
            continue
        assert file_header[-1] == "Import Failure Reason", file_header
        stored.update(keyed(row[:-1], file_header[:-1]) for row in rows)
        reasons.update(row[-1] for row in rows)
    summarised: Counter[str] = Counter()
    for batch in summary["batches"]:
        summarised.update(batch["failure_reasons"])
    assert reasons == summarised, (reasons, summarised)
    inputs = Counter(keyed(row, header) for row in data)
    failed = Counter(keyed(row, header) for row in sim_failed_rows(sim, result.batch_ids))
    assert sum(failed.values()) == summary["rows_failed"]
    assert failed <= inputs, "the simulator failed rows that are not in the input"
    missing = failed - stored
    assert not missing, f"failed rows missing from the stored failures files: {list(missing)}"
    assert stored == failed, f"stored failures that did not fail: {list(stored - failed)}"
