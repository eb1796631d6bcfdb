"""Fixtures of the hook tests: the simulator with a connection whose retry waits are short."""

from __future__ import annotations

import pytest

from airflow_provider_marketo.hooks.marketo import MarketoHook
from airflow_provider_marketo.testing import MarketoSimulator
from tests._support.sim import set_connection


@pytest.fixture
def sim(marketo_simulator: MarketoSimulator) -> MarketoSimulator:
    """The plugin's simulator; modules mark it with ``SIM_FAST`` so its rate window matches ``FAST_EXTRAS``."""
    return marketo_simulator


@pytest.fixture
def hook(sim: MarketoSimulator, monkeypatch: pytest.MonkeyPatch) -> MarketoHook:
    return MarketoHook(set_connection(monkeypatch, sim))
