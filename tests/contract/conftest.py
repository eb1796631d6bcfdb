"""The simulator tests' plain-``requests`` Marketo client, for the contract tests."""

from __future__ import annotations

from tests.simulator.conftest import api

__all__ = ["api"]
