"""One import task per kind of failure of issue 22, each with ``retries=3`` and ``retry_delay=0``, run by
``tests/e2e/test_tries.py`` under ``dag.test()``, which counts each task's tries. The files are in
``$MARKETO_TRIES_DIR``; the test injects the simulator's faults (607, 503) before the run.
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
