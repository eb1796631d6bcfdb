"""Triggerer scale: 1,000 ``BulkImportTrigger`` instances in one event loop, each waiting for its own job.

    .venv/bin/python -m benchmarks.bench_triggers [--triggers 1000]

The triggers run in a child process (one asyncio loop, like the triggerer) against a simulator in
another process, with the production poll schedule (5 s, x1.5, up to 30 s). Two settings:

* Unthrottled: the client call budget is lifted (connection extras ``calls_per_window=100``,
  ``window_seconds=0.001``) and so are the simulator's limits, jobs take 20 s. This measures what one
  trigger costs: memory, CPU per status call, token calls. Baseline: the same polls made the naive
  way, a new ``httpx.AsyncClient`` and a new token per trigger, same schedule, no shared budget.
* Default budget (:func:`run_budget`): the real limits (ours: 50 calls / 20 s, 5 in flight; the
  simulator: 100 calls / 20 s, 10 in flight, Marketo's values), jobs already complete, so each
  trigger needs one status call. Measures 606 errors and the time until every trigger saw its job
  complete. Baseline: the naive triggers against the same limits, stopped after a short cap.

Both settings raise the simulator's import queue (``max_queue`` and ``max_importing`` = triggers + 10;
Marketo's real queue holds 10 jobs) so that 1,000 jobs can exist at once.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import tempfile
import time
from collections import Counter
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    DEFAULT_BUDGET,
    LIFTED_BUDGET,
    ChildProcess,
    Row,
    SimulatorProcess,
    budget_floor,
    cpu_seconds,
    emit,
    errors,
    prepare_environment,
    row,
    rss_kb,
    status_calls,
)
from benchmarks.table import print_table

BENCH = "triggerer, {n} triggers"
#: How long one job takes in the unthrottled setting (simulated import time).
JOB_SECONDS = 20.0
TARGET_RSS_KB = 20.0
UNTHROTTLED_SIM = {"calls_per_window": 10**9, "max_in_flight": 10**6}
TERMINAL = ("Complete", "Failed")


# -- the child: one event loop full of triggers -----------------------------------------------------


async def _ours(batch_id: int) -> str:
    """Run one production trigger to its event; its status."""
    from airflow_provider_marketo.objects import BulkTarget
    from airflow_provider_marketo.triggers.bulk_import import BulkImportTrigger

    trigger = BulkImportTrigger(
        marketo_conn_id="marketo_default", target=BulkTarget("leads").to_dict(), batch_ids=[batch_id]
    )
    async for event in trigger.run():
        return str(event.payload["status"])
    return "no event"


async def _naive(batch_id: int) -> str:
    """The naive trigger: its own client and token, the same poll schedule, no shared budget."""
    import httpx

    from airflow_provider_marketo.backoff import poll_delays

    conn = json.loads(os.environ["AIRFLOW_CONN_MARKETO_DEFAULT"])
    base_url = conn["host"]
    async with httpx.AsyncClient(timeout=60) as client:
        response = await client.get(
            f"{base_url}/identity/oauth/token",
            params={
                "grant_type": "client_credentials",
                "client_id": conn["login"],
                "client_secret": conn["password"],
            },
        )
        headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
        for delay in poll_delays(5.0, 30.0):
            try:
                reply = await client.get(f"{base_url}/bulk/v1/leads/batch/{batch_id}.json", headers=headers)
                body = reply.json()
            except httpx.TransportError:  # e.g. a keep-alive connection the server just closed
                body = {}
            if body.get("success") and body["result"][0]["status"] in TERMINAL:
                return "success"
            await asyncio.sleep(delay)
    return "no event"


async def _run_loop(mode: str, batch_ids: list[int], cap: float, measure_rss: bool) -> dict[str, Any]:
    import httpx

    import airflow_provider_marketo.hooks.marketo
    import airflow_provider_marketo.triggers.bulk_import  # noqa: F401 - imported before measuring

    base_url = json.loads(os.environ["AIRFLOW_CONN_MARKETO_DEFAULT"])["host"]
    # New connection per request: no keep-alive race with the server closing idle connections.
    no_keep_alive = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=no_keep_alive) as control:

        async def calls() -> int:
            return status_calls((await control.get("/_sim/counters")).json())

        calls_before = await calls()
        gc.collect()
        rss_before, cpu_before, start = rss_kb(), cpu_seconds(), time.perf_counter()
        factory = _ours if mode == "ours" else _naive
        coroutines: list[Coroutine[Any, Any, str]] = [factory(b) for b in batch_ids]
        tasks = [asyncio.create_task(c) for c in coroutines]
        rss_started = None
        if measure_rss:  # once every trigger has made its first status call
            while (
                await calls() - calls_before < len(batch_ids)
                and not all(t.done() for t in tasks)
                and time.perf_counter() - start < cap
            ):
                await asyncio.sleep(0.2)
            rss_started = rss_kb()
        done, pending = await asyncio.wait(tasks, timeout=max(cap - (time.perf_counter() - start), 0.0))
        wall = time.perf_counter() - start
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        cpu = cpu_seconds() - cpu_before
    outcomes: Counter[str] = Counter()
    for task in done:
        error = task.exception()
        outcomes[f"raised {type(error).__name__}" if error else task.result()] += 1
    return {
        "rss_before_kb": rss_before,
        "rss_started_kb": rss_started,
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "outcomes": dict(outcomes),
        "unfinished": len(pending),
    }


def child(mode: str, ids_file: str, cap: str, measure_rss: str) -> dict[str, Any]:
    batch_ids = [int(b) for b in json.loads(Path(ids_file).read_text())]
    return asyncio.run(_run_loop(mode, batch_ids, float(cap), measure_rss == "1"))


# -- the parent ------------------------------------------------------------------------------------


class _Setting:
    """A simulator process holding ``n`` one-row import jobs, and a child running triggers against it."""

    def __init__(self, n: int, sim_config: dict[str, Any], extras: dict[str, Any]) -> None:
        self.n = n
        self.sim = SimulatorProcess(max_queue=n + 10, max_importing=n + 10, **sim_config).__enter__()
        self.extras = extras
        self.tmp = tempfile.TemporaryDirectory(prefix="bench-triggers-")
        self.ids_file = Path(self.tmp.name) / "batch_ids.json"
        self.child: ChildProcess | None = None
        self.counters_before: dict[str, Any] = {}

    def create_jobs(self, calls_per_window: int | None = None) -> None:
        """Create the jobs over plain HTTP; with a rate window, move the clock past it every so often."""
        token = self.sim.access_token()
        body = b"email,firstName\nlead@example.com,Lead\n"
        batch_ids = []
        for i in range(self.n):
            if calls_per_window and i and i % (calls_per_window - 10) == 0:
                self.sim.advance_clock(21)
            batch_ids.append(self.sim.create_lead_job(body, token=token))
        if calls_per_window:
            self.sim.advance_clock(21)  # an empty rate window for the triggers
        self.ids_file.write_text(json.dumps(batch_ids))

    def start(self, mode: str, cap: float, measure_rss: bool) -> None:
        self.counters_before = self.sim.counters()
        self.child = ChildProcess(
            "bench_triggers",
            mode,
            str(self.ids_file),
            str(cap),
            "1" if measure_rss else "0",
            env=self.sim.conn_env(extra=self.extras),
        )

    def finish(self) -> dict[str, Any]:
        """Wait for the child; its result with the simulator's counts of what it did."""
        assert self.child is not None
        try:
            result = self.child.result()
            after = self.sim.counters()
        finally:
            self.sim.__exit__()
            self.tmp.cleanup()
        before = self.counters_before
        result["status_calls"] = status_calls(after) - status_calls(before)
        result["token_calls"] = after["token_calls"] - before["token_calls"]
        result["e606"] = errors(after, "606") - errors(before, "606")
        result["e615"] = errors(after, "615") - errors(before, "615")
        result["completed"] = result["outcomes"].get("success", 0)
        return result


def _measure(
    n: int, mode: str, sim_config: dict[str, Any], extras: dict[str, Any], cap: float
) -> dict[str, Any]:
    setting = _Setting(n, sim_config, extras)
    setting.create_jobs(None if sim_config.get("calls_per_window") else 100)
    setting.start(mode, cap, measure_rss=True)
    return setting.finish()


def _token_row(name: str, ours: dict[str, Any], naive: dict[str, Any]) -> Row:
    return row(
        name,
        "token calls",
        ours["token_calls"],
        naive["token_calls"],
        target="1",
        met=ours["token_calls"] == 1,
    )


def _completion(result: dict[str, Any], n: int) -> str:
    return f"{result['completed']} of {n} saw Complete"


def run(triggers: int = 1000, job_seconds: float = JOB_SECONDS) -> list[Row]:
    """Unthrottled setting: memory, CPU and token calls of ours vs naive triggers.

    ``job_seconds=0``: jobs complete on the first status call.
    """
    n = triggers
    sim = {"rows_per_second": 1 / job_seconds if job_seconds > 0 else 0, **UNTHROTTLED_SIM}
    cap = job_seconds + 120
    ours = _measure(n, "ours", sim, LIFTED_BUDGET, cap)
    naive = _measure(n, "naive", sim, {}, cap)
    name = BENCH.format(n=f"{n:,}") + ", unthrottled"

    def per_trigger(r: dict[str, Any]) -> float:
        return float(r["rss_started_kb"] - r["rss_before_kb"]) / n

    def cpu_ms(r: dict[str, Any]) -> float:
        return float(1000 * r["cpu_seconds"] / max(r["status_calls"], 1))

    rss_ours, rss_naive = per_trigger(ours), per_trigger(naive)
    return [
        row(
            name,
            "RSS per trigger once all are polling",
            rss_ours,
            rss_naive,
            unit="KB",
            target=f"< {TARGET_RSS_KB:g} KB",
            met=rss_ours < TARGET_RSS_KB,
            note="baseline (naive): a new httpx.AsyncClient and a new token per trigger, same schedule. "
            f"The simulator's import queue is raised to {n + 10:,} jobs (max_queue, max_importing; "
            "Marketo: 10 and 2) so that every trigger has its own running job",
        ),
        row(
            name,
            "CPU per status call (client process)",
            cpu_ms(ours),
            cpu_ms(naive),
            unit="ms",
            note=f"process CPU over the whole run / status calls: {ours['status_calls']:,} calls (ours), "
            f"{naive['status_calls']:,} (naive). The naive CPU is mostly creating {n:,} httpx clients "
            "(an SSL context each), which also delays its first polls. The simulator runs in another process",
        ),
        _token_row(name, ours, naive),
        row(
            name,
            f"time until all saw Complete ({job_seconds:g} s jobs)",
            ours["wall_seconds"],
            naive["wall_seconds"],
            unit="s",
            met=ours["completed"] == n,
            target=f"all {n:,}",
            note=f"ours: {_completion(ours, n)}, naive: {_completion(naive, n)}; 606: {ours['e606']}, "
            f"615: {ours['e615']}. bound by the job length and the 5 -> 30 s poll schedule",
        ),
    ]


def _measure_default_budget(n: int, mode: str, cap: float) -> dict[str, Any]:
    setting = _Setting(n, {"rows_per_second": 0}, {})
    setting.create_jobs(calls_per_window=100)
    setting.start(mode, cap, measure_rss=False)
    return setting.finish()


def run_budget(triggers: int = 1000, naive_cap: float | None = None) -> list[Row]:
    """Default-budget setting: 606 errors, token calls and time to complete of ours; naive for 606.

    One status call per trigger: at 50 calls / 20 s, 1,000 triggers take about 380 s.
    """
    n = triggers
    floor = budget_floor(n)
    # The naive child first spends about 25 ms of CPU per trigger creating clients, then polls.
    naive_cap = naive_cap if naive_cap is not None else 10.0 + 0.05 * n
    ours = _measure_default_budget(n, "ours", floor + 300)
    naive = _measure_default_budget(n, "naive", naive_cap)
    name = BENCH.format(n=f"{n:,}") + ", default budget"
    calls, window = DEFAULT_BUDGET
    return [
        row(
            name,
            "606 errors (rate limit)",
            ours["e606"],
            naive["e606"],
            target="0",
            met=ours["e606"] == 0,
            note=f"naive stopped after {naive_cap:g} s: {_completion(naive, n)}, "
            f"{naive['e606']:,} x 606 and {naive['e615']:,} x 615 (10 calls in flight) "
            f"in {naive['status_calls']:,} calls",
        ),
        _token_row(name, ours, naive),
        row(
            name,
            "time until all saw Complete (jobs already done)",
            ours["wall_seconds"],
            floor,
            unit="s",
            target=f"all {n:,}, 0 errors",
            met=ours["completed"] == n and ours["e606"] == 0 and ours["e615"] == 0,
            note=f"{_completion(ours, n)} with {ours['status_calls']:,} status calls; baseline: "
            f"the budget's floor, {calls} calls at once every {window:g} s. The budget "
            f"({calls} calls / {window:g} s = {calls / window:g}/s) is shared by every trigger of "
            f"the process: {n:,} triggers at the 30 s cap want {n / 30:.0f} calls/s, so each "
            f"trigger's real poll interval stretches to about {n / (calls / window):.0f} s",
        ),
    ]


def main() -> None:
    prepare_environment()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--triggers", type=int, default=1000)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        emit(child(*args.child))
        return
    print_table(run(args.triggers) + run_budget(args.triggers))


if __name__ == "__main__":
    main()
