"""Static list membership in the simulator.

Source: Adobe, "List Membership (Static Lists)" (help/rest-api/list-membership.md in
AdobeDocs/marketo-developer.en): Get Leads by List ID (``batchSize`` default and max 300, ``fields``,
``nextPageToken`` while more pages follow, default fields email, updatedAt, createdAt, lastName,
firstName, id) and Remove from List (``DELETE ...?id=..&id=..``, at most 300 ids, per-id ``removed`` or
``skipped`` with ``1004 Lead not found``). Error 1015 "Lead not in list" and 1019 "Import in progress"
are from Adobe's "Error Codes" page; "Bulk Lead Import" adds imported leads to ``listId``.
"""

from __future__ import annotations

from typing import Any

import requests

from airflow_provider_marketo.testing import MarketoSimulator
from tests._support.api import Api, error_code

LIST = "/rest/v1/lists/1001/leads.json"


def _import(api: Api, emails: list[str], **params: Any) -> None:
    body = "email,firstName\n" + "".join(f"{email},N{i}\n" for i, email in enumerate(emails))
    api.wait_lead_job(api.import_leads(body, **params))


def _ids(sim: MarketoSimulator) -> dict[str, int]:
    return {lead["email"]: lead["id"] for lead in sim.leads}


def test_get_leads_by_list_id_pages_with_next_page_token(
    api: Api, marketo_simulator: MarketoSimulator
) -> None:
    # Adobe's example: GET .../leads.json?batchSize=3 answers 3 leads and a nextPageToken.
    _import(api, [f"p{i}@example.com" for i in range(7)], listId=1001)
    first = api.get(LIST, params={"batchSize": 3}).json()
    assert first["success"] and len(first["result"]) == 3 and first["nextPageToken"]
    assert set(first["result"][0]) == {"email", "updatedAt", "createdAt", "lastName", "firstName", "id"}
    seen = [lead["id"] for lead in first["result"]]
    token = first["nextPageToken"]
    while token:
        page = api.get(LIST, params={"batchSize": 3, "nextPageToken": token}).json()
        seen += [lead["id"] for lead in page["result"]]
        token = page.get("nextPageToken")
    assert sorted(seen) == sorted(marketo_simulator.list_members(1001)) and len(seen) == 7
    only = api.get(LIST, params={"fields": "id,email"}).json()
    assert "nextPageToken" not in only  # one page: 7 <= 300 (default batchSize)
    assert set(only["result"][0]) == {"id", "email"}


def test_batch_size_over_300_and_unknown_list_are_refused(api: Api) -> None:
    assert error_code(api.get(LIST, params={"batchSize": 301})) == "1003"
    assert error_code(api.get("/rest/v1/lists/9/leads.json")) == "1013"


def test_paging_token_expires(api: Api, marketo_simulator: MarketoSimulator) -> None:
    # Position-based paging tokens are cursors (Adobe's "Paging Tokens"); the simulator lets one
    # live paging_token_ttl seconds, then answers 1003, and a token is good for one call.
    _import(api, ["a@example.com", "b@example.com"], listId=1001)
    token = api.get(LIST, params={"batchSize": 1}).json()["nextPageToken"]
    marketo_simulator.advance_clock(marketo_simulator.config.paging_token_ttl + 1)
    assert error_code(api.get(LIST, params={"batchSize": 1, "nextPageToken": token})) == "1003"
    fresh = api.get(LIST, params={"batchSize": 1}).json()["nextPageToken"]
    assert api.get(LIST, params={"batchSize": 1, "nextPageToken": fresh}).json()["success"]
    assert error_code(api.get(LIST, params={"batchSize": 1, "nextPageToken": "NOPE==="})) == "1003"


def test_remove_from_list_answers_per_id(api: Api, marketo_simulator: MarketoSimulator) -> None:
    # Adobe's example: DELETE ...?id=318603&id=318595&id=999999 -> removed, removed, skipped 1004.
    _import(api, ["a@example.com", "b@example.com", "c@example.com"], listId=1001)
    _import(api, ["outside@example.com"])
    ids = _ids(marketo_simulator)
    a, b, outside = ids["a@example.com"], ids["b@example.com"], ids["outside@example.com"]
    response = api.session.delete(
        api.url(LIST), params=[("id", a), ("id", b), ("id", 999999), ("id", outside)], headers=api.headers()
    )
    body = response.json()
    assert body["success"]
    assert body["result"] == [
        {"id": a, "status": "removed"},
        {"id": b, "status": "removed"},
        {"id": 999999, "status": "skipped", "reasons": [{"code": "1004", "message": "Lead not found"}]},
        {"id": outside, "status": "skipped", "reasons": [{"code": "1015", "message": "Lead not in list"}]},
    ]
    assert marketo_simulator.list_members(1001) == [ids["c@example.com"]]
    assert len(marketo_simulator.leads) == 4  # removing a member never deletes the lead
    too_many = [("id", i) for i in range(1, 302)]
    assert error_code(api.session.delete(api.url(LIST), params=too_many, headers=api.headers())) == "1003"


def test_lead_ids_are_stable_and_failed_rows_do_not_join(
    api: Api, marketo_simulator: MarketoSimulator
) -> None:
    # Bulk Lead Import upserts on the lookup field: a lead keeps its id; only imported rows join listId.
    _import(api, ["a@example.com"])
    before = _ids(marketo_simulator)["a@example.com"]
    body = "email,leadScore\nA@Example.com,5\nbad@example.com,high\n"
    api.wait_lead_job(api.import_leads(body, listId=1001))
    assert _ids(marketo_simulator) == {"a@example.com": before}
    assert marketo_simulator.list_members(1001) == [before]


def test_remove_while_an_import_into_the_list_runs_is_1019(marketo_simulator: MarketoSimulator) -> None:
    api = Api(marketo_simulator)
    marketo_simulator.occupy_queue(2, 60)  # our job stays Queued
    api.import_leads("email\na@example.com\n", listId=1001)
    response = api.session.delete(api.url(LIST), params={"id": 1}, headers=api.headers())
    assert error_code(response) == "1019"


def test_control_api_adds_members_by_hand(api: Api, marketo_simulator: MarketoSimulator) -> None:
    _import(api, ["a@example.com", "b@example.com"])
    ids = _ids(marketo_simulator)
    assert marketo_simulator.add_list_members(1001, emails=["B@example.com"]) == [ids["b@example.com"]]
    assert marketo_simulator.add_list_members(1001, ids=[ids["a@example.com"]]) == [ids["a@example.com"]]
    assert sorted(marketo_simulator.list_members(1001)) == sorted(ids.values())
    base = marketo_simulator.base_url
    refused = requests.post(f"{base}/_sim/lists/1001/members", json={"emails": ["nobody@x.com"]}, timeout=10)
    assert refused.status_code == 400
    assert marketo_simulator.list_members(1002) == []
