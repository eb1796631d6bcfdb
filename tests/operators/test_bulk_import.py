"""The bulk import operators against the Marketo simulator over real HTTP."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.definitions.xcom_arg import PlainXComArg

from airflow_provider_marketo.exceptions import (
    MarketoConfigError,
    MarketoListBusyError,
    MarketoQueueFullError,
    MarketoRequestError,
)
from airflow_provider_marketo.hooks.marketo import MarketoHook
from airflow_provider_marketo.objects import BulkTarget
from airflow_provider_marketo.operators.bulk_import import (
    DEFAULT_PART_SIZE,
    BaseBulkImportOperator,
    BulkCustomObjectImportOperator,
    BulkLeadImportOperator,
    BulkProgramMemberImportOperator,
    rows_sent_of,
)
from airflow_provider_marketo.operators.output import batch_ids_of, check_output
from airflow_provider_marketo.utils.formats import InputFileError
from tests._support.files import lead_rows, parse, received_rows, write_rows
from tests._support.sim import create_calls, our_jobs
from tests._support.tasks import CreateSpy, FakeTaskInstance, make_context

FAST = {"poll_interval": 0.05}
CREATE_LEADS = r"/bulk/v1/leads\.json"


def lead_op(source: Any, conn_id: str, **kwargs: Any) -> BulkLeadImportOperator:
    return BulkLeadImportOperator(
        task_id="import", source=source, marketo_conn_id=conn_id, **{**FAST, **kwargs}
    )


def run(op: BaseBulkImportOperator, ti: FakeTaskInstance | None = None) -> list[int]:
    """Execute; the output (checked against ``ImportOutput``) goes to ``ti.xcoms["return_value"]``."""
    ti = ti or FakeTaskInstance()
    output = check_output(op.execute(make_context(ti)))
    ti.xcoms["return_value"] = output
    return batch_ids_of(output)


# Validation: nothing reaches Marketo.


def _leads_file(path: Path) -> Path:
    return write_rows(path / "a.csv", lead_rows(2))


def _bad_utf8_at_the_end(path: Path) -> Path:
    write_rows(path / "a.csv", lead_rows(3000))
    with (path / "a.csv").open("ab") as out:
        out.write(b"last@example.com,Caf\xe9,Bad,Byte\r\n")
    return path / "a.csv"


def _unbalanced_quote(path: Path) -> Path:
    (path / "a.csv").write_bytes(b'email,firstName\r\na@example.com,"Ann\r\nb@example.com,Bob\r\n')
    return path / "a.csv"


MEMBERS = {"program_id": "1001", "program_member_status": "Registered"}
InvalidCase = tuple[
    type[BaseBulkImportOperator], Callable[[Path], Path], dict[str, Any], type[Exception], str
]
INVALID: dict[str, InvalidCase] = {
    # id: (operator class, file, operator arguments, error, message pattern)
    "unknown-format": (BulkLeadImportOperator, _leads_file, {"format": "xls"}, InputFileError, "'xls'"),
    "no-format-from-extension": (
        BulkLeadImportOperator,
        lambda p: write_rows(p / "a.txt", lead_rows(2)),
        {},
        InputFileError,
        "'a.txt'",
    ),
    "list-id-zero": (BulkLeadImportOperator, _leads_file, {"list_id": 0}, MarketoConfigError, "list_id"),
    "list-id-negative-template": (
        BulkLeadImportOperator,
        _leads_file,
        {"list_id": "-4"},
        MarketoConfigError,
        "list_id",
    ),
    "list-id-not-a-number": (
        BulkLeadImportOperator,
        _leads_file,
        {"list_id": "abc"},
        MarketoConfigError,
        "list_id",
    ),
    "program-id-zero": (
        BulkProgramMemberImportOperator,
        _leads_file,
        {**MEMBERS, "program_id": 0},
        MarketoConfigError,
        "program_id",
    ),
    "empty-member-status": (
        BulkProgramMemberImportOperator,
        _leads_file,
        {**MEMBERS, "program_member_status": " "},
        MarketoConfigError,
        "program_member_status",
    ),
    "missing-file": (
        BulkLeadImportOperator,
        lambda p: p / "missing.csv",
        {},
        FileNotFoundError,
        "missing.csv",
    ),
    "bad-utf8-in-last-part": (
        BulkLeadImportOperator,
        _bad_utf8_at_the_end,
        {"part_size": 20_000},
        InputFileError,
        r"a\.csv is not valid UTF-8.*line 3002",
    ),
    "unbalanced-quote": (BulkLeadImportOperator, _unbalanced_quote, {}, InputFileError, "inside a quoted"),
    "duplicate-column": (
        BulkLeadImportOperator,
        lambda p: write_rows(p / "a.csv", [["email", "email"], ["a@example.com", "b@example.com"]]),
        {},
        InputFileError,
        "repeats column names",
    ),
    "header-only": (
        BulkLeadImportOperator,
        lambda p: write_rows(p / "a.csv", [["email"]]),
        {},
        InputFileError,
        "no data rows",
    ),
    "lookup-field-not-in-header": (
        BulkLeadImportOperator,
        _leads_file,
        {"lookup_field": "sfdcLeadId"},
        InputFileError,
        "sfdcLeadId",
    ),
    "program-members-need-email": (
        BulkProgramMemberImportOperator,
        lambda p: write_rows(p / "a.csv", [["firstName"], ["Ann"]]),
        MEMBERS,
        InputFileError,
        "email",
    ),
}


@pytest.mark.parametrize("case", list(INVALID), ids=list(INVALID))
def test_invalid_input_fails_before_any_call(
    case: str, tmp_path: Path, marketo_simulator: Any, marketo_conn_id: str
) -> None:
    operator_class, make_file, kwargs, error, match = INVALID[case]
    op = operator_class(task_id="t", source=make_file(tmp_path), marketo_conn_id=marketo_conn_id, **kwargs)
    with pytest.raises(error, match=match):
        run(op)
    assert create_calls(marketo_simulator.api_calls()) == 0
    assert marketo_simulator.jobs == []


def test_operator_arguments_are_checked_at_construction(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_active_jobs"):
        BulkLeadImportOperator(task_id="t", source=tmp_path / "a.csv", max_active_jobs=0)
    with pytest.raises(ValueError, match="part_size"):
        BulkLeadImportOperator(task_id="t", source=tmp_path / "a.csv", part_size=DEFAULT_PART_SIZE + 1)
    with pytest.raises(ValueError, match="poll_interval"):
        BulkLeadImportOperator(task_id="t", source=tmp_path / "a.csv", poll_interval=0)


def test_marketo_rejection_at_create_surfaces_marketos_message(
    tmp_path: Path, marketo_simulator: Any, marketo_conn_id: str
) -> None:
    source = write_rows(tmp_path / "a.csv", [["email", "favouriteColour"], ["a@example.com", "blue"]])
    with pytest.raises(MarketoRequestError, match="favouriteColour"):
        run(lead_op(source, marketo_conn_id, check_schema=False))  # the schema check would catch it first


# Formats, parts and content.


@pytest.mark.parametrize("file_format", ["csv", "tsv", "ssv"])
@pytest.mark.parametrize("explicit", [False, True])
def test_formats_inferred_or_given(
    file_format: str, explicit: bool, tmp_path: Path, marketo_simulator: Any, marketo_conn_id: str
) -> None:
    rows = lead_rows(50)
    rows[1][1] = "Ann; the\tfirst, really"
    name = "leads.txt" if explicit else f"leads.{file_format}"
    source = write_rows(tmp_path / name, rows, file_format)
    kwargs = {"format": file_format} if explicit else {}
    batch_ids = run(lead_op(str(source), marketo_conn_id, **kwargs))
    assert len(batch_ids) == 1
    job = our_jobs(marketo_simulator)[0]
    assert job["format"] == file_format
    assert received_rows(marketo_simulator, batch_ids, file_format) == rows


def _hostile_rows(count: int) -> list[list[str]]:
    rng = random.Random(5)
    pieces = [
        "plain",
        "comma, inside",
        'double "quoted" word',
        "new\nline",
        "crlf\r\nline",
        "Zoë Ångström",
        "日本語テキスト",
        "emoji 🚀🎉",
        "semi;colon",
        "tab\there",
        '""',
        " padded ",
        "",
        "x" * 200,
    ]
    rows = [["email", "firstName", "lastName", "company", "title"]]
    for i in range(count):
        rows.append([f"user{i}@example.com", *(rng.choice(pieces) + str(i % 3) for _ in range(4))])
    return rows


@pytest.fixture(scope="module")
def hostile_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[list[str]]]:
    rows = _hostile_rows(200_000)
    path = write_rows(tmp_path_factory.mktemp("hostile") / "hostile.csv", rows)
    assert path.stat().st_size > 24_000_000
    return path, rows


def test_large_hostile_file_is_split_into_exact_parts(
    hostile_file: tuple[Path, list[list[str]]], marketo_simulator: Any, marketo_conn_id: str
) -> None:
    path, rows = hostile_file
    ti = FakeTaskInstance()
    batch_ids = run(lead_op(path, marketo_conn_id), ti)
    assert len(batch_ids) == 3
    jobs = {job["batch_id"]: job for job in our_jobs(marketo_simulator)}
    assert sorted(jobs) == sorted(batch_ids)
    assert all(jobs[b]["received_bytes"] <= DEFAULT_PART_SIZE for b in batch_ids)
    assert received_rows(marketo_simulator, batch_ids) == rows
    for batch_id in batch_ids:
        assert parse(marketo_simulator.job_file(batch_id))[0] == rows[0]
    output = ti.xcoms["return_value"]
    assert output["batches"] == [{"batch_id": b, "rows_sent": jobs[b]["rows"]} for b in batch_ids]
    assert output["rows_sent"] == len(rows) - 1


def test_xcoms(tmp_path: Path, marketo_simulator: Any, marketo_conn_id: str) -> None:
    source = write_rows(tmp_path / "leads.csv", lead_rows(400))
    ti = FakeTaskInstance()
    op = lead_op(source, marketo_conn_id, part_size=8_000)
    batch_ids = run(op, ti)
    assert len(batch_ids) > 2
    assert ti.xcoms.keys() == {"batch_ids", "return_value"}  # no batch_id / rows_sent keys any more
    assert ti.xcoms["batch_ids"] == batch_ids
    output = ti.xcoms["return_value"]
    assert output["target"] == {"kind": "leads", "api_name": None, "program_id": None}
    assert output["rows_sent"] == 400 == sum(b["rows_sent"] for b in output["batches"])
    assert output["result"] is None
    assert received_rows(marketo_simulator, batch_ids) == lead_rows(400)
    assert [
        job["batch_id"] for job in sorted(our_jobs(marketo_simulator), key=lambda j: j["created_at"])
    ] == batch_ids
    with pytest.deprecated_call(match="pass batch_ids=task.output"):
        deprecated = op.rows_sent_output
    assert isinstance(deprecated, PlainXComArg)  # the output: the sensor's rows_sent accepts it
    assert (deprecated.key, deprecated.operator) == ("return_value", op)
    assert isinstance(op.output, PlainXComArg)
    assert op.output.key == "return_value"


def test_rows_sent_of_a_mapped_operator(tmp_path: Path) -> None:
    from airflow.sdk import DAG

    with DAG("d", schedule=None):
        mapped = BulkLeadImportOperator.partial(task_id="import").expand(source=["a.csv", "b.csv"])
    with pytest.deprecated_call():
        arg = rows_sent_of(mapped)
    assert isinstance(arg, PlainXComArg)
    assert (arg.operator, arg.key) == (mapped, "return_value")


def test_part_file_names(
    tmp_path: Path, marketo_simulator: Any, marketo_conn_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_marketo.hooks.marketo import MarketoHook

    names: list[str] = []
    real = MarketoHook.create_import

    def spy(hook: MarketoHook, *args: Any, **kwargs: Any) -> int:
        names.append(kwargs["filename"])
        return real(hook, *args, **kwargs)

    monkeypatch.setattr(MarketoHook, "create_import", spy)
    run(
        lead_op(
            write_rows(tmp_path / "weekly.leads.tsv", lead_rows(300), "tsv"), marketo_conn_id, part_size=6_000
        )
    )
    assert len(names) > 1
    assert names[0] == f"weekly.leads.part-0001-of-{len(names):04d}.tsv"
    assert names[-1] == f"weekly.leads.part-{len(names):04d}-of-{len(names):04d}.tsv"


# The three object kinds.


def test_lead_params_reach_marketo(tmp_path: Path, marketo_simulator: Any, marketo_conn_id: str) -> None:
    rows = [["email", "sfdcLeadId", "firstName"], ["a@example.com", "00Q1", "Ann"]]
    op = lead_op(
        write_rows(tmp_path / "a.csv", rows),
        marketo_conn_id,
        lookup_field="sfdcLeadId",
        list_id="1001",
        partition_name="EMEA",
    )
    batch_ids = run(op)
    params = our_jobs(marketo_simulator)[0]["params"]
    assert str(params.get("lookupField")) == "sfdcLeadId"
    assert str(params.get("listId")) == "1001"
    assert str(params.get("partitionName")) == "EMEA"
    MarketoHook(marketo_conn_id).get_import_status(BulkTarget("leads"), batch_ids[0])  # lets the job finish
    assert "a@example.com" in {lead.get("email") for lead in marketo_simulator.leads}
    assert marketo_simulator.list_members(1001)


OTHER_KINDS = {
    "custom_objects": (
        BulkCustomObjectImportOperator,
        {"api_name": "car_c"},
        [["vin", "model", "year"], ["VIN1", 'Model, "S"', "2021"], ["VIN2", "Golf", "2019"]],
        "customobjects/car_c",
    ),
    "program_members": (
        BulkProgramMemberImportOperator,
        {"program_id": "1001", "program_member_status": "Registered"},
        [["email", "firstName"], ["a@example.com", "Ann"], ["b@example.com", "Bob"]],
        "program/1001/members",
    ),
}


@pytest.mark.parametrize("kind", list(OTHER_KINDS))
def test_custom_object_and_program_member_imports(
    kind: str, tmp_path: Path, marketo_simulator: Any, marketo_conn_id: str
) -> None:
    operator_class, kwargs, rows, lineage_name = OTHER_KINDS[kind]
    source = write_rows(tmp_path / "rows.csv", rows)
    op = operator_class(task_id="t", source=source, marketo_conn_id=marketo_conn_id, **kwargs, **FAST)
    batch_ids = run(op)
    (job,) = our_jobs(marketo_simulator)
    assert (job["kind"], job["batch_id"]) == (kind, batch_ids[0])
    assert received_rows(marketo_simulator, batch_ids) == rows
    MarketoHook(marketo_conn_id).get_import_status(op.target, batch_ids[0])  # lets the job finish
    if kind == "custom_objects":
        assert {car["vin"] for car in marketo_simulator.custom_objects("car_c")} == {"VIN1", "VIN2"}
    else:
        assert job["params"]["programMemberStatus"] == "Registered"
        assert len(marketo_simulator.program_members(1001)) == 2
    assert op.get_openlineage_facets_on_complete(None).outputs[0].name == lineage_name


def test_openlineage_for_a_local_source(tmp_path: Path, marketo_simulator: Any, marketo_conn_id: str) -> None:
    source = write_rows(tmp_path / "a.csv", lead_rows(1))
    op = lead_op(source, marketo_conn_id)
    lineage = op.get_openlineage_facets_on_complete(None)
    assert (lineage.inputs[0].namespace, lineage.inputs[0].name) == ("file", str(source))
    host = marketo_simulator.base_url.split("://", 1)[1]
    assert lineage.outputs[0].namespace == f"marketo://{host}"
    assert lineage.outputs[0].name == "leads"


def test_template_fields() -> None:
    assert set(BulkLeadImportOperator.template_fields) == {
        "source",
        "format",
        "lookup_field",
        "list_id",
        "partition_name",
        "marketo_conn_id",
        "manifest_path",
        "results_path",
        "staging_path",
        "sync_state_path",
        "full_refresh",
        "dry_run_mode",
    }
    assert {"api_name"} < set(BulkCustomObjectImportOperator.template_fields)
    assert {"program_id", "program_member_status"} < set(BulkProgramMemberImportOperator.template_fields)


# The queue.


@pytest.mark.marketo_simulator(rows_per_second=200)
@pytest.mark.usefixtures("running_clock")
def test_max_active_jobs_is_respected(
    tmp_path: Path,
    marketo_simulator: Any,
    marketo_conn_id: str,
    create_spy: CreateSpy,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = lead_rows(600)
    batch_ids = run(
        lead_op(write_rows(tmp_path / "a.csv", rows), marketo_conn_id, part_size=5_000, max_active_jobs=2)
    )
    assert len(batch_ids) >= 6
    assert create_spy.unfinished_at_create[0] == 0
    assert max(create_spy.unfinished_at_create) == 1  # there was a second slot, and never a third job
    assert "2 of this task's jobs are still queued or importing (limit 2)" in capsys.readouterr().out
    assert received_rows(marketo_simulator, batch_ids) == rows


@pytest.mark.marketo_simulator(rows_per_second=200)
@pytest.mark.usefixtures("running_clock")
def test_list_imports_run_one_at_a_time(
    tmp_path: Path, marketo_simulator: Any, marketo_conn_id: str, create_spy: CreateSpy
) -> None:
    batch_ids = run(
        lead_op(
            write_rows(tmp_path / "a.csv", lead_rows(300)),
            marketo_conn_id,
            part_size=5_000,
            list_id=1001,
            max_active_jobs=3,
        )
    )
    assert len(batch_ids) >= 3
    assert max(create_spy.unfinished_at_create) == 0
    assert marketo_simulator.counters["errors"].get("1019", 0) == 0


@pytest.mark.parametrize(("code", "reason"), [("1016", "queue is full"), ("1019", "same list")])
def test_queue_full_or_list_busy_waits_then_succeeds(
    code: str,
    reason: str,
    tmp_path: Path,
    marketo_simulator: Any,
    marketo_conn_id: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    marketo_simulator.inject("error_code", code=code, count=2, path=CREATE_LEADS)
    batch_ids = run(lead_op(write_rows(tmp_path / "a.csv", lead_rows(10)), marketo_conn_id, list_id=1001))
    assert len(batch_ids) == 1
    assert marketo_simulator.counters["errors"][code] == 2
    assert create_calls(marketo_simulator.api_calls()) == 3
    assert len(our_jobs(marketo_simulator)) == 1
    waits = [line for line in capsys.readouterr().out.splitlines() if "Waiting" in line]
    assert len(waits) == 2
    assert all(reason in line and "before submitting part 1 of 1" in line for line in waits)


def test_waits_start_at_poll_interval_then_grow_as_polling_does(
    tmp_path: Path, marketo_simulator: Any, marketo_conn_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    marketo_simulator.inject("error_code", code="1016", count=3, path=CREATE_LEADS)
    run(lead_op(write_rows(tmp_path / "a.csv", lead_rows(10)), marketo_conn_id))
    waits = [line for line in capsys.readouterr().out.splitlines() if "Waiting" in line]
    # x1.5, the backoff of every wait (airflow_provider_marketo.backoff), not doubling.
    assert [line.split("Waiting ")[1].split(" s ")[0] for line in waits] == ["0.05", "0.075", "0.113"]


@pytest.mark.marketo_simulator(max_queue=3)
@pytest.mark.usefixtures("running_clock")
def test_waits_while_other_integrations_fill_the_queue(
    tmp_path: Path, marketo_simulator: Any, marketo_conn_id: str
) -> None:
    marketo_simulator.occupy_queue(3, 20)
    batch_ids = run(lead_op(write_rows(tmp_path / "a.csv", lead_rows(10)), marketo_conn_id))
    assert len(batch_ids) == 1
    assert marketo_simulator.counters["errors"].get("1016", 0) >= 1


def test_queue_full_past_max_queue_wait_fails_clearly(
    tmp_path: Path, marketo_simulator: Any, marketo_conn_id: str
) -> None:
    marketo_simulator.inject("error_code", code="1016", count=1000, path=CREATE_LEADS)
    with pytest.raises(
        MarketoQueueFullError,
        match=r"Gave up submitting part 1 of 1 after waiting 0\.\d s \(max_queue_wait=0\.3 s\).*queue is full",
    ):
        run(lead_op(write_rows(tmp_path / "a.csv", lead_rows(10)), marketo_conn_id, max_queue_wait=0.3))
    assert marketo_simulator.counters["errors"]["1016"] >= 2
    assert our_jobs(marketo_simulator) == []


def test_list_busy_past_max_queue_wait_fails_clearly(
    tmp_path: Path, marketo_simulator: Any, marketo_conn_id: str
) -> None:
    marketo_simulator.inject("error_code", code="1019", count=1000, path=CREATE_LEADS)
    from datetime import timedelta

    with pytest.raises(MarketoListBusyError, match="same list"):
        run(
            lead_op(
                write_rows(tmp_path / "a.csv", lead_rows(10)),
                marketo_conn_id,
                list_id=1001,
                max_queue_wait=timedelta(seconds=0.2),
            )
        )
