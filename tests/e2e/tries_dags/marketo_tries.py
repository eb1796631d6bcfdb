"""DAGs of issue 22 run by ``tests/e2e/test_tries.py`` under ``dag.test()``, files in ``$MARKETO_TRIES_DIR``.

``marketo_tries``: one import task per kind of failure, each with ``retries=3`` and ``retry_delay=0``;
the test injects the simulator's faults (607, 503) before the run and counts each task's tries.
``marketo_mapped_results``: a mapped import (3 files) and a plain one sharing one ``results_path``.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from airflow_provider_marketo.operators.bulk_import import (
    BulkCustomObjectImportOperator,
    BulkLeadImportOperator,
    BulkProgramMemberImportOperator,
)

FILES = os.environ.get("MARKETO_TRIES_DIR", "/nonexistent")

with DAG(
    "marketo_tries",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"retries": 3, "retry_delay": timedelta(0), "deferrable": False, "poll_interval": 0.2},
):
    # An input error: a column without a name.
    BulkLeadImportOperator(task_id="bad_header", source=f"{FILES}/bad_header.csv")
    # A schema mismatch: a column the lead database does not have.
    BulkLeadImportOperator(task_id="schema_mismatch", source=f"{FILES}/unknown_field.csv")
    # A configuration error: a static list Marketo does not know (1013).
    BulkLeadImportOperator(task_id="unknown_list", source=f"{FILES}/leads.csv", list_id=424242)
    # The daily quota (607) on the create call.
    BulkCustomObjectImportOperator(task_id="daily_quota", api_name="car_c", source=f"{FILES}/cars.csv")
    # A transient error (503) on the first try's create call: the second try imports.
    BulkProgramMemberImportOperator(
        task_id="transient",
        program_id=1001,
        program_member_status="On List",
        source=f"{FILES}/members.csv",
    )

with DAG(
    "marketo_mapped_results",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    default_args={
        "deferrable": False,
        "poll_interval": 0.2,
        "wait_for_completion": True,
        "results_path": f"file://{FILES}/results/",
    },
):
    # Three mapped instances and a plain task share one results_path (issue 22).
    BulkLeadImportOperator.partial(task_id="import_files", part_size=1024).expand(
        source=[f"{FILES}/export_{n}.csv" for n in range(3)]
    )
    BulkLeadImportOperator(task_id="import_more", source=f"{FILES}/more.csv")
