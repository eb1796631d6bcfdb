"""BulkImportSensor: deferral, event checks, stored files, thresholds and poke mode, against the simulator."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, ObjectStoragePath, PokeReturnValue, XComArg

from airflow_provider_marketo._compat import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
)
from airflow_provider_marketo.objects import BulkTarget
from airflow_provider_marketo.sensors.bulk_import import BulkImportSensor, as_int_list, count_reasons
from airflow_provider_marketo.triggers.bulk_import import BulkImportTrigger
from tests.triggers.helpers import conn_uri, create_lead_job, first_event, good_rows, mixed_rows

FAILURE_REASONS = {"Invalid data type in field Lead Score": 1, "Value for lookup field 'email' not found": 1}
WARNING_REASONS = {"Invalid email address": 2}


class FakeTI:
    """Records XCom pushes."""

    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


@pytest.fixture
def ti() -> FakeTI:
    return FakeTI()


@pytest.fixture
def context(ti: FakeTI) -> Any:
    return {"ti": ti}


def sensor(**kwargs: Any) -> BulkImportSensor:
    kwargs.setdefault("poll_interval", 0.05)
    return BulkImportSensor(task_id="wait_for_import", **kwargs)


def defer_and_resume(task: BulkImportSensor, context: Any) -> Any:
    """Run ``execute`` up to the deferral, the trigger in an event loop, then ``execute_complete``."""
    with pytest.raises(TaskDeferred) as deferred:
        task.execute(context)
    assert isinstance(deferred.value.trigger, BulkImportTrigger)
    event = asyncio.run(first_event(deferred.value.trigger))
    return task.execute_complete(context, event)


def sim_rows(sim: Any, batch_id: int, which: str) -> list[list[str]]:
    """The rows the simulator failed (or warned about), reason last."""
    return list(sim.result_rows(batch_id, which))


def stored_rows(url: str, delimiter: str = ",") -> tuple[list[str], list[list[str]]]:
    text = ObjectStoragePath(url).read_text(encoding="utf-8")
    header, *rows = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    return header, rows


# -- arguments --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([1, 2], [1, 2]),
        (12, [12]),
        ("12", [12]),
        ("[1, 2]", [1, 2]),
        (("3", 4), [3, 4]),
        ("['5']", [5]),
        ([[1, 2], [3]], [1, 2, 3]),  # a mapped import task's outputs
    ],
)
def test_batch_ids_are_normalised(value: Any, expected: list[int]) -> None:
    assert as_int_list(value, "batch_ids", minimum=1) == expected


@pytest.mark.parametrize("value", ["abc", "[1, 'x']", {"a": 1}, True, [0], [-3], "1,,2", 1.5, None])
def test_bad_batch_ids_are_a_clear_error(value: Any) -> None:
    with pytest.raises(AirflowException, match="batch_ids must"):
        as_int_list(value, "batch_ids", minimum=1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_failed_ratio": 1.5},
        {"max_failed_rows": -1},
        {"object_type": "opportunities"},
        {"poll_interval": 0},
    ],
)
def test_rejects_bad_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        sensor(batch_ids=[1], **kwargs)


def test_execute_defers_to_the_trigger_with_deadline_and_timeout(context: Any) -> None:
    task = sensor(
        batch_ids="[3, 4]", timeout=600, object_type="custom_objects", api_name="car_c", marketo_conn_id="mk"
    )
    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        task.execute(context)
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout == timedelta(seconds=600)
    trigger = deferred.value.trigger
    assert isinstance(trigger, BulkImportTrigger)
    _, kwargs = trigger.serialize()
    assert kwargs["batch_ids"] == [3, 4]
    assert kwargs["marketo_conn_id"] == "mk"
    assert kwargs["target"] == {"kind": "custom_objects", "api_name": "car_c", "program_id": None}
    assert kwargs["poll_interval"] == 0.05
    assert before + 600 <= kwargs["deadline"] <= time.time() + 600


def test_repeated_batch_ids_are_rejected(context: Any) -> None:
    with pytest.raises(AirflowException, match="must not repeat"):
        sensor(batch_ids=[4, 4]).execute(context)


def test_templated_fields_render_to_usable_values() -> None:
    task = sensor(
        batch_ids="{{ params.ids }}",
        rows_sent="{{ params.sent }}",
        results_path="file:///tmp/marketo/{{ run_id }}/",
        object_type="program_members",
        program_id="{{ params.program }}",
    )
    context: Any = {"run_id": "manual_1", "params": {"ids": [7, 8], "sent": [10, 20], "program": 1001}}
    task.render_template_fields(context)
    assert task._batch_id_list() == [7, 8]
    assert task._rows_sent_list([7, 8]) == [10, 20]
    assert task._target() == BulkTarget("program_members", program_id=1001)
    assert str(task._results_dir()) == "file:///tmp/marketo/manual_1"


def test_accepts_the_import_task_output() -> None:
    with DAG("marketo_import", schedule=None):
        upstream = EmptyOperator(task_id="import_leads")
        task = sensor(batch_ids=upstream.output, rows_sent=XComArg(upstream, key="rows_sent"))
    assert task.upstream_task_ids == {"import_leads"}


def test_rows_sent_must_align_with_batch_ids(context: Any) -> None:
    with pytest.raises(AirflowException, match="rows_sent has 1 entries but there are 2 batch ids"):
        sensor(batch_ids=[1, 2], rows_sent=[5]).execute(context)


# -- event checks -----------------------------------------------------------------------------------

GOOD_BATCH = {
    "batch_id": 5,
    "kind": "leads",
    "status": "Complete",
    "rows_processed": 1,
    "rows_failed": 0,
    "rows_with_warning": 0,
    "message": "ok",
}


@pytest.mark.parametrize(
    ("event", "match"),
    [
        (None, "expected a dict"),
        ("success", "expected a dict"),
        ({"status": "done", "message": "", "batches": []}, "unknown status 'done'"),
        ({"status": "success", "message": None, "batches": []}, "'message' must be a str"),
        ({"status": "success", "message": "", "batches": "x"}, "'batches' a list"),
        ({"status": "success", "message": "", "batches": [{"batch_id": 5}]}, "bad batch entry"),
        (
            {"status": "success", "message": "", "batches": [{**GOOD_BATCH, "batch_id": 6}]},
            "expected finished",
        ),
        (
            {"status": "failed", "message": "", "batches": [{**GOOD_BATCH, "status": "Queued"}]},
            "expected finished",
        ),
        ({"status": "success", "message": "", "batches": []}, "expected finished"),
    ],
)
def test_malformed_events_are_rejected(context: Any, event: Any, match: str) -> None:
    with pytest.raises(AirflowException, match=match):
        sensor(batch_ids=[5]).execute_complete(context, event)


def test_error_event_fails_with_its_message(context: Any) -> None:
    event = {"status": "error", "message": "Batch 5 is unknown or expired", "batches": []}
    with pytest.raises(AirflowException, match="Batch 5 is unknown or expired"):
        sensor(batch_ids=[5]).execute_complete(context, event)


@pytest.mark.parametrize(
    ("soft_fail", "error"), [(False, AirflowSensorTimeout), (True, AirflowSkipException)]
)
def test_timeout_event(context: Any, soft_fail: bool, error: type[Exception]) -> None:
    event = {
        "status": "timeout",
        "message": "Deadline passed",
        "batches": [{**GOOD_BATCH, "status": "Queued"}],
    }
    with pytest.raises(error, match="Deadline passed"):
        sensor(batch_ids=[5], soft_fail=soft_fail).execute_complete(context, event)


# -- reason counting ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "delimiter"),
    [
        (b'email,"Import Failure Reason"\r\na@x.com,"Bad, really"\r\nb@x.com,Other\r\n', ","),
        (b"\xef\xbb\xbfemail\tImport Failure Reason\na@x.com\tBad, really\nb@x.com\tOther\n", "\t"),
        (b'email;name;Import Failure Reason\na@x.com;A;Bad, really\nb@x.com;"B;b";Other\n', ";"),
    ],
)
def test_count_reasons_detects_the_delimiter(content: bytes, delimiter: str) -> None:
    found, reasons = count_reasons(io.BytesIO(content), "Import Failure Reason")
    assert found == delimiter
    assert reasons == {"Bad, really": 1, "Other": 1}


# -- against the simulator --------------------------------------------------------------------------


def test_stores_failures_and_warnings_to_file_url(
    marketo_simulator: Any, marketo_conn_id: str, context: Any, ti: FakeTI, tmp_path: Path
) -> None:
    clean = create_lead_job(marketo_simulator.base_url, good_rows(4, prefix="clean"))
    mixed = create_lead_job(marketo_simulator.base_url, mixed_rows())
    results = f"file://{tmp_path}/results/"
    summary = defer_and_resume(
        sensor(batch_ids=[clean, mixed], results_path=results, rows_sent=[4, 7]), context
    )
    assert json.loads(json.dumps(summary)) == summary
    assert summary["status"] == "success"
    assert (summary["rows_processed"], summary["rows_failed"], summary["rows_with_warning"]) == (9, 2, 2)
    assert (summary["rows_sent"], summary["rows_accounted"]) == (11, True)
    assert summary["results_path"] == f"file://{tmp_path}/results"
    first, second = summary["batches"]
    assert first == {
        "batch_id": clean,
        "status": "Complete",
        "rows_processed": 4,
        "rows_failed": 0,
        "rows_with_warning": 0,
        "message": first["message"],
        "failures_path": None,
        "warnings_path": None,
        "failure_reasons": {},
        "warning_reasons": {},
        "rows_sent": 4,
        "rows_accounted": True,
    }
    assert second["failures_path"] == f"file://{tmp_path}/results/{mixed}_failures.csv"
    assert second["warnings_path"] == f"file://{tmp_path}/results/{mixed}_warnings.csv"
    assert (second["failure_reasons"], second["warning_reasons"]) == (FAILURE_REASONS, WARNING_REASONS)
    for which, column in (("failures", "Import Failure Reason"), ("warnings", "Import Warning Reason")):
        header, rows = stored_rows(second[f"{which}_path"])
        assert header == ["email", "firstName", "leadScore", column]
        assert sorted(rows) == sorted(sim_rows(marketo_simulator, mixed, which))
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == [
        f"{mixed}_failures.csv",
        f"{mixed}_warnings.csv",
    ]
    assert ti.xcom == {}  # returned, not pushed


def test_tsv_job_is_stored_as_tsv(
    marketo_simulator: Any, marketo_conn_id: str, context: Any, tmp_path: Path
) -> None:
    batch_id = create_lead_job(marketo_simulator.base_url, mixed_rows(), file_format="tsv")
    summary = defer_and_resume(sensor(batch_ids=batch_id, results_path=f"file://{tmp_path}"), context)
    entry = summary["batches"][0]
    assert entry["failures_path"].endswith(f"/{batch_id}_failures.tsv")
    assert entry["failure_reasons"] == FAILURE_REASONS
    _, rows = stored_rows(entry["failures_path"], delimiter="\t")
    assert sorted(rows) == sorted(sim_rows(marketo_simulator, batch_id, "failures"))


def test_without_results_path_reasons_are_still_counted(
    marketo_simulator: Any, marketo_conn_id: str, context: Any
) -> None:
    batch_id = create_lead_job(marketo_simulator.base_url, mixed_rows())
    summary = defer_and_resume(sensor(batch_ids=[batch_id], rows_sent=[9]), context)
    assert summary["results_path"] is None
    assert (summary["rows_sent"], summary["rows_accounted"]) == (9, False)
    entry = summary["batches"][0]
    assert (entry["failures_path"], entry["warnings_path"]) == (None, None)
    assert (entry["failure_reasons"], entry["warning_reasons"]) == (FAILURE_REASONS, WARNING_REASONS)
    assert (entry["rows_sent"], entry["rows_accounted"]) == (9, False)


def test_missing_file_is_no_file(
    marketo_simulator: Any, marketo_conn_id: str, context: Any, tmp_path: Path
) -> None:
    batch_id = create_lead_job(marketo_simulator.base_url, mixed_rows())
    marketo_simulator.inject("http_error", path=r"/failures\.json$", status=404)
    summary = defer_and_resume(sensor(batch_ids=[batch_id], results_path=f"file://{tmp_path}"), context)
    entry = summary["batches"][0]
    assert (entry["failures_path"], entry["failure_reasons"]) == (None, {})
    assert entry["warnings_path"] == f"file://{tmp_path}/{batch_id}_warnings.csv"


def test_failed_job_fails_the_task_after_pushing_the_summary(
    marketo_simulator: Any, marketo_conn_id: str, context: Any, ti: FakeTI
) -> None:
    ok = create_lead_job(marketo_simulator.base_url, mixed_rows())
    marketo_simulator.fail_next_jobs(1, "Import failed: invalid header")
    bad = create_lead_job(marketo_simulator.base_url, good_rows(2))
    with pytest.raises(AirflowFailException, match=f"Batch {bad} failed: Import failed: invalid header"):
        defer_and_resume(sensor(batch_ids=[ok, bad]), context)
    summary = ti.xcom["return_value"]
    assert summary["status"] == "failed"
    assert [b["status"] for b in summary["batches"]] == ["Complete", "Failed"]
    assert summary["batches"][0]["failure_reasons"] == FAILURE_REASONS


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_failed_rows": 1}, "2 rows failed, more than max_failed_rows=1"),
        ({"max_failed_ratio": 0.25}, r"2 of 7 rows failed \(28.57%\), more than max_failed_ratio=0.25"),
        ({"fail_on_warnings": True}, "2 rows have warnings and fail_on_warnings is set"),
    ],
)
def test_thresholds_fail_after_storing(
    marketo_simulator: Any,
    marketo_conn_id: str,
    context: Any,
    ti: FakeTI,
    tmp_path: Path,
    kwargs: dict[str, Any],
    message: str,
) -> None:
    batch_id = create_lead_job(marketo_simulator.base_url, mixed_rows())
    with pytest.raises(AirflowFailException, match=message):
        defer_and_resume(sensor(batch_ids=[batch_id], results_path=f"file://{tmp_path}", **kwargs), context)
    assert (tmp_path / f"{batch_id}_failures.csv").exists()
    assert (tmp_path / f"{batch_id}_warnings.csv").exists()
    summary = ti.xcom["return_value"]
    assert summary["status"] == "failed"
    assert summary["batches"][0]["failure_reasons"] == FAILURE_REASONS


def test_thresholds_not_crossed_succeed(marketo_simulator: Any, marketo_conn_id: str, context: Any) -> None:
    batch_id = create_lead_job(marketo_simulator.base_url, mixed_rows())
    task = sensor(batch_ids=[batch_id], max_failed_rows=2, max_failed_ratio=0.3)
    assert defer_and_resume(task, context)["status"] == "success"


def test_expired_batch_id_is_a_clear_error(
    marketo_simulator: Any, marketo_conn_id: str, context: Any
) -> None:
    batch_id = create_lead_job(marketo_simulator.base_url, good_rows(1))
    marketo_simulator.advance_clock(8 * 24 * 3600)
    with pytest.raises(AirflowException, match=f"Batch {batch_id} is unknown or expired"):
        defer_and_resume(sensor(batch_ids=[batch_id]), context)
    with pytest.raises(AirflowException, match=f"Batch {batch_id} is unknown or expired"):
        sensor(batch_ids=[batch_id], deferrable=False, timeout=30).execute(context)


# -- poke mode --------------------------------------------------------------------------------------


def test_poke_mode_gives_the_same_summary(
    marketo_simulator: Any, marketo_conn_id: str, context: Any, tmp_path: Path
) -> None:
    batch_id = create_lead_job(marketo_simulator.base_url, mixed_rows())
    task = sensor(batch_ids=str(batch_id), deferrable=False, results_path=f"file://{tmp_path}/", timeout=30)
    summary = task.execute(context)
    assert summary["status"] == "success"
    entry = summary["batches"][0]
    assert (entry["failure_reasons"], entry["warning_reasons"]) == (FAILURE_REASONS, WARNING_REASONS)
    _, rows = stored_rows(entry["failures_path"])
    assert sorted(rows) == sorted(sim_rows(marketo_simulator, batch_id, "failures"))


@pytest.mark.marketo_simulator(rows_per_second=1)
def test_poke_waits_until_jobs_finish(marketo_simulator: Any, marketo_conn_id: str, context: Any) -> None:
    batch_id = create_lead_job(marketo_simulator.base_url, good_rows(10))
    task = sensor(batch_ids=[batch_id], deferrable=False, timeout=30)
    assert task.poke(context) is False
    marketo_simulator.advance_clock(11)
    result = task.poke(context)
    assert result
    assert isinstance(result, PokeReturnValue)
    assert result.xcom_value is not None
    assert result.xcom_value["rows_processed"] == 10


def test_poke_tolerates_a_transient_error(
    marketo_simulator: Any, monkeypatch: pytest.MonkeyPatch, context: Any
) -> None:
    batch_id = create_lead_job(marketo_simulator.base_url, good_rows(2))
    monkeypatch.setenv("AIRFLOW_CONN_MARKETO_ONCE", conn_uri(marketo_simulator.base_url, max_attempts=1))
    marketo_simulator.inject("http_error", path=rf"/batch/{batch_id}\.json", status=503)
    task = sensor(batch_ids=[batch_id], deferrable=False, marketo_conn_id="marketo_once", timeout=30)
    assert task.poke(context) is False
    result = task.poke(context)
    assert isinstance(result, PokeReturnValue)
    assert result.xcom_value is not None
    assert result.xcom_value["rows_processed"] == 2


def test_poke_mode_threshold_pushes_and_fails(
    marketo_simulator: Any, marketo_conn_id: str, context: Any, ti: FakeTI
) -> None:
    batch_id = create_lead_job(marketo_simulator.base_url, mixed_rows())
    task = sensor(batch_ids=[batch_id], deferrable=False, max_failed_rows=0, timeout=30)
    with pytest.raises(AirflowFailException, match="max_failed_rows=0"):
        task.execute(context)
    assert ti.xcom["return_value"]["rows_failed"] == 2


# -- S3 ---------------------------------------------------------------------------------------------


@pytest.fixture
def s3_bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A bucket on a local moto server, reachable through the ``aws_test`` connection."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            monkeypatch.setenv(name, "testing")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        connection = {
            "conn_type": "aws",
            "login": "testing",
            "password": "testing",
            "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"},
        }
        monkeypatch.setenv("AIRFLOW_CONN_AWS_TEST", json.dumps(connection))
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ).create_bucket(Bucket="marketo-results")
        yield "marketo-results"
    finally:
        server.stop()


def test_stores_files_to_s3(
    marketo_simulator: Any, marketo_conn_id: str, context: Any, s3_bucket: str
) -> None:
    batch_id = create_lead_job(marketo_simulator.base_url, mixed_rows())
    results = f"s3://aws_test@{s3_bucket}/marketo/run-1/"
    summary = defer_and_resume(sensor(batch_ids=[batch_id], results_path=results), context)
    entry = summary["batches"][0]
    assert entry["failures_path"] == f"s3://aws_test@{s3_bucket}/marketo/run-1/{batch_id}_failures.csv"
    header, rows = stored_rows(f"s3://aws_test@{s3_bucket}/marketo/run-1/{batch_id}_failures.csv")
    assert header[-1] == "Import Failure Reason"
    assert sorted(rows) == sorted(sim_rows(marketo_simulator, batch_id, "failures"))
    _, rows = stored_rows(f"s3://aws_test@{s3_bucket}/marketo/run-1/{batch_id}_warnings.csv")
    assert sorted(rows) == sorted(sim_rows(marketo_simulator, batch_id, "warnings"))
