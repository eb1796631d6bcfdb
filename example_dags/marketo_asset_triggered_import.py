"""Asset-triggered import: runs when ``marketo_export_producer`` records an export, imports that export.

The DAG is scheduled on the ``marketo_example_leads_export`` asset. ``export_path`` reads the folder
from the triggering asset event (``triggering_asset_events``), never a fixed path; a manual run imports
the ``source`` given in its conf instead. ``import_leads`` imports the Parquet export (staged once by
DuckDB), waits in the triggerer for Marketo's jobs and, when they are finished, records an asset event
on ``marketo://<munchkin id>/leads`` with the summary's counts and the batch ids, which other DAGs can
be scheduled on.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import Asset, Param, dag, task

from airflow_provider_marketo.operators.bulk_import import BulkLeadImportOperator

#: The producer's asset (``marketo_export_producer.LEADS_EXPORT``; DAG files do not import each other).
LEADS_EXPORT = Asset(name="marketo_example_leads_export", uri="marketo-example://exports/leads")
CONN_ID = "{{ var.value.get('marketo_example_conn_id', 'marketo_default') }}"


@dag(
    dag_id="marketo_asset_triggered_import",
    schedule=[LEADS_EXPORT],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["marketo", "example"],
    params={"source": Param(None, type=["null", "string"], description="Export to import in a manual run.")},
    doc_md=__doc__,
)
def marketo_asset_triggered_import() -> None:
    @task
    def export_path(triggering_asset_events: Any, params: dict[str, Any]) -> str:
        events = triggering_asset_events[LEADS_EXPORT] if triggering_asset_events else []
        if events:
            return str(events[-1].extra["path"])  # the newest export, when several queued up
        if params.get("source"):
            return str(params["source"])
        raise ValueError("No triggering export event and no 'source' in the run's conf: nothing to import.")

    BulkLeadImportOperator(
        task_id="import_leads",
        source=export_path(),
        lookup_field="email",
        marketo_conn_id=CONN_ID,
        deferrable=True,
        wait_for_completion=True,
    )


marketo_asset_triggered_import()
