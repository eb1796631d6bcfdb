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
    output = xcoms["return_value"]  # one task imports and waits: the sensor's summary is its result
    assert [b["batch_id"] for b in output["batches"]] == batch_ids
    jobs = {job["batch_id"]: job for job in marketo_simulator.jobs}
    assert sorted(jobs) == sorted(batch_ids)  # no part imported twice
    assert [jobs[b["batch_id"]]["rows"] for b in output["batches"]] == [
        b["rows_sent"] for b in output["batches"]
    ]
    summary = output["result"]
    assert [b["batch_id"] for b in summary["batches"]] == batch_ids
    assert summary["rows_sent"] == output["rows_sent"]
    assert summary["rows_processed"] + summary["rows_failed"] == summary["rows_sent"]
    assert len(marketo_simulator.leads) == summary["rows_processed"]
