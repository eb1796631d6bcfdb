"""Warehouse export -> Marketo: the main job.

1. ``export_leads`` runs a query on a warehouse (a local SQLite database stands in for it) and writes
   the result as CSV into object storage.
2. ``import_leads`` imports the file into Marketo (upsert on ``email``, added to a static list, leads
   linked to company records through ``externalCompanyId``).
3. ``wait_for_import`` waits in the triggerer, then stores the failed and warned rows next to the export.
4. ``report`` reads the summary and fails the run when too many rows failed.
"""

from __future__ import annotations

import csv
import io
import logging
import sqlite3
from typing import Any

import pendulum
from airflow.sdk import ObjectStoragePath, Param, dag, task

from airflow_provider_marketo.operators.bulk_import import BulkLeadImportOperator
from airflow_provider_marketo.sensors.bulk_import import BulkImportSensor

# --8<-- [start:settings]
# Settings, read at run time from Airflow Variables through templates (parsing never reads one), with
# defaults that work against the bundled simulator: marketo_example_conn_id, and
# marketo_example_storage (e.g. s3://aws_default@my-bucket/marketo; default: a folder in /tmp).
CONN_ID = "{{ var.value.get('marketo_example_conn_id', 'marketo_default') }}"
RUN_FOLDER = (
    "{{ var.value.get('marketo_example_storage', 'file:///tmp/marketo-examples') | trim('/') }}"
    "/{{ dag.dag_id }}/{{ run_id | replace(':', '_') | replace('+', '_') }}"
)
# --8<-- [end:settings]

log = logging.getLogger(__name__)

EXPORT_QUERY = """
SELECT c.email, c.first_name AS firstName, c.last_name AS lastName, a.name AS company,
       a.external_id AS externalCompanyId, c.score AS leadScore, c.title
FROM contacts c JOIN accounts a ON a.id = c.account_id
WHERE c.opted_in = 1
ORDER BY c.id
"""


def build_warehouse(rows: int) -> sqlite3.Connection:
    """An in-memory stand-in for the warehouse, with a few rows Marketo will reject or warn about."""
    db = sqlite3.connect(":memory:")
    db.executescript(
        """
        CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT, external_id TEXT);
        CREATE TABLE contacts (id INTEGER PRIMARY KEY, account_id INTEGER, email TEXT, first_name TEXT,
                               last_name TEXT, score TEXT, title TEXT, opted_in INTEGER);
        """
    )
    db.executemany(
        "INSERT INTO accounts VALUES (?, ?, ?)",
        [(i, f"Acme {i}, Inc.", f"ACCT-{i:04d}") for i in range(1, 21)],
    )
    contacts = []
    for i in range(1, rows + 1):
        email = f"lead{i}@example.com"
        score = str(i % 100)
        if i % 50 == 0:
            score = "high"  # not a number: Marketo fails the row
        if i % 75 == 0:
            email = f"lead{i}.example.com"  # not an address: imported with a warning
        if i % 97 == 0:
            email = ""  # no lookup value: Marketo fails the row
        title = 'VP "Growth", EMEA' if i % 10 == 0 else "Engineer"
        contacts.append((i, 1 + i % 20, email, f"Ána{i}", f"O'Brien {i}", score, title, 1))
    db.executemany("INSERT INTO contacts VALUES (?, ?, ?, ?, ?, ?, ?, ?)", contacts)
    return db


@dag(
    dag_id="marketo_warehouse_export",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["marketo", "example"],
    params={
        "rows": Param(1000, type="integer", minimum=1, description="Rows the stand-in warehouse holds."),
        "list_id": Param(1001, type="integer", minimum=1, description="Static list to add the leads to."),
        "max_failed_ratio": Param(0.1, type="number", minimum=0, maximum=1),
    },
    doc_md=__doc__,
)
def marketo_warehouse_export() -> None:
    @task
    def export_leads(params: dict[str, Any], **context: Any) -> str:
        folder = ObjectStoragePath(context["task"].render_template(RUN_FOLDER, context))
        target = folder / "export" / "leads.csv"
        target.parent.mkdir(parents=True, exist_ok=True)
        db = build_warehouse(int(params["rows"]))
        cursor = db.execute(EXPORT_QUERY)
        with target.open("wb") as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as out:
            writer = csv.writer(out)
            writer.writerow([d[0] for d in cursor.description])
            writer.writerows(cursor)
        log.info("Exported to %s", target)
        return str(target)

    export = export_leads()

    # --8<-- [start:import_and_wait]
    import_leads = BulkLeadImportOperator(
        task_id="import_leads",
        source=export,
        lookup_field="email",
        list_id="{{ params.list_id }}",
        marketo_conn_id=CONN_ID,
        deferrable=True,
    )

    wait_for_import = BulkImportSensor(
        task_id="wait_for_import",
        batch_ids=import_leads.output,  # target and rows sent per batch come with the output
        deferrable=True,  # wait in the triggerer (the default follows [operators] default_deferrable)
        results_path=RUN_FOLDER + "/results/",
        marketo_conn_id=CONN_ID,
        timeout=3600,
    )
    # --8<-- [end:import_and_wait]

    # --8<-- [start:report]
    @task
    def report(summary: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        sent = summary.get("rows_sent")
        log.info(
            "Marketo import: %s rows sent, %s imported, %s failed, %s with warnings",
            sent,
            summary["rows_processed"],
            summary["rows_failed"],
            summary["rows_with_warning"],
        )
        for batch in summary["batches"]:
            log.info("batch %s: failures at %s", batch["batch_id"], batch["failures_path"])
        done = summary["rows_processed"] + summary["rows_failed"]
        if sent is not None and done != sent:
            raise ValueError(f"{sent} rows sent but Marketo accounted for {done}")
        ratio = summary["rows_failed"] / done if done else 0.0
        if ratio > float(params["max_failed_ratio"]):
            raise ValueError(f"{ratio:.1%} of the rows failed (limit {params['max_failed_ratio']:.1%})")
        return summary

    report(wait_for_import.output)
    # --8<-- [end:report]


marketo_warehouse_export()
