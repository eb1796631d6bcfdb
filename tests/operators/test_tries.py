"""Retries, clears and new runs (issue 14): what a try does with the manifest an earlier try left.

Airflow's numbers tell them apart: a retry is a new ``try_number`` with the same ``max_tries``; a
clear sets ``max_tries = try_number + retries`` (airflow/models/taskinstance.py,
``clear_task_instances``); a new run has another run id, so another manifest key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_provider_marketo._compat import AirflowException
from airflow_provider_marketo.operators.bulk_import import BulkLeadImportOperator
from airflow_provider_marketo.operators.output import batch_ids_of
from tests._support.files import lead_rows, received_rows, write_rows
from tests._support.sim import create_calls, our_jobs
from tests._support.tasks import CreateSpy, FakeTaskInstance, FakeTaskStateStore, make_context


def lead_op(source: Any, conn_id: str, **kwargs: Any) -> BulkLeadImportOperator:
    args = {"poll_interval": 0.05, "part_size": 6_000, "retries": 2, **kwargs}
    return BulkLeadImportOperator(task_id="import", source=source, marketo_conn_id=conn_id, **args)


def _run(op: BulkLeadImportOperator, ti: FakeTaskInstance, store: Any = None) -> list[int]:
    return batch_ids_of(op.execute(make_context(ti, task_state_store=store)))


def _crash_after_one(
    source: Path, conn_id: str, create_spy: CreateSpy, store: Any = None, **kwargs: Any
) -> list[int]:
    create_spy.fail_after = 1
    with pytest.raises(SystemExit):
        _run(lead_op(source, conn_id, **kwargs), FakeTaskInstance(try_number=1, max_tries=2), store)
    create_spy.fail_after = None
    return [job["batch_id"] for job in our_jobs(create_spy.sim)]


@pytest.mark.parametrize("with_store", [False, True], ids=["manifest-file", "task-state-store"])
def test_retry_after_a_crash_imports_each_part_exactly_once(
    with_store: bool,
    tmp_path: Path,
    marketo_simulator: Any,
    marketo_conn_id: str,
    create_spy: CreateSpy,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = lead_rows(300)
    source = write_rows(tmp_path / "a.csv", rows)
    store = FakeTaskStateStore() if with_store else None
    (first,) = _crash_after_one(source, marketo_conn_id, create_spy, store)
    capsys.readouterr()
    batch_ids = _run(lead_op(source, marketo_conn_id), FakeTaskInstance(try_number=2, max_tries=2), store)
    assert batch_ids[0] == first
    assert len(our_jobs(marketo_simulator)) == len(batch_ids) > 1
    assert received_rows(marketo_simulator, batch_ids) == rows
    assert f"Part 1 already imported as batch {first} by an earlier try" in capsys.readouterr().out
    assert (tmp_path / ".marketo").exists() is not with_store


def test_retry_skips_accepted_parts_even_when_their_jobs_failed(
    tmp_path: Path, marketo_simulator: Any, marketo_conn_id: str, create_spy: CreateSpy
) -> None:
    source = write_rows(tmp_path / "a.csv", lead_rows(300))
    marketo_simulator.fail_next_jobs(1)
    (first,) = _crash_after_one(source, marketo_conn_id, create_spy)
    batch_ids = _run(lead_op(source, marketo_conn_id), FakeTaskInstance(try_number=2, max_tries=2))
    assert batch_ids[0] == first  # the sensor reports the failed job; a retry does not hide it
    assert len(our_jobs(marketo_simulator)) == len(batch_ids)


def test_retry_after_the_source_changed_is_a_clear_error(
    tmp_path: Path, marketo_simulator: Any, marketo_conn_id: str, create_spy: CreateSpy
) -> None:
    source = write_rows(tmp_path / "a.csv", lead_rows(300))
    _crash_after_one(source, marketo_conn_id, create_spy)
    write_rows(source, lead_rows(300, start=5))
    with pytest.raises(
        AirflowException, match="changed since an earlier try of this task imported 1 of its parts"
    ):
        _run(lead_op(source, marketo_conn_id), FakeTaskInstance(try_number=2, max_tries=2))
    assert len(our_jobs(marketo_simulator)) == 1


def _clear(ti: FakeTaskInstance, retries: int = 2) -> FakeTaskInstance:
    """The next try after a clear, as Airflow numbers it."""
    return FakeTaskInstance(try_number=ti.try_number + 1, max_tries=ti.try_number + retries)


def test_clear_imports_everything_again_by_default(
    tmp_path: Path, marketo_simulator: Any, marketo_conn_id: str
) -> None:
    rows = lead_rows(300)
    source = write_rows(tmp_path / "a.csv", rows)
    ti = FakeTaskInstance(try_number=1, max_tries=2)
    first = _run(lead_op(source, marketo_conn_id), ti)
    second = _run(lead_op(source, marketo_conn_id), _clear(ti))
    assert set(first).isdisjoint(second)
    assert len(our_jobs(marketo_simulator)) == 2 * len(first)
    assert received_rows(marketo_simulator, second) == rows


def test_clear_with_keep_completed_reimports_failed_and_expired_parts_only(
    tmp_path: Path, marketo_simulator: Any, marketo_conn_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = lead_rows(300)
    source = write_rows(tmp_path / "a.csv", rows)
    ti = FakeTaskInstance(try_number=1, max_tries=2)
    marketo_simulator.fail_next_jobs(1)  # part 1's job ends Failed
    first = _run(lead_op(source, marketo_conn_id, keep_completed_on_clear=True), ti)
    assert len(first) >= 3
    capsys.readouterr()
    cleared = _clear(ti)
    second = _run(lead_op(source, marketo_conn_id, keep_completed_on_clear=True), cleared)
    assert second[0] != first[0]
    assert second[1:] == first[1:]
    assert received_rows(marketo_simulator, second) == rows
    assert f"batch {first[0]} failed" in capsys.readouterr().out

    # Eight days later Marketo no longer knows the batch ids (kept 7 days): all parts again.
    marketo_simulator.advance_clock(8 * 86400)
    third = _run(lead_op(source, marketo_conn_id, keep_completed_on_clear=True), _clear(cleared))
    assert set(third).isdisjoint(first + second)
    assert received_rows(marketo_simulator, third) == rows
    assert "no longer known to Marketo" in capsys.readouterr().out


def test_clear_with_keep_completed_after_the_source_changed_imports_everything(
    tmp_path: Path, marketo_simulator: Any, marketo_conn_id: str
) -> None:
    source = write_rows(tmp_path / "a.csv", lead_rows(300))
    ti = FakeTaskInstance(try_number=1, max_tries=2)
    first = _run(lead_op(source, marketo_conn_id, keep_completed_on_clear=True), ti)
    write_rows(source, lead_rows(300, start=7))
    second = _run(lead_op(source, marketo_conn_id, keep_completed_on_clear=True), _clear(ti))
    assert set(first).isdisjoint(second)
    assert received_rows(marketo_simulator, second) == lead_rows(300, start=7)


@pytest.mark.parametrize("manifest_path", [None, "fixed.json", "manifests"])
def test_a_new_run_imports_everything_even_with_a_fixed_manifest_path(
    manifest_path: str | None, tmp_path: Path, marketo_simulator: Any, marketo_conn_id: str
) -> None:
    source = write_rows(tmp_path / "a.csv", lead_rows(300))
    where = None if manifest_path is None else str(tmp_path / manifest_path)
    first = _run(lead_op(source, marketo_conn_id, manifest_path=where), FakeTaskInstance(run_id="run_1"))
    second = _run(lead_op(source, marketo_conn_id, manifest_path=where), FakeTaskInstance(run_id="run_2"))
    assert set(first).isdisjoint(second)
    assert len(our_jobs(marketo_simulator)) == 2 * len(first)
    # Another map index of the same run is another task instance too.
    third = _run(
        lead_op(source, marketo_conn_id, manifest_path=where), FakeTaskInstance(run_id="run_2", map_index=1)
    )
    assert set(third).isdisjoint(first + second)


def _blocked(tmp_path: Path) -> str:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    return str(blocker / "manifests")


@pytest.mark.parametrize("deferrable", [False, True])
def test_unwritable_manifest_fails_before_the_first_create_when_it_matters(
    deferrable: bool, tmp_path: Path, marketo_simulator: Any, marketo_conn_id: str
) -> None:
    source = write_rows(tmp_path / "a.csv", lead_rows(5))
    retries = 0 if deferrable else 2  # a retry, or a resume, would need the manifest
    op = lead_op(
        source, marketo_conn_id, manifest_path=_blocked(tmp_path), retries=retries, deferrable=deferrable
    )
    with pytest.raises(
        AirflowException, match=r"Could not write the import manifest.*Nothing more is submitted"
    ):
        _run(op, FakeTaskInstance(try_number=1, max_tries=retries))
    assert create_calls(marketo_simulator.api_calls()) == 0


def test_unwritable_manifest_on_the_last_try_warns_and_imports(
    tmp_path: Path, marketo_simulator: Any, marketo_conn_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_rows(tmp_path / "a.csv", lead_rows(5))
    op = lead_op(source, marketo_conn_id, manifest_path=_blocked(tmp_path), retries=2)
    batch_ids = _run(op, FakeTaskInstance(try_number=3, max_tries=2))  # no retry left
    assert len(batch_ids) == 1
    assert "could be imported again" in capsys.readouterr().out


def test_a_third_try_after_success_of_the_second_imports_nothing_more(
    tmp_path: Path, marketo_simulator: Any, marketo_conn_id: str, create_spy: CreateSpy
) -> None:
    # A retry that finds every part accepted (the try crashed after its last create) creates nothing.
    source = write_rows(tmp_path / "a.csv", lead_rows(300))
    _crash_after_one(source, marketo_conn_id, create_spy)
    batch_ids = _run(lead_op(source, marketo_conn_id), FakeTaskInstance(try_number=2, max_tries=2))
    calls = create_calls(marketo_simulator.api_calls())
    assert _run(lead_op(source, marketo_conn_id), FakeTaskInstance(try_number=3, max_tries=2)) == batch_ids
    assert create_calls(marketo_simulator.api_calls()) == calls
