"""Reads of the hooks' process state that only tests need (no production code calls these)."""

from __future__ import annotations

from airflow_provider_marketo.hooks._ratelimit import CallGate


def waiting(gate: CallGate) -> int:
    """How many callers wait for a slot of ``gate``."""
    return len(gate._waiters)
