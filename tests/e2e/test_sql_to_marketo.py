"""The example DAG marketo_sql_to_marketo under dag.test(): 60,000 hostile rows from a SQLite table
arrive in the simulator value for value, in several jobs, failed rows stored."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from tests._support.processes import DAGS, run_dag

pytestmark = pytest.mark.timeout(900)

FIELDS = ["email", "firstName", "lastName", "company", "title", "leadScore", "annualRevenue"]


def _file_rows(url: str) -> list[list[str]]:
    path = Path(urlparse(url).path) if url.startswith("file:") else Path(url)
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))


def _expected(row: tuple[Any, ...]) -> dict[str, Any]:
    """What Marketo keeps of a table row: NULL and blank values are not stored."""
    return {
        name: value
        for name, value in zip(FIELDS, row, strict=True)
        if value is not None and (not isinstance(value, str) or value.strip())
    }


def test_sql_to_marketo_dag(dag_env: dict[str, str], marketo_simulator: Any, tmp_path: Path) -> None:
    database = tmp_path / "warehouse.db"
    dag_env["AIRFLOW_CONN_MARKETO_EXAMPLE_WAREHOUSE"] = json.dumps(
        {"conn_type": "sqlite", "host": str(database)}
    )
    result = run_dag(dag_env, "marketo_sql_to_marketo", tmp_path, conf={"rows": 60_000})
    assert result["state"] == "success", result["log"][-5000:]

    # One task: SqlToMarketoOperator(wait_for_completion=True) returns the summary as its result.
    assert set(result["xcoms"]) == {"build_warehouse", "load_contacts"}
    batch_ids = result["xcoms"]["load_contacts"]["batch_ids"]
    assert len(batch_ids) >= 2
    assert all(job["received_bytes"] < 10 * 1024 * 1024 for job in marketo_simulator.jobs)
    summary = result["xcoms"]["load_contacts"]["return_value"]["result"]
    assert [b["batch_id"] for b in summary["batches"]] == batch_ids
    assert summary["rows_sent"] == 60_000
    assert summary["rows_failed"] == 60  # the score "high" of every 1000th row
    assert summary["rows_processed"] == 60_000 - 60

    with sqlite3.connect(database) as db:
        table = db.execute(
            "SELECT email, first_name, last_name, company, title, score, revenue FROM contacts ORDER BY id"
        ).fetchall()
    assert len(table) == 60_000
    good = [row for row in table if row[5] != "high"]
    leads = {lead["email"]: {k: lead[k] for k in FIELDS if k in lead} for lead in marketo_simulator.leads}
    assert leads == {row[0]: _expected(row) for row in good}
    assert any("\r\n" in lead.get("title", "") for lead in leads.values())

    failed = [
        row for b in summary["batches"] if b["failures_path"] for row in _file_rows(b["failures_path"])[1:]
    ]
    assert len(failed) == 60
    assert {row[0] for row in failed} == {row[0] for row in table if row[5] == "high"}
    # The merged failures file holds every failed row once, with its batch id first.
    merged = _file_rows(summary["failures_path"])
    assert merged[0][0] == "batch_id" and len(merged) == 61
    assert {row[1] for row in merged[1:]} == {row[0] for row in failed}
    assert {int(row[0]) for row in merged[1:]} <= set(batch_ids)
    staged = Path(urlparse(dag_env["AIRFLOW_VAR_MARKETO_EXAMPLE_STORAGE"]).path) / "staging"
    assert not any(p.is_file() for p in staged.glob("*"))  # the staged file is deleted at the end


def test_sql_to_marketo_dag_parses() -> None:
    from airflow_provider_marketo._compat import dag_bag

    sys.path.insert(0, str(DAGS))
    bag = dag_bag(str(DAGS / "marketo_sql_to_marketo.py"))
    assert bag.import_errors == {}
    assert "marketo_sql_to_marketo" in bag.dags
