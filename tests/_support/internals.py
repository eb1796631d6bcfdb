"""Reads of the hooks' process state that only tests need (no production code calls these)."""

from __future__ import annotations

import asyncio
from typing import Any

from airflow_provider_marketo.hooks import _loops
from airflow_provider_marketo.hooks._ratelimit import CallGate


def loop_objects() -> list[Any]:
    """Everything registered for the running event loop (its httpx clients, asyncio locks)."""
    with _loops._lock:
        return list(_loops._per_loop.get(asyncio.get_running_loop(), {}).values())


def waiting(gate: CallGate) -> int:
    """How many callers wait for a slot of ``gate``."""
    return len(gate._waiters)
