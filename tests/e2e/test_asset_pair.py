"""The example pair through real Airflow processes (api-server, scheduler, dag-processor, triggerer):
``marketo_export_producer`` writes a Parquet export and records an asset event; its success starts
``marketo_asset_triggered_import``, which imports the export the event names (waiting in the
triggerer) and records the ``marketo://.../leads`` asset event, read here from the metadata database."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests._support.processes import airflow_cli, cli_json, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

PRODUCER, CONSUMER = "marketo_export_producer", "marketo_asset_triggered_import"


def _runs(env: dict[str, str], dag_id: str) -> list[dict[str, Any]]:
    return list(cli_json(airflow_cli(env, "dags", "list-runs", dag_id, "--output", "json")) or [])


def _asset_events(home: Path) -> list[tuple[str, str, str, dict[str, Any]]]:
    with sqlite3.connect(home / "airflow.db") as db:
        rows = db.execute(
            "SELECT a.uri, e.source_dag_id, e.source_task_id, e.extra FROM asset_event e "
            "JOIN asset a ON a.id = e.asset_id ORDER BY e.id"
        ).fetchall()
    return [(uri, dag, task, json.loads(extra) if extra else {}) for uri, dag, task, extra in rows]


# Jobs take a few seconds, as real ones do (see test_real_airflow.py: apache/airflow#72716).
@pytest.mark.marketo_simulator(rows_per_second=60)
def test_producer_success_triggers_the_import_of_the_export_it_names(
    airflow_cluster: dict[str, Any], marketo_simulator: Any, tmp_path: Path
) -> None:
    env = airflow_cluster["env"]

    def parsed() -> bool:
        dags = {d.get("dag_id") for d in cli_json(airflow_cli(env, "dags", "list", "--output", "json")) or []}
        return {PRODUCER, CONSUMER} <= dags

    wait_for("the dag-processor to parse both DAGs", parsed, 180, airflow_cluster)
    assert airflow_cli(env, "dags", "trigger", PRODUCER, "--conf", json.dumps({"rows": 240, "files": 3}))

    def consumer_done() -> str | None:
        return next(
            (r["state"] for r in _runs(env, CONSUMER) if r.get("state") in ("success", "failed")), None
        )

    state = wait_for("the asset-triggered import to finish", consumer_done, 300, airflow_cluster)
    logs = sorted((Path(env["AIRFLOW_HOME"]) / "logs").rglob("*.log"))
    assert state == "success", "\n".join(f"== {p}\n{p.read_text(errors='replace')[-3000:]}" for p in logs)
    producer_runs, consumer_runs = _runs(env, PRODUCER), _runs(env, CONSUMER)
    assert [r["state"] for r in producer_runs] == ["success"]
    assert len(consumer_runs) == 1 and consumer_runs[0]["run_id"].startswith("asset_triggered__")

    # The import read the folder named by the producer's event (under this run's storage).
    export = next((tmp_path / "storage" / PRODUCER).rglob("leads"))
    assert sorted(p.name for p in export.iterdir()) == [
        "_SUCCESS",
        "part-00000.parquet",
        "part-00001.parquet",
        "part-00002.parquet",
    ]
    leads = {lead["email"]: lead for lead in marketo_simulator.leads}
    assert len(leads) == 240
    assert leads["parquet10@example.com"]["lastName"] == 'O\'Brien, "Jr."'

    events = _asset_events(Path(env["AIRFLOW_HOME"]))
    assert [(uri, dag) for uri, dag, _, _ in events] == [
        ("marketo-example://exports/leads", PRODUCER),
        (f"marketo://{marketo_simulator.base_url.split('://', 1)[1]}/leads", CONSUMER),
    ]
    _, _, task_id, extra = events[1]
    assert task_id == "import_leads"
    assert extra["status"] == "success"
    assert extra["rows_sent"] == extra["rows_processed"] == 240
    assert extra["batch_ids"] == sorted(job["batch_id"] for job in marketo_simulator.jobs)
    assert extra["batch_ids"]
