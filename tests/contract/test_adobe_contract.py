"""Adobe's documented examples against our parsing and against the simulator's answers.

The examples and their pages are in :mod:`tests._support.adobe_examples`. Parsing: every documented
response is accepted by the code that reads it in production (envelope, status, token, describe).
Simulator: the same request (the documented file and parameters) gets a response with the same
fields (``result`` elements exactly; the envelope at least), and the failure and warning files are
byte for byte the documented ones.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from airflow_provider_marketo.exceptions import MarketoTokenError
from airflow_provider_marketo.hooks._errors import error_from_envelope, parse_envelope, parse_token
from airflow_provider_marketo.objects import BulkTarget, ImportStatus, ObjectKind
from airflow_provider_marketo.schema import fetch_schema
from airflow_provider_marketo.testing import MarketoSimulator
from tests._support import adobe_examples as ex
from tests._support.api import Api

KINDS: dict[str, tuple[ObjectKind, str, str]] = {
    # kind, create path, status path template
    ex.BULK_LEAD.url: ("leads", "/bulk/v1/leads.json", "/bulk/v1/leads/batch/{id}.json"),
    ex.BULK_CUSTOM_OBJECT.url: (
        "custom_objects",
        "/bulk/v1/customobjects/car_c/import.json",
        "/bulk/v1/customobjects/car_c/import/{id}/status.json",
    ),
    ex.BULK_PROGRAM_MEMBER.url: (
        "program_members",
        "/bulk/v1/program/1001/members/import.json",
        "/bulk/v1/program/members/import/{id}/status.json",
    ),
}


class FakeResponse:
    def __init__(self, body: Any, status_code: int = 200) -> None:
        self.status_code = status_code
        self.headers = {"Content-Type": "application/json;charset=UTF-8"}
        self.content = json.dumps(body).encode()


def _id(example: ex.Example) -> str:
    return f"{example.page.title}: {example.request}"


# -- our parsing accepts every documented response ----------------------------------------------


@pytest.mark.parametrize("example", ex.CREATE_EXAMPLES, ids=_id)
def test_create_responses_parse(example: ex.Example) -> None:
    result = parse_envelope(200, "application/json", json.dumps(example.response).encode(), conn_id="c")
    assert int(result[0]["batchId"]) == example.response["result"][0]["batchId"]  # what create_import reads


@pytest.mark.parametrize("example", ex.STATUS_EXAMPLES, ids=_id)
def test_status_responses_parse(example: ex.Example) -> None:
    kind = KINDS[example.page.url][0]
    result = parse_envelope(200, "application/json", json.dumps(example.response).encode(), conn_id="c")
    status = ImportStatus.from_result(kind, result[0])
    documented = example.response["result"][0]
    processed = documented.get("numOfLeadsProcessed", documented.get("numOfObjectsProcessed"))
    assert (status.status, status.rows_processed, status.rows_failed, status.rows_with_warning) == (
        documented["status"],
        processed,
        documented["numOfRowsFailed"],
        documented["numOfRowsWithWarning"],
    )
    assert status.message == documented["message"]


def test_token_response_parses() -> None:
    token, expires_in = parse_token(FakeResponse(ex.TOKEN.response), conn_id="c")
    assert (token, expires_in) == (ex.TOKEN.response["access_token"], 3599)


def test_error_envelope_parses_to_its_code() -> None:
    error = error_from_envelope(ex.ERROR_ENVELOPE.response, conn_id="c")
    assert isinstance(error, MarketoTokenError)  # 601: renew the token
    assert (error.code, error.request_id) == ("601", "e42b#14272d07d78")


class DescribingHook:
    """Answers the Describe calls with Adobe's examples (what fetch_schema reads of a hook)."""

    marketo_conn_id = "c"

    def describe_leads(self) -> dict[str, Any]:
        return dict(ex.LEAD_DESCRIBE.response["result"][0])

    def describe_custom_object(self, api_name: str) -> dict[str, Any]:
        return dict(ex.CAR_DESCRIBE.response["result"][0])

    def describe_program_members(self) -> dict[str, Any]:
        return dict(ex.MEMBER_DESCRIBE.response["result"][0])


def test_describe_responses_give_the_schema() -> None:
    hook: Any = DescribingHook()
    car = fetch_schema(hook, BulkTarget("custom_objects", api_name="car_c"))
    assert car.dedupe_fields == ("vin",)
    assert {"color", "make", "model", "vin"} <= set(car.fields)
    leads = fetch_schema(hook, BulkTarget("leads"))
    assert {"email", "id", "cookies", "sfdcLeadId"} == set(leads.lookup_fields)
    members = fetch_schema(hook, BulkTarget("program_members", program_id=1))
    assert "myCustomField" in members.fields  # updateable program member field
    assert "leadId" not in members.fields  # a system field, not importable


# -- the simulator answers with the same fields ----------------------------------------------------


def _keys(body: dict[str, Any]) -> set[str]:
    return set(body["result"][0])


def _run(api: Api, example: ex.Example) -> tuple[dict[str, Any], dict[str, Any]]:
    """Upload the example's file with its parameters; return the create body and the final status body."""
    _, create_path, status_path = KINDS[example.page.url]
    assert example.file is not None
    params = dict(example.params) or {"format": "csv"}
    created = api.upload(create_path, example.file, **params).json()
    assert created["success"], created
    batch_id = created["result"][0]["batchId"]
    for _ in range(5):
        status = api.get(status_path.format(id=batch_id)).json()
        if status["result"][0]["status"] == "Complete":
            return created, status
    raise AssertionError(status)


@pytest.mark.parametrize("example", ex.CREATE_EXAMPLES, ids=_id)
def test_simulator_create_has_the_documented_fields(api: Api, example: ex.Example) -> None:
    created, _ = _run(api, example)
    assert set(example.response) <= set(created)
    assert _keys(created) == _keys(example.response)
    assert created["result"][0]["status"] == "Queued"


@pytest.mark.parametrize("example", [e for e in ex.STATUS_EXAMPLES if e.file], ids=_id)
def test_simulator_status_has_the_documented_fields_and_counts(api: Api, example: ex.Example) -> None:
    _, status = _run(api, example)
    documented = example.response["result"][0]
    result = status["result"][0]
    assert set(example.response) <= set(status)
    assert set(result) == set(documented)
    for key in (
        "status",
        "numOfLeadsProcessed",
        "numOfObjectsProcessed",
        "numOfRowsFailed",
        "numOfRowsWithWarning",
    ):
        assert result.get(key) == documented.get(key), key
    assert result["message"] == documented["message"]


def test_simulator_lead_status_counts_follow_the_seed_example(api: Api) -> None:
    # The seed page's status example (2 imported, 1 failed) is not tied to a file; its fields are.
    _, status = _run(api, ex.LEAD_CREATE)
    assert _keys(status) == _keys(ex.LEAD_STATUS.response)
    assert status["result"][0]["message"] == "Import succeeded, 3 records imported (3 members)"


@pytest.mark.parametrize(
    ("example", "which", "documented"),
    [
        (ex.CAR_STATUS_ALL_FAILED, "failures", ex.CAR_FAILURES_FILE),
        (ex.MEMBER_STATUS_FAILED_ROW, "failures", ex.MEMBER_FAILURES_FILE),
        (ex.MEMBER_STATUS_WARNING, "warnings", ex.MEMBER_WARNINGS_FILE),
    ],
    ids=["custom object ' vin'", "program member bad score", "program member bad email"],
)
def test_simulator_result_files_are_the_documented_ones(
    api: Api, example: ex.Example, which: str, documented: str
) -> None:
    _, status = _run(api, example)
    _, _, status_path = KINDS[example.page.url]
    path = status_path.format(id=status["result"][0]["batchId"]).replace("status.json", f"{which}.json")
    response = api.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.text == documented


@pytest.mark.parametrize("example", ex.DESCRIBE_EXAMPLES, ids=_id)
def test_simulator_describe_has_the_documented_fields(api: Api, example: ex.Example) -> None:
    path = example.request.removeprefix("GET ").replace("{apiName}", "car_c")
    body = api.get(path).json()
    assert body["success"], body
    documented = example.response["result"][0]
    assert set(body["result"][0]) == set(documented)
    documented_field_keys = set().union(*(set(f) for f in documented["fields"]))
    for field in body["result"][0]["fields"]:
        assert set(field) <= documented_field_keys, field
    assert all(isinstance(group, list) for group in body["result"][0]["searchableFields"])


def test_simulator_token_has_the_documented_fields(marketo_simulator: MarketoSimulator) -> None:
    response = requests.post(
        marketo_simulator.base_url + "/identity/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": marketo_simulator.client_id,
            "client_secret": marketo_simulator.client_secret,
        },
        timeout=10,
    )
    assert set(response.json()) == set(ex.TOKEN.response)
    assert response.json()["token_type"] == "bearer"


def test_simulator_error_envelope_has_the_documented_fields(api: Api) -> None:
    body = api.get("/bulk/v1/leads/batch/1.json", token="not-a-token").json()
    assert set(body) == set(ex.ERROR_ENVELOPE.response)
    assert set(body["errors"][0]) == set(ex.ERROR_ENVELOPE.response["errors"][0])
    assert body["errors"][0]["code"] == "601"
