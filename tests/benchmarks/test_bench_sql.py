"""Smoke test of the SQL transfer benchmark at a tiny size: well-formed rows, staged text checked."""

from __future__ import annotations

import pytest

from benchmarks import bench_sql
from benchmarks.harness import ROW_KEYS

pytestmark = pytest.mark.slow


def test_sql_benchmark_rows() -> None:
    rows = bench_sql.run((200, 2_000))
    assert all(tuple(r) == ROW_KEYS for r in rows)
    assert {r["metric"] for r in rows} >= {"throughput", "memory growth, largest vs smallest"}
    (check,) = [r for r in rows if r["metric"] == "staged text = csv of the rows"]
    assert check["met"] == "yes"
    assert all(r["ours"] and r["ours"] > 0 for r in rows if r["metric"] == "throughput")
