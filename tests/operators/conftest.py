"""Helpers of the operator tests: a minimal task context, files, a simulator clock and a create spy."""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_marketo.hooks.marketo import MarketoHook

DELIMITERS = {"csv": ",", "tsv": "\t", "ssv": ";"}


class FakeTaskInstance:
    """What the operator uses of a task instance: ids and XCom, recorded."""

    def __init__(
        self,
        dag_id: str = "dag",
        task_id: str = "import",
        run_id: str = "manual__2026-01-01T00:00:00+00:00",
        map_index: int = -1,
    ) -> None:
        self.dag_id = dag_id
        self.task_id = task_id
        self.run_id = run_id
        self.map_index = map_index
        self.try_number = 1
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


def write_rows(path: Path, rows: list[list[str]], file_format: str = "csv") -> Path:
    """Write ``rows`` (header first) with the csv module in the format's delimiter."""
    with path.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out, delimiter=DELIMITERS[file_format]).writerows(rows)
    return path


def parse(data: bytes, file_format: str = "csv") -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline=""), delimiter=DELIMITERS[file_format]))


def lead_rows(count: int, start: int = 0) -> list[list[str]]:
    rows = [["email", "firstName", "lastName", "company"]]
    rows += [
        [f"lead{i}@example.com", f"First{i}", f"Last{i}", f"Company {i % 7}"]
        for i in range(start, start + count)
    ]
    return rows


def received_rows(sim: Any, batch_ids: list[int], file_format: str = "csv") -> list[list[str]]:
    """Header of the first job's file, then the data rows of every job, in order."""
    rows: list[list[str]] = []
    for n, batch_id in enumerate(batch_ids):
        parsed = parse(sim.job_file(batch_id), file_format)
        rows.extend(parsed if n == 0 else parsed[1:])
    return rows


def our_jobs(sim: Any) -> list[dict[str, Any]]:
    return [job for job in sim.jobs if not job["foreign"]]


def create_calls(sim: Any) -> int:
    return sum(n for key, n in sim.counters["calls"].items() if key.startswith("POST /bulk"))


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


@pytest.fixture
def create_spy(marketo_simulator: Any, monkeypatch: pytest.MonkeyPatch) -> CreateSpy:
    return CreateSpy(marketo_simulator).install(monkeypatch)


@pytest.fixture
def running_clock(marketo_simulator: Any) -> Iterator[None]:
    """Advance the simulator clock by 0.5 s every 10 ms of real time while the test runs."""
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(0.01):
            marketo_simulator.advance_clock(0.5)

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join()
