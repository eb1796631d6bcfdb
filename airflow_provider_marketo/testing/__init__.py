"""A Marketo simulator for tests, demos and DAG tests.

:class:`MarketoSimulator` runs a real HTTP server on 127.0.0.1 (FastAPI + uvicorn in a thread) that
behaves like Marketo's Identity service and Bulk Import API: tokens (601/602/603), the HTTP 200 error
envelope, rate window (606), concurrency (615), daily quota (607), 413 over ``max_body_bytes``, the
import queue (2 importing, 10 in all: 1016; one import per list: 1019), lead / custom object /
program member imports with row failures and warnings, delimited failure/warning files (404 when
none), 7-day batch ids, the Describe endpoints (Lead2, Custom Object, Program Member) built from
the config's schemas, and static list membership (Get Leads by List ID with paging tokens that expire
after ``paging_token_ttl``; Remove from List with per-id ``removed`` / ``skipped`` 1004 / 1015, 1019
while an import into the list runs; lead ids stable across imports). Where it can, it follows the request/response examples of Adobe's pages
(``tests/contract``). :class:`SimulatorConfig` sets credentials, limits and schemas::

    with MarketoSimulator(rows_per_second=0) as sim:  # kwargs override SimulatorConfig fields
        sim.base_url, sim.client_id, sim.client_secret, sim.connection_json()
        sim.inject("http_error" | "slow" | "drop" | "error_code", count=1, path=None, code=None,
                   message=None, status=502, delay=0.0)
        sim.fail_next_jobs(count, message); sim.occupy_queue(jobs, seconds)
        sim.expire_tokens(); sim.advance_clock(seconds); sim.reset()
        sim.counters, sim.requests_log, sim.leads, sim.jobs, sim.job_file(batch_id),
        sim.list_members(list_id), sim.add_list_members(list_id, ids=, emails=) (by hand),
        sim.program_members(program_id), sim.custom_objects(api_name)

The same inspection and control is served under ``/_sim/...`` (not rate limited, not logged).
``python -m airflow_provider_marketo.testing serve`` runs one from the command line; the pytest
plugin provides the ``marketo_simulator`` and ``marketo_conn_id`` fixtures. The server side is
imported only when a simulator is created.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_marketo.testing.config import SimulatorConfig

if TYPE_CHECKING:
    from airflow_provider_marketo.testing.server import MarketoSimulator

__all__ = ["MarketoSimulator", "SimulatorConfig"]


def __getattr__(name: str) -> Any:
    if name == "MarketoSimulator":
        from airflow_provider_marketo.testing.server import MarketoSimulator

        return MarketoSimulator
    raise AttributeError(name)
