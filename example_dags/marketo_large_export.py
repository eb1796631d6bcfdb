"""A large export (tens of MB) split into several Marketo jobs, failure files stored, in one task.

The import operator cuts the file on record boundaries under Marketo's 10 MB request limit and keeps
at most ``max_active_jobs`` of its jobs in Marketo's shared queue, waiting for room in the
triggerer. With ``wait_for_completion=True`` it then waits for its jobs (deferred again) and stores
each job's failed rows as ``<batch_id>_failures.csv``, the merged ``import_leads.failures.csv`` and
``import_leads.report.json``, as ``BulkImportSensor`` would in a second task.
"""

from __future__ import annotations

import csv
import io
import logging
from typing import Any

import pendulum
from airflow.sdk import ObjectStoragePath, Param, dag, task

from airflow_provider_marketo.operators.bulk_import import BulkLeadImportOperator

# Settings, read at run time from Airflow Variables through templates (parsing never reads one), with
# defaults that work against the bundled simulator: marketo_example_conn_id, and
# marketo_example_storage (e.g. s3://aws_default@my-bucket/marketo; default: a folder in /tmp).
CONN_ID = "{{ var.value.get('marketo_example_conn_id', 'marketo_default') }}"
RUN_FOLDER = (
    "{{ var.value.get('marketo_example_storage', 'file:///tmp/marketo-examples') | trim('/') }}"
    "/{{ dag.dag_id }}/{{ run_id | replace(':', '_') | replace('+', '_') }}"
)

log = logging.getLogger(__name__)


@dag(
    dag_id="marketo_large_export",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["marketo", "example"],
    params={"megabytes": Param(25, type="integer", minimum=1, maximum=2000, description="Export size.")},
    doc_md=__doc__,
)
def marketo_large_export() -> None:
    @task
    def export_leads(params: dict[str, Any], **context: Any) -> str:
        target = (
            ObjectStoragePath(context["task"].render_template(RUN_FOLDER, context)) / "export" / "leads.csv"
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        limit = int(params["megabytes"]) * 1_000_000
        note = 'Met at "Summit", said: call back; maybe\nnext quarter — ünïcödé'
        with target.open("wb") as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["email", "firstName", "lastName", "company", "leadScore", "title"])
            i = 0
            while raw.tell() < limit:
                for _ in range(1000):
                    i += 1
                    score = "n/a" if i % 1000 == 0 else str(i % 100)
                    writer.writerow([f"big{i}@example.com", f"Zoë {i}", "Smith", "Acme, Inc.", score, note])
                out.flush()
        log.info("Exported %d rows to %s", i, target)
        return str(target)

    export = export_leads()
    # --8<-- [start:wait_for_completion]
    BulkLeadImportOperator(
        task_id="import_leads",
        source=export,
        marketo_conn_id=CONN_ID,
        max_active_jobs=2,
        deferrable=True,  # wait in the triggerer (the default follows [operators] default_deferrable)
        wait_for_completion=True,  # then wait for the jobs and store their failed rows
        results_path=RUN_FOLDER + "/results/",
        execution_timeout=pendulum.duration(hours=2),
    )
    # --8<-- [end:wait_for_completion]


marketo_large_export()
