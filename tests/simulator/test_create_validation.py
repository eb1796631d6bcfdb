"""Errors Marketo answers when an import job is created."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_marketo.testing import MarketoSimulator
from tests._support.api import Api, error_code

LEADS = "/bulk/v1/leads.json"
GOOD = "email,firstName\na@example.com,Ann\n"


@pytest.mark.parametrize(
    ("content", "params", "code", "in_message"),
    [
        (GOOD, {"format": "xlsx"}, "1003", "xlsx"),
        ("", {}, "1003", "Empty"),
        ("\n\n", {}, "1003", "Empty"),
        ("email,shoeSize,hatSize\na@example.com,1,2\n", {}, "1006", "shoeSize, hatSize"),
        (GOOD, {"lookupField": "firstName"}, "1003", "firstName"),
        (GOOD, {"lookupField": "id"}, "1003", "id"),
        ("firstName\nAnn\n", {}, "1003", "email"),
        (GOOD, {"listId": "999"}, "1013", "999"),
        (GOOD, {"partitionName": "APAC"}, "1003", "APAC"),
        ("email,Email\na@example.com,b@example.com\n", {}, "1003", "Duplicate"),
    ],
)
def test_lead_import_create_errors(
    api: Api,
    marketo_simulator: MarketoSimulator,
    content: str,
    params: dict[str, Any],
    code: str,
    in_message: str,
) -> None:
    response = api.upload(LEADS, content, **params)
    assert error_code(response) == code
    assert in_message in response.json()["errors"][0]["message"]
    assert marketo_simulator.jobs == []


def test_format_and_options_accepted_as_form_fields(api: Api, marketo_simulator: MarketoSimulator) -> None:
    response = api.session.post(
        api.url(LEADS),
        data={"format": "ssv", "listId": "1001", "partitionName": "EMEA", "lookupField": "email"},
        files={"file": ("a.csv", b"email;firstName\na@example.com;Ann\n")},
        headers=api.headers(),
        timeout=10,
    )
    assert response.json()["success"] is True, response.text
    job = marketo_simulator.jobs[0]
    assert job["format"] == "ssv"
    assert job["params"]["listId"] == 1001
    assert job["params"]["partitionName"] == "EMEA"


def test_missing_file_part_and_wrong_content_type(api: Api) -> None:
    response = api.session.post(
        api.url(LEADS),
        params={"format": "csv"},
        files={"other": ("a.csv", b"email\n")},
        headers=api.headers(),
    )
    assert error_code(response) == "1003"
    response = api.session.post(api.url(LEADS), params={"format": "csv"}, json={}, headers=api.headers())
    assert error_code(response) == "612"


def test_header_columns_match_case_insensitively(api: Api, marketo_simulator: MarketoSimulator) -> None:
    batch_id = api.import_leads("Email,FirstName\na@example.com,Ann\n")
    assert api.wait_lead_job(batch_id)["numOfLeadsProcessed"] == 1
    assert marketo_simulator.leads[0]["firstName"] == "Ann"


@pytest.mark.marketo_simulator(rows_per_second=1.0)
def test_second_import_into_the_same_list_is_1019(api: Api) -> None:
    api.import_leads(GOOD, listId=1001)
    response = api.upload(LEADS, GOOD, listId=1001)
    assert error_code(response) == "1019"
    api.import_leads(GOOD, listId=1002)  # another list is fine
    api.import_leads(GOOD)  # and so is no list


@pytest.mark.marketo_simulator(rows_per_second=1.0)
def test_full_queue_is_1016_too_many_imports(api: Api, marketo_simulator: MarketoSimulator) -> None:
    for _ in range(10):
        api.import_leads(GOOD)
    response = api.upload(LEADS, GOOD)
    assert error_code(response) == "1016"
    assert response.json()["errors"][0]["message"] == "Too many imports"
    marketo_simulator.advance_clock(2)  # the first two jobs (one row each) finish
    api.import_leads(GOOD)


def test_other_integrations_can_fill_the_queue(api: Api, marketo_simulator: MarketoSimulator) -> None:
    marketo_simulator.occupy_queue(10, seconds=60)
    assert error_code(api.upload(LEADS, GOOD)) == "1016"
    marketo_simulator.advance_clock(61)
    batch_id = api.import_leads(GOOD)
    assert api.wait_lead_job(batch_id)["status"] == "Complete"
