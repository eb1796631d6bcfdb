"""Mirror a static list: after each run the list holds exactly the leads of today's export.

1. ``export_segment`` writes the segment (here: leads ``first`` .. ``first + count - 1``) as CSV into
   object storage, as a warehouse export would.
2. ``preview`` is a dry run: it reads the list and reports what mirroring would add and remove
   (``list_added`` / ``list_removed``); nothing is imported or removed.
3. ``apply_changes`` stops here when the run's ``apply`` parameter is false.
4. ``mirror_list`` imports the export into the list, waits for the jobs, then removes from the list
   every member whose email is not in the export (leads are never deleted). The guard
   (``max_list_removals``, default: half of the members) refuses a run that would remove more, such
   as an empty export.
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
    dag_id="marketo_list_mirror",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["marketo", "example"],
    params={
        "first": Param(0, type="integer", minimum=0, description="First lead number of the segment."),
        "count": Param(1000, type="integer", minimum=0, description="Leads in the segment (0: empty)."),
        "list_id": Param(1001, type="integer", minimum=1, description="The static list to mirror."),
        "apply": Param(True, type="boolean", description="False: only the dry run (preview)."),
    },
    doc_md=__doc__,
)
def marketo_list_mirror() -> None:
    @task
    def export_segment(params: dict[str, Any], **context: Any) -> str:
        folder = ObjectStoragePath(context["task"].render_template(RUN_FOLDER, context))
        target = folder / "export" / "segment.csv"
        target.parent.mkdir(parents=True, exist_ok=True)
        first, count = int(params["first"]), int(params["count"])
        with target.open("wb") as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["email", "firstName", "company"])
            writer.writerows(
                [f"lead{i}@example.com", f"Lead {i}", "Acme"] for i in range(first, first + count)
            )
        log.info("Exported %d leads to %s", count, target)
        return str(target)

    export = export_segment()
    common: dict[str, Any] = {
        "source": export,
        "lookup_field": "email",
        "list_id": "{{ params.list_id }}",
        "list_membership": "mirror",
        "wait_for_completion": True,
        "marketo_conn_id": CONN_ID,
    }
    preview = BulkLeadImportOperator(task_id="preview", dry_run=True, **common)

    @task.short_circuit
    def apply_changes(params: dict[str, Any]) -> bool:
        return bool(params["apply"])

    mirror = BulkLeadImportOperator(
        task_id="mirror_list",
        deferrable=True,  # wait for the jobs in the triggerer
        results_path=RUN_FOLDER + "/results/",  # report.json lists the removed lead ids and emails
        **common,
    )
    preview >> apply_changes() >> mirror


marketo_list_mirror()
