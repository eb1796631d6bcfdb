"""Every example DAG parses and runs to success with dag.test() against the simulator."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from airflow_provider_marketo._compat import dag_bag
from tests._support.processes import DAGS, run_dag

#: Every example DAG file (one DAG each, named after its file).
EXAMPLE_DAG_IDS = {path.stem for path in DAGS.glob("marketo_*.py")}


def _rows(path_or_url: str) -> list[list[str]]:
    path = Path(urlparse(path_or_url).path) if path_or_url.startswith("file:") else Path(path_or_url)
    text = path.read_text(encoding="utf-8")
    dialect = "excel-tab" if path.suffix == ".tsv" else "excel"
    return list(csv.reader(io.StringIO(text), dialect=dialect))


@pytest.mark.parametrize("dag_id", sorted(EXAMPLE_DAG_IDS))
def test_example_dag_parses_copied_alone(dag_id: str, tmp_path: Path) -> None:
    """A user copies one example file into a dags folder: no sibling module to import."""
    shutil.copy(DAGS / f"{dag_id}.py", tmp_path)
    bag = dag_bag(str(tmp_path))
    assert bag.import_errors == {}
    assert set(bag.dags) == {dag_id}


def test_warehouse_export_dag(dag_env: dict[str, str], marketo_simulator: Any, tmp_path: Path) -> None:
    result = run_dag(dag_env, "marketo_warehouse_export", tmp_path, conf={"rows": 1000, "list_id": 1002})
    assert result["state"] == "success", result["log"][-5000:]
    summary = result["xcoms"]["wait_for_import"]["return_value"]
    # The stand-in warehouse makes rows fail where the score is "high" (every 50th) or the email
    # is empty (every 97th), and warn where the email is malformed (every 75th, unless it fails).
    assert summary["rows_sent"] == 1000
    assert summary["rows_failed"] == 20 + 10
    assert summary["rows_processed"] == 1000 - 30
    assert summary["rows_with_warning"] == 13 - 6
    (batch,) = summary["batches"]
    failures = _rows(batch["failures_path"])
    assert failures[0][-1] == "Import Failure Reason"
    assert len(failures) - 1 == 30
    assert sum(batch["failure_reasons"].values()) == 30
    assert len(_rows(batch["warnings_path"])) - 1 == 7

    leads = {lead["email"]: lead for lead in marketo_simulator.leads}
    assert len(leads) == 970
    assert leads["lead1@example.com"]["externalCompanyId"] == "ACCT-0002"
    assert leads["lead10@example.com"]["title"] == 'VP "Growth", EMEA'
    assert len(marketo_simulator.list_members(1002)) == 970
    (job,) = marketo_simulator.jobs
    assert job["params"].get("listId") in (1002, "1002")
    assert job["params"].get("lookupField") == "email"


def test_large_export_dag_splits_into_several_jobs(
    dag_env: dict[str, str], marketo_simulator: Any, tmp_path: Path
) -> None:
    result = run_dag(dag_env, "marketo_large_export", tmp_path, conf={"megabytes": 25})
    assert result["state"] == "success", result["log"][-5000:]
    batch_ids = result["xcoms"]["import_leads"]["batch_ids"]
    assert len(batch_ids) == 3
    summary = result["xcoms"]["import_leads"]["return_value"]["result"]  # wait_for_completion
    assert [b["batch_id"] for b in summary["batches"]] == batch_ids
    assert summary["rows_processed"] + summary["rows_failed"] == summary["rows_sent"]
    assert all(job["received_bytes"] < 10 * 1024 * 1024 for job in marketo_simulator.jobs)
    stored_failures = sum(
        len(_rows(b["failures_path"])) - 1 for b in summary["batches"] if b["failures_path"]
    )
    assert stored_failures == summary["rows_failed"] > 0
    assert len(marketo_simulator.leads) == summary["rows_processed"]


def test_custom_objects_and_program_members_dag(
    dag_env: dict[str, str], marketo_simulator: Any, tmp_path: Path
) -> None:
    result = run_dag(dag_env, "marketo_custom_objects_and_members", tmp_path)
    assert result["state"] == "success", result["log"][-5000:]
    cars = result["xcoms"]["wait_for_cars"]["return_value"]
    assert (cars["rows_processed"], cars["rows_failed"]) == (200, 1)
    members = result["xcoms"]["wait_for_registrations"]["return_value"]
    assert (members["rows_processed"], members["rows_failed"]) == (150, 1)
    assert len(marketo_simulator.custom_objects("car_c")) == 200
    stored = marketo_simulator.program_members(1001)
    assert len(stored) == 150
    assert {m.get("status", m.get("programMemberStatus")) for m in stored} == {"Registered"}
    (failed_member,) = _rows(members["batches"][0]["failures_path"])[1:]
    assert failed_member[0] == ""


@pytest.mark.slow
def test_warehouse_export_dag_with_results_on_s3(
    dag_env: dict[str, str], marketo_simulator: Any, tmp_path: Path, moto_s3: dict[str, Any]
) -> None:
    dag_env.update(moto_s3["env"])
    dag_env["AIRFLOW_VAR_MARKETO_EXAMPLE_STORAGE"] = f"s3://{moto_s3['conn_id']}@{moto_s3['bucket']}/marketo"
    result = run_dag(dag_env, "marketo_warehouse_export", tmp_path, conf={"rows": 300})
    assert result["state"] == "success", result["log"][-5000:]
    summary = result["xcoms"]["wait_for_import"]["return_value"]
    (batch,) = summary["batches"]
    assert batch["failures_path"].startswith(f"s3://{moto_s3['conn_id']}@{moto_s3['bucket']}/marketo/")
    client = moto_s3["client"]
    key = batch["failures_path"].split(f"{moto_s3['bucket']}/", 1)[1]
    body = client.get_object(Bucket=moto_s3["bucket"], Key=key)["Body"].read().decode()
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0][-1] == "Import Failure Reason"
    assert len(rows) - 1 == summary["rows_failed"] == batch["rows_failed"] > 0
