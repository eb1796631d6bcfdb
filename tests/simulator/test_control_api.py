"""The /_sim inspection and control API, the pytest plugin and reset."""

from __future__ import annotations

import json
import os
import time

import pytest
import requests

from airflow_provider_marketo.testing import MarketoSimulator, SimulatorConfig
from tests._support.api import Api, error_code


def test_inspection_over_http(api: Api, marketo_simulator: MarketoSimulator) -> None:
    content = "email,firstName\na@example.com,Ann\n"
    batch_id = api.import_leads(content, listId=1001)
    api.wait_lead_job(batch_id)
    base = marketo_simulator.base_url
    leads = requests.get(f"{base}/_sim/leads", timeout=10).json()
    assert [lead["email"] for lead in leads] == ["a@example.com"]
    assert requests.get(f"{base}/_sim/lists/1001/members", timeout=10).json() == [leads[0]["id"]]
    jobs = requests.get(f"{base}/_sim/jobs", timeout=10).json()
    assert jobs[0]["batch_id"] == batch_id
    assert jobs[0]["status"] == "Complete"
    assert jobs[0]["rows"] == 1
    assert jobs[0]["received_bytes"] == len(content)
    assert requests.get(f"{base}/_sim/jobs/{batch_id}/file", timeout=10).content == content.encode()
    assert marketo_simulator.job_file(batch_id) == content.encode()
    counters = requests.get(f"{base}/_sim/counters", timeout=10).json()
    assert counters["calls"]["POST /bulk/v1/leads.json"] == 1
    assert counters["calls"]["GET /bulk/v1/leads/batch/{batchId}.json"] >= 1
    log = requests.get(f"{base}/_sim/requests", timeout=10).json()
    assert not any(entry["path"].startswith("/_sim") for entry in log)
    assert log[1]["method"] == "POST"
    assert "listId=1001" in log[1]["query"]


def test_control_over_http(api: Api, marketo_simulator: MarketoSimulator) -> None:
    base = marketo_simulator.base_url
    token = api.token()

    def post(path: str, body: dict[str, object]) -> None:
        response = requests.post(f"{base}{path}", json=body, timeout=10)
        assert response.json() == {"ok": True}, response.text

    post("/_sim/faults", {"fault": "error_code", "code": "608", "count": 1})
    assert error_code(api.get("/bulk/v1/leads/batch/1.json", token=token)) == "608"
    post("/_sim/expire-tokens", {})
    assert error_code(api.get("/bulk/v1/leads/batch/1.json", token=token)) == "602"
    post("/_sim/fail-next-jobs", {"count": 1, "message": "Boom"})
    batch_id = api.import_leads("email\na@example.com\n")
    assert api.wait_lead_job(batch_id)["message"] == "Boom"
    post("/_sim/occupy-queue", {"jobs": 10, "seconds": 30})
    assert error_code(api.upload("/bulk/v1/leads.json", "email\na@example.com\n")) == "1016"
    post("/_sim/clock", {"advance": 31})
    api.import_leads("email\na@example.com\n")
    post("/_sim/reset", {})
    assert marketo_simulator.jobs == []
    assert marketo_simulator.counters["tokens_issued"] == 0
    bad = requests.post(f"{base}/_sim/faults", json={"fault": "nope"}, timeout=10)
    assert bad.status_code == 400


@pytest.mark.marketo_simulator(calls_per_window=1)
def test_control_calls_are_not_rate_limited_or_counted(api: Api, marketo_simulator: MarketoSimulator) -> None:
    for _ in range(5):
        requests.get(f"{marketo_simulator.base_url}/_sim/jobs", timeout=10).raise_for_status()
    assert marketo_simulator.counters["calls"] == {}
    assert error_code(api.get("/bulk/v1/leads/batch/1.json")) == "1013"


def test_reset_keeps_the_config_and_rewinds_the_clock(api: Api, marketo_simulator: MarketoSimulator) -> None:
    api.wait_lead_job(api.import_leads("email\na@example.com\n"))
    marketo_simulator.advance_clock(3600)
    marketo_simulator.reset()
    assert marketo_simulator.config.rows_per_second == 0
    assert marketo_simulator.leads == []
    assert abs(marketo_simulator.state.now() - time.time()) < 60


@pytest.mark.marketo_simulator(clients={"id-1": "secret-1"}, lists={7: "Seven"})
def test_marker_overrides_the_config(api: Api, marketo_simulator: MarketoSimulator) -> None:
    assert (marketo_simulator.client_id, marketo_simulator.client_secret) == ("id-1", "secret-1")
    api.wait_lead_job(api.import_leads("email\na@example.com\n", listId=7))
    assert len(marketo_simulator.list_members(7)) == 1


def test_marketo_conn_id_points_at_the_simulator(
    marketo_conn_id: str, marketo_simulator: MarketoSimulator
) -> None:
    assert marketo_conn_id == "marketo_default"
    conn = json.loads(os.environ["AIRFLOW_CONN_MARKETO_DEFAULT"])
    assert conn == {
        "conn_type": "marketo",
        "host": marketo_simulator.base_url,
        "login": "sim-client-id",
        "password": "sim-client-secret",
    }


def test_constructor_overrides_and_config_object() -> None:
    sim = MarketoSimulator(SimulatorConfig(max_queue=3), rows_per_second=5)
    assert (sim.config.max_queue, sim.config.rows_per_second) == (3, 5)
    with pytest.raises(TypeError, match="no_such_field"):
        MarketoSimulator(no_such_field=1)
