"""The access token: POST with a form body, tokens about to expire, renewal, and forked processes.

Adobe's "Authentication" page (https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/authentication)
documents the Identity call with GET or POST and ``expires_in`` as the remaining lifetime.
"""

from __future__ import annotations

import asyncio
import os
import time

import pytest
import requests

from airflow_provider_marketo.hooks import _loops, _ratelimit
from airflow_provider_marketo.hooks._token import MIN_TOKEN_SECONDS, TOKENS
from airflow_provider_marketo.hooks.marketo import AsyncMarketoHook, MarketoHook
from airflow_provider_marketo.objects import BulkTarget
from airflow_provider_marketo.testing import MarketoSimulator
from tests._support.sim import SIM_FAST, set_connection

pytestmark = pytest.mark.marketo_simulator(**SIM_FAST)
TOKEN_PATH = "/identity/oauth/token"


@pytest.fixture(autouse=True)
def _no_cached_token() -> None:
    TOKENS.reset()


def _token_requests(sim: MarketoSimulator) -> list[dict[str, object]]:
    return [entry for entry in sim.requests_log if entry["path"] == TOKEN_PATH]


def test_token_is_requested_with_post_and_no_secret_in_the_url(
    hook: MarketoHook, sim: MarketoSimulator
) -> None:
    hook.test_connection()
    asyncio.run(AsyncMarketoHook(hook.marketo_conn_id).get_settings())
    requests_ = _token_requests(sim)
    assert [entry["method"] for entry in requests_] == ["POST"]
    assert all(entry["query"] == "" for entry in requests_)
    assert not any(entry["secret_in_url"] for entry in sim.requests_log)


def test_async_token_is_requested_with_post(sim: MarketoSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    conn_id = set_connection(monkeypatch, sim)

    async def status() -> None:
        from airflow_provider_marketo.exceptions import MarketoBatchNotFoundError

        with pytest.raises(MarketoBatchNotFoundError):
            await AsyncMarketoHook(conn_id).get_import_status(BulkTarget("leads"), 1)

    asyncio.run(status())
    assert [entry["method"] for entry in _token_requests(sim)] == ["POST"]
    assert not any(entry["secret_in_url"] for entry in sim.requests_log)


def test_a_token_about_to_expire_is_not_used(hook: MarketoHook, sim: MarketoSimulator) -> None:
    hook.test_connection()
    first = sim.issued_tokens[0]
    TOKENS.reset()
    sim.advance_clock(sim.config.token_ttl - 1)  # Identity now answers the same token, 1 s left
    started = time.monotonic()
    ok, message = hook.test_connection()
    assert ok, message
    assert time.monotonic() - started >= 0.9  # waited for it to run out, then asked again
    assert len(_token_requests(sim)) >= 3  # Identity answers expires_in 0 while < 1 s is left
    second = sim.issued_tokens[-1]
    assert second != first
    assert sim.counters["errors"] == {"1013": 2}  # no call was made with the dying token (no 601/602)


def test_a_cached_token_with_seconds_left_is_renewed_before_use(
    hook: MarketoHook, sim: MarketoSimulator
) -> None:
    hook.test_connection()
    TOKENS.put(hook.settings.token_key, sim.issued_tokens[0], MIN_TOKEN_SECONDS / 2)
    sim.expire_tokens()
    hook.test_connection()
    assert len(_token_requests(sim)) == 2
    assert "602" not in sim.counters["errors"]


@pytest.mark.marketo_simulator(token_ttl=1, **SIM_FAST)  # every token expires within a second
def test_identity_that_keeps_answering_dying_tokens_is_an_error(
    sim: MarketoSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = MarketoHook(set_connection(monkeypatch, sim, extra={"max_attempts": 1}))
    ok, message = hook.test_connection()
    assert not ok
    assert "a token that expires in" in message
    assert sim.client_secret not in message


def test_forked_child_renews_an_early_expired_token(hook: MarketoHook, sim: MarketoSimulator) -> None:
    """Issue 13: after fork, ``discard`` must hit the cache that ``get_token`` reads."""
    hook.test_connection()  # the parent caches the token
    _ratelimit.limiter_for(sim.base_url, 50, 20.0, 5)
    pid = os.fork()
    if pid == 0:  # the child: report through the exit code, never return into pytest
        code = 1
        try:
            assert TOKENS.get(hook.settings.token_key) is None  # the parent's token is not inherited
            assert not _ratelimit._limiters
            assert not _loops._per_loop
            child = MarketoHook(hook.marketo_conn_id)
            assert child.test_connection()[0]
            requests.post(sim.base_url + "/_sim/expire-tokens", timeout=10).raise_for_status()
            ok, _ = child.test_connection()  # 602 on the cached token: renew and retry
            code = 0 if ok else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert sim.counters["errors"].get("602") == 1
    assert "601" not in sim.counters["errors"]  # the child never resent the dead token
