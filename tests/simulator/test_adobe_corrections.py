"""Simulator behaviours corrected to follow Adobe's pages (issues 12 and 14); each test cites its source.

The documented request/response pairs themselves are checked in ``tests/contract``.
"""

from __future__ import annotations

import csv
import io

import pytest
import requests

from airflow_provider_marketo.testing import MarketoSimulator
from tests._support import adobe_examples as ex
from tests._support.api import Api, error_code

LEADS = "/bulk/v1/leads.json"
CARS = "/bulk/v1/customobjects/car_c/import.json"


def test_header_names_match_in_any_case(api: Api, marketo_simulator: MarketoSimulator) -> None:
    # Bulk Lead Import (ex.BULK_LEAD.url): the page uploads FirstName,LastName,Email,Company.
    batch_id = api.import_leads(ex.LEAD_FILE)
    assert api.wait_lead_job(batch_id)["numOfLeadsProcessed"] == 3
    assert sorted(lead["email"] for lead in marketo_simulator.leads) == [
        "ablebaker@marketo.com",
        "charliedog@marketo.com",
        "easyfox@marketo.com",
    ]
    assert marketo_simulator.leads[0]["firstName"] == "Able"


def test_header_names_are_not_trimmed(api: Api, marketo_simulator: MarketoSimulator) -> None:
    # Bulk Custom Object Import (ex.BULK_CUSTOM_OBJECT.url): a header cell " vin" is not the field vin.
    # The page's example answers Complete, 0 processed, every row failed with missing.dedupe.fields:
    # the failures file it shows (ex.CAR_FAILURES_FILE) keeps the header cell " vin" as sent.
    body = api.upload(CARS, ex.CAR_FILE_SPACED_VIN).json()
    assert body["success"], body
    batch_id = body["result"][0]["batchId"]
    status = api.get(f"/bulk/v1/customobjects/car_c/import/{batch_id}/status.json").json()["result"][0]
    assert (status["status"], status["numOfObjectsProcessed"], status["numOfRowsFailed"]) == (
        "Complete",
        0,
        3,
    )
    failures = api.get(f"/bulk/v1/customobjects/car_c/import/{batch_id}/failures.json").text
    assert failures.replace("\r\n", "\n") == ex.CAR_FAILURES_FILE
    assert marketo_simulator.custom_objects("car_c") == []
    # A lead header " email" names no lead field: 1006 (unknown column), never a trimmed "email".
    response = api.upload(LEADS, " email,firstName\na@example.com,Ann\n")
    assert error_code(response) == "1006"
    assert (
        "' email'" in response.json()["errors"][0]["message"]
        or " email" in response.json()["errors"][0]["message"]
    )


def test_custom_object_file_without_dedupe_fields_completes_with_every_row_failed(
    api: Api, marketo_simulator: MarketoSimulator
) -> None:
    # Bulk Custom Object Import (ex.BULK_CUSTOM_OBJECT.url), "Failures": accepted at create, then
    # Complete with numOfObjectsProcessed 0 and every row failed with missing.dedupe.fields.
    body = api.upload(CARS, "color,make,model\nred,bmw,2002\nblue,bmw,325i\n").json()
    assert body["success"], body
    batch_id = body["result"][0]["batchId"]
    status = api.get(f"/bulk/v1/customobjects/car_c/import/{batch_id}/status.json").json()["result"][0]
    assert (status["status"], status["numOfObjectsProcessed"], status["numOfRowsFailed"]) == (
        "Complete",
        0,
        2,
    )
    failures = api.get(f"/bulk/v1/customobjects/car_c/import/{batch_id}/failures.json").text
    assert [row[-1] for row in csv.reader(io.StringIO(failures))][1:] == ["missing.dedupe.fields"] * 2
    assert marketo_simulator.custom_objects("car_c") == []


@pytest.mark.parametrize("value", ["CSV", "csv", "Csv", None])
def test_format_in_any_case_and_defaulting_to_csv(
    api: Api, marketo_simulator: MarketoSimulator, value: str | None
) -> None:
    # Bulk Program Member Import (ex.BULK_PROGRAM_MEMBER.url): "format ... (CSV, TSV, or SSV)"; Adobe's
    # API reference lists CSV, TSV, SSV and defaults to CSV.
    response = requests.post(
        api.url(LEADS),
        params={} if value is None else {"format": value},
        files={"file": ("leads.csv", b"email,firstName\na@example.com,Ann\n", "text/csv")},
        headers=api.headers(),
        timeout=10,
    )
    assert response.json()["success"], response.text
    assert marketo_simulator.jobs[0]["format"] == "csv"
    assert error_code(api.upload(LEADS, "email\na@example.com\n", format="XLSX")) == "1003"


@pytest.mark.marketo_simulator(
    lead_fields={"id": "integer", "email": "email", "shoeSize": "integer"},
    custom_lead_fields=("shoeSize",),
    custom_objects={
        "boat_c": {"dedupe": ["hullId", "port"], "fields": {"hullId": "string", "port": "string"}}
    },
    program_member_fields={"leadId": "integer", "statusName": "string"},
)
def test_describe_endpoints_follow_the_simulator_config(api: Api) -> None:
    # Describe endpoints named on Adobe's import pages ("REST API names can be retrieved using
    # Describe Lead and/or Describe Program Member", ex.BULK_PROGRAM_MEMBER.url; Describe Custom
    # Object, ex.BULK_CUSTOM_OBJECT.url).
    leads = api.get("/rest/v1/leads/describe2.json").json()["result"][0]
    assert [f["name"] for f in leads["fields"]] == ["id", "email", "shoeSize"]
    assert sorted(group[0] for group in leads["searchableFields"]) == ["email", "id", "shoeSize"]
    boat = api.get("/rest/v1/customobjects/boat_c/describe.json").json()["result"][0]
    assert boat["dedupeFields"] == ["hullId", "port"]
    assert {"hullId", "port"} <= {f["name"] for f in boat["fields"]}
    members = api.get("/rest/v1/programs/members/describe.json").json()["result"][0]
    assert [f["name"] for f in members["fields"]] == ["leadId", "statusName"]
    assert error_code(api.get("/rest/v1/customobjects/car_c/describe.json")) == "1013"


def test_describe_needs_a_token_and_counts_as_a_call(api: Api, marketo_simulator: MarketoSimulator) -> None:
    assert error_code(api.get("/rest/v1/leads/describe2.json", token="nope")) == "601"
    api.get("/rest/v1/leads/describe2.json")
    assert marketo_simulator.counters["calls"]["GET /rest/v1/leads/describe2.json"] == 2


def test_status_messages_mention_warnings(api: Api) -> None:
    # Bulk Program Member Import (ex.BULK_PROGRAM_MEMBER.url), "Warnings":
    # "Import succeeded, 1 records imported (1 members), 1 warning."
    batch_id = api.import_leads("email,firstName\nnot-an-email,Ann\nb@example.com,Bob\n")
    assert (
        api.wait_lead_job(batch_id)["message"]
        == "Import succeeded, 2 records imported (2 members), 1 warning."
    )


def test_identity_accepts_a_post_form_body_and_the_log_flags_secrets_in_urls(
    api: Api, marketo_simulator: MarketoSimulator
) -> None:
    # Authentication (ex.AUTHENTICATION.url): the token call may be a GET or a POST.
    form = {
        "grant_type": "client_credentials",
        "client_id": marketo_simulator.client_id,
        "client_secret": marketo_simulator.client_secret,
    }
    posted = requests.post(api.url("/identity/oauth/token"), data=form, timeout=10).json()
    assert posted["expires_in"] > 3500
    got = api.token_response().json()  # the GET form puts the secret in the URL
    assert got["access_token"] == posted["access_token"]  # same token while it is valid
    api.session.get(api.url(f"/bulk/v1/leads/batch/1.json?access_token={got['access_token']}"), timeout=10)
    flags = [(entry["method"], entry["secret_in_url"]) for entry in marketo_simulator.requests_log]
    assert flags == [("POST", False), ("GET", True), ("GET", True)]
    assert all(
        marketo_simulator.client_secret not in entry["query"] for entry in marketo_simulator.requests_log
    )


def test_failure_file_keeps_rows_with_a_wrong_field_count_as_sent(
    api: Api, marketo_simulator: MarketoSimulator
) -> None:
    # Bulk Lead Import (ex.BULK_LEAD.url), "Failures": the file gives the failed rows, each with one
    # added field describing the failure; nothing is padded or cut (issue 14).
    content = "email,firstName\na@example.com\nb@example.com,Bob,extra\nc@example.com,Cy\n"
    batch_id = api.import_leads(content)
    status = api.wait_lead_job(batch_id)
    assert (status["numOfLeadsProcessed"], status["numOfRowsFailed"]) == (1, 2)
    failures = api.get(f"/bulk/v1/leads/batch/{batch_id}/failures.json").text
    rows = list(csv.reader(io.StringIO(failures)))
    assert rows[0] == ["email", "firstName", "Import Failure Reason"]
    assert [row[:-1] for row in rows[1:]] == [["a@example.com"], ["b@example.com", "Bob", "extra"]]
    assert marketo_simulator.result_rows(batch_id) == [row for row in rows[1:]]
