"""The schema check before upload: Describe calls, one error listing every problem, the operator wiring."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_provider_marketo.exceptions import MarketoAuthError
from airflow_provider_marketo.hooks.marketo import MarketoHook
from airflow_provider_marketo.objects import BulkTarget
from airflow_provider_marketo.operators.bulk_import import (
    BulkCustomObjectImportOperator,
    BulkLeadImportOperator,
    BulkProgramMemberImportOperator,
)
from airflow_provider_marketo.schema import TargetSchema, check_header, fetch_schema
from airflow_provider_marketo.testing import MarketoSimulator
from airflow_provider_marketo.utils.formats import InputFileError
from tests._support.files import write_rows
from tests._support.tasks import make_context

DESCRIBE_LEADS = "GET /rest/v1/leads/describe2.json"
DESCRIBE_CAR = "GET /rest/v1/customobjects/{apiName}/describe.json"
DESCRIBE_MEMBERS = "GET /rest/v1/programs/members/describe.json"
FAST = {"poll_interval": 0.05}


def calls(sim: MarketoSimulator) -> dict[str, int]:
    counted: dict[str, int] = sim.counters["calls"]
    return counted


def creates(sim: MarketoSimulator) -> int:
    return sum(n for key, n in calls(sim).items() if key.startswith("POST /bulk/"))


# check_header on a given schema.

LEADS = TargetSchema(
    described="the lead database",
    fields=("id", "email", "firstName", "lastName", "company", "leadScore"),
    lookup_fields=("id", "email", "cookies"),
)
CAR = TargetSchema(
    described="custom object 'car_c'", fields=("color", "make", "model", "vin"), dedupe_fields=("vin",)
)


def test_a_matching_header_passes_in_any_case() -> None:
    check_header(LEADS, ["FirstName", "LastName", "Email", "Company"], lookup_field="email", source_name="x")
    check_header(CAR, ["COLOR", "VIN"], lookup_field=None, source_name="x")


def test_every_problem_is_listed_in_one_error_with_close_matches() -> None:
    with pytest.raises(InputFileError) as caught:
        check_header(
            LEADS,
            ["email", "frstName", "leadScor", "shoeSize"],
            lookup_field="firstName",
            source_name="a.csv",
        )
    message = str(caught.value)
    assert message.startswith("The header of a.csv does not match the lead database in Marketo")
    assert "'frstName' (did you mean 'firstName'?)" in message
    assert "'leadScor' (did you mean 'leadScore'?)" in message
    assert "'shoeSize'" in message and "'shoeSize' (did" not in message
    assert "lookup_field='firstName' is not a searchable field" in message
    assert "Marketo allows: cookies, email, id" in message
    assert "check_schema=False" in message


def test_a_custom_object_header_without_its_dedupe_field() -> None:
    with pytest.raises(InputFileError, match=r"lacks the dedupe field\(s\) 'vin' of custom object 'car_c'"):
        check_header(CAR, ["color", "make", "model"], lookup_field=None, source_name="cars.csv")


# fetch_schema against the simulator (its SimulatorConfig schemas drive the Describe endpoints).


def test_fetch_schema_for_each_kind(marketo_simulator: MarketoSimulator, marketo_conn_id: str) -> None:
    hook = MarketoHook(marketo_conn_id)
    leads = fetch_schema(hook, BulkTarget("leads"))
    assert set(marketo_simulator.config.lead_fields) == set(leads.fields)
    assert set(leads.lookup_fields) == marketo_simulator.config.lookup_fields()
    car = fetch_schema(hook, BulkTarget("custom_objects", api_name="car_c"))
    assert car.dedupe_fields == ("vin",)
    assert {"color", "make", "model", "vin", "marketoGUID"} <= set(car.fields)
    members = fetch_schema(hook, BulkTarget("program_members", program_id=1001))
    assert set(members.fields) == set(
        marketo_simulator.config.lead_fields
    )  # member fields are not updateable
    assert calls(marketo_simulator) == {DESCRIBE_LEADS: 2, DESCRIBE_CAR: 1, DESCRIBE_MEMBERS: 1}


@pytest.mark.parametrize(
    ("target", "path", "permission"),
    [
        (BulkTarget("leads"), "describe2.json", "'Read-Only Lead' or 'Read-Write Lead'"),
        (BulkTarget("custom_objects", api_name="car_c"), "car_c/describe.json", "'Read-Only Custom Object'"),
    ],
)
def test_describe_denied_names_the_permission_and_how_to_skip(
    marketo_simulator: MarketoSimulator, marketo_conn_id: str, target: BulkTarget, path: str, permission: str
) -> None:
    marketo_simulator.inject("error_code", code="603", message="Access denied", path=path)
    with pytest.raises(MarketoAuthError) as caught:
        fetch_schema(MarketoHook(marketo_conn_id), target)
    message = str(caught.value)
    assert permission in message
    assert "check_schema=False" in message
    assert caught.value.code == "603"


@pytest.mark.marketo_simulator(window_seconds=1.0)
def test_describe_is_retried_like_any_call(marketo_simulator: MarketoSimulator, marketo_conn_id: str) -> None:
    marketo_simulator.inject("error_code", code="611", count=1, path="describe2.json")
    fetch_schema(MarketoHook(marketo_conn_id), BulkTarget("leads"))
    assert calls(marketo_simulator)[DESCRIBE_LEADS] == 2  # one failed, one retried: both in the budget


# The operators: the check runs before any upload.


def run(op: Any) -> list[int]:
    from airflow_provider_marketo.operators.output import batch_ids_of

    return batch_ids_of(op.execute(make_context()))


def test_unknown_column_fails_before_any_upload_with_the_closest_name(
    tmp_path: Path, marketo_simulator: MarketoSimulator, marketo_conn_id: str
) -> None:
    source = write_rows(tmp_path / "a.csv", [["Email", "frstName"], ["a@example.com", "Ann"]])
    op = BulkLeadImportOperator(task_id="import", source=str(source), marketo_conn_id=marketo_conn_id, **FAST)
    with pytest.raises(InputFileError, match=r"'frstName' \(did you mean 'firstName'\?\)"):
        run(op)
    assert creates(marketo_simulator) == 0
    assert calls(marketo_simulator) == {DESCRIBE_LEADS: 1}


def test_custom_object_file_without_its_dedupe_field_fails_before_any_upload(
    tmp_path: Path, marketo_simulator: MarketoSimulator, marketo_conn_id: str
) -> None:
    source = write_rows(tmp_path / "cars.csv", [["color", "make", "model"], ["red", "bmw", "2002"]])
    op = BulkCustomObjectImportOperator(
        task_id="import", source=str(source), api_name="car_c", marketo_conn_id=marketo_conn_id, **FAST
    )
    with pytest.raises(InputFileError, match=r"lacks the dedupe field\(s\) 'vin'"):
        run(op)
    assert creates(marketo_simulator) == 0


def test_program_member_header_is_checked_against_lead_fields(
    tmp_path: Path, marketo_simulator: MarketoSimulator, marketo_conn_id: str
) -> None:
    source = write_rows(tmp_path / "m.csv", [["email", "statusName"], ["a@example.com", "x"]])
    op = BulkProgramMemberImportOperator(
        task_id="import",
        source=str(source),
        program_id=1001,
        program_member_status="On List",
        marketo_conn_id=marketo_conn_id,
        **FAST,
    )
    with pytest.raises(
        InputFileError, match=r"unknown column\(s\), not fields of the lead and program member"
    ):
        run(op)
    assert calls(marketo_simulator) == {DESCRIBE_LEADS: 1, DESCRIBE_MEMBERS: 1}


def test_check_schema_false_skips_the_describe_calls(
    tmp_path: Path, marketo_simulator: MarketoSimulator, marketo_conn_id: str
) -> None:
    source = write_rows(tmp_path / "a.csv", [["email"], ["a@example.com"]])
    marketo_simulator.inject("error_code", code="603", message="Access denied", path="describe2.json")
    op = BulkLeadImportOperator(
        task_id="import", source=str(source), marketo_conn_id=marketo_conn_id, check_schema=False, **FAST
    )
    assert len(run(op)) == 1
    assert DESCRIBE_LEADS not in calls(marketo_simulator)


def test_a_denied_describe_fails_the_operator_before_any_upload(
    tmp_path: Path, marketo_simulator: MarketoSimulator, marketo_conn_id: str
) -> None:
    source = write_rows(tmp_path / "a.csv", [["email"], ["a@example.com"]])
    marketo_simulator.inject("error_code", code="603", message="Access denied", path="describe2.json")
    op = BulkLeadImportOperator(task_id="import", source=str(source), marketo_conn_id=marketo_conn_id, **FAST)
    with pytest.raises(MarketoAuthError, match="check_schema=False"):
        run(op)
    assert creates(marketo_simulator) == 0
