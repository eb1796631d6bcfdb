"""Example DAG ``marketo_snowflake_export`` under ``dag.test()``: a folder, and a glob, of 12 gzip CSV
shards (a header in each, one header-only, about 22 MB uncompressed, hostile values) imported through
the operator and the sensor, every row exactly once, in packed parts (3 jobs, not 12)."""

from __future__ import annotations

import csv
import gzip
import io
import re
from pathlib import Path
from typing import Any

import pytest

from tests._support.processes import run_dag

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


@pytest.mark.marketo_simulator(rows_per_second=200_000)
@pytest.mark.parametrize("source_kind", ["folder", "glob"])
def test_export_folder_or_glob_of_gzip_shards_imports_every_row_once(
    source_kind: str, dag_env: dict[str, str], marketo_simulator: Any, tmp_path: Path
) -> None:
    conf = {"megabytes": 22, "shards": 12, "source_kind": source_kind}
    result = run_dag(dag_env, "marketo_snowflake_export", tmp_path, conf=conf)
    log = result["log"]
    assert result["state"] == "success", log[-5000:]
    exported = [p for p in (tmp_path / "storage").rglob("data_0_*_0.csv.gz")]
    assert len(exported) == 12
    assert "Importing 12 file(s) of" in log
    # Lexical order: data_0_10_0 and data_0_11_0 (the header-only one) come before data_0_1_0.
    assert re.search(
        r"Skipping shard 3 of 12, \S+/data_0_11_0\.csv\.gz: it has a header but no data rows", log
    )
    assert "_SUCCESS" in log or source_kind == "glob"  # left out of a folder as not data

    xcoms = result["xcoms"]["import_leads"]
    batch_ids = xcoms["batch_ids"]
    assert len(batch_ids) == 3  # 22 MB packed into parts under 10 MB, not one job per shard
    # Planned once, while staging (the staged copy is not read back to plan); parts then read by range.
    assert log.count("while staging it") == 1 and "Reading and validating" not in log
    jobs = {job["batch_id"]: job for job in marketo_simulator.jobs}
    assert sorted(jobs) == sorted(batch_ids)
    assert all(job["received_bytes"] < 10 * 1024 * 1024 for job in jobs.values())
    shard_rows = [
        list(csv.reader(io.StringIO(gzip.decompress(p.read_bytes()).decode("utf-8"), newline="")))[1:]
        for p in sorted(exported)
    ]
    unloaded = sum(map(len, shard_rows))
    assert sorted(map(len, shard_rows))[0] == 0  # one shard is header-only
    assert xcoms["return_value"]["rows_sent"] == unloaded
    summary = result["xcoms"]["wait_for_import"]["return_value"]
    assert summary["rows_processed"] == summary["rows_sent"] == unloaded
    assert summary["rows_failed"] == 0
    leads = {lead["email"]: lead for lead in marketo_simulator.leads}
    assert len(leads) == unloaded  # every row exactly once, none lost, none doubled
    assert leads["snow1@example.com"]["title"] == "Head of\nSales"
    assert leads["snow3@example.com"]["title"] == "CFO; acting"
    assert leads["snow4@example.com"]["title"] == "Zoë's 🚀 team"
    assert leads[f"snow{unloaded}@example.com"]["firstName"] == f"Zoë {unloaded}"
