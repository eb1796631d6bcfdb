"""The change-only sync on the import operators: what is sent, what is committed, dry run, mapping."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_marketo.operators.bulk_import import (
    BulkCustomObjectImportOperator,
    BulkLeadImportOperator,
    BulkProgramMemberImportOperator,
)
from airflow_provider_marketo.operators.output import check_output
from airflow_provider_marketo.sync.diff import DuplicateKeyError
from airflow_provider_marketo.sync.state import StateStore, SyncStateError
from airflow_provider_marketo.transfers.sql_to_marketo import SqlToMarketoOperator
from tests._support.files import write_rows
from tests._support.tasks import FakeTaskInstance, make_context

HEADER = ["email", "firstName", "leadScore"]


def _rows(n: int, *, score: dict[int, str] | None = None, name: str = "Ann") -> list[list[str]]:
    score = score or {}
    return [HEADER] + [[f"s{i}@example.com", f"{name} {i}", score.get(i, str(i))] for i in range(n)]


def _op(tmp_path: Path, conn_id: str, **kwargs: Any) -> BulkLeadImportOperator:
    kwargs.setdefault("task_id", "sync")
    kwargs.setdefault("changes_only", True)
    kwargs.setdefault("sync_state_path", (tmp_path / "state").as_uri())
    return BulkLeadImportOperator(
        source=tmp_path / "leads.csv",
        marketo_conn_id=conn_id,
        poll_interval=0.05,
        deferrable=False,
        wait_for_completion=True,
        staging_path=(tmp_path / "staging").as_uri(),
        **kwargs,
    )


def _run(tmp_path: Path, conn_id: str, rows: list[list[str]], run: int, **kwargs: Any) -> dict[str, Any]:
    write_rows(tmp_path / "leads.csv", rows)
    ti = FakeTaskInstance(task_id=kwargs.get("task_id", "sync"), run_id=f"scheduled__{run}")
    output = check_output(_op(tmp_path, conn_id, **kwargs).execute(make_context(ti)))
    assert output["result"] is not None  # every sync waits for its jobs
    return dict(output["result"])


def _sent_emails(sim: Any, since: int) -> list[str]:
    emails = []
    for job in sim.jobs[since:]:
        text = sim.job_file(job["batch_id"]).decode()
        emails += [row[0] for row in list(csv.reader(io.StringIO(text)))[1:]]
    return emails


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"changes_only": True, "sync_state_path": "/tmp/s"}, "needs wait_for_completion=True"),
        ({"changes_only": True, "wait_for_completion": True}, "needs sync_state_path"),
        ({"duplicate_keys": "first"}, "duplicate_keys must be"),
        ({"field_mapping": {"a": "email", "b": "EMAIL"}}, "same Marketo field"),
        ({"field_mapping": {}}, "non-empty dict"),
    ],
)
def test_arguments_checked_at_parse_time(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BulkLeadImportOperator(task_id="t", source="/tmp/x.csv", **kwargs)


@pytest.mark.parametrize(
    "operator",
    [
        lambda **kw: BulkCustomObjectImportOperator(api_name="car_c", source="/tmp/x.csv", **kw),
        lambda **kw: BulkProgramMemberImportOperator(
            program_id=1, program_member_status="Registered", source="/tmp/x.csv", **kw
        ),
        lambda **kw: SqlToMarketoOperator(sql="SELECT 1", sql_conn_id="db", **kw),
    ],
    ids=["custom_objects", "program_members", "sql"],
)
def test_every_operator_takes_the_sync_arguments(operator: Any) -> None:
    with pytest.raises(ValueError, match="needs wait_for_completion=True"):
        operator(task_id="t", changes_only=True, sync_state_path="/tmp/s")
    op = operator(
        task_id="t",
        changes_only=True,
        sync_state_path="/tmp/s",
        wait_for_completion=True,
        full_refresh="{{ params.full_refresh }}",
        field_mapping={"mail": "email"},
        duplicate_keys="keep_last",
    )
    assert {"sync_state_path", "full_refresh"} <= set(op.template_fields)


def test_four_nights(marketo_simulator: Any, marketo_conn_id: str, tmp_path: Path) -> None:
    rows = _rows(100)
    first = _run(tmp_path, marketo_conn_id, rows, 1)
    assert first["rows_sent"] == 100 and first["rows_new"] == 100 and first["state_version"] == 1
    jobs = len(marketo_simulator.jobs)

    # 10 changed, 5 new, 5 deleted, 3 invalid (a score Marketo cannot store).
    night = [r[:] for r in rows if r[0] not in {f"s{i}@example.com" for i in range(95, 100)}]
    for i in range(1, 11):
        night[i][1] = "Changed"
    for i in (50, 51, 52):
        night[i + 1][2] = "high"
    night += [[f"new{i}@example.com", "New", "1"] for i in range(5)]
    second = _run(tmp_path, marketo_conn_id, night, 2)
    assert second["rows_sent"] == 18 and second["rows_failed"] == 3
    assert (second["rows_new"], second["rows_changed"], second["rows_unchanged"]) == (5, 13, 82)
    assert second["rows_absent"] == 5 and second["state_version"] == 2
    assert len(_sent_emails(marketo_simulator, jobs)) == 18
    jobs = len(marketo_simulator.jobs)

    for i in (50, 51, 52):
        night[i + 1][2] = "7"
    third = _run(tmp_path, marketo_conn_id, night, 3)
    assert third["rows_sent"] == 3 and third["rows_retried"] == 3 and third["rows_failed"] == 0
    assert sorted(_sent_emails(marketo_simulator, jobs)) == [f"s{i}@example.com" for i in (50, 51, 52)]
    jobs = len(marketo_simulator.jobs)

    fourth = _run(tmp_path, marketo_conn_id, night, 4)
    assert fourth["batches"] == [] and fourth["rows_sent"] == 0 and "Nothing to send" in fourth["message"]
    assert fourth["rows_unchanged"] == 100 and fourth["state_version"] == 3
    assert len(marketo_simulator.jobs) == jobs
    # A row that comes back unchanged after being absent is not sent again.
    back = _run(tmp_path, marketo_conn_id, [*night, *rows[96:98]], 5)
    assert back["rows_sent"] == 0 and back["rows_unchanged"] == 102
    assert not list((tmp_path / "staging").glob("*.sync"))  # the diff's folder goes after the commit


def test_state_is_readable(marketo_simulator: Any, marketo_conn_id: str, tmp_path: Path) -> None:
    import duckdb

    _run(tmp_path, marketo_conn_id, _rows(5, score={2: "high"}), 1)
    current = json.loads((tmp_path / "state" / "CURRENT.json").read_text())
    assert current["version"] == 1 and current["key"] == ["email"] and current["columns"] == HEADER
    assert current["owner"]["task_id"] == "sync" and current["fingerprint"] == "md5-lp-v1"
    snapshot = str(tmp_path / "state" / current["snapshot"])
    rows = duckdb.execute(f"SELECT email, failed FROM '{snapshot}' ORDER BY email").fetchall()
    # The failed row is not recorded as sent: it has no fingerprint and is marked failed.
    assert rows == [(f"s{i}@example.com", i == 2) for i in range(5)]


def test_columns_changed_sends_every_row(
    marketo_simulator: Any, marketo_conn_id: str, tmp_path: Path
) -> None:
    _run(tmp_path, marketo_conn_id, _rows(20), 1)
    wider = [[*r, "x" if n else "company"] for n, r in enumerate(_rows(20))]
    second = _run(tmp_path, marketo_conn_id, wider, 2)
    assert second["rows_sent"] == 20 and second["rows_changed"] == 20


def test_full_refresh_rendered_from_a_template(
    marketo_simulator: Any, marketo_conn_id: str, tmp_path: Path
) -> None:
    _run(tmp_path, marketo_conn_id, _rows(20), 1)
    for rendered, sent in (("False", 0), ("True", 20)):
        out = _run(tmp_path, marketo_conn_id, _rows(20), 2 if sent else 3, full_refresh=rendered)
        assert out["rows_sent"] == sent
    with pytest.raises(Exception, match="full_refresh must be True or False"):
        _run(tmp_path, marketo_conn_id, _rows(20), 4, full_refresh="maybe")


def test_killed_before_commit_sends_again(
    marketo_simulator: Any, marketo_conn_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(tmp_path, marketo_conn_id, _rows(20), 1)
    changed = _rows(20, name="Bob")

    def killed(*_: Any, **__: Any) -> Any:
        raise KeyboardInterrupt("killed")

    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(StateStore, "commit", killed)
        _run(tmp_path, marketo_conn_id, changed, 2)
    assert json.loads((tmp_path / "state" / "CURRENT.json").read_text())["version"] == 1
    again = _run(tmp_path, marketo_conn_id, changed, 3)
    assert again["rows_sent"] == 20 and again["rows_changed"] == 20 and again["state_version"] == 2


def test_retry_reuses_the_diff(
    marketo_simulator: Any, marketo_conn_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(tmp_path, marketo_conn_id, _rows(20), 1)
    changed = _rows(20)
    changed[3][1] = "Bob"

    def refused(*_: Any, **__: Any) -> Any:
        raise RuntimeError("connection reset")

    with monkeypatch.context() as patch, pytest.raises(RuntimeError):
        patch.setattr("airflow_provider_marketo.hooks.marketo.MarketoHook.create_import", refused)
        _run(tmp_path, marketo_conn_id, changed, 2)
    # Meanwhile another state version appears; the retry keeps its diff and base version, and refuses
    # to overwrite the newer state.
    changed[4][1] = "Eve"
    _run(tmp_path, marketo_conn_id, changed, 99)
    jobs = len(marketo_simulator.jobs)
    with pytest.raises(SyncStateError, match="started from state version 1"):
        _run(tmp_path, marketo_conn_id, changed, 2)
    assert _sent_emails(marketo_simulator, jobs) == ["s2@example.com"]


def test_another_sync_state_is_refused(marketo_simulator: Any, marketo_conn_id: str, tmp_path: Path) -> None:
    _run(tmp_path, marketo_conn_id, _rows(5), 1)
    with pytest.raises(SyncStateError, match="holds the state of another sync"):
        _run(tmp_path, marketo_conn_id, _rows(5), 2, task_id="other")


def test_duplicates_fail_before_anything_is_sent(
    marketo_simulator: Any, marketo_conn_id: str, tmp_path: Path
) -> None:
    rows = [*_rows(5), ["S1@example.com ", "Dup", "1"]]
    with pytest.raises(DuplicateKeyError, match="data rows 2, 6"):
        _run(tmp_path, marketo_conn_id, rows, 1)
    assert marketo_simulator.jobs == []
    out = _run(tmp_path, marketo_conn_id, rows, 2, duplicate_keys="keep_last")
    assert out["rows_sent"] == 5
    sent = marketo_simulator.job_file(marketo_simulator.jobs[-1]["batch_id"]).decode().splitlines()
    assert sent[1:] == [f"s{i}@example.com,Ann {i},{i}" for i in (0, 2, 3, 4)] + ["S1@example.com ,Dup,1"]


def test_rows_without_key(marketo_simulator: Any, marketo_conn_id: str, tmp_path: Path) -> None:
    rows = [*_rows(5), ["", "Nobody", "1"], ["  ", "Blank", "2"]]
    results = tmp_path / "results"
    out = _run(tmp_path, marketo_conn_id, rows, 1, results_path=results.as_uri())
    assert out["rows_sent"] == 5 and out["rows_without_key"] == 2
    kept = list(csv.reader(io.StringIO((results / "rows_without_key.csv").read_text())))
    assert kept == [HEADER, ["", "Nobody", "1"], ["  ", "Blank", "2"]]
    assert out["rows_without_key_path"].endswith("rows_without_key.csv")
    # The task's report is its summary: the sync's counts and state version included.
    report = json.loads((results / "sync.report.json").read_text())
    assert report == {**out, "report_path": out["report_path"]}
    assert (report["rows_new"], report["rows_without_key"], report["state_version"]) == (5, 2, 1)


def test_dry_run_sends_and_commits_nothing(
    marketo_simulator: Any, marketo_conn_id: str, tmp_path: Path
) -> None:
    _run(tmp_path, marketo_conn_id, _rows(10), 1)
    jobs = len(marketo_simulator.jobs)
    night = _rows(12)
    night[1][1] = "Changed"
    results = tmp_path / "dry"
    out = _run(tmp_path, marketo_conn_id, night, 2, dry_run=True, results_path=results.as_uri())
    assert (out["rows_new"], out["rows_changed"], out["rows_unchanged"], out["rows_to_send"]) == (2, 1, 9, 3)
    assert out["batches"] == [] and out["state_version"] == 1
    assert json.loads((results / "sync.report.json").read_text())["rows_to_send"] == 3
    sent = list(csv.reader(io.StringIO((results / "sync.rows_to_send.csv").read_text())))
    assert [r[0] for r in sent[1:]] == ["s0@example.com", "s10@example.com", "s11@example.com"]
    assert len(marketo_simulator.jobs) == jobs
    assert json.loads((tmp_path / "state" / "CURRENT.json").read_text())["version"] == 1
    # A preview task beside the sync may read its state (only a dry run may).
    preview = _run(tmp_path, marketo_conn_id, night, 4, dry_run=True, task_id="preview")
    assert preview["rows_to_send"] == 3 and preview["state_version"] == 1
    # Without changes_only: every row would be sent; the report goes to the staging folder.
    plain = _run(tmp_path, marketo_conn_id, night, 3, dry_run=True, changes_only=False)
    assert plain["rows_to_send"] == 12 and plain["rows_new"] is None
    assert Path(plain["rows_to_send_path"].removeprefix("file://")).is_file()
    assert len(marketo_simulator.jobs) == jobs


def test_field_mapping_alone(marketo_simulator: Any, marketo_conn_id: str, tmp_path: Path) -> None:
    rows = [["mail", "first_name", "internal"], ["m1@example.com", "Ann", "secret"]]
    out = _run(
        tmp_path,
        marketo_conn_id,
        rows,
        1,
        changes_only=False,
        field_mapping={"mail": "email", "first_name": "firstName"},
    )
    assert out["rows_sent"] == 1
    (job,) = marketo_simulator.jobs
    assert marketo_simulator.job_file(job["batch_id"]).decode().splitlines() == [
        "email,firstName",
        "m1@example.com,Ann",
    ]
    with pytest.raises(Exception, match="field_mapping names columns the header does not have: nope"):
        _run(tmp_path, marketo_conn_id, rows, 2, changes_only=False, field_mapping={"nope": "email"})


def test_custom_objects_key_on_the_dedupe_fields(
    marketo_simulator: Any, marketo_conn_id: str, tmp_path: Path
) -> None:
    def run(rows: list[list[str]], night: int) -> dict[str, Any]:
        write_rows(tmp_path / "cars.csv", rows)
        op = BulkCustomObjectImportOperator(
            task_id="cars",
            api_name="car_c",
            source=tmp_path / "cars.csv",
            marketo_conn_id=marketo_conn_id,
            poll_interval=0.05,
            deferrable=False,
            wait_for_completion=True,
            changes_only=True,
            sync_state_path=(tmp_path / "cars-state").as_uri(),
            staging_path=(tmp_path / "staging").as_uri(),
        )
        output = check_output(op.execute(make_context(FakeTaskInstance(task_id="cars", run_id=f"n{night}"))))
        assert output["result"] is not None
        return dict(output["result"])

    cars = [["vin", "make", "color"], ["V1", "Saab", "red"], ["V2", "Volvo", "blue"]]
    assert run(cars, 1)["rows_sent"] == 2
    cars[2][2] = "green"
    second = run(cars, 2)
    assert second["rows_sent"] == 1 and second["rows_changed"] == 1
    assert json.loads((tmp_path / "cars-state" / "CURRENT.json").read_text())["key"] == ["vin"]


def test_program_members_key_on_email_within_the_program(
    marketo_simulator: Any, marketo_conn_id: str, tmp_path: Path
) -> None:
    program_id = next(iter(marketo_simulator.config.programs))

    def run(night: int) -> dict[str, Any]:
        write_rows(tmp_path / "members.csv", [["email"], ["A@x.com"], ["b@x.com"]])
        op = BulkProgramMemberImportOperator(
            task_id="members",
            program_id=program_id,
            program_member_status="Registered",
            source=tmp_path / "members.csv",
            marketo_conn_id=marketo_conn_id,
            poll_interval=0.05,
            deferrable=False,
            wait_for_completion=True,
            changes_only=True,
            sync_state_path=(tmp_path / "members-state").as_uri(),
            staging_path=(tmp_path / "staging").as_uri(),
        )
        output = check_output(
            op.execute(make_context(FakeTaskInstance(task_id="members", run_id=f"n{night}")))
        )
        assert output["result"] is not None
        return dict(output["result"])

    assert run(1)["rows_sent"] == 2
    assert run(2)["rows_sent"] == 0
    current = json.loads((tmp_path / "members-state" / "CURRENT.json").read_text())
    assert current["key"] == ["email"] and current["owner"]["target"]["program_id"] == program_id
