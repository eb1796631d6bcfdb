"""MarketoHook's list membership calls against the simulator (Adobe, "List Membership (Static Lists)",
help/rest-api/list-membership.md): Get Leads by List ID page by page, Remove from List per id; the same
token, retry and error model as every call."""

from __future__ import annotations

import pytest

from airflow_provider_marketo.exceptions import (
    MarketoConfigError,
    MarketoListBusyError,
    MarketoPagingTokenError,
    MarketoRequestError,
)
from airflow_provider_marketo.hooks.marketo import MarketoHook
from airflow_provider_marketo.objects import ListMemberChange
from airflow_provider_marketo.testing import MarketoSimulator
from tests._support.api import Api
from tests._support.sim import SIM_FAST

pytestmark = pytest.mark.marketo_simulator(**SIM_FAST)
READ = "GET /rest/v1/lists/{listId}/leads.json"
REMOVE = "DELETE /rest/v1/lists/{listId}/leads.json"


def _fill(sim: MarketoSimulator, count: int) -> dict[str, int]:
    api = Api(sim)
    body = "email\n" + "".join(f"m{i}@example.com\n" for i in range(count))
    api.wait_lead_job(api.import_leads(body, listId=1001))
    return {lead["email"]: lead["id"] for lead in sim.leads}


def test_pages_of_members(hook: MarketoHook, sim: MarketoSimulator) -> None:
    # Adobe: batchSize up to 300, nextPageToken while more pages follow, fields as asked.
    ids = _fill(sim, 7)
    pages = list(hook.iter_list_members(1001, ("id", "email"), batch_size=3))
    assert [len(page) for page in pages] == [3, 3, 1]
    assert {m["email"]: m["id"] for page in pages for m in page} == ids
    assert sim.api_calls()[READ] == 3
    queries = [e["query"] for e in sim.requests_log if e["path"].endswith("/lists/1001/leads.json")]
    assert "nextPageToken" not in queries[0] and all("nextPageToken=" in q for q in queries[1:])
    assert all("batchSize=3" in q and "fields=id%2Cemail" in q for q in queries)
    assert not any(e["secret_in_url"] for e in sim.requests_log if "/lists/" in e["path"])
    with pytest.raises(MarketoConfigError, match="batch_size"):
        next(hook.iter_list_members(1001, batch_size=301))


def test_an_expired_paging_token_is_its_own_error(hook: MarketoHook, sim: MarketoSimulator) -> None:
    _fill(sim, 3)
    pages = hook.iter_list_members(1001, batch_size=1)
    next(pages)
    sim.advance_clock(sim.config.paging_token_ttl + 1)
    with pytest.raises(MarketoPagingTokenError, match="paging token of list 1001"):
        next(pages)
    with pytest.raises(MarketoRequestError) as unknown:  # 1013 on the first page is not a token error
        next(hook.iter_list_members(9))
    assert not isinstance(unknown.value, MarketoPagingTokenError)


def test_remove_from_list_per_id(hook: MarketoHook, sim: MarketoSimulator) -> None:
    # Adobe's example: removed, removed, skipped with 1004 Lead not found.
    ids = _fill(sim, 3)
    a, b = ids["m0@example.com"], ids["m1@example.com"]
    assert hook.remove_from_list(1001, [a, b, 999999]) == [
        ListMemberChange(a, "removed"),
        ListMemberChange(b, "removed"),
        ListMemberChange(999999, "skipped", (("1004", "Lead not found"),)),
    ]
    assert sim.list_members(1001) == [ids["m2@example.com"]]
    query = next(e["query"] for e in sim.requests_log if e["method"] == "DELETE")
    assert query == f"id={a}&id={b}&id=999999"  # Adobe's form; the token is in the header only
    with pytest.raises(MarketoConfigError, match="1 to 300"):
        hook.remove_from_list(1001, list(range(301)))


def test_remove_is_retried_like_every_call_and_1019_is_raised(
    hook: MarketoHook, sim: MarketoSimulator
) -> None:
    ids = _fill(sim, 1)
    sim.inject("error_code", code="606", path="/lists/")
    sim.expire_tokens()
    assert hook.remove_from_list(1001, list(ids.values()))[0].status == "removed"
    sim.inject("error_code", code="1019", path="/lists/")
    with pytest.raises(MarketoListBusyError):
        hook.remove_from_list(1001, list(ids.values()))
    assert sim.api_calls()[REMOVE] == 3
