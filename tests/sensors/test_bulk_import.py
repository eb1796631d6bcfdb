"""BulkImportSensor: deferral, event checks, stored files, thresholds and poke mode, against the simulator."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, ObjectStoragePath

from airflow_provider_marketo._compat import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
)
from airflow_provider_marketo.objects import BulkTarget
from airflow_provider_marketo.results import ImportResultError
from airflow_provider_marketo.results.files import scan_result_file
from airflow_provider_marketo.sensors._arguments import as_int_list
from airflow_provider_marketo.sensors.bulk_import import BulkImportSensor
from airflow_provider_marketo.triggers.bulk_import import BulkImportTrigger
from tests._support.sim import create_lead_job, good_rows, mixed_rows, set_connection
from tests._support.tasks import first_event

FAILURE_REASONS = {"Invalid data type in field Lead Score": 1, "Value for lookup field 'email' not found": 1}
WARNING_REASONS = {"Invalid email address": 2}


class FakeTI:
    """The sensor's task instance: its ids; records XCom pushes."""

    def __init__(self) -> None:
        self.task_id = "wait_for_import"
        self.map_index = -1
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
    kwargs.setdefault("deferrable", True)
    return BulkImportSensor(task_id="wait_for_import", **kwargs)


def resume(task: BulkImportSensor, context: Any, event: Any) -> Any:
    """Resume as the task runner does after the trigger fired (``resume_execution``, soft_fail and all)."""
    return task.resume_execution("execute_complete", {"event": event}, context)


def defer_and_resume(task: BulkImportSensor, context: Any) -> Any:
    """Run ``execute`` up to the deferral, the trigger in an event loop, then resume the task."""
    with pytest.raises(TaskDeferred) as deferred:
        task.execute(context)
    assert isinstance(deferred.value.trigger, BulkImportTrigger)
    event = asyncio.run(first_event(deferred.value.trigger))
    return resume(task, context, event)


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
    context: Any = {
        "run_id": "manual_1",
        "params": {"ids": [7, 8], "sent": {"7": 10, "8": 20}, "program": 1001},
    }
    task.render_template_fields(context)
    arguments = task.arguments
    assert arguments.batch_ids == [7, 8]
    assert arguments.rows_sent == {7: 10, 8: 20}
    assert arguments.target == BulkTarget("program_members", program_id=1001)
    assert str(arguments.results_dir) == "file:///tmp/marketo/manual_1"


def test_accepts_the_import_task_output() -> None:
    with DAG("marketo_import", schedule=None):
        upstream = EmptyOperator(task_id="import_leads")
        task = sensor(batch_ids=upstream.output)
    assert task.upstream_task_ids == {"import_leads"}


@pytest.mark.parametrize(
    ("batch_ids", "rows_sent", "expected"),
    [
        ([1, 2], {"1": 5, "2": 7}, {1: 5, 2: 7}),
        ([2, 1], {1: 5, 2: 7}, {1: 5, 2: 7}),  # aligned by id, not by position
        ([[1, 2], [3]], [{"1": 5, "2": 7}, {"3": 0}], {1: 5, 2: 7, 3: 0}),  # a mapped import task
        ("[1, 2]", "{'1': 5, '2': 7}", {1: 5, 2: 7}),  # rendered templates
        ([1], None, None),
    ],
)
def test_rows_sent_is_a_mapping_by_batch_id(batch_ids: Any, rows_sent: Any, expected: Any) -> None:
    assert sensor(batch_ids=batch_ids, rows_sent=rows_sent).arguments.rows_sent == expected


@pytest.mark.parametrize(
    ("batch_ids", "rows_sent", "match"),
    [
        ([1, 2], [5, 7], "not a list of counts"),
        ([1, 2], {"1": 5}, r"no entry for batch\(es\) \[2\]"),
        ([1], {"1": 5, "9": 3}, r"entries for batch\(es\) \[9\] that are not among the batch ids \[1\]"),
        ([1, 2], [{"1": 5}, {"1": 5, "2": 1}], "two entries for batch 1"),
        ([1], {"1": -1}, "rows_sent's values must contain integers >= 0"),
        ([1], {"x": 1}, "rows_sent's keys must contain integers"),
        ([1], "{1: ", "rows_sent must be a mapping"),
    ],
)
def test_bad_rows_sent_fails_before_waiting(context: Any, batch_ids: Any, rows_sent: Any, match: str) -> None:
    with pytest.raises(AirflowException, match=match):
        sensor(batch_ids=batch_ids, rows_sent=rows_sent).execute(context)


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


@pytest.mark.parametrize("soft_fail", [False, True])
def test_error_event_fails_with_its_message(context: Any, soft_fail: bool) -> None:
    event = {"status": "error", "message": "Batch 5 is unknown or expired", "batches": []}
    with pytest.raises(AirflowException, match="Batch 5 is unknown or expired") as raised:
        resume(sensor(batch_ids=[5], soft_fail=soft_fail), context, event)
    assert not isinstance(raised.value, AirflowSkipException)


@pytest.mark.parametrize(
    ("soft_fail", "error", "match"),
    [(False, AirflowSensorTimeout, "Deadline passed"), (True, AirflowSkipException, "soft_fail")],
)
def test_timeout_event(context: Any, soft_fail: bool, error: type[Exception], match: str) -> None:
    event = {
        "status": "timeout",
        "message": "Deadline passed",
        "batches": [{**GOOD_BATCH, "status": "Queued"}],
    }
    with pytest.raises(error, match=match):
        resume(sensor(batch_ids=[5], soft_fail=soft_fail), context, event)


@pytest.mark.parametrize(
    ("soft_fail", "error"), [(False, AirflowSensorTimeout), (True, AirflowSkipException)]
)
def test_deferral_timeout_skips_only_with_soft_fail(
    context: Any, soft_fail: bool, error: type[Exception]
) -> None:
    """The triggerer ends a deferral past ``defer(timeout=...)`` by resuming with ``__fail__``."""
    from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason

    task = sensor(batch_ids=[5], soft_fail=soft_fail)
    with pytest.raises(error):
        task.resume_execution(TRIGGER_FAIL_REPR, {"error": TriggerFailureReason.TRIGGER_TIMEOUT}, context)


def test_never_fail_still_skips_everything(context: Any) -> None:
    event = {"status": "error", "message": "Batch 5 is unknown or expired", "batches": []}
    with pytest.raises(AirflowSkipException):
        resume(sensor(batch_ids=[5], never_fail=True), context, event)


# -- reason counting ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "delimiter"),
    [
        (b'email,"Import Failure Reason"\r\na@x.com,"Bad, really"\r\nb@x.com,Other\r\n', ","),
        (b"\xef\xbb\xbfemail\tImport Failure Reason\na@x.com\tBad, really\nb@x.com\tOther\n", "\t"),
        (b'email;name;Import Failure Reason\na@x.com;A;Bad, really\nb@x.com;"B;b";Other\n', ";"),
    ],
)
def test_scan_detects_the_delimiter(content: bytes, delimiter: str) -> None:
    scan = scan_result_file(io.BytesIO(content), "Import Failure Reason")
    assert scan.delimiter == delimiter
    assert scan.header[-1] == "Import Failure Reason"
    assert scan.reasons == {"Bad, really": 1, "Other": 1}


# -- against the simulator --------------------------------------------------------------------------


def test_stores_failures_and_warnings_to_file_url(
    marketo_simulator: Any, marketo_conn_id: str, context: Any, ti: FakeTI, tmp_path: Path
) -> None:
    clean = create_lead_job(marketo_simulator, good_rows(4, prefix="clean"))
    mixed = create_lead_job(marketo_simulator, mixed_rows())
    results = f"file://{tmp_path}/results/"
    summary = defer_and_resume(
        sensor(batch_ids=[clean, mixed], results_path=results, rows_sent={str(clean): 4, str(mixed): 7}),
        context,
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
        "wait_for_import.failures.csv",
        "wait_for_import.report.json",
        "wait_for_import.warnings.csv",
    ]
    assert summary["failures_path"] == f"file://{tmp_path}/results/wait_for_import.failures.csv"
    assert summary["warnings_path"] == f"file://{tmp_path}/results/wait_for_import.warnings.csv"
    assert summary["report_path"] == f"file://{tmp_path}/results/wait_for_import.report.json"
    assert (summary["task_id"], summary["map_index"]) == ("wait_for_import", -1)
    assert (summary["failure_reasons"], summary["warning_reasons"]) == (FAILURE_REASONS, WARNING_REASONS)
    assert json.loads((tmp_path / "results" / "wait_for_import.report.json").read_text()) == summary
    header, rows = stored_rows(summary["failures_path"])
    assert header == ["batch_id", "email", "firstName", "leadScore", "Import Failure Reason"]
    assert sorted(rows) == sorted(
        [str(mixed), *row] for row in sim_rows(marketo_simulator, mixed, "failures")
    )
    assert ti.xcom == {}  # returned, not pushed


def test_merged_report_holds_every_row_of_every_batch(
    marketo_simulator: Any, marketo_conn_id: str, context: Any, tmp_path: Path
) -> None:
    """Two jobs with different headers: the merged file matches columns by name."""
    first = create_lead_job(marketo_simulator, mixed_rows())
    second = create_lead_job(
        marketo_simulator, ["x1@example.com,abc", ",3", "ok@example.com,4"], header="email,leadScore"
    )
    summary = defer_and_resume(sensor(batch_ids=[first, second], results_path=f"file://{tmp_path}"), context)
    assert summary["rows_failed"] == 4
    header, rows = stored_rows(summary["failures_path"])
    assert header == ["batch_id", "email", "firstName", "leadScore", "Import Failure Reason"]
    expected = [[str(first), *row] for row in sim_rows(marketo_simulator, first, "failures")]
    expected += [
        [str(second), email, "", score, reason]
        for email, score, reason in sim_rows(marketo_simulator, second, "failures")
    ]
    assert sorted(rows) == sorted(expected)
    assert len(rows) == summary["rows_failed"]
    report = json.loads((tmp_path / "wait_for_import.report.json").read_text())
    assert report["failure_reasons"] == {
        "Invalid data type in field Lead Score": 2,
        "Value for lookup field 'email' not found": 2,
    }
    assert [(b["batch_id"], b["rows_failed"]) for b in report["batches"]] == [(first, 2), (second, 2)]
    _, warned = stored_rows(summary["warnings_path"])
    assert sorted(warned) == sorted(
        [str(first), *row] for row in sim_rows(marketo_simulator, first, "warnings")
    )


def test_tsv_job_is_stored_as_tsv(
    marketo_simulator: Any, marketo_conn_id: str, context: Any, tmp_path: Path
) -> None:
    batch_id = create_lead_job(marketo_simulator, mixed_rows(), file_format="tsv")
    summary = defer_and_resume(sensor(batch_ids=batch_id, results_path=f"file://{tmp_path}"), context)
    entry = summary["batches"][0]
    assert entry["failures_path"].endswith(f"/{batch_id}_failures.tsv")
    assert entry["failure_reasons"] == FAILURE_REASONS
    _, rows = stored_rows(entry["failures_path"], delimiter="\t")
    assert sorted(rows) == sorted(sim_rows(marketo_simulator, batch_id, "failures"))


def test_without_results_path_reasons_are_still_counted(
    marketo_simulator: Any, marketo_conn_id: str, context: Any
) -> None:
    batch_id = create_lead_job(marketo_simulator, mixed_rows())
    task = sensor(batch_ids=[batch_id], rows_sent={batch_id: 9}, fail_on_unaccounted_rows=False)
    summary = defer_and_resume(task, context)
    assert summary["status"] == "success"
    assert summary["results_path"] is None
    assert (summary["failures_path"], summary["warnings_path"], summary["report_path"]) == (None, None, None)
    assert (summary["rows_sent"], summary["rows_accounted"]) == (9, False)
    entry = summary["batches"][0]
    assert (entry["failures_path"], entry["warnings_path"]) == (None, None)
    assert (entry["failure_reasons"], entry["warning_reasons"]) == (FAILURE_REASONS, WARNING_REASONS)
    assert (entry["rows_sent"], entry["rows_accounted"]) == (9, False)


def test_missing_file_is_no_file(
    marketo_simulator: Any, marketo_conn_id: str, context: Any, tmp_path: Path
) -> None:
    batch_id = create_lead_job(marketo_simulator, mixed_rows())
    marketo_simulator.inject("http_error", path=r"/failures\.json$", status=404)
    summary = defer_and_resume(sensor(batch_ids=[batch_id], results_path=f"file://{tmp_path}"), context)
    entry = summary["batches"][0]
    assert (entry["failures_path"], entry["failure_reasons"]) == (None, {})
    assert entry["warnings_path"] == f"file://{tmp_path}/{batch_id}_warnings.csv"


@pytest.mark.parametrize("soft_fail", [False, True])
def test_failed_job_fails_the_task_after_pushing_the_summary(
    marketo_simulator: Any, marketo_conn_id: str, context: Any, ti: FakeTI, soft_fail: bool
) -> None:
    ok = create_lead_job(marketo_simulator, mixed_rows())
    marketo_simulator.fail_next_jobs(1, "Import failed: invalid header")
    bad = create_lead_job(marketo_simulator, good_rows(2))
    with pytest.raises(ImportResultError, match=f"Batch {bad} failed: Import failed: invalid header"):
        defer_and_resume(sensor(batch_ids=[ok, bad], soft_fail=soft_fail), context)
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
@pytest.mark.parametrize("soft_fail", [False, True])
def test_thresholds_fail_after_storing(
    marketo_simulator: Any,
    marketo_conn_id: str,
    context: Any,
    ti: FakeTI,
    tmp_path: Path,
    kwargs: dict[str, Any],
    message: str,
    soft_fail: bool,
) -> None:
    """A crossed threshold fails the task, with ``soft_fail=True`` too (only a timeout skips)."""
    batch_id = create_lead_job(marketo_simulator, mixed_rows())
    task = sensor(batch_ids=[batch_id], results_path=f"file://{tmp_path}", soft_fail=soft_fail, **kwargs)
    with pytest.raises(AirflowFailException, match=message):
        defer_and_resume(task, context)
    assert (tmp_path / f"{batch_id}_failures.csv").exists()
    assert (tmp_path / f"{batch_id}_warnings.csv").exists()
    summary = ti.xcom["return_value"]
    assert summary["status"] == "failed"
    assert summary["batches"][0]["failure_reasons"] == FAILURE_REASONS


NO_EMAIL_REASON = "Value for lookup field 'email' not found"


@pytest.mark.parametrize("soft_fail", [False, True])
def test_nothing_imported_fails_after_storing(
    marketo_simulator: Any, marketo_conn_id: str, context: Any, ti: FakeTI, tmp_path: Path, soft_fail: bool
) -> None:
    """Marketo ends a job whose every row failed ``Complete`` with 0 processed (issue 12)."""
    ok = create_lead_job(marketo_simulator, good_rows(2))
    empty = create_lead_job(marketo_simulator, [",A,1", ",B,2", ",C,3"])
    task = sensor(batch_ids=[ok, empty], results_path=f"file://{tmp_path}", soft_fail=soft_fail)
    message = rf"Batch {empty} imported nothing: all 3 rows failed \(top reasons: \"{NO_EMAIL_REASON}\" x3\)"
    with pytest.raises(ImportResultError, match=message) as raised:
        defer_and_resume(task, context)
    assert "fail_on_nothing_imported=False" in str(raised.value)
    summary = ti.xcom["return_value"]
    assert summary == raised.value.summary
    assert (summary["status"], summary["rows_processed"], summary["rows_failed"]) == ("failed", 2, 3)
    assert summary["failure_reasons"] == {NO_EMAIL_REASON: 3}
    _, rows = stored_rows(summary["failures_path"])
    assert len(rows) == 3
    assert (tmp_path / f"{empty}_failures.csv").exists()
    assert json.loads((tmp_path / "wait_for_import.report.json").read_text())["status"] == "failed"


def test_nothing_imported_can_be_accepted(marketo_simulator: Any, marketo_conn_id: str, context: Any) -> None:
    batch_id = create_lead_job(marketo_simulator, [",A,1"])
    summary = defer_and_resume(sensor(batch_ids=[batch_id], fail_on_nothing_imported=False), context)
    assert (summary["status"], summary["rows_processed"], summary["rows_failed"]) == ("success", 0, 1)


@pytest.mark.parametrize("soft_fail", [False, True])
def test_rows_that_do_not_add_up_fail_naming_the_batches(
    marketo_simulator: Any, marketo_conn_id: str, context: Any, ti: FakeTI, tmp_path: Path, soft_fail: bool
) -> None:
    """processed + failed != sent fails by default, after the files and the summary are stored (issue 14)."""
    good = create_lead_job(marketo_simulator, good_rows(3))
    mixed = create_lead_job(marketo_simulator, mixed_rows())
    rows_sent = {str(good): 3, str(mixed): 9}
    task = sensor(
        batch_ids=[good, mixed], rows_sent=rows_sent, results_path=f"file://{tmp_path}", soft_fail=soft_fail
    )
    message = (
        rf"Rows do not add up in batch\(es\) \[{mixed}\] \(batch {mixed}: 9 sent, 5 processed \+ 2 failed\)"
    )
    with pytest.raises(ImportResultError, match=message):
        defer_and_resume(task, context)
    summary = ti.xcom["return_value"]
    assert (summary["rows_sent"], summary["rows_accounted"]) == (12, False)
    assert [b["rows_accounted"] for b in summary["batches"]] == [True, False]
    assert (tmp_path / f"{mixed}_failures.csv").exists()
    assert (tmp_path / "wait_for_import.report.json").exists()


def test_thresholds_not_crossed_succeed(marketo_simulator: Any, marketo_conn_id: str, context: Any) -> None:
    batch_id = create_lead_job(marketo_simulator, mixed_rows())
    task = sensor(batch_ids=[batch_id], max_failed_rows=2, max_failed_ratio=0.3)
    assert defer_and_resume(task, context)["status"] == "success"


def test_expired_batch_id_is_a_clear_error(
    marketo_simulator: Any, marketo_conn_id: str, context: Any
) -> None:
    batch_id = create_lead_job(marketo_simulator, good_rows(1))
    marketo_simulator.advance_clock(8 * 24 * 3600)
    with pytest.raises(AirflowException, match=f"Batch {batch_id} is unknown or expired"):
        defer_and_resume(sensor(batch_ids=[batch_id]), context)
    with pytest.raises(AirflowException, match=f"Batch {batch_id} is unknown or expired"):
        sensor(batch_ids=[batch_id], deferrable=False, timeout=30).execute(context)


@pytest.mark.parametrize("deferrable", [True, False])
def test_batch_of_another_kind_names_the_likely_mix_up(
    marketo_simulator: Any, marketo_conn_id: str, context: Any, deferrable: bool
) -> None:
    """A lead batch looked up as program members seconds after its creation (issue 14)."""
    batch_id = create_lead_job(marketo_simulator, good_rows(1))
    task = sensor(
        batch_ids=[batch_id],
        object_type="program_members",
        program_id=1001,
        deferrable=deferrable,
        timeout=30,
    )
    with pytest.raises(AirflowException, match=f"Batch {batch_id} is unknown or expired") as raised:
        defer_and_resume(task, context) if deferrable else task.execute(context)
    assert "looked up among program member imports (object_type='program_members')" in str(raised.value)
    assert "pass the import task's output as batch_ids" in str(raised.value)


# -- poke mode --------------------------------------------------------------------------------------


def test_poke_mode_gives_the_same_summary(
    marketo_simulator: Any, marketo_conn_id: str, context: Any, tmp_path: Path
) -> None:
    batch_id = create_lead_job(marketo_simulator, mixed_rows())
    task = sensor(batch_ids=str(batch_id), deferrable=False, results_path=f"file://{tmp_path}/", timeout=30)
    summary = task.execute(context)
    assert summary["status"] == "success"
    entry = summary["batches"][0]
    assert (entry["failure_reasons"], entry["warning_reasons"]) == (FAILURE_REASONS, WARNING_REASONS)
    _, rows = stored_rows(entry["failures_path"])
    assert sorted(rows) == sorted(sim_rows(marketo_simulator, batch_id, "failures"))


@pytest.mark.marketo_simulator(rows_per_second=1)
def test_poke_waits_until_jobs_finish(marketo_simulator: Any, marketo_conn_id: str, context: Any) -> None:
    batch_id = create_lead_job(marketo_simulator, good_rows(10))
    task = sensor(batch_ids=[batch_id], deferrable=False, timeout=30)
    assert task.poke(context) is False
    marketo_simulator.advance_clock(11)
    assert task.poke(context) is True
    assert task.execute(context)["rows_processed"] == 10


def test_poke_tolerates_a_transient_error(
    marketo_simulator: Any, monkeypatch: pytest.MonkeyPatch, context: Any
) -> None:
    batch_id = create_lead_job(marketo_simulator, good_rows(2))
    set_connection(monkeypatch, marketo_simulator, "marketo_once", base={}, extra={"max_attempts": 1})
    marketo_simulator.inject("http_error", path=rf"/batch/{batch_id}\.json", status=503)
    task = sensor(batch_ids=[batch_id], deferrable=False, marketo_conn_id="marketo_once", timeout=30)
    assert task.poke(context) is False
    assert task.poke(context) is True


class FakeStateStore:
    """Airflow 3.3's ``context["task_state_store"]``: one store per task instance, shared by its tries."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return json.loads(json.dumps(self.values.get(key, default)))

    def set(self, key: str, value: Any) -> None:
        self.values[key] = json.loads(json.dumps(value))


class TryTI(FakeTI):
    def __init__(self, try_number: int = 1) -> None:
        super().__init__()
        self.try_number = try_number


def reschedule_poke(context: Any, batch_id: int, **kwargs: Any) -> bool:
    """One poke in reschedule mode: every poke is a new process, so a new sensor instance."""
    task = sensor(
        batch_ids=[batch_id], deferrable=False, mode="reschedule", marketo_conn_id="marketo_once", **kwargs
    )
    return task.poke(context)


def test_reschedule_mode_reaches_the_transient_error_limit(
    marketo_simulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 13 item 4: the count survives reschedules (task state store), per try."""
    batch_id = create_lead_job(marketo_simulator, good_rows(2))
    set_connection(monkeypatch, marketo_simulator, "marketo_once", base={}, extra={"max_attempts": 1})
    marketo_simulator.inject("http_error", path=rf"/batch/{batch_id}\.json", status=503, count=100)
    store = FakeStateStore()
    context: Any = {"ti": TryTI(try_number=1), "task_state_store": store}
    assert reschedule_poke(context, batch_id, max_transient_errors=2) is False
    assert reschedule_poke(context, batch_id, max_transient_errors=2) is False
    with pytest.raises(AirflowException, match="Gave up after 3 consecutive pokes with transient errors"):
        reschedule_poke(context, batch_id, max_transient_errors=2)
    # A new try starts counting again.
    retry: Any = {"ti": TryTI(try_number=2), "task_state_store": store}
    assert reschedule_poke(retry, batch_id, max_transient_errors=2) is False


def test_reschedule_mode_resets_the_count_after_a_clean_poke(
    marketo_simulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch_id = create_lead_job(marketo_simulator, good_rows(2))
    set_connection(monkeypatch, marketo_simulator, "marketo_once", base={}, extra={"max_attempts": 1})
    context: Any = {"ti": TryTI(), "task_state_store": FakeStateStore()}
    marketo_simulator.inject("http_error", path=rf"/batch/{batch_id}\.json", status=503, count=1)
    assert reschedule_poke(context, batch_id, max_transient_errors=1) is False
    assert reschedule_poke(context, batch_id, max_transient_errors=1) is True
    marketo_simulator.inject("http_error", path=rf"/batch/{batch_id}\.json", status=503, count=1)
    assert reschedule_poke(context, batch_id, max_transient_errors=1) is False  # 1 of 1 again, not 2


def test_poke_mode_reaches_the_transient_error_limit(
    marketo_simulator: Any, monkeypatch: pytest.MonkeyPatch, context: Any
) -> None:
    batch_id = create_lead_job(marketo_simulator, good_rows(2))
    set_connection(monkeypatch, marketo_simulator, "marketo_once", base={}, extra={"max_attempts": 1})
    marketo_simulator.inject("http_error", path=rf"/batch/{batch_id}\.json", status=503, count=100)
    task = sensor(
        batch_ids=[batch_id], deferrable=False, marketo_conn_id="marketo_once", max_transient_errors=1
    )
    assert task.poke(context) is False
    with pytest.raises(AirflowException, match="Gave up after 2 consecutive pokes"):
        task.poke(context)


def test_poke_mode_threshold_pushes_and_fails(
    marketo_simulator: Any, marketo_conn_id: str, context: Any, ti: FakeTI
) -> None:
    batch_id = create_lead_job(marketo_simulator, mixed_rows())
    task = sensor(batch_ids=[batch_id], deferrable=False, max_failed_rows=0, timeout=30, soft_fail=True)
    with pytest.raises(AirflowFailException, match="max_failed_rows=0"):
        task.execute(context)
    assert ti.xcom["return_value"]["rows_failed"] == 2


@pytest.mark.marketo_simulator(rows_per_second=1)
@pytest.mark.parametrize(
    ("soft_fail", "error"), [(False, AirflowSensorTimeout), (True, AirflowSkipException)]
)
def test_poke_mode_timeout_skips_only_with_soft_fail(
    marketo_simulator: Any, marketo_conn_id: str, context: Any, soft_fail: bool, error: type[Exception]
) -> None:
    batch_id = create_lead_job(marketo_simulator, good_rows(100))
    task = sensor(batch_ids=[batch_id], deferrable=False, timeout=0, soft_fail=soft_fail)
    with pytest.raises(error, match="timed out"):
        task.execute(context)


def test_deferrable_defaults_to_the_operators_setting() -> None:
    """Like the import operators and Airflow's providers: ``[operators] default_deferrable`` (issue 15)."""
    import os
    import subprocess
    import sys

    assert BulkImportSensor(task_id="w", batch_ids=[1]).deferrable is False
    code = (
        "from airflow_provider_marketo.sensors.bulk_import import BulkImportSensor;"
        "print(BulkImportSensor(task_id='w', batch_ids=[1]).deferrable)"
    )
    env = {**os.environ, "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "True"


# -- S3 ---------------------------------------------------------------------------------------------


def test_stores_files_to_s3(
    marketo_simulator: Any, marketo_conn_id: str, context: Any, moto_s3: dict[str, Any]
) -> None:
    # The shared moto server: one endpoint per session for the connection aws_test (Airflow caches
    # the filesystem of an object storage connection by its id).
    s3_bucket = moto_s3["bucket"]
    batch_id = create_lead_job(marketo_simulator, mixed_rows())
    results = f"s3://aws_test@{s3_bucket}/marketo/run-1/"
    summary = defer_and_resume(sensor(batch_ids=[batch_id], results_path=results), context)
    entry = summary["batches"][0]
    assert entry["failures_path"] == f"s3://aws_test@{s3_bucket}/marketo/run-1/{batch_id}_failures.csv"
    header, rows = stored_rows(f"s3://aws_test@{s3_bucket}/marketo/run-1/{batch_id}_failures.csv")
    assert header[-1] == "Import Failure Reason"
    assert sorted(rows) == sorted(sim_rows(marketo_simulator, batch_id, "failures"))
    _, rows = stored_rows(f"s3://aws_test@{s3_bucket}/marketo/run-1/{batch_id}_warnings.csv")
    assert sorted(rows) == sorted(sim_rows(marketo_simulator, batch_id, "warnings"))
    assert summary["failures_path"] == f"{results}wait_for_import.failures.csv"
    _, merged = stored_rows(summary["failures_path"])
    assert sorted(merged) == sorted(
        [str(batch_id), *row] for row in sim_rows(marketo_simulator, batch_id, "failures")
    )
    assert json.loads(ObjectStoragePath(f"{results}wait_for_import.report.json").read_text()) == summary


def test_transient_count_without_a_state_store_says_so(caplog: pytest.LogCaptureFixture) -> None:
    """Airflow before 3.3 has no task state store: the count stays on the instance, with a log line."""
    from airflow_provider_marketo.sensors._transient import STATE_KEY, TransientErrorCount

    context: Any = {"ti": TryTI()}
    count = TransientErrorCount(rescheduled=True)
    with caplog.at_level("WARNING"):
        assert count.add(context) == 1
    assert "no task state store" in caplog.text
    store = FakeStateStore()
    stored = TransientErrorCount(rescheduled=True)
    assert stored.add({**context, "task_state_store": store}) == 1
    assert store.values[STATE_KEY] == {"try_number": 1, "count": 1}
    # In poke mode the instance lives through every poke: the store is not used.
    assert TransientErrorCount(rescheduled=False).add({**context, "task_state_store": FakeStateStore()}) == 1
