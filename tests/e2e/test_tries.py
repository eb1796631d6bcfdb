"""Tries under ``dag.test()`` (issue 22): with ``retries=3``, an error no retry can change (input,
schema, configuration, the daily quota) fails after one try; a transient error keeps its retries.

One DAG run (``tries_dags/marketo_tries.py``) holds one task per class; Airflow's own retry loop
decides, so the count is what a scheduler would do. Not marked e2e: one ``dag.test()`` of a few seconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests._support.files import write_rows
from tests._support.processes import ROOT, run_dag

pytestmark = pytest.mark.timeout(300)


def _files(folder: Path) -> None:
    leads = [["email", "firstName"]] + [[f"t{i}@example.com", f"T {i}"] for i in range(5)]
    write_rows(folder / "bad_header.csv", [["email", "", "leadScore"], ["a@example.com", "A", "1"]])
    write_rows(folder / "unknown_field.csv", [["email", "favouriteColour"], ["a@example.com", "blue"]])
    write_rows(folder / "leads.csv", leads)
    write_rows(folder / "members.csv", leads)
    write_rows(
        folder / "cars.csv", [["vin", "make", "model"], ["VIN1", "Ford", "T"], ["VIN2", "Fiat", "500"]]
    )


def test_errors_no_retry_can_change_fail_after_one_try(
    dag_env: dict[str, str], marketo_simulator: Any, tmp_path: Path
) -> None:
    files = tmp_path / "files"
    files.mkdir()
    _files(files)
    dag_env["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "tests" / "e2e" / "tries_dags")
    dag_env["MARKETO_TRIES_DIR"] = str(files)
    # Two attempts per call: the two 503s below fail the transient task's first try, not its second.
    dag_env["AIRFLOW_CONN_MARKETO_DEFAULT"] = marketo_simulator.connection_json(extra={"max_attempts": 2})
    marketo_simulator.inject("error_code", code="607", path="customobjects/car_c/import")
    marketo_simulator.inject("http_error", status=503, count=2, path="program/1001/members/import")

    result = run_dag(dag_env, "marketo_tries", tmp_path)

    assert result["tasks"] == {
        "bad_header": "failed",
        "schema_mismatch": "failed",
        "unknown_list": "failed",
        "daily_quota": "failed",
        "transient": "success",
    }, result["log"][-3000:]
    assert result["tries"] == {
        "bad_header": 1,
        "schema_mismatch": 1,
        "unknown_list": 1,
        "daily_quota": 1,
        "transient": 2,
    }
    log = result["log"]
    assert "column 2 has no name" in log or "no name" in log
    assert "favouriteColour" in log and "Static list 424242 not found" in log
    assert "00:00 US Central" in log and "clear the task after the reset" in log
    assert marketo_simulator.pending_faults == []
