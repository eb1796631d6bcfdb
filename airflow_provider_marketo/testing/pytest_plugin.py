"""pytest plugin (entry point ``pytest11``): the ``marketo_simulator`` and ``marketo_conn_id`` fixtures.

This module is imported by every pytest run, so the server side is imported only inside the fixtures.
Mark a test ``@pytest.mark.marketo_simulator(**config_overrides)`` to change the simulator's config.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from airflow_provider_marketo.testing.server import MarketoSimulator


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "marketo_simulator(**overrides): SimulatorConfig overrides for the marketo_simulator fixture",
    )


@pytest.fixture
def marketo_simulator(request: pytest.FixtureRequest) -> Iterator[MarketoSimulator]:
    """A fresh simulator on 127.0.0.1 (``rows_per_second=0``: jobs finish on the next API call)."""
    from airflow_provider_marketo.testing.server import MarketoSimulator

    overrides: dict[str, Any] = {"rows_per_second": 0.0}
    marker = request.node.get_closest_marker("marketo_simulator")
    if marker is not None:
        overrides.update(marker.kwargs)
    with MarketoSimulator(**overrides) as sim:
        yield sim


@pytest.fixture
def marketo_conn_id(marketo_simulator: MarketoSimulator, monkeypatch: pytest.MonkeyPatch) -> str:
    """``marketo_default``, pointing (through AIRFLOW_CONN_MARKETO_DEFAULT) at the simulator."""
    monkeypatch.setenv("AIRFLOW_CONN_MARKETO_DEFAULT", marketo_simulator.connection_json())
    return "marketo_default"
