"""DAGs of tests/e2e/test_distributed.py (test fixtures, not examples).

* ``marketo_distributed_import``: a deferrable lead import of several parts, the sensor that stores
  the failed rows, and a task that saves the sensor's summary next to them.
* ``marketo_distributed_export``: a deferrable import of a gzip export (staged in the worker's temp
  directory) that waits for each job before the next (``max_active_jobs=1``), so that it defers
  after every part; retried after a crash. Its resumes and retries move between the two workers.
* ``marketo_budget_default`` / ``marketo_budget_recommended``: four imports at once against one
  Marketo instance, with the provider's defaults and with the recommended setup (a pool per instance
  plus a per-process share of the instance's call budget in the connection, and imports that wait
  for their own jobs so that a pool slot is held until its jobs leave the queue).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, ObjectStoragePath, task

from airflow_provider_marketo.operators.bulk_import import BulkLeadImportOperator
from airflow_provider_marketo.sensors.bulk_import import BulkImportSensor

START = pendulum.datetime(2026, 1, 1, tz="UTC")
#: Parts of about 100 rows of the test's lead files.
IMPORT_PART_SIZE = 3400
#: Parts of about 50 rows.
BUDGET_PART_SIZE = 1700
BUDGET_TASKS = 4
#: The pool of the recommended setup: one per Marketo instance.
BUDGET_POOL = "marketo_limits"

with DAG("marketo_distributed_import", schedule=None, start_date=START, catchup=False):
    import_leads = BulkLeadImportOperator(
        task_id="import_leads",
        source="{{ dag_run.conf['source'] }}",
        lookup_field="email",
        marketo_conn_id="marketo_slow",
        deferrable=True,
        max_active_jobs=2,
        part_size=IMPORT_PART_SIZE,
        poll_interval=1,
        retries=2,
        retry_delay=timedelta(seconds=1),
    )
    wait_for_import = BulkImportSensor(
        task_id="wait_for_import",
        batch_ids=import_leads.output,
        results_path="{{ dag_run.conf['results'] }}",
        marketo_conn_id="marketo_slow",
        poll_interval=2,
        timeout=900,
        deferrable=True,
    )

    @task
    def save_summary(summary: dict[str, Any], **context: Any) -> None:
        folder = ObjectStoragePath(context["dag_run"].conf["results"])
        (folder / "summary.json").write_text(json.dumps(summary))

    save_summary(wait_for_import.output)


with DAG("marketo_distributed_export", schedule=None, start_date=START, catchup=False):
    BulkLeadImportOperator(
        task_id="import_export",
        source="{{ dag_run.conf['source'] }}",
        lookup_field="email",
        marketo_conn_id="marketo_export",
        deferrable=True,
        max_active_jobs=1,
        part_size=IMPORT_PART_SIZE,
        poll_interval=1,
        retries=2,
        retry_delay=timedelta(seconds=1),
    )


# The recommended setup also waits for the jobs in the task (wait_for_completion): a task then keeps
# its pool slot until its jobs have left Marketo's queue, so slots x max_active_jobs bounds the queue.
for dag_id, conn_id, pool, active_jobs, wait in (
    ("marketo_budget_default", "marketo_limits", "default_pool", 3, False),
    ("marketo_budget_recommended", "marketo_limits_shared", BUDGET_POOL, 4, True),
):
    with DAG(dag_id, schedule=None, start_date=START, catchup=False):
        for i in range(BUDGET_TASKS):
            BulkLeadImportOperator(
                task_id=f"import_{i}",
                source=f"{{{{ dag_run.conf['sources'][{i}] }}}}",
                marketo_conn_id=conn_id,
                pool=pool,
                deferrable=False,
                max_active_jobs=active_jobs,
                part_size=BUDGET_PART_SIZE,
                poll_interval=1,
                wait_for_completion=wait,
            )
