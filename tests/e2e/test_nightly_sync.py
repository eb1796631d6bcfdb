"""The example DAG marketo_nightly_sync under dag.test(): a 50,000-row SQLite table synced on
consecutive nights, sending only what changed (issue 24's done-when), a run that fails before its
commit, and a dry run."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from airflow_provider_marketo.transfers.sql_to_marketo import SqlToMarketoOperator
from tests._support.processes import run_dag
from tests._support.tasks import FakeTaskInstance, make_context

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

DAG_ID = "marketo_nightly_sync"


def _sent(sim: Any, since: int) -> list[list[str]]:
    """The data rows of the jobs created after the first ``since`` jobs."""
    rows = []
    for job in sim.jobs[since:]:
        rows += list(csv.reader(io.StringIO(sim.job_file(job["batch_id"]).decode(), newline="")))[1:]
    return rows


def _night(
    env: dict[str, str], sim: Any, tmp_path: Path, name: str
) -> tuple[dict[str, Any], list[list[str]]]:
    jobs = len(sim.jobs)
    (tmp_path / name).mkdir()
    result = run_dag(env, DAG_ID, tmp_path / name)
    assert result["state"] == "success", result["log"][-5000:]
    return result["xcoms"]["sync_contacts"]["return_value"]["result"], _sent(sim, jobs)


def test_four_nights(
    dag_env: dict[str, str],
    marketo_simulator: Any,
    marketo_conn_id: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    database = tmp_path / "warehouse.db"
    conn = json.dumps({"conn_type": "sqlite", "host": str(database)})
    dag_env["AIRFLOW_CONN_MARKETO_EXAMPLE_WAREHOUSE"] = conn
    state = Path(urlparse(dag_env["AIRFLOW_VAR_MARKETO_EXAMPLE_STORAGE"]).path) / "sync_state" / DAG_ID

    # 1. Every row is new.
    first, sent = _night(dag_env, marketo_simulator, tmp_path, "n1")
    assert first["rows_sent"] == 50_000 == len(sent) and first["rows_new"] == 50_000
    assert first["state_version"] == 1 and first["rows_failed"] == 0
    assert sent[0] == ["contact0@example.com", "First 0", "Last, 0", "0"]  # mapped columns only

    # 2. 500 changes, 300 new rows, 200 deleted, 50 made invalid (a score Marketo cannot store).
    with sqlite3.connect(database) as db:
        db.execute("UPDATE contacts SET first_name = 'Changed' WHERE id < 500")
        db.executemany(
            "INSERT INTO contacts VALUES (?, ?, 'New', 'Row', 1, '')",
            [(i, f"contact{i}@example.com") for i in range(50_000, 50_300)],
        )
        db.execute("DELETE FROM contacts WHERE id BETWEEN 1000 AND 1199")
        db.execute("UPDATE contacts SET score = 'high' WHERE id BETWEEN 2000 AND 2049")
    second, sent = _night(dag_env, marketo_simulator, tmp_path, "n2")
    assert second["rows_sent"] == 850 == len(sent)
    assert second["rows_failed"] == 50 and second["rows_processed"] == 800
    assert (second["rows_new"], second["rows_changed"], second["rows_absent"]) == (300, 550, 200)
    assert second["rows_unchanged"] == 50_100 - 850 and second["state_version"] == 2

    # 3. The 50 are fixed: exactly they are sent.
    with sqlite3.connect(database) as db:
        db.execute("UPDATE contacts SET score = 7 WHERE id BETWEEN 2000 AND 2049")
    third, sent = _night(dag_env, marketo_simulator, tmp_path, "n3")
    assert third["rows_sent"] == 50 == len(sent) and third["rows_retried"] == 50
    assert sorted(r[0] for r in sent) == sorted(f"contact{i}@example.com" for i in range(2000, 2050))

    # 4. No change: nothing sent, no job.
    jobs = len(marketo_simulator.jobs)
    fourth, sent = _night(dag_env, marketo_simulator, tmp_path, "n4")
    assert fourth["batches"] == [] and fourth["rows_sent"] == 0 and sent == []
    assert len(marketo_simulator.jobs) == jobs and fourth["state_version"] == 3

    # A run that fails before its commit (the new snapshot cannot be written) leaves version 3: the
    # next run sends its rows again.
    with sqlite3.connect(database) as db:
        db.execute("UPDATE contacts SET last_name = 'Moved' WHERE id BETWEEN 3000 AND 3009")
    (state / "snapshots" / "v000004.parquet").mkdir()
    (tmp_path / "n5").mkdir()
    failed = run_dag(dag_env, DAG_ID, tmp_path / "n5")
    assert failed["state"] == "failed" and failed["tasks"]["sync_contacts"] == "failed"
    assert json.loads((state / "CURRENT.json").read_text())["version"] == 3
    (state / "snapshots" / "v000004.parquet").rmdir()
    again, sent = _night(dag_env, marketo_simulator, tmp_path, "n6")
    assert again["rows_sent"] == 10 == len(sent) and again["state_version"] == 4

    # A dry run of the same sync: counts and the rows it would send; nothing sent, nothing committed.
    with sqlite3.connect(database) as db:
        db.execute("UPDATE contacts SET score = 99 WHERE id < 5")
    monkeypatch.setenv("AIRFLOW_CONN_MARKETO_EXAMPLE_WAREHOUSE", conn)
    jobs = len(marketo_simulator.jobs)
    results = tmp_path / "dry"
    dry = SqlToMarketoOperator(
        task_id="sync_contacts",
        sql="SELECT email, first_name, last_name, score FROM contacts ORDER BY id",
        sql_conn_id="marketo_example_warehouse",
        marketo_conn_id=marketo_conn_id,
        field_mapping={
            "email": "email",
            "first_name": "firstName",
            "last_name": "lastName",
            "score": "leadScore",
        },
        changes_only=True,
        dry_run=True,
        sync_state_path=state.as_uri(),
        wait_for_completion=True,
        staging_path=(tmp_path / "staging").as_uri(),
        results_path=results.as_uri(),
    ).execute(make_context(FakeTaskInstance(dag_id=DAG_ID, task_id="sync_contacts", run_id="dry")))["result"]
    assert dry is not None and dry["dry_run"] is True
    assert (dry["rows_to_send"], dry["rows_changed"], dry["rows_unchanged"]) == (5, 5, 50_095)
    report = json.loads((results / "sync_contacts.report.json").read_text())
    assert report["rows_to_send"] == 5 and report["rows_absent"] == 200 and report["state_version"] == 4
    assert len(list(csv.reader(io.StringIO((results / "sync_contacts.rows_to_send.csv").read_text())))) == 6
    assert len(marketo_simulator.jobs) == jobs
    assert json.loads((state / "CURRENT.json").read_text())["version"] == 4
