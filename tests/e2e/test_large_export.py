"""Example DAG ``marketo_large_export`` (25 MB, 3 parts) under ``dag.test()`` with jobs that take
seconds: the import defers while its two jobs fill ``max_active_jobs`` and resumes under Airflow
3.3.2's dag.test(), which replaces the defer kwargs with ``{"event": ...}`` (apache/airflow#69942).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests._support.processes import run_dag

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


# 5000 rows/s: each 10 MB part (~78,000 rows) takes about 15 s, so part 3 waits for room.
@pytest.mark.marketo_simulator(rows_per_second=5000)
def test_large_export_defers_and_resumes_under_dag_test(
    dag_env: dict[str, str], marketo_simulator: Any, tmp_path: Path
) -> None:
    result = run_dag(dag_env, "marketo_large_export", tmp_path, conf={"megabytes": 25})
    log = result["log"]
    assert result["state"] == "success", log[-5000:]
    assert "Deferring part 3 of 3" in log
    assert "Resuming:" in log
    assert "Deferring until batches" in log  # wait_for_completion, in the trigger again
    # Planned once; the resume read part 3 by range instead of reading the file again.
    assert log.count("Reading and validating") == 1
    xcoms = result["xcoms"]["import_leads"]
    batch_ids = xcoms["batch_ids"]
    assert len(batch_ids) == 3
    assert list(xcoms["rows_sent"]) == [str(b) for b in batch_ids]
    jobs = {job["batch_id"]: job for job in marketo_simulator.jobs}
    assert sorted(jobs) == sorted(batch_ids)  # no part imported twice
    assert {str(b): jobs[b]["rows"] for b in batch_ids} == xcoms["rows_sent"]
    summary = xcoms["return_value"]  # the sensor's summary: one task imports and waits
    assert [b["batch_id"] for b in summary["batches"]] == batch_ids
    assert summary["rows_sent"] == sum(xcoms["rows_sent"].values())
    assert summary["rows_processed"] + summary["rows_failed"] == summary["rows_sent"]
    assert len(marketo_simulator.leads) == summary["rows_processed"]
