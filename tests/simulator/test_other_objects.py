"""Custom object and program member imports."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from airflow_provider_marketo.testing import MarketoSimulator
from tests._support.api import Api, error_code

CARS = "/bulk/v1/customobjects/car_c/import.json"
MEMBERS = "/bulk/v1/program/1001/members/import.json"


def _status(api: Api, path: str) -> dict[str, Any]:
    for _ in range(10):
        body = api.get(path).json()
        assert body["success"], body
        result: dict[str, Any] = body["result"][0]
        if result["status"] in ("Complete", "Failed"):
            return result
    raise AssertionError(result)


def test_custom_object_import_upserts_by_dedupe_fields(api: Api, marketo_simulator: MarketoSimulator) -> None:
    content = (
        "vin,model,year,ownerEmail\n"
        "V1,Civic,2019,a@example.com\n"
        "V2,Golf,old,b@example.com\n"
        ",Ghost,2020,\n"
        "V1,Civic Type R,2020,nobody\n"
    )
    body = api.upload(CARS, content).json()
    assert body["success"], body
    created = body["result"][0]
    assert created == {"batchId": created["batchId"], "status": "Queued", "objectApiName": "car_c"}
    batch_id = created["batchId"]
    status = _status(api, f"/bulk/v1/customobjects/car_c/import/{batch_id}/status.json")
    assert status["numOfObjectsProcessed"] == 2
    assert status["numOfRowsFailed"] == 2
    assert status["numOfRowsWithWarning"] == 1
    assert "numOfLeadsProcessed" not in status
    assert marketo_simulator.custom_objects("car_c") == [
        {"vin": "V1", "model": "Civic Type R", "year": 2020, "ownerEmail": "nobody"}
    ]
    failures = api.get(f"/bulk/v1/customobjects/car_c/import/{batch_id}/failures.json")
    reasons = sorted(row[-1] for row in list(csv.reader(io.StringIO(failures.text)))[1:])
    assert reasons == ["Invalid data type in field Year", "missing.dedupe.fields"]
    warnings = api.get(f"/bulk/v1/customobjects/car_c/import/{batch_id}/warnings.json")
    assert "Invalid email address" in warnings.text
    # The batch belongs to car_c and to custom objects only.
    assert error_code(api.get(f"/bulk/v1/customobjects/boat_c/import/{batch_id}/status.json")) == "1013"
    assert error_code(api.get(f"/bulk/v1/leads/batch/{batch_id}.json")) == "1013"


@pytest.mark.parametrize(
    ("path", "content", "code"),
    [
        ("/bulk/v1/customobjects/boat_c/import.json", "vin\nV1\n", "1013"),
    ],
)
def test_custom_object_create_errors(api: Api, path: str, content: str, code: str) -> None:
    assert error_code(api.upload(path, content)) == code


def test_program_member_import(api: Api, marketo_simulator: MarketoSimulator) -> None:
    content = "email,firstName\na@example.com,Ann\n,Nobody\nb@example.com,Bob\n"
    body = api.upload(MEMBERS, content, programMemberStatus="Registered").json()
    assert body["success"], body
    batch_id = body["result"][0]["batchId"]
    status = _status(api, f"/bulk/v1/program/members/import/{batch_id}/status.json")
    assert (status["numOfLeadsProcessed"], status["numOfRowsFailed"]) == (2, 1)
    members = marketo_simulator.program_members(1001)
    assert sorted((m["email"], m["status"]) for m in members) == [
        ("a@example.com", "Registered"),
        ("b@example.com", "Registered"),
    ]
    assert sorted(lead["email"] for lead in marketo_simulator.leads) == ["a@example.com", "b@example.com"]
    failures = api.get(f"/bulk/v1/program/members/import/{batch_id}/failures.json").text
    assert "Value for lookup field 'email' not found" in failures
    assert api.get(f"/bulk/v1/program/members/import/{batch_id}/warnings.json").status_code == 404


@pytest.mark.parametrize(
    ("path", "params", "code"),
    [
        (MEMBERS, {}, "1003"),
        (MEMBERS, {"programMemberStatus": "Won"}, "1003"),
        ("/bulk/v1/program/4242/members/import.json", {"programMemberStatus": "Member"}, "1013"),
    ],
)
def test_program_member_create_errors(api: Api, path: str, params: dict[str, str], code: str) -> None:
    assert error_code(api.upload(path, "email\na@example.com\n", **params)) == code
