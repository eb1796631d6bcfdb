"""Tasks without a scheduler: a task instance and context, a task state store, spies, trigger runs."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.triggers.base import BaseTrigger

from airflow_provider_marketo.hooks.marketo import MarketoHook
from tests._support.sim import our_jobs


class FakeTaskInstance:
    """What the operator uses of a task instance: ids and XCom, recorded."""

    def __init__(
        self,
        dag_id: str = "dag",
        task_id: str = "import",
        run_id: str = "manual__2026-01-01T00:00:00+00:00",
        map_index: int = -1,
        try_number: int = 1,
        max_tries: int = 0,
    ) -> None:
        self.dag_id = dag_id
        self.task_id = task_id
        self.run_id = run_id
        self.map_index = map_index
        self.try_number = try_number
        #: Airflow sets ``retries`` at the start and ``try_number + retries`` when the task is cleared.
        self.max_tries = max_tries
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value

    def xcom_pull(self, task_ids: Any = None, key: str = "return_value", **_: Any) -> Any:
        return self.xcoms.get(key)


def make_context(ti: FakeTaskInstance | None = None, task_state_store: Any = None) -> Any:
    """The context keys the operator reads (the task runner passes many more).

    ``task_state_store`` stands for Airflow 3.3's ``context["task_state_store"]``; without it the
    context is that of a runtime without the store.
    """
    ti = ti or FakeTaskInstance()
    context = {
        "ti": ti,
        "task_instance": ti,
        "run_id": ti.run_id,
        "dag_run": SimpleNamespace(run_id=ti.run_id, dag_id=ti.dag_id),
        "map_index": ti.map_index,
    }
    if task_state_store is not None:
        context["task_state_store"] = task_state_store
    return context


class FakeTaskStateStore:
    """Airflow's task state store as a task sees it: a JSON key/value store shared by retries."""

    def __init__(self) -> None:
        self.values: dict[str, object] = {}

    def get(self, key: str, default: object = None) -> object:
        return self.values.get(key, default)

    def set(self, key: str, value: object) -> None:
        self.values[key] = json.loads(json.dumps(value))  # JSON only, as the real store


class CreateSpy:
    """Wraps the real ``create_import`` and records how many of our jobs were unfinished at each call."""

    def __init__(self, sim: Any) -> None:
        self.sim = sim
        self.unfinished_at_create: list[int] = []
        self.fail_after: int | None = None
        self.calls = 0

    def install(self, monkeypatch: pytest.MonkeyPatch) -> CreateSpy:
        real = MarketoHook.create_import
        spy = self

        def create_import(hook: MarketoHook, *args: Any, **kwargs: Any) -> int:
            if spy.fail_after is not None and spy.calls >= spy.fail_after:
                raise SystemExit("simulated worker crash")
            spy.calls += 1
            spy.unfinished_at_create.append(
                sum(1 for job in our_jobs(spy.sim) if job["status"] not in ("Complete", "Failed"))
            )
            return real(hook, *args, **kwargs)

        monkeypatch.setattr(MarketoHook, "create_import", create_import)
        return self


class CountingFile:
    """A binary file that counts the bytes read through it."""

    def __init__(self, raw: Any, counter: SourceReads) -> None:
        self._raw = raw
        self._counter = counter

    def read(self, size: int = -1) -> bytes:
        data: bytes = self._raw.read(size)
        self._counter.bytes += len(data)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)

    def __enter__(self) -> CountingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._raw.close()


class SourceReads:
    """Counts the opens of, and the bytes read from, files whose name ends with ``suffix``."""

    def __init__(self, suffix: str) -> None:
        self.suffix = suffix
        self.opens = 0
        self.bytes = 0

    def install(self, monkeypatch: pytest.MonkeyPatch) -> SourceReads:
        from airflow.sdk import ObjectStoragePath

        real = ObjectStoragePath.open
        counter = self

        def open_(path: Any, mode: str = "r", **kwargs: Any) -> Any:
            raw = real(path, mode, **kwargs)
            if "r" in mode and str(path).endswith(counter.suffix):
                counter.opens += 1
                return CountingFile(raw, counter)
            return raw

        monkeypatch.setattr(ObjectStoragePath, "open", open_)
        return self


def run_deferred(
    make_op: Any, ti: FakeTaskInstance, triggers: list[Any] | None = None, store: Any = None
) -> list[int]:
    """Run like Airflow 3.3.2's dag.test(): execute; on each deferral rebuild the operator (a new
    process) and the trigger from its serialised form, run it, then resume with ``{"event": ...}``
    only (dag.test() drops the defer kwargs; apache/airflow#69942)."""
    import asyncio
    import importlib

    from airflow_provider_marketo._compat import TaskDeferred

    context = make_context(ti, task_state_store=store)
    next_method: str | None = None
    next_kwargs: dict[str, Any] = {}
    for _ in range(500):
        try:
            if next_method is None:
                return _batch_ids(make_op().execute(context), ti)
            return _batch_ids(make_op().resume_execution(next_method, next_kwargs, context), ti)
        except TaskDeferred as deferred:
            classpath, trigger_kwargs = deferred.trigger.serialize()
            module, _, name = classpath.rpartition(".")
            trigger = getattr(importlib.import_module(module), name)(**trigger_kwargs)
            if triggers is not None:
                triggers.append((trigger, deferred))
            event = asyncio.run(_first_event(trigger))
            next_method = deferred.method_name
            next_kwargs = {"event": json.loads(json.dumps(event, default=str))}
    raise AssertionError("the operator kept deferring")


def _batch_ids(output: Any, ti: FakeTaskInstance) -> list[int]:
    """The batch ids of an import task's output, checked against ``ImportOutput`` and pushed as the
    return value (as Airflow does)."""
    from airflow_provider_marketo.operators.output import batch_ids_of, check_output

    ti.xcoms["return_value"] = check_output(output)
    return batch_ids_of(output)


async def _first_event(trigger: Any) -> Any:
    async for event in trigger.run():
        return event.payload
    raise AssertionError("the trigger yielded nothing")


async def first_event(trigger: BaseTrigger) -> dict[str, Any]:
    """Run a trigger to its end and return the payload of its one and only event."""
    events = [event async for event in trigger.run()]
    assert len(events) == 1, events
    payload = events[0].payload
    assert isinstance(payload, dict)
    return payload


class FakeSupervisor:
    """The Variable calls of a task's supervisor (``SUPERVISOR_COMMS.send``), answered as Airflow's
    supervisor answers them (3.1-3.3): ``VariableResult``, an ``ErrorResponse`` for a missing key,
    ``None`` for a write. ``variables`` stands for the metadata database every worker shares."""

    def __init__(self) -> None:
        self.variables: dict[str, str] = {}
        self.sent: list[str] = []
        #: An ``ErrorResponse`` (or exception) answered to every call from now on, when set.
        self.failing: Any = None
        #: Message types (``"DeleteVariable"``, ...) answered with ``failing`` only, when not empty.
        self.failing_only: set[str] = set()

    def send(self, msg: Any) -> Any:
        from airflow.sdk.execution_time.comms import ErrorResponse, VariableResult

        self.sent.append(type(msg).__name__)
        fails = self.failing is not None and (
            not self.failing_only or type(msg).__name__ in self.failing_only
        )
        if fails and isinstance(self.failing, BaseException):
            raise self.failing
        if fails:
            return self.failing
        if type(msg).__name__ == "GetVariable":
            if msg.key not in self.variables:
                from airflow.sdk.exceptions import ErrorType

                return ErrorResponse(error=ErrorType.VARIABLE_NOT_FOUND, detail={"key": msg.key})
            return VariableResult(key=msg.key, value=self.variables[msg.key])
        if type(msg).__name__ == "PutVariable":
            assert len(msg.key) <= 250, msg.key
            self.variables[msg.key] = msg.value
            return None
        if type(msg).__name__ == "DeleteVariable":
            self.variables.pop(msg.key, None)
            return None
        if type(msg).__name__ == "GetConnection":  # Airflow 3.1 asks its supervisor when one is set
            return _connection_from_env(msg.conn_id)
        raise AssertionError(f"unexpected message {msg!r}")

    def install(self, monkeypatch: pytest.MonkeyPatch, *, minor_3_3: bool = False) -> FakeSupervisor:
        """Run as a task under this supervisor, on a minor without (default) or with the task state store."""
        from airflow.sdk.execution_time import task_runner

        from airflow_provider_marketo import _compat

        monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", self, raising=False)
        monkeypatch.setattr(_compat, "AIRFLOW_V_3_3_PLUS", minor_3_3)
        return self


def _connection_from_env(conn_id: str) -> Any:
    """The ``AIRFLOW_CONN_<ID>`` JSON connection as the supervisor's ``ConnectionResult``."""
    import os

    from airflow.sdk.exceptions import ErrorType
    from airflow.sdk.execution_time.comms import ConnectionResult, ErrorResponse

    raw = os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}")
    if raw is None:
        return ErrorResponse(error=ErrorType.CONNECTION_NOT_FOUND, detail={"conn_id": conn_id})
    fields = json.loads(raw)
    extra = fields.get("extra")
    return ConnectionResult.model_validate(
        {
            **{k: v for k, v in fields.items() if k != "extra"},
            "conn_id": conn_id,
            "extra": json.dumps(extra) if isinstance(extra, dict) else extra,
        }
    )
