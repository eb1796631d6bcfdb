"""The hand-off: BulkImportSensor(batch_ids=import_task.output) learns target and rows sent from it."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_marketo._compat import AirflowException
from airflow_provider_marketo.hooks.marketo import MarketoHook
from airflow_provider_marketo.objects import BulkTarget, ImportStatus
from airflow_provider_marketo.operators.bulk_import import BulkCustomObjectImportOperator
from airflow_provider_marketo.operators.output import ImportOutput, check_output, make_output
from airflow_provider_marketo.results import ImportResultError
from airflow_provider_marketo.sensors.bulk_import import BulkImportSensor
from tests._support.files import write_rows
from tests._support.tasks import FakeTaskInstance, make_context

CARS = BulkTarget("custom_objects", api_name="car_c")


def sensor(**kwargs: Any) -> BulkImportSensor:
    return BulkImportSensor(task_id="wait", poll_interval=0.05, deferrable=False, timeout=60, **kwargs)


def import_cars(tmp_path: Path, conn_id: str, count: int = 150) -> ImportOutput:
    rows = [["vin", "model", "year"], *([f"VIN{i}", f"Model {i}", str(2000 + i % 20)] for i in range(count))]
    op = BulkCustomObjectImportOperator(
        task_id="cars",
        api_name="car_c",
        source=write_rows(tmp_path / "cars.csv", rows),
        marketo_conn_id=conn_id,
        poll_interval=0.05,
        part_size=1024,
    )
    return check_output(op.execute(make_context(FakeTaskInstance(task_id="cars"))))


def test_a_custom_object_import_and_its_sensor_need_only_the_output(
    marketo_simulator: Any, marketo_conn_id: str, tmp_path: Path
) -> None:
    output = import_cars(tmp_path, marketo_conn_id)
    assert len(output["batches"]) >= 2
    task = sensor(batch_ids=output, marketo_conn_id=marketo_conn_id)
    assert task.arguments.target == CARS
    summary = task.execute(make_context(FakeTaskInstance(task_id="wait")))
    assert (summary["status"], summary["rows_sent"], summary["rows_accounted"]) == ("success", 150, True)
    assert [b["rows_sent"] for b in summary["batches"]] == [b["rows_sent"] for b in output["batches"]]


def test_rows_marketo_does_not_account_for_fail_without_rows_sent(
    marketo_simulator: Any, marketo_conn_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Marketo reports one row fewer per job than the file held: row accounting is on from the output."""
    output = import_cars(tmp_path, marketo_conn_id)
    status_of = MarketoHook.get_import_status

    def one_row_short(self: MarketoHook, target: BulkTarget, batch_id: int) -> ImportStatus:
        status = status_of(self, target, batch_id)
        if not status.is_terminal:
            return status
        return dataclasses.replace(status, rows_processed=status.rows_processed - 1)

    monkeypatch.setattr(MarketoHook, "get_import_status", one_row_short)
    ti = FakeTaskInstance(task_id="wait")
    with pytest.raises(ImportResultError, match=r"Rows do not add up in batch\(es\)"):
        sensor(batch_ids=output, marketo_conn_id=marketo_conn_id).execute(make_context(ti))
    assert ti.xcoms["return_value"]["rows_accounted"] is False


def _output(target: BulkTarget, *batches: tuple[int, int]) -> dict[str, Any]:
    return dict(make_output(target, list(batches)))


def test_a_mapped_import_output_is_a_list_of_outputs() -> None:
    task = sensor(batch_ids=[_output(CARS, (1, 5), (2, 7)), _output(CARS, (3, 0))])
    assert (task.arguments.batch_ids, task.arguments.rows_sent) == ([1, 2, 3], {1: 5, 2: 7, 3: 0})
    assert task.arguments.target == CARS


def test_a_rendered_output_and_the_deprecated_rows_sent_output_still_work() -> None:
    output = _output(BulkTarget("program_members", program_id=1001), (4, 9))
    task = sensor(batch_ids=str(output), rows_sent=[output])  # a template string; rows_sent_output
    assert (task.arguments.batch_ids, task.arguments.rows_sent) == ([4], {4: 9})
    assert task.arguments.target == BulkTarget("program_members", program_id=1001)


def test_target_arguments_naming_the_same_target_are_accepted() -> None:
    task = sensor(batch_ids=_output(CARS, (1, 5)), object_type="custom_objects", api_name="car_c")
    assert task.arguments.target == CARS


@pytest.mark.parametrize(
    ("batch_ids", "kwargs", "match"),
    [
        (_output(CARS, (1, 5)), {"api_name": "other_c"}, r"api_name='other_c' contradicts the import"),
        (_output(CARS, (1, 5)), {"object_type": "leads"}, r"object_type='leads' contradicts"),
        (
            _output(BulkTarget("program_members", program_id=1001), (1, 5)),
            {"program_id": "1002"},
            r"program_id=1002 contradicts",
        ),
        ([_output(CARS, (1, 5)), _output(BulkTarget("leads"), (2, 1))], {}, "into different targets"),
        ([_output(CARS, (1, 5)), 2], {}, "mixes import task outputs with other values"),
        ([_output(CARS, (1, 5)), _output(CARS, (1, 5))], {}, "must not repeat a batch id"),
        (_output(CARS, (1, 5)), {"rows_sent": {"1": 4}}, r"rows_sent \{1: 4\} contradicts the rows sent"),
        (
            {"target": {"kind": "leads"}, "batches": [], "rows_sent": 0, "result": None},
            {},
            r"batch_ids\['target'\] is not a OutputTarget: missing \['api_name', 'program_id'\]",
        ),
    ],
)
def test_contradictions_fail_before_any_call(batch_ids: Any, kwargs: dict[str, Any], match: str) -> None:
    """No simulator: the error comes before anything is asked of Marketo."""
    with pytest.raises(AirflowException, match=match):
        sensor(batch_ids=batch_ids, marketo_conn_id="no_such_connection", **kwargs).execute({"ti": None})
