"""Neither the client secret nor an access token may appear in logs, exception texts or URLs."""

from __future__ import annotations

import asyncio
import io
import logging

import pytest

from airflow_provider_marketo.exceptions import MarketoError
from airflow_provider_marketo.hooks.marketo import AsyncMarketoHook, MarketoHook
from airflow_provider_marketo.objects import BulkTarget
from airflow_provider_marketo.testing import MarketoSimulator
from tests._support.sim import SIM_FAST, closed_port, set_connection

LEADS = BulkTarget("leads")

pytestmark = pytest.mark.marketo_simulator(**SIM_FAST)


def test_no_secret_or_token_leaks(
    sim: MarketoSimulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)  # includes urllib3's and httpx's request lines
    hook = MarketoHook(set_connection(monkeypatch, sim))
    errors: list[MarketoError] = []

    ok, message = hook.test_connection()
    assert ok, message
    sim.inject("http_error", status=502, path="leads.json")
    batch_id = hook.create_import(
        LEADS,
        io.BytesIO(b"email,leadScore\nann@example.com,1\nbob@example.com,x\n"),
        file_format="csv",
        filename="leads.csv",
        params={"lookupField": "email"},
    )
    sim.expire_tokens()
    assert hook.get_import_status(LEADS, batch_id).is_terminal
    assert hook.download_import_file(LEADS, batch_id, "failures", io.BytesIO())
    assert asyncio.run(AsyncMarketoHook(hook.marketo_conn_id).get_import_status(LEADS, batch_id)).is_terminal
    for code in ("603", "607", "1003"):
        sim.inject("error_code", code=code, path="/batch/")
        with pytest.raises(MarketoError) as info:
            hook.get_import_status(LEADS, batch_id)
        errors.append(info.value)
    with pytest.raises(MarketoError) as info:
        MarketoHook(
            set_connection(monkeypatch, sim, "wrong", password="wrong-" + sim.client_secret)
        ).get_import_status(LEADS, batch_id)
    errors.append(info.value)
    closed = MarketoHook(set_connection(monkeypatch, sim, "closed", host=f"http://127.0.0.1:{closed_port()}"))
    with pytest.raises(MarketoError) as info:
        closed.get_import_status(LEADS, batch_id)
    errors.append(info.value)
    assert "Could not reach Marketo" in str(info.value)

    tokens = sim.issued_tokens
    assert len(tokens) == 2  # the one expired mid-run and its successor
    out, err = capsys.readouterr()
    texts = {
        "log records": caplog.text,
        "stdout/stderr": out + err,
        "exceptions": "\n".join(f"{e!s} {e!r} {e.__cause__!r}" for e in errors),
        "request URLs": "\n".join(f"{r['path']}?{r['query']}" for r in sim.requests_log),
    }
    assert "GET /bulk/v1/leads/batch" in caplog.text  # the logs were captured at all
    assert "oauth/token" in caplog.text  # ... including the identity request lines
    for where, text in texts.items():
        for secret in [sim.client_secret, *tokens]:
            assert secret not in text, f"a secret leaked into {where}"
    assert all("access_token" not in r["query"] for r in sim.requests_log)
