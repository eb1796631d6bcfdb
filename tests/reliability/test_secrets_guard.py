"""The secrets guard of this suite finds a secret wherever it leaks (so that its silence means something)."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import pytest

from airflow_provider_marketo.hooks.marketo import MarketoHook
from airflow_provider_marketo.testing import MarketoSimulator
from tests._support.guard import find_leaks
from tests._support.sim import SIM_FAST

pytestmark = pytest.mark.marketo_simulator(**SIM_FAST)


def test_guard_finds_a_leaked_token_or_secret(
    marketo_simulator: MarketoSimulator, conn_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    sim = marketo_simulator
    ok, message = MarketoHook(conn_id).test_connection()
    assert ok, message
    [token] = sim.issued_tokens
    assert find_leaks(sim, caplog, "", []) == []

    assert find_leaks(sim, caplog, f"Bearer {token}", []) == ["stdout/stderr"]
    kwargs = json.dumps({"batch_ids": [1], "secret": sim.client_secret})
    assert find_leaks(sim, caplog, "", [("trigger kwargs", kwargs), ("xcom", "[1]")]) == ["trigger kwargs"]
    logging.getLogger("probe").debug("token=%s", token)
    assert find_leaks(sim, caplog, "", []) == ["log records"]
    caplog.clear()  # the leak above was on purpose


def test_guard_checks_where_secrets_travel_in_urls(
    marketo_simulator: MarketoSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    def leaks(path: str, query: str) -> list[str]:
        fake = SimpleNamespace(
            client_secret=marketo_simulator.client_secret,
            issued_tokens=["tok-1:ab"],
            requests_log=[{"path": path, "query": query}],
        )
        return find_leaks(fake, caplog, "", [])  # type: ignore[arg-type]

    assert leaks("/identity/oauth/token", "grant_type=client_credentials&client_secret=***") == []
    assert leaks("/bulk/v1/leads.json", "format=csv&client_secret=***") == [
        "request URLs (client_secret outside the identity call)"
    ]
    assert leaks("/bulk/v1/leads/batch/1.json", "access_token=***") == [
        "request URLs (access_token parameter)"
    ]
    assert leaks("/bulk/v1/leads/batch/tok-1:ab.json", "") == ["request URLs"]
