"""The import queue: FIFO, two jobs importing at a time, progress on the simulator clock, failed jobs."""

from __future__ import annotations

import pytest

from airflow_provider_marketo.testing import MarketoSimulator
from tests._support.api import Api


def _rows(n: int, prefix: str) -> str:
    return "email\n" + "".join(f"{prefix}{i}@example.com\n" for i in range(n))


def _by_id(sim: MarketoSimulator) -> dict[int, dict[str, object]]:
    return {job["batch_id"]: job for job in sim.jobs if not job["foreign"]}


@pytest.mark.marketo_simulator(rows_per_second=10.0)
def test_fifo_two_importing_and_counts_growing(api: Api, marketo_simulator: MarketoSimulator) -> None:
    a, b, c = (api.import_leads(_rows(20, p)) for p in "abc")
    jobs = _by_id(marketo_simulator)
    assert [jobs[x]["status"] for x in (a, b, c)] == ["Importing", "Importing", "Queued"]

    marketo_simulator.advance_clock(1.0)
    first = api.lead_status(a)
    assert first["status"] == "Importing"
    assert 5 <= first["numOfLeadsProcessed"] < 20
    assert api.lead_status(c)["status"] == "Queued"

    marketo_simulator.advance_clock(1.5)  # a and b finished at 2 s; c started then
    statuses = [api.lead_status(x) for x in (a, b, c)]
    assert [s["status"] for s in statuses] == ["Complete", "Complete", "Importing"]
    assert statuses[0]["numOfLeadsProcessed"] == 20
    assert 1 <= statuses[2]["numOfLeadsProcessed"] < 20

    marketo_simulator.advance_clock(2.0)
    assert api.lead_status(c)["numOfLeadsProcessed"] == 20
    assert api.lead_status(c)["status"] == "Complete"
    assert len(marketo_simulator.leads) == 60


def test_zero_speed_finishes_two_jobs_per_call_in_fifo_order(
    api: Api, marketo_simulator: MarketoSimulator
) -> None:
    marketo_simulator.occupy_queue(2, seconds=10)  # hold both importing slots
    a, b, c, d, e = (api.import_leads(_rows(1, p)) for p in "abcde")
    assert {job["status"] for job in _by_id(marketo_simulator).values()} == {"Queued"}
    marketo_simulator.advance_clock(11)  # the foreign jobs are done
    assert api.lead_status(a)["status"] == "Complete"  # each API call is one look
    jobs = _by_id(marketo_simulator)
    assert [jobs[x]["status"] for x in (a, b, c, d, e)] == [
        "Complete",
        "Complete",
        "Importing",
        "Importing",
        "Queued",
    ]
    assert api.lead_status(e)["status"] == "Importing"
    jobs = _by_id(marketo_simulator)
    assert [jobs[x]["status"] for x in (c, d)] == ["Complete", "Complete"]
    assert api.lead_status(e)["status"] == "Complete"


def test_single_job_finishes_on_the_next_call(api: Api) -> None:
    batch_id = api.import_leads(_rows(3, "x"))
    status = api.lead_status(batch_id)
    assert status["status"] == "Complete"
    assert status["numOfLeadsProcessed"] == 3


def test_fail_next_jobs(api: Api, marketo_simulator: MarketoSimulator) -> None:
    marketo_simulator.fail_next_jobs(1, message="Import failed: internal error")
    failed = api.import_leads(_rows(2, "f"))
    status = api.wait_lead_job(failed)
    assert status["status"] == "Failed"
    assert status["message"] == "Import failed: internal error"
    assert status["numOfLeadsProcessed"] == 0
    assert marketo_simulator.leads == []
    assert api.get(f"/bulk/v1/leads/batch/{failed}/failures.json").status_code == 404
    ok = api.wait_lead_job(api.import_leads(_rows(2, "g")))
    assert ok["status"] == "Complete"
