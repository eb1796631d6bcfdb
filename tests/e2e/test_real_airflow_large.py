"""Example DAG ``marketo_large_export`` (25 MB, 3 parts) through real Airflow processes: the import
task defers while its two jobs fill ``max_active_jobs``, its trigger runs in the triggerer process and
a new task process resumes it from the manifest in the task state store. Skip with ``-m "not e2e"``.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests._support.processes import run_in_cluster

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

DAG_ID = "marketo_large_export"


# 5000 rows/s: each 10 MB part (~78,000 rows) takes about 15 s, so part 3 waits for room, well
# past the first seconds after the deferral (apache/airflow#72716).
@pytest.mark.marketo_simulator(rows_per_second=5000)
def test_large_export_defers_through_the_triggerer(
    airflow_cluster: dict[str, Any], marketo_simulator: Any
) -> None:
    state, task_logs = run_in_cluster(airflow_cluster, DAG_ID, {"megabytes": 25}, timeout=400)
    shown = "\n".join(f"== {p}\n{p.read_text(errors='replace')[-3000:]}" for p in task_logs)
    assert state == "success", shown
    import_logs = [p for p in task_logs if "task_id=import_leads" in str(p)]
    trigger_logs = [p for p in import_logs if ".trigger." in p.name]
    assert trigger_logs, shown  # the import's trigger ran in the triggerer process
    text = "\n".join(p.read_text(errors="replace") for p in import_logs)
    assert "Deferring part 3 of 3" in text, shown
    assert "Resuming:" in text, shown
    assert "Deferring until batches" in text, shown  # wait_for_completion: deferred on its own jobs
    assert "Marketo bulk imports done:" in text, shown  # finished on the worker after the trigger
    assert text.count("Reading and validating") == 1, shown  # planned once, resumed from the manifest
    assert "task state store" in text, shown
    jobs = marketo_simulator.jobs
    assert len(jobs) == 3  # no part imported twice
    assert sum(j["rows_failed"] for j in jobs) > 0  # the export's "n/a" scores
    assert len(marketo_simulator.leads) == sum(j["rows"] - j["rows_failed"] for j in jobs)
