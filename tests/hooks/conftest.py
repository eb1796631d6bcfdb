"""Fixtures of the hook tests: the simulator with a connection whose retry waits are short."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest

from airflow_provider_marketo.hooks.marketo import MarketoHook
from airflow_provider_marketo.testing import MarketoSimulator

#: Connection extras that keep retry waits short: backoff starts at window_seconds / 20.
FAST_EXTRAS = {"window_seconds": 1, "max_retry_seconds": 30, "timeout": 10}
#: Simulator overrides with the same 1 s rate window (use in ``@pytest.mark.marketo_simulator``).
SIM_FAST = {"window_seconds": 1.0}


def set_connection(
    monkeypatch: pytest.MonkeyPatch,
    sim: MarketoSimulator,
    conn_id: str = "marketo_default",
    *,
    extra: dict[str, Any] | None = None,
    **fields: Any,
) -> str:
    """Point ``conn_id`` at ``sim`` (through its environment variable); returns the conn id."""
    conn = json.loads(sim.connection_json())
    conn.update(fields)
    conn["extra"] = {**FAST_EXTRAS, **(extra or {})}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return conn_id


def api_calls(sim: MarketoSimulator, key: str) -> int:
    """How many times the simulator served ``key``, e.g. ``POST /bulk/v1/leads.json``."""
    calls: dict[str, int] = sim.counters["calls"]
    return calls.get(key, 0)


def closed_port() -> int:
    """A local port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def sim(marketo_simulator: MarketoSimulator) -> MarketoSimulator:
    """The plugin's simulator; modules mark it with ``SIM_FAST`` so its rate window matches ``FAST_EXTRAS``."""
    return marketo_simulator


@pytest.fixture
def hook(sim: MarketoSimulator, monkeypatch: pytest.MonkeyPatch) -> MarketoHook:
    return MarketoHook(set_connection(monkeypatch, sim))
