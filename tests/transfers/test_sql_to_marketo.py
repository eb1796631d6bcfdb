"""SqlToMarketoOperator against a real SQLite database and the Marketo simulator over real HTTP."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_marketo._compat import AirflowException, AirflowSkipException, TaskDeferred
from airflow_provider_marketo.exceptions import MarketoConfigError
from airflow_provider_marketo.objects import BulkTarget
from airflow_provider_marketo.operators.bulk_import import (
    BaseBulkImportOperator,
    BulkCustomObjectImportOperator,
    BulkLeadImportOperator,
    BulkProgramMemberImportOperator,
)
from airflow_provider_marketo.operators.output import batch_ids_of, check_output
from airflow_provider_marketo.transfers.sql_to_marketo import SqlToMarketoOperator, has_top_level_order_by
from airflow_provider_marketo.utils.formats import InputFileError
from airflow_provider_marketo.utils.rows import RowValueError, RowWriter
from tests._support.files import received_rows
from tests._support.sim import create_calls, our_jobs
from tests._support.sql import (
    LEAD_COLUMNS,
    LEADS_SQL,
    MARKETO_CONN,
    create_leads_table,
    expected_lead,
    settle,
    stored_leads,
)
from tests._support.tasks import CreateSpy, FakeTaskInstance, make_context

FAST = {"poll_interval": 0.05}


def sql_op(tmp_path: Path, conn_id: str, sql: str = LEADS_SQL, **kwargs: Any) -> SqlToMarketoOperator:
    return SqlToMarketoOperator(
        task_id="load",
        sql=sql,
        sql_conn_id="sqlite_test",
        marketo_conn_id=conn_id,
        **{"staging_path": str(tmp_path / "staging"), **FAST, **kwargs},
    )


def staged_files(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "staging"
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.exists() else []


# Values arrive as they are in the database.


@pytest.mark.parametrize("file_format", ["csv", "tsv", "ssv"])
def test_hostile_rows_arrive_value_for_value(
    file_format: str, tmp_path: Path, sqlite_db: Path, marketo_simulator: Any, marketo_conn_id: str
) -> None:
    rows = create_leads_table(sqlite_db, 1200)
    ti = FakeTaskInstance()
    op = sql_op(tmp_path, marketo_conn_id, format=file_format, part_size=60_000)
    output = check_output(op.execute(make_context(ti)))
    batch_ids = batch_ids_of(output)
    assert len(batch_ids) >= 3
    assert all(job["params"]["format"] == file_format for job in our_jobs(marketo_simulator))
    assert output["rows_sent"] == 1200
    assert stored_leads(marketo_simulator) == {row[0]: expected_lead(row) for row in rows}
    header = received_rows(marketo_simulator, batch_ids, file_format)[0]
    assert header == LEAD_COLUMNS
    assert staged_files(tmp_path) == []  # deleted when the task ends


def test_custom_objects_and_program_members(
    tmp_path: Path, sqlite_db: Path, marketo_simulator: Any, marketo_conn_id: str
) -> None:
    with sqlite3.connect(sqlite_db) as db:
        db.execute("CREATE TABLE cars (vin TEXT, model TEXT, year INTEGER, owner TEXT)")
        db.executemany(
            "INSERT INTO cars VALUES (?, ?, ?, ?)",
            [(f"VIN{i}", f'Model "{i}", rev\n2', 2000 + i, f"o{i}@example.com") for i in range(30)],
        )
    cars = sql_op(
        tmp_path,
        marketo_conn_id,
        "SELECT vin, model, year, owner AS ownerEmail FROM cars ORDER BY vin",
        object_type="custom_objects",
        api_name="car_c",
    )
    output = check_output(cars.execute(make_context()))
    assert output["target"] == {"kind": "custom_objects", "api_name": "car_c", "program_id": None}
    ((batch_id, rows),) = [(b["batch_id"], b["rows_sent"]) for b in output["batches"]]
    assert rows == 30
    settle(marketo_simulator, BulkTarget("custom_objects", api_name="car_c"))
    stored = {car["vin"]: car for car in marketo_simulator.custom_objects("car_c")}
    assert len(stored) == 30
    assert stored["VIN7"]["model"] == 'Model "7", rev\n2'
    assert stored["VIN7"]["year"] == 2007
    assert marketo_simulator.jobs[0]["batch_id"] == batch_id

    members = sql_op(
        tmp_path,
        marketo_conn_id,
        "SELECT owner AS email FROM cars ORDER BY owner",
        object_type="program_members",
        program_id="{{ params.program }}",
        program_member_status="Registered",
        params={"program": 1001},
    )
    context = make_context(FakeTaskInstance(task_id="members"))
    members.render_template_fields({**context, "params": {"program": 1001}})
    target = check_output(members.execute(context))["target"]
    assert target == {"kind": "program_members", "api_name": None, "program_id": 1001}
    settle(marketo_simulator, BulkTarget("program_members", program_id=1001))
    assert {m["email"] for m in marketo_simulator.program_members(1001)} == {
        f"o{i}@example.com" for i in range(30)
    }


def test_leads_with_list_partition_and_lookup_field(
    tmp_path: Path, sqlite_db: Path, marketo_simulator: Any, marketo_conn_id: str
) -> None:
    create_leads_table(sqlite_db, 20)
    op = sql_op(
        tmp_path,
        marketo_conn_id,
        "SELECT email, first_name AS firstName FROM leads WHERE id < :limit ORDER BY id",
        parameters={"limit": 10},
        list_id=1001,
        lookup_field="email",
        partition_name="Default",
    )
    op.execute(make_context())
    settle(marketo_simulator)
    (job,) = our_jobs(marketo_simulator)
    assert job["params"]["listId"] in (1001, "1001")
    assert job["params"]["lookupField"] == "email"
    assert job["params"]["partitionName"] == "Default"
    assert len(marketo_simulator.list_members(1001)) == 10
    assert op.job_limit == 1  # one import per list at a time, as for BulkLeadImportOperator


# Bad input: a clear error, nothing sent to Marketo.


@pytest.mark.parametrize(
    ("sql", "error", "message"),
    [
        ("SELECT email, first_name AS email FROM leads ORDER BY id", InputFileError, "repeats column names"),
        ("SELECT first_name AS firstName FROM leads ORDER BY id", InputFileError, "no 'email' column"),
        ('SELECT email, first_name AS "first,name" FROM leads ORDER BY id', InputFileError, "alias"),
        (
            "SELECT email, CAST(first_name AS BLOB) AS firstName FROM leads ORDER BY id",
            RowValueError,
            "firstName",
        ),
        ("SELECT email FROM leads ORDER BY id; SELECT 1", MarketoConfigError, "one SELECT statement, got 2"),
        ("UPDATE leads SET title = 'x'", MarketoConfigError, "no result set"),
        ("SELECT email FROM no_such_table ORDER BY 1", sqlite3.OperationalError, "no_such_table"),
    ],
    ids=["duplicate", "no-lookup", "quoted-name", "blob", "two-statements", "update", "no-table"],
)
def test_bad_query_fails_before_any_call_to_marketo(
    sql: str,
    error: type[Exception],
    message: str,
    tmp_path: Path,
    sqlite_db: Path,
    marketo_simulator: Any,
    marketo_conn_id: str,
) -> None:
    create_leads_table(sqlite_db, 50)
    with pytest.raises(error, match=message):
        sql_op(tmp_path, marketo_conn_id, sql).execute(make_context())
    assert create_calls(marketo_simulator.api_calls()) == 0
    assert staged_files(tmp_path) == []


def test_binary_value_error_names_the_row(
    tmp_path: Path, sqlite_db: Path, marketo_simulator: Any, marketo_conn_id: str
) -> None:
    create_leads_table(sqlite_db, 10)
    sql = "SELECT email, CASE WHEN id = 6 THEN x'00ff' ELSE title END AS title FROM leads ORDER BY id"
    with pytest.raises(RowValueError, match=r"Row 7 of the query on 'sqlite_test', column 'title': .*binary"):
        sql_op(tmp_path, marketo_conn_id, sql, fetch_size=3).execute(make_context())
    assert create_calls(marketo_simulator.api_calls()) == 0


def test_connection_that_is_not_sql(tmp_path: Path, sqlite_db: Path, marketo_conn_id: str) -> None:
    op = sql_op(tmp_path, marketo_conn_id)
    op.sql_conn_id = marketo_conn_id
    with pytest.raises(MarketoConfigError, match="not a SQL"):
        op.execute(make_context())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"object_type": "opportunities"}, "object_type must be one of"),
        ({"object_type": "custom_objects"}, "needs api_name"),
        ({"object_type": "program_members", "program_id": 1}, "needs program_member_status"),
        ({"object_type": "custom_objects", "api_name": "car_c", "list_id": 3}, "list_id applies to"),
        ({"api_name": "car_c"}, "api_name applies to"),
        ({"on_empty": "ignore"}, "on_empty must be"),
        ({"fetch_size": 0}, "fetch_size must be"),
    ],
)
def test_invalid_arguments(kwargs: dict[str, Any], message: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=message):
        sql_op(tmp_path, "marketo_default", **kwargs)


@pytest.mark.parametrize("name", ["source", "delimiter", "null_values", "column_names", "encoding"])
def test_file_source_arguments_are_not_arguments_of_the_transfer(name: str, tmp_path: Path) -> None:
    """The transfer shares the import machinery, not the file source: no argument it must reject."""
    with pytest.raises(TypeError, match=f"(?s)Invalid arguments were passed.*{name}"):
        sql_op(tmp_path, "marketo_default", **{name: "x"})


# Empty results.


@pytest.mark.parametrize(("on_empty", "error"), [("skip", AirflowSkipException), ("fail", AirflowException)])
def test_empty_result_calls_no_marketo(
    on_empty: str,
    error: type[Exception],
    tmp_path: Path,
    sqlite_db: Path,
    marketo_simulator: Any,
    marketo_conn_id: str,
) -> None:
    create_leads_table(sqlite_db, 5)
    sql = "SELECT email, first_name AS firstName FROM leads WHERE id > 100 ORDER BY id"
    ti = FakeTaskInstance()
    with pytest.raises(error, match="returned no rows") as raised:
        sql_op(tmp_path, marketo_conn_id, sql, on_empty=on_empty).execute(make_context(ti))
    assert type(raised.value) is error
    assert marketo_simulator.counters["calls"] == {} or create_calls(marketo_simulator.api_calls()) == 0
    assert not marketo_simulator.issued_tokens
    assert ti.xcoms == {}
    assert staged_files(tmp_path) == []


def test_empty_result_still_checks_the_header(tmp_path: Path, sqlite_db: Path, marketo_conn_id: str) -> None:
    create_leads_table(sqlite_db, 5)
    sql = "SELECT first_name AS firstName FROM leads WHERE id > 100 ORDER BY id"
    with pytest.raises(InputFileError, match="no 'email' column"):
        sql_op(tmp_path, marketo_conn_id, sql).execute(make_context())


# Order.


@pytest.mark.parametrize(
    ("sql", "ordered"),
    [
        ("SELECT a FROM t ORDER BY a", True),
        ("select a from t where b = 1 order  by a desc limit 5", True),
        ("SELECT a FROM t UNION SELECT b FROM u ORDER BY 1", True),
        ("WITH c AS (SELECT a FROM t) SELECT * FROM c ORDER BY a", True),
        ("SELECT a FROM t WHERE b IN (SELECT c FROM u ORDER BY c)\n  ORDER\n BY a", True),
        ("SELECT a FROM t", False),
        ("SELECT a FROM t WHERE b IN (SELECT c FROM u ORDER BY c)", False),
        ("SELECT row_number() OVER (ORDER BY a) FROM t", False),
        ("SELECT * FROM (SELECT a FROM t ORDER BY a) s", False),
        ("-- ORDER BY a\nSELECT a FROM t", False),
        ("SELECT 'ORDER BY' AS a FROM t", False),
    ],
)
def test_order_by_detection(sql: str, ordered: bool) -> None:
    assert has_top_level_order_by(sql) is ordered


def test_query_without_order_by_logs_a_warning(
    tmp_path: Path,
    sqlite_db: Path,
    marketo_simulator: Any,
    marketo_conn_id: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    create_leads_table(sqlite_db, 5)
    sql_op(tmp_path, marketo_conn_id, "SELECT email FROM leads").execute(make_context())
    assert "The query has no ORDER BY" in capsys.readouterr().out
    sql_op(tmp_path, marketo_conn_id, "SELECT email FROM leads ORDER BY id").execute(make_context())
    assert "ORDER BY" not in capsys.readouterr().out


# Staging, deferral and retries.


def test_staged_file_is_fixed_per_task_instance(tmp_path: Path) -> None:
    op = sql_op(tmp_path, "marketo_default", format="tsv")
    first = op.staged_file(make_context(FakeTaskInstance(map_index=-1)))
    assert first == op.staged_file(make_context(FakeTaskInstance(map_index=-1)))
    assert first.name.startswith("dag.import.-1.manual__2026-01-01T00_00_00_00_00.")
    assert first.suffix == ".tsv"
    others = {
        op.staged_file(make_context(ti))
        for ti in [
            FakeTaskInstance(map_index=0),
            FakeTaskInstance(map_index=1),
            FakeTaskInstance(run_id="manual__2026-01-01T00:00:00-00:00"),
            FakeTaskInstance(task_id="other"),
            FakeTaskInstance(dag_id="other"),
        ]
    }
    assert len(others) == 5
    assert first not in others
    default = SqlToMarketoOperator(task_id="t", sql="SELECT 1", sql_conn_id="x")
    assert "airflow-marketo-staging" in str(default.staged_file(make_context()))


def deferrable_op(tmp_path: Path) -> SqlToMarketoOperator:
    return sql_op(tmp_path, MARKETO_CONN, part_size=20_000, max_active_jobs=1, deferrable=True)


def resume_until_done(tmp_path: Path, context: Any, deferred: TaskDeferred, staged: Path | None) -> list[int]:
    """Resume like the task runner (a fresh operator each time, JSON kwargs) until the import ends."""
    for _ in range(200):
        kwargs = json.loads(json.dumps(deferred.kwargs or {}))
        event = {"status": "success", "message": "room", "batches": []}
        try:
            return batch_ids_of(
                deferrable_op(tmp_path).resume_execution(
                    deferred.method_name, {**kwargs, "event": event}, context
                )
            )
        except TaskDeferred as again:
            deferred = again
            assert staged is None or staged.exists()  # kept while deferred
    raise AssertionError("the operator kept deferring")


@pytest.mark.marketo_simulator(rows_per_second=200)
@pytest.mark.usefixtures("running_clock")
@pytest.mark.parametrize("worker", ["same", "other"])
def test_resume_after_deferral(
    worker: str,
    tmp_path: Path,
    sqlite_db: Path,
    marketo_simulator: Any,
    marketo_conn_id: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The same worker reuses the staged file (the query cannot even run any more); another worker,
    without the file, runs the query again."""
    rows = create_leads_table(sqlite_db, 300)
    context = make_context()
    with pytest.raises(TaskDeferred) as deferred:
        deferrable_op(tmp_path).execute(context)
    (staged,) = staged_files(tmp_path)  # kept while deferred
    if worker == "same":
        with sqlite3.connect(sqlite_db) as db:
            db.execute("DROP TABLE leads")
    else:
        staged.unlink()
    capsys.readouterr()
    batch_ids = resume_until_done(tmp_path, context, deferred.value, staged if worker == "same" else None)
    expected_log = {
        "same": "Resuming with the staged query result",
        "other": "is not on this worker (the task deferred on another one); running the query again",
    }[worker]
    assert expected_log in capsys.readouterr().out
    assert len(our_jobs(marketo_simulator)) == len(batch_ids) >= 3
    assert stored_leads(marketo_simulator) == {row[0]: expected_lead(row) for row in rows}
    assert not staged.exists()


def test_retry_after_a_crash_imports_no_part_twice(
    tmp_path: Path,
    sqlite_db: Path,
    marketo_simulator: Any,
    marketo_conn_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = create_leads_table(sqlite_db, 400)
    spy = CreateSpy(marketo_simulator).install(monkeypatch)
    spy.fail_after = 2
    with pytest.raises(SystemExit):
        sql_op(tmp_path, marketo_conn_id, part_size=20_000).execute(make_context())
    first = [job["batch_id"] for job in our_jobs(marketo_simulator)]
    assert len(first) == 2

    spy.fail_after = None
    batch_ids = batch_ids_of(sql_op(tmp_path, marketo_conn_id, part_size=20_000).execute(make_context()))
    assert batch_ids[:2] == first
    assert len(our_jobs(marketo_simulator)) == len(batch_ids) > 2
    assert stored_leads(marketo_simulator) == {row[0]: expected_lead(row) for row in rows}
    received = received_rows(marketo_simulator, batch_ids)
    assert len(received) - 1 == len(rows)


UNORDERED_SQL = LEADS_SQL.removesuffix(" ORDER BY id")


@pytest.mark.parametrize("executor", ["CeleryExecutor", "LocalExecutor,KubernetesExecutor"])
def test_unordered_deferrable_query_on_several_machines_needs_staging_path(
    executor: str,
    tmp_path: Path,
    sqlite_db: Path,
    marketo_simulator: Any,
    marketo_conn_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A resume on another machine would run an unordered query again and could not match the parts
    Marketo accepted: refused before the query runs and before any upload, naming staging_path."""
    create_leads_table(sqlite_db, 50)
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", executor)
    op = sql_op(tmp_path, marketo_conn_id, sql=UNORDERED_SQL, deferrable=True, staging_path=None)
    with pytest.raises(MarketoConfigError, match=r"Set staging_path for 'load'.*ORDER BY") as refused:
        op.execute(make_context())
    assert executor.split(",")[-1] in str(refused.value)
    assert our_jobs(marketo_simulator) == [] and create_calls(marketo_simulator.api_calls()) == 0


@pytest.mark.parametrize(
    "change",
    [
        {"executor": "LocalExecutor"},
        {"sql": LEADS_SQL},
        {"staging_path": "staging"},
        {"deferrable": False},
    ],
    ids=["one-machine", "ordered", "staging-path", "not-deferrable"],
)
def test_no_refusal_when_a_resume_elsewhere_is_safe(
    change: dict[str, Any],
    tmp_path: Path,
    sqlite_db: Path,
    marketo_simulator: Any,
    marketo_conn_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    create_leads_table(sqlite_db, 20)
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", change.get("executor", "CeleryExecutor"))
    staging = str(tmp_path / "staging") if "staging_path" in change else None
    args = {"sql": change.get("sql", UNORDERED_SQL), "deferrable": change.get("deferrable", True)}
    op = sql_op(tmp_path, marketo_conn_id, staging_path=staging, **args)
    assert len(op.execute(make_context())["batches"]) == 1


@pytest.mark.marketo_simulator(rows_per_second=400)
def test_finishing_on_another_worker_does_not_run_the_query_again(
    tmp_path: Path, sqlite_db: Path, marketo_simulator: Any, marketo_conn_id: str
) -> None:
    """wait_for_completion resumed on a worker without the staged result: every part is accepted, so
    the jobs are finished from the manifest; the query (now failing) is not run again."""
    import asyncio

    from tests._support.tasks import FakeTaskStateStore, first_event

    create_leads_table(sqlite_db, 200)
    context = make_context(task_state_store=FakeTaskStateStore())
    op = sql_op(tmp_path, marketo_conn_id, part_size=20_000, deferrable=True, wait_for_completion=True)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    assert deferred.value.method_name == "resume_import"
    assert deferred.value.kwargs == {"completing": True}
    event = asyncio.run(first_event(deferred.value.trigger))
    for staged in staged_files(tmp_path):
        staged.unlink()  # another worker
    with sqlite3.connect(sqlite_db) as db:
        db.execute("DROP TABLE leads")
    again = sql_op(tmp_path, marketo_conn_id, part_size=20_000, deferrable=True, wait_for_completion=True)
    output = again.resume_execution("resume_import", {"event": event, "completing": True}, context)
    summary = output["result"]
    assert summary["rows_processed"] + summary["rows_failed"] == 200 == summary["rows_sent"]


def test_staged_file_is_deleted_when_the_import_fails(
    tmp_path: Path, sqlite_db: Path, marketo_simulator: Any, marketo_conn_id: str
) -> None:
    create_leads_table(sqlite_db, 5)
    marketo_simulator.inject("error_code", code="603", count=1, path=r"/bulk/v1/leads\.json")
    with pytest.raises(Exception, match="603"):
        sql_op(tmp_path, marketo_conn_id).execute(make_context())
    assert staged_files(tmp_path) == []


def test_template_fields_render_sql_and_staging(tmp_path: Path) -> None:
    op = SqlToMarketoOperator(
        task_id="t",
        sql="SELECT email FROM {{ params.table }} ORDER BY id",
        sql_conn_id="{{ params.conn }}",
        staging_path=str(tmp_path) + "/{{ params.table }}",
        list_id="{{ params.list }}",
        params={"table": "leads", "conn": "wh", "list": 7},
    )
    assert "source" not in op.template_fields
    op.render_template_fields({"params": {"table": "leads", "conn": "wh", "list": 7}})
    assert (op.sql, op.sql_conn_id, op.list_id) == ("SELECT email FROM leads ORDER BY id", "wh", "7")
    assert str(op.staged_file(make_context())).startswith((tmp_path / "leads").as_uri())


def test_provider_info_lists_the_transfer() -> None:
    import importlib

    from airflow_provider_marketo.get_provider_info import get_provider_info

    (transfer,) = get_provider_info()["transfers"]
    assert transfer["source-integration-name"] == "Common SQL"
    assert transfer["target-integration-name"] == "Marketo"
    module = importlib.import_module(transfer["python-module"])
    assert module.SqlToMarketoOperator is SqlToMarketoOperator


@pytest.mark.marketo_simulator(rows_per_second=200)
def test_staged_file_is_deleted_when_the_trigger_fails(
    tmp_path: Path, sqlite_db: Path, marketo_simulator: Any, marketo_conn_id: str
) -> None:
    from airflow_provider_marketo._compat import TaskDeferralError

    create_leads_table(sqlite_db, 300)
    context = make_context()
    with pytest.raises(TaskDeferred):
        deferrable_op(tmp_path).execute(context)
    assert len(staged_files(tmp_path)) == 1
    with pytest.raises(
        TaskDeferralError
    ):  # what the runner resumes with when the trigger failed or timed out
        deferrable_op(tmp_path).resume_execution("__fail__", {"error": "Trigger failure"}, context)
    assert staged_files(tmp_path) == []


def test_openlineage_without_database_info_has_no_inputs(
    tmp_path: Path, sqlite_db: Path, marketo_conn_id: str
) -> None:
    lineage = sql_op(tmp_path, marketo_conn_id).get_openlineage_facets_on_complete(None)
    assert lineage.inputs == []  # SqliteHook gives no OpenLineage database info
    assert [(d.namespace.split("://")[0], d.name) for d in lineage.outputs] == [("marketo", "leads")]


@pytest.mark.parametrize(
    ("operator", "kwargs"),
    [
        (BulkLeadImportOperator, {}),
        (BulkLeadImportOperator, {"lookup_field": "id", "list_id": "12", "partition_name": "EMEA"}),
        (BulkCustomObjectImportOperator, {"api_name": "car_c"}),
        (BulkProgramMemberImportOperator, {"program_id": "1001", "program_member_status": "Attended"}),
    ],
)
def test_each_kind_follows_its_import_operator(
    operator: type[BaseBulkImportOperator], kwargs: dict[str, Any], tmp_path: Path
) -> None:
    kinds = {
        BulkLeadImportOperator: "leads",
        BulkCustomObjectImportOperator: "custom_objects",
        BulkProgramMemberImportOperator: "program_members",
    }
    ours = sql_op(tmp_path, MARKETO_CONN, object_type=kinds[operator], **kwargs)
    theirs = operator(task_id="file", source="x.csv", **kwargs)
    assert ours.target == theirs.target
    assert ours.create_params() == theirs.create_params()
    assert (ours.lookup_column, ours.job_limit) == (theirs.lookup_column, theirs.job_limit)
    assert ours.required_columns == theirs.required_columns


def test_unknown_alias_fails_the_schema_check_before_any_row_is_staged(
    tmp_path: Path,
    sqlite_db: Path,
    marketo_simulator: Any,
    marketo_conn_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The columns are checked against Describe Lead2 as soon as the cursor names them: an unknown alias
    costs one Describe call, not a staged copy of the whole result."""
    create_leads_table(sqlite_db, 50)
    written: list[int] = []
    real_write_rows = RowWriter.write_rows
    monkeypatch.setattr(
        RowWriter, "write_rows", lambda self, rows: written.append(1) or real_write_rows(self, rows)
    )
    sql = "SELECT email, first_name AS favouriteColour FROM leads ORDER BY id"
    with pytest.raises(InputFileError, match="favouriteColour"):
        sql_op(tmp_path, marketo_conn_id, sql).execute(make_context())
    assert written == []
    assert create_calls(marketo_simulator.api_calls()) == 0
    assert staged_files(tmp_path) == []
    describes = {k: n for k, n in marketo_simulator.api_calls().items() if "describe" in k}
    assert sum(describes.values()) == 1, marketo_simulator.api_calls()
