"""``list_membership="mirror"``: after the import, the static list holds exactly the export's leads.

The simulator's list calls follow Adobe's "List Membership (Static Lists)" page
(help/rest-api/list-membership.md): Get Leads by List ID in pages of 300 with ``nextPageToken``,
Remove from List ``DELETE ...?id=..`` (at most 300 ids) with per-id ``removed`` / ``skipped``; Adobe's
"Bulk Lead Import" page: a job with ``listId`` adds the imported leads to the list.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from airflow_provider_marketo._compat import AirflowFailException
from airflow_provider_marketo.exceptions import MarketoPagingTokenError
from airflow_provider_marketo.hooks.marketo import MarketoHook
from airflow_provider_marketo.operators import _mirror
from airflow_provider_marketo.operators.bulk_import import BulkLeadImportOperator
from airflow_provider_marketo.testing import MarketoSimulator
from airflow_provider_marketo.transfers.sql_to_marketo import SqlToMarketoOperator
from tests._support.api import Api
from tests._support.files import write_rows
from tests._support.tasks import FakeTaskInstance, make_context

LIST_ID = 1001


def _rows(emails: list[str]) -> list[list[str]]:
    return [["email", "firstName"], *([email, f"N{i}"] for i, email in enumerate(emails))]


def _emails(start: int, stop: int) -> list[str]:
    return [f"m{i}@example.com" for i in range(start, stop)]


def _op(source: Path, **kwargs: Any) -> BulkLeadImportOperator:
    kwargs.setdefault("task_id", "mirror")
    kwargs.setdefault("wait_for_completion", True)
    return BulkLeadImportOperator(
        source=source,
        list_id=LIST_ID,
        list_membership="mirror",
        deferrable=False,
        poll_interval=0.05,
        **kwargs,
    )


def _seed(sim: MarketoSimulator, emails: list[str], list_id: int | None = LIST_ID) -> None:
    api = Api(sim)
    body = "email\n" + "".join(f"{email}\n" for email in emails)
    api.wait_lead_job(api.import_leads(body, **({"listId": list_id} if list_id else {})))


def _members(sim: MarketoSimulator) -> set[str]:
    emails = {lead["id"]: lead["email"] for lead in sim.leads}
    return {emails[lead_id] for lead_id in sim.list_members(LIST_ID)}


def _removed_ids(sim: MarketoSimulator) -> list[int]:
    deletes = [e for e in sim.requests_log if e["method"] == "DELETE"]
    return [int(i) for e in deletes for i in parse_qs(e["query"]).get("id", [])]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"wait_for_completion": False}, "needs wait_for_completion=True"),
        ({"list_id": None}, "needs list_id"),
        ({"list_membership": "replace"}, "'add' or 'mirror'"),
        ({"max_list_removals": 1.5}, "max_list_removals"),
        ({"max_list_removals": -1}, "max_list_removals"),
        ({"max_list_removals": True}, "max_list_removals"),
    ],
)
def test_bad_arguments_fail_when_the_dag_is_parsed(
    tmp_path: Path, kwargs: dict[str, Any], message: str
) -> None:
    arguments: dict[str, Any] = {
        "task_id": "t",
        "source": tmp_path / "x.csv",
        "list_id": LIST_ID,
        "list_membership": "mirror",
        "wait_for_completion": True,
        **kwargs,
    }
    with pytest.raises(ValueError, match=message):
        BulkLeadImportOperator(**arguments)
    sql = {k: v for k, v in arguments.items() if k != "source"}
    with pytest.raises(ValueError, match=message):
        SqlToMarketoOperator(sql="select 1", sql_conn_id="db", **sql)


def test_mirror_removes_leavers_and_keeps_every_lead(
    marketo_simulator: MarketoSimulator, marketo_conn_id: str, tmp_path: Path
) -> None:
    _seed(marketo_simulator, _emails(0, 10))
    _seed(marketo_simulator, ["by-hand@example.com"], list_id=None)
    marketo_simulator.add_list_members(LIST_ID, emails=["by-hand@example.com"])
    # The export drops m0..m2, adds m10, m11 and writes m5 with another case and spaces.
    export = [*_emails(3, 12), " M5@Example.COM "]
    export.remove("m5@example.com")
    source = write_rows(tmp_path / "leads.csv", _rows(export))
    results = tmp_path / "results"
    summary = _op(source, results_path=results.as_uri() + "/").execute(make_context(FakeTaskInstance()))[
        "result"
    ]

    assert _members(marketo_simulator) == {e.strip().lower() for e in export}
    assert len(marketo_simulator.leads) == 13  # removed from the list, never deleted
    assert summary["list_members_before"] == 13  # 10 + 1 by hand + 2 imported now
    assert summary["list_removed"] == 4 and summary["list_removal_skipped"] == 0
    assert summary["list_added"] == 9 and summary["list_not_members"] == 0
    assert summary["list_calls"] == 2  # one page, one removal
    assert summary["report_path"] == f"{results.as_uri()}/import.report.json"
    report = json.loads((results / "import.report.json").read_text())
    assert report["list_removed"] == 4  # the mirror's counts are in the task's one report
    removed = {item["key"] for item in report["list_mirror"]["removed"]}
    assert removed == {"m0@example.com", "m1@example.com", "m2@example.com", "by-hand@example.com"}
    ids = {lead["email"]: lead["id"] for lead in marketo_simulator.leads}
    assert sorted(item["id"] for item in report["list_mirror"]["removed"]) == sorted(ids[k] for k in removed)


def test_failed_rows_are_counted_not_members(
    marketo_simulator: MarketoSimulator, marketo_conn_id: str, tmp_path: Path
) -> None:
    rows = [["email", "leadScore"], ["a@example.com", "1"], ["b@example.com", "high"]]
    source = write_rows(tmp_path / "leads.csv", rows)
    summary = _op(source).execute(make_context(FakeTaskInstance()))["result"]
    assert summary["rows_failed"] == 1 and summary["list_not_members"] == 1
    assert _members(marketo_simulator) == {"a@example.com"}
    assert sum(1 for job in marketo_simulator.jobs if not job["foreign"]) == 1  # not retried


def test_the_guard_refuses_before_removing_anything(
    marketo_simulator: MarketoSimulator, marketo_conn_id: str, tmp_path: Path
) -> None:
    _seed(marketo_simulator, _emails(0, 10))
    empty = write_rows(tmp_path / "empty.csv", _rows([]))
    with pytest.raises(AirflowFailException, match=r"remove 10 of its 10 members \(100%\).*0\.5") as refused:
        _op(empty).execute(make_context(FakeTaskInstance()))
    assert "m0@example.com" in str(refused.value)
    half = write_rows(tmp_path / "half.csv", _rows(_emails(0, 6)))
    with pytest.raises(AirflowFailException, match=r"would remove 4 of its 10 members.*max_list_removals=3"):
        _op(half, max_list_removals=3).execute(make_context(FakeTaskInstance(task_id="t2")))
    assert len(marketo_simulator.list_members(LIST_ID)) == 10 and _removed_ids(marketo_simulator) == []
    summary = _op(half, task_id="t3", max_list_removals=None).execute(
        make_context(FakeTaskInstance(task_id="t3"))
    )["result"]
    assert summary["list_removed"] == 4


def test_dry_run_reports_and_changes_nothing(
    marketo_simulator: MarketoSimulator, marketo_conn_id: str, tmp_path: Path
) -> None:
    _seed(marketo_simulator, _emails(0, 10))
    source = write_rows(tmp_path / "leads.csv", _rows(_emails(3, 13)))
    jobs_before = len(marketo_simulator.jobs)
    summary = _op(source, dry_run=True).execute(make_context(FakeTaskInstance()))["result"]
    assert summary["dry_run"] is True
    assert (summary["list_added"], summary["list_removed"]) == (3, 3)
    assert len(marketo_simulator.jobs) == jobs_before and _removed_ids(marketo_simulator) == []
    assert _members(marketo_simulator) == set(_emails(0, 10))


@pytest.mark.marketo_simulator(window_seconds=1.0)
def test_a_busy_list_is_waited_for(
    marketo_simulator: MarketoSimulator, marketo_conn_id: str, tmp_path: Path
) -> None:
    _seed(marketo_simulator, _emails(0, 4))
    # 1019 on the read, then on the removal (Adobe's error codes: "Import in progress").
    marketo_simulator.inject("error_code", code="1019", path="/rest/v1/lists/", count=3)
    source = write_rows(tmp_path / "leads.csv", _rows(_emails(0, 3)))
    summary = _op(source).execute(make_context(FakeTaskInstance()))["result"]
    assert summary["list_removed"] == 1 and _members(marketo_simulator) == set(_emails(0, 3))
    assert summary["list_calls"] == 5  # 2 refused + 1 read, 1 refused + 1 removal


def test_a_killed_mirror_resumes_without_removing_an_exported_lead(
    marketo_simulator: MarketoSimulator, marketo_conn_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(marketo_simulator, _emails(0, 700))
    export = _emails(0, 300)
    source = write_rows(tmp_path / "leads.csv", _rows(export))
    original = MarketoHook.remove_from_list
    calls: list[int] = []

    def killed_after_one(self: MarketoHook, list_id: int, lead_ids: Any) -> Any:
        calls.append(len(lead_ids))
        if len(calls) > 1:
            raise SystemExit("killed")
        return original(self, list_id, lead_ids)

    monkeypatch.setattr(MarketoHook, "remove_from_list", killed_after_one)
    with pytest.raises(SystemExit):
        _op(source, max_list_removals=None, retries=1).execute(make_context(FakeTaskInstance(max_tries=1)))
    assert len(marketo_simulator.list_members(LIST_ID)) == 400  # 300 of the 400 leavers removed
    monkeypatch.setattr(MarketoHook, "remove_from_list", original)
    retry = FakeTaskInstance(try_number=2, max_tries=1)
    summary = _op(source, max_list_removals=None, retries=1).execute(make_context(retry))["result"]
    assert summary["list_members_before"] == 400 and summary["list_removed"] == 100
    assert _members(marketo_simulator) == set(export)
    ids = {lead["email"]: lead["id"] for lead in marketo_simulator.leads}
    assert not set(_removed_ids(marketo_simulator)) & {ids[e] for e in export}
    assert sum(1 for job in marketo_simulator.jobs if not job["foreign"]) == 2  # seed + one import


def test_an_expired_paging_token_reads_the_list_again(monkeypatch: pytest.MonkeyPatch) -> None:
    pages = [[{"id": 1, "email": "A@x.com"}], [{"id": 2, "email": "b@x.com"}]]
    reads: list[int] = []

    class Hook:
        def iter_list_members(self, list_id: int, fields: Any) -> Any:
            reads.append(list_id)
            yield pages[0]
            if len(reads) == 1:
                raise MarketoPagingTokenError("expired", code="1003")
            yield pages[1]

    log: Any = type("Log", (), {"info": print, "warning": print})()
    members = _mirror.read_members(Hook(), 7, "email", log)  # type: ignore[arg-type]
    assert members.keys == {1: "a@x.com", 2: "b@x.com"} and len(reads) == 2
    assert members.calls == 4  # one page and the refused call, then two pages


def test_sql_to_marketo_mirrors_the_query_result(
    marketo_simulator: MarketoSimulator, marketo_conn_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(marketo_simulator, _emails(0, 6))
    database = tmp_path / "warehouse.db"
    monkeypatch.setenv("AIRFLOW_CONN_SQLITE_TEST", json.dumps({"conn_type": "sqlite", "host": str(database)}))
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE segment (id INTEGER PRIMARY KEY, email TEXT)")
        db.executemany("INSERT INTO segment VALUES (?, ?)", [(i, f"M{i}@EXAMPLE.com") for i in range(2, 8)])
    op = SqlToMarketoOperator(
        task_id="segment",
        sql="SELECT email FROM segment ORDER BY id",
        sql_conn_id="sqlite_test",
        marketo_conn_id=marketo_conn_id,
        staging_path=str(tmp_path / "staging"),
        list_id=LIST_ID,
        list_membership="mirror",
        wait_for_completion=True,
        deferrable=False,
        poll_interval=0.05,
    )
    summary = op.execute(make_context(FakeTaskInstance(task_id="segment")))["result"]
    assert (summary["list_removed"], summary["list_members_before"]) == (2, 8)
    assert {email.lower() for email in _members(marketo_simulator)} == set(_emails(2, 8))


def test_export_keys_reads_the_whole_file_with_its_delimiter(tmp_path: Path) -> None:
    from airflow.sdk import ObjectStoragePath

    path = tmp_path / "e.tsv"
    path.write_bytes('\ufeffFirstName\tEMAIL\na\t A@x.COM\nb\t\n\nc\t"a@x.com"\nd\tb@x.com\n'.encode())
    keys, no_key = _mirror.export_keys(ObjectStoragePath(path.as_uri()), "tsv", "email")
    assert (keys, no_key) == ({"a@x.com", "b@x.com"}, 1)
    with pytest.raises(AirflowFailException, match="no column 'sfdcLeadId'"):
        _mirror.export_keys(ObjectStoragePath(path.as_uri()), "tsv", "sfdcLeadId")


def test_a_mirror_without_import_jobs_records_the_list_event_alone(
    marketo_simulator: MarketoSimulator, marketo_conn_id: str, tmp_path: Path
) -> None:
    """An empty export mirrored (the guard lifted) removes every member and creates no job: the list
    changed, so its asset gets an event; the leads did not, so theirs gets none (operators/_assets.py)."""
    from airflow.sdk.execution_time.context import OutletEventAccessors

    _seed(marketo_simulator, _emails(0, 4))
    empty = write_rows(tmp_path / "empty.csv", _rows([]))
    op = _op(empty, max_list_removals=None)
    context = make_context(FakeTaskInstance())
    context["outlet_events"] = OutletEventAccessors()
    output = op.execute(context)
    assert output["batches"] == [] and output["result"]["list_removed"] == 4
    events = context["outlet_events"][op.outlets[0]].asset_alias_events
    host = marketo_simulator.base_url.split("://", 1)[1]
    assert [e.dest_asset_key.uri for e in events] == [f"marketo://{host}/lists/{LIST_ID}"]
    assert events[0].extra["list_removed"] == 4 and events[0].extra["batch_ids"] == []
    dry = _op(empty, task_id="dry", max_list_removals=None, dry_run=True)
    dry_context = make_context(FakeTaskInstance(task_id="dry"))
    dry_context["outlet_events"] = OutletEventAccessors()
    dry.execute(dry_context)
    assert dry_context["outlet_events"][dry.outlets[0]].asset_alias_events == []  # a dry run writes nothing


@pytest.mark.parametrize("dry_run", [True, False])
def test_dry_run_is_templated(
    marketo_simulator: MarketoSimulator, marketo_conn_id: str, tmp_path: Path, dry_run: bool
) -> None:
    """``dry_run="{{ params.dry_run }}"`` renders ``"True"``/``"False"``: read as booleans (a
    non-empty ``"False"`` taken as true would make every run a dry run)."""
    _seed(marketo_simulator, _emails(0, 10))
    source = write_rows(tmp_path / "leads.csv", _rows(_emails(3, 13)))
    op = _op(source, dry_run="{{ params.dry_run }}")
    context = make_context(FakeTaskInstance())
    op.render_template_fields({**context, "params": {"dry_run": dry_run}})
    assert op.dry_run_mode == str(dry_run)
    summary = op.execute(context)["result"]
    assert summary["dry_run"] is dry_run and summary["list_removed"] == 3
    assert len(_removed_ids(marketo_simulator)) == (0 if dry_run else 3)
    assert _members(marketo_simulator) == set(_emails(0, 10) if dry_run else _emails(3, 13))
