"""A nightly change-only sync: a SQL table -> Marketo leads, sending only what changed.

1. ``create_contacts`` creates and fills a ``contacts`` table in the SQLite database of the
   connection ``marketo_example_warehouse`` on the first run only (``rows`` contacts); later runs
   leave it as the warehouse changed it.
2. ``sync_contacts`` (``SqlToMarketoOperator`` with ``changes_only=True``) runs the query and diffs
   its rows against the state committed in ``sync_state_path`` by the last successful run: it sends
   only the rows that are new, changed, or that Marketo failed last time; with nothing to send it
   succeeds without creating a job. Once every job has finished and the result checks have passed,
   it commits the new state (the rows Marketo failed are not recorded, so they go again next run).
   ``field_mapping`` renames the warehouse's columns to Marketo's field names and leaves out the
   others. Trigger with ``{"full_refresh": true}`` to send every row and rebuild the state.

Settings (Airflow Variables, read at run time): ``marketo_example_conn_id`` (default
``marketo_default``), ``marketo_example_sql_conn_id`` (default ``marketo_example_warehouse``, e.g.
``AIRFLOW_CONN_MARKETO_EXAMPLE_WAREHOUSE='{"conn_type": "sqlite", "host": "/tmp/warehouse.db"}'``) and
``marketo_example_storage`` (staging, results and the sync state; default
``file:///tmp/marketo-examples``). Needs the ``sync`` extra (DuckDB).
"""

from __future__ import annotations

import logging
from typing import Any

import pendulum
from airflow.providers.common.sql.hooks.sql import DbApiHook
from airflow.sdk import BaseHook, Param, dag, task

from airflow_provider_marketo.transfers.sql_to_marketo import SqlToMarketoOperator

log = logging.getLogger(__name__)

CONN_ID = "{{ var.value.get('marketo_example_conn_id', 'marketo_default') }}"
SQL_CONN_ID = "{{ var.value.get('marketo_example_sql_conn_id', 'marketo_example_warehouse') }}"
STORAGE = "{{ var.value.get('marketo_example_storage', 'file:///tmp/marketo-examples') | trim('/') }}"
RUN_FOLDER = STORAGE + "/{{ dag.dag_id }}/{{ run_id | replace(':', '_') | replace('+', '_') }}"


@dag(
    dag_id="marketo_nightly_sync",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["marketo", "example"],
    params={
        "rows": Param(50_000, type="integer", minimum=1, description="Contacts created on the first run."),
        "full_refresh": Param(False, type="boolean", description="Send every row and rebuild the state."),
    },
    doc_md=__doc__,
)
def marketo_nightly_sync() -> None:
    @task
    def create_contacts(params: dict[str, Any], **context: Any) -> int:
        conn_id = context["task"].render_template(SQL_CONN_ID, context)
        hook = BaseHook.get_connection(conn_id).get_hook()
        assert isinstance(hook, DbApiHook)
        hook.run(
            "CREATE TABLE IF NOT EXISTS contacts (id INTEGER PRIMARY KEY, email TEXT, first_name TEXT, "
            "last_name TEXT, score INTEGER, internal_note TEXT)"
        )
        if hook.get_first("SELECT count(*) FROM contacts")[0] == 0:
            rows = [
                (i, f"contact{i}@example.com", f"First {i}", f"Last, {i}", i % 100, "not for Marketo")
                for i in range(int(params["rows"]))
            ]
            hook.insert_rows("contacts", rows, executemany=True, commit_every=10_000)
        count = int(hook.get_first("SELECT count(*) FROM contacts")[0])
        log.info("%d contacts in %s", count, conn_id)
        return count

    # --8<-- [start:sync]
    sync_contacts = SqlToMarketoOperator(
        task_id="sync_contacts",
        sql="SELECT email, first_name, last_name, score FROM contacts ORDER BY id",
        sql_conn_id=SQL_CONN_ID,
        marketo_conn_id=CONN_ID,
        lookup_field="email",
        field_mapping={
            "email": "email",
            "first_name": "firstName",
            "last_name": "lastName",
            "score": "leadScore",
        },
        changes_only=True,  # send only new, changed and last time's failed rows
        sync_state_path=STORAGE + "/sync_state/{{ dag.dag_id }}",  # one folder per sync
        full_refresh="{{ params.full_refresh }}",
        wait_for_completion=True,  # the state is committed once Marketo has finished every job
        deferrable=True,
        staging_path=STORAGE + "/staging",
        results_path=RUN_FOLDER + "/results/",
        execution_timeout=pendulum.duration(hours=6),
    )
    # --8<-- [end:sync]
    create_contacts() >> sync_contacts


marketo_nightly_sync()
