"""Smoke test of the benchmarks: each runs at a tiny size and returns well-formed result rows.

Speed is never asserted here: timings belong to ``python -m benchmarks.run``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from benchmarks import (
    bench_deferral,
    bench_polling,
    bench_staging,
    bench_sync,
    bench_throughput,
    bench_triggers,
    bench_upload,
    run,
)
from benchmarks.harness import ROW_KEYS, Row, row, skipped
from benchmarks.table import table

pytestmark = pytest.mark.slow


def check_rows(rows: list[Row], benchmark: str) -> None:
    assert rows, f"{benchmark}: no rows"
    for r in rows:
        assert tuple(r) == ROW_KEYS, r
        assert benchmark in r["benchmark"], r
        assert r["met"] in ("yes", "no", "", "skipped"), r
        if r["met"] != "skipped":
            assert r["ours"] is not None or r["target"], r


CASES: dict[str, tuple[str, Callable[[], list[Row]]]] = {
    "split": ("split", lambda: run.split_rows(["1M"])),
    "upload": ("upload", lambda: bench_upload.run(runs=1, part_bytes=100_000)),
    "triggers-budget": ("triggerer", lambda: bench_triggers.run_budget(3, naive_cap=1)),
    "throughput": ("import throughput", lambda: bench_throughput.run(parts=(1, 2), part_size=5_000)),
    "deferral": ("deferral", lambda: bench_deferral.run(megabytes=20, parts=2, job_seconds=1.0)),
    "staging": ("staged export", lambda: bench_staging.run(megabytes=2, repeats=1)),
    "sync": ("change-only sync", lambda: bench_sync.run((2_000, 4_000), e2e_rows=500)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_benchmark_rows(case: str) -> None:
    benchmark, bench = CASES[case]
    check_rows(bench(), benchmark)


def test_polling_counts_match_the_simulator() -> None:
    rows = bench_polling.run(job_seconds=(60,))
    check_rows(rows, "status calls")
    [row] = rows
    assert (row["ours"], row["baseline"]) == (6, 13)
    assert "as predicted" in row["note"]


def test_trigger_counts() -> None:
    rows = bench_triggers.run(triggers=5, job_seconds=0)
    check_rows(rows, "triggerer")
    tokens: dict[str, Any] = {r["metric"]: r for r in rows}["token calls"]
    assert (tokens["ours"], tokens["baseline"]) == (1, 5)


def test_table_has_every_row() -> None:
    rows = [
        row("a", "m1", 2.0, 4.0, unit="s", target="<= 1x", met=True, note="n1"),
        skipped("b", "m2", "no tool"),
    ]
    text = table(rows)
    lines = text.splitlines()
    assert lines[0].split("|")[1].strip() == "benchmark"
    assert "0.50x" in lines[2] and "yes" in lines[2]
    assert "skipped" in lines[3]
    assert "- a, m1: n1" in text
