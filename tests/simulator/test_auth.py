"""Identity service and token checks on API calls."""

from __future__ import annotations

import pytest

from airflow_provider_marketo.testing import MarketoSimulator
from tests._support.api import Api, error_code

STATUS_PATH = "/bulk/v1/leads/batch/1.json"


def test_bad_credentials_get_401_invalid_client(api: Api) -> None:
    response = api.token_response(client_secret="wrong")
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_client", "error_description": "Bad client credentials"}
    assert api.token_response(client_id="nobody").status_code == 401


def test_same_token_is_returned_with_its_remaining_lifetime(
    api: Api, marketo_simulator: MarketoSimulator
) -> None:
    first = api.token_response().json()
    assert first["token_type"] == "bearer"
    assert first["access_token"].endswith(":ab")
    assert 3590 <= first["expires_in"] <= 3600
    marketo_simulator.advance_clock(600)
    second = api.token_response().json()
    assert second["access_token"] == first["access_token"]
    assert first["expires_in"] - 601 <= second["expires_in"] <= first["expires_in"] - 599
    assert marketo_simulator.counters["tokens_issued"] == 1
    assert marketo_simulator.counters["token_calls"] == 2


@pytest.mark.marketo_simulator(token_ttl=100)
def test_token_ttl_then_a_new_token(api: Api, marketo_simulator: MarketoSimulator) -> None:
    first = api.token_response().json()
    assert first["expires_in"] <= 100
    marketo_simulator.advance_clock(101)
    second = api.token_response().json()
    assert second["access_token"] != first["access_token"]
    assert marketo_simulator.counters["tokens_issued"] == 2


def test_identity_calls_are_not_api_calls(api: Api, marketo_simulator: MarketoSimulator) -> None:
    for _ in range(3):
        api.token()
    counters = marketo_simulator.counters
    assert counters["calls"] == {}
    assert counters["quota_used"] == 0


def test_missing_authorization_header_is_603(api: Api) -> None:
    response = api.session.get(api.url(STATUS_PATH), timeout=10)
    assert error_code(response) == "603"


def test_access_token_query_parameter_is_rejected(api: Api) -> None:
    response = api.session.get(api.url(STATUS_PATH), params={"access_token": api.token()}, timeout=10)
    assert error_code(response) == "603"
    assert "no longer supported" in response.json()["errors"][0]["message"]


def test_access_token_form_field_is_rejected(api: Api) -> None:
    response = api.session.post(
        api.url("/bulk/v1/leads.json"),
        data={"format": "csv", "access_token": api.token()},
        files={"file": ("a.csv", b"email\na@example.com\n")},
        timeout=10,
    )
    assert error_code(response) == "603"
    assert "no longer supported" in response.json()["errors"][0]["message"]


def test_token_in_query_is_masked_in_the_request_log(api: Api, marketo_simulator: MarketoSimulator) -> None:
    token = api.token()
    api.session.get(api.url(STATUS_PATH), params={"access_token": token}, timeout=10)
    logged = " ".join(entry["query"] for entry in marketo_simulator.requests_log)
    assert token not in logged
    assert marketo_simulator.client_secret not in logged


def test_unknown_token_is_601(api: Api) -> None:
    assert error_code(api.get(STATUS_PATH, token="not-a-token:ab")) == "601"


def test_expire_tokens_gives_602_then_601(api: Api, marketo_simulator: MarketoSimulator) -> None:
    token = api.token()
    assert error_code(api.get(STATUS_PATH, token=token)) == "1013"  # the token works
    marketo_simulator.expire_tokens()
    assert error_code(api.get(STATUS_PATH, token=token)) == "602"
    assert error_code(api.get(STATUS_PATH, token=token)) == "601"
    fresh = api.token()
    assert fresh != token
    assert error_code(api.get(STATUS_PATH, token=fresh)) == "1013"


def test_clock_past_ttl_gives_602_then_601(api: Api, marketo_simulator: MarketoSimulator) -> None:
    token = api.token()
    marketo_simulator.advance_clock(3601)
    assert error_code(api.get(STATUS_PATH, token=token)) == "602"
    assert error_code(api.get(STATUS_PATH, token=token)) == "601"
