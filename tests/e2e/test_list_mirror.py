"""The example DAG marketo_list_mirror under dag.test() against the simulator: issue 25's "done when".

The simulator's list calls follow Adobe's "List Membership (Static Lists)" page
(help/rest-api/list-membership.md in AdobeDocs/marketo-developer.en): Get Leads by List ID pages,
Remove from List per id; Adobe's "Bulk Lead Import": a job with ``listId`` adds its imported leads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from airflow_provider_marketo.testing import MarketoSimulator
from tests._support.api import Api
from tests._support.processes import run_dag

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
LIST_ID = 1001


def _emails(start: int, stop: int) -> set[str]:
    return {f"lead{i}@example.com" for i in range(start, stop)}


def _members(sim: MarketoSimulator) -> set[str]:
    emails = {lead["id"]: lead["email"] for lead in sim.leads}
    return {emails[lead_id] for lead_id in sim.list_members(LIST_ID)}


def _run(env: dict[str, str], tmp_path: Path, name: str, **conf: Any) -> dict[str, Any]:
    folder = tmp_path / name
    folder.mkdir()
    return run_dag(env, "marketo_list_mirror", folder, conf={"list_id": LIST_ID, **conf})


def test_list_mirror_dag(
    dag_env: dict[str, str], marketo_simulator: MarketoSimulator, tmp_path: Path
) -> None:
    # 1. A 1,000-row export mirrored into list 1001 leaves 1,000 members.
    assert _members(marketo_simulator) == set()
    first = _run(dag_env, tmp_path, "first", first=0, count=1000)
    assert first["state"] == "success", first["log"][-5000:]
    assert _members(marketo_simulator) == _emails(0, 1000)
    assert first["xcoms"]["mirror_list"]["return_value"]["result"]["list_removed"] == 0

    # 5 leads (not in any export) added to the list by hand.
    hand = [f"hand{i}@example.com" for i in range(5)]
    api = Api(marketo_simulator)
    api.wait_lead_job(api.import_leads("email\n" + "".join(f"{e}\n" for e in hand)))
    marketo_simulator.add_list_members(LIST_ID, emails=hand)
    before = _emails(0, 1000) | set(hand)
    assert _members(marketo_simulator) == before

    # 4. A dry run of the next export (drops 100, adds 40) changes nothing and reports +40 / -105.
    jobs = len(marketo_simulator.jobs)
    dry = _run(dag_env, tmp_path, "dry", first=100, count=940, apply=False)
    assert dry["state"] == "success", dry["log"][-5000:]
    assert dry["tasks"]["mirror_list"] == "skipped"
    preview = dry["xcoms"]["preview"]["return_value"]["result"]
    assert (preview["list_added"], preview["list_removed"], preview["dry_run"]) == (40, 105, True)
    assert _members(marketo_simulator) == before and len(marketo_simulator.jobs) == jobs

    # 2. The real run: the list holds exactly the 940 leads of the export; the 105 removed leads
    # still exist in Marketo.
    second = _run(dag_env, tmp_path, "second", first=100, count=940)
    assert second["state"] == "success", second["log"][-5000:]
    assert _members(marketo_simulator) == _emails(100, 1040)
    summary = second["xcoms"]["mirror_list"]["return_value"]["result"]
    assert summary["list_members_before"] == 1045 and summary["list_removed"] == 105
    assert summary["list_removal_skipped"] == 0 and summary["list_not_members"] == 0
    emails = {lead["email"] for lead in marketo_simulator.leads}
    removed = _emails(0, 100) | set(hand)
    assert removed <= emails and len(emails) == 1045
    report = json.loads(Path(urlparse(summary["report_path"]).path).read_text())
    assert {item["key"] for item in report["list_mirror"]["removed"]} == removed

    # 3. An empty export refuses to remove anything (the guard), in the preview already.
    empty = _run(dag_env, tmp_path, "empty", first=0, count=0)
    assert empty["state"] == "failed"
    assert empty["tasks"]["preview"] == "failed"
    assert "would remove 940 of its 940 members" in empty["log"]
    assert _members(marketo_simulator) == _emails(100, 1040)
    deletes = [e for e in marketo_simulator.requests_log if e["method"] == "DELETE"]
    assert len(deletes) == 1  # the one batch of 105 in the real run
