"""AsyncMarketoHook against the simulator over real HTTP."""

from __future__ import annotations

import asyncio
import io

import pytest

from airflow_provider_marketo.exceptions import MarketoAuthError, MarketoBatchNotFoundError
from airflow_provider_marketo.hooks._loops import loop_objects
from airflow_provider_marketo.hooks.marketo import AsyncMarketoHook, MarketoHook
from airflow_provider_marketo.objects import BulkTarget
from airflow_provider_marketo.testing import MarketoSimulator
from tests._support.sim import SIM_FAST, set_connection

LEADS = BulkTarget("leads")
STATUS = "GET /bulk/v1/leads/batch/{batchId}.json"
TARGETS = {
    "leads": (LEADS, b"email\nann@example.com\n", {}),
    "custom_objects": (BulkTarget("custom_objects", api_name="car_c"), b"vin,model\nV1,S\n", {}),
    "program_members": (
        BulkTarget("program_members", program_id=1001),
        b"email\nann@example.com\n",
        {"programMemberStatus": "Member"},
    ),
}

pytestmark = pytest.mark.marketo_simulator(**SIM_FAST)


def create(hook: MarketoHook, target: BulkTarget, data: bytes, params: dict[str, str]) -> int:
    return hook.create_import(target, io.BytesIO(data), file_format="csv", filename="x.csv", params=params)


@pytest.mark.parametrize("kind", list(TARGETS))
async def test_status_of_each_kind(kind: str, hook: MarketoHook) -> None:
    target, data, params = TARGETS[kind]
    batch_id = create(hook, target, data, params)
    status = await AsyncMarketoHook(hook.marketo_conn_id).get_import_status(target, batch_id)
    assert (status.batch_id, status.kind, status.status, status.rows_processed) == (
        batch_id,
        kind,
        "Complete",
        1,
    )


async def test_many_coroutines_share_one_token_and_one_client(
    hook: MarketoHook, sim: MarketoSimulator
) -> None:
    batch_id = create(hook, *TARGETS["leads"])
    hooks = [AsyncMarketoHook(hook.marketo_conn_id) for _ in range(40)]
    sim.expire_tokens()  # the sync hook's token is dead: the coroutines must renew it, once
    statuses = await asyncio.gather(*(h.get_import_status(LEADS, batch_id) for h in hooks))
    assert {s.batch_id for s in statuses} == {batch_id}
    assert sim.counters["token_calls"] == 2  # one by the sync hook, one for all 40 coroutines
    errors = sim.counters["errors"]
    assert errors.get("602", 0) + errors.get("601", 0) == 40  # each used the dead token once, then renewed
    assert sim.api_calls()[STATUS] == 80
    clients = [obj for obj in loop_objects() if type(obj).__name__ == "AsyncClient"]
    assert len(clients) == 1


async def test_token_shared_between_sync_and_async(hook: MarketoHook, sim: MarketoSimulator) -> None:
    batch_id = create(hook, *TARGETS["leads"])
    await AsyncMarketoHook(hook.marketo_conn_id).get_import_status(LEADS, batch_id)
    assert sim.counters["token_calls"] == 1


async def test_async_retries(hook: MarketoHook, sim: MarketoSimulator) -> None:
    batch_id = create(hook, *TARGETS["leads"])
    async_hook = AsyncMarketoHook(hook.marketo_conn_id)
    sim.inject("http_error", status=502, path="/batch/")
    sim.inject("error_code", code="615", path="/batch/")
    sim.inject("error_code", code="606", path="/batch/")
    assert (await async_hook.get_import_status(LEADS, batch_id)).batch_id == batch_id
    assert sim.api_calls()[STATUS] == 4
    sim.expire_tokens()
    assert (await async_hook.get_import_status(LEADS, batch_id)).batch_id == batch_id
    assert sim.counters["errors"]["602"] == 1
    assert sim.counters["token_calls"] == 2


async def test_async_errors(sim: MarketoSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    good = AsyncMarketoHook(set_connection(monkeypatch, sim))
    with pytest.raises(MarketoBatchNotFoundError):
        await good.get_import_status(LEADS, 424242)
    bad = AsyncMarketoHook(set_connection(monkeypatch, sim, "bad", password="nope-nope"))
    with pytest.raises(MarketoAuthError, match="'bad'"):
        await bad.get_import_status(LEADS, 1)
    assert sim.counters["token_calls"] == 2


@pytest.mark.marketo_simulator(**SIM_FAST, max_in_flight=2)
async def test_concurrency_is_bounded_by_the_connection(
    sim: MarketoSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn_id = set_connection(monkeypatch, sim, extra={"max_concurrent_calls": 2})
    sim.inject("slow", count=10, delay=0.2, path="/batch/")
    results = await asyncio.gather(
        *(AsyncMarketoHook(conn_id).get_import_status(LEADS, 1) for _ in range(10)), return_exceptions=True
    )
    assert all(isinstance(r, MarketoBatchNotFoundError) for r in results)
    assert sim.counters["errors"].get("615", 0) == 0
    assert sim.counters["errors"]["1013"] == 10
