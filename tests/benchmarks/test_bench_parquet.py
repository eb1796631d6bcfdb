"""Smoke test of the Parquet staging benchmark at tiny sizes: well-formed rows, every row staged."""

from __future__ import annotations

import pytest

from benchmarks import bench_parquet
from benchmarks.harness import ROW_KEYS

pytestmark = pytest.mark.slow


def test_parquet_benchmark_rows() -> None:
    rows = bench_parquet.run((500, 2_000))
    assert all(tuple(r) == ROW_KEYS for r in rows)
    (check,) = [r for r in rows if r["metric"] == "rows staged = rows in the file"]
    assert check["met"] == "yes"
    assert all(r["ours"] and r["ours"] > 0 for r in rows if r["metric"] == "throughput")
