"""The simulator in tests: a fast connection to it, lead jobs made over plain HTTP, call counts."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any

import pytest

from airflow_provider_marketo.testing.client import SimulatorClient
from tests._support.files import DELIMITERS

#: Connection extras that keep retry waits short: backoff starts at window_seconds / 20.
FAST_EXTRAS: dict[str, Any] = {"window_seconds": 1, "max_retry_seconds": 30, "timeout": 10}
#: Simulator overrides with the same 1 s rate window (use in ``@pytest.mark.marketo_simulator``).
SIM_FAST: dict[str, Any] = {"window_seconds": 1.0}


def set_connection(
    monkeypatch: pytest.MonkeyPatch,
    sim: SimulatorClient,
    conn_id: str = "marketo_default",
    *,
    extra: Mapping[str, Any] | None = None,
    base: Mapping[str, Any] = FAST_EXTRAS,
    **fields: Any,
) -> str:
    """Point ``conn_id`` at ``sim`` (through its environment variable) with the extras ``base``
    (:data:`FAST_EXTRAS` unless told) updated by ``extra``; ``fields`` override host, login, password,
    ... Returns the conn id."""
    for key, value in sim.conn_env(conn_id, extra={**base, **(extra or {})}, **fields).items():
        monkeypatch.setenv(key, value)
    return conn_id


def closed_port() -> int:
    """A local port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# Calls counted in ``sim.api_calls()`` (a Counter by method and path template).


def create_calls(calls: Mapping[str, int]) -> int:
    return sum(n for key, n in calls.items() if key.startswith("POST /bulk"))


def status_calls(calls: Mapping[str, int]) -> int:
    return sum(n for key, n in calls.items() if key.startswith("GET") and key.endswith("}.json"))


def file_calls(calls: Mapping[str, int], which: str = "failures") -> int:
    return sum(n for key, n in calls.items() if key.endswith(f"/{which}.json"))


def our_jobs(sim: Any) -> list[dict[str, Any]]:
    return [job for job in sim.jobs if not job["foreign"]]


#: The header of :func:`create_lead_job`'s files.
HEADER = "email,firstName,leadScore"


def create_lead_job(
    sim: SimulatorClient, rows: list[str], *, header: str = HEADER, file_format: str = "csv"
) -> int:
    """A lead import of ``header`` + ``rows`` made over plain HTTP (not through the hook); its batch id."""
    delimiter = DELIMITERS[file_format]
    body = "\n".join([header.replace(",", delimiter), *(r.replace(",", delimiter) for r in rows)]) + "\n"
    return sim.create_lead_job(body, file_format=file_format)


def good_rows(count: int, prefix: str = "lead") -> list[str]:
    return [f"{prefix}{i}@example.com,Name{i},{i}" for i in range(count)]


def mixed_rows() -> list[str]:
    """3 good rows, 2 failures (bad lead score, no email) and 2 warnings (invalid email)."""
    return [
        *good_rows(3),
        "bad1@example.com,Bad,abc",
        ",NoEmail,5",
        "not-an-email,Warn,7",
        "also-bad,Warn2,8",
    ]
