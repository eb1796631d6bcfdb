"""A warehouse export as warehouses write it: a folder of gzip CSV shards, a header in each.

Snowflake's ``COPY INTO @stage/leads/ FROM leads FILE_FORMAT = (TYPE = CSV COMPRESSION = GZIP)
HEADER = TRUE`` unloads ``data_0_0_0.csv.gz``, ``data_0_1_0.csv.gz``, ... (``SINGLE = FALSE``), each
with its own header; a slice with no rows gives a header-only file. The stand-in task below writes
such a folder (plus Spark's ``_SUCCESS`` marker). The import operator takes the folder (or a glob of
its files, param ``source_kind``): it reads the shards in lexical order, decompresses them as it
reads, checks that every header equals the first, drops the repeated headers, skips the header-only
shard, and packs the rows into parts under Marketo's 10 MB limit (a few jobs, not one per shard).
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
from typing import Any

import pendulum
from airflow.sdk import ObjectStoragePath, Param, dag, task

from airflow_provider_marketo.operators.bulk_import import BulkLeadImportOperator
from airflow_provider_marketo.sensors.bulk_import import BulkImportSensor

# Settings, read at run time from Airflow Variables through templates (parsing never reads one), with
# defaults that work against the bundled simulator: marketo_example_conn_id, and
# marketo_example_storage (e.g. s3://aws_default@my-bucket/marketo; default: a folder in /tmp).
CONN_ID = "{{ var.value.get('marketo_example_conn_id', 'marketo_default') }}"
RUN_FOLDER = (
    "{{ var.value.get('marketo_example_storage', 'file:///tmp/marketo-examples') | trim('/') }}"
    "/{{ dag.dag_id }}/{{ run_id | replace(':', '_') | replace('+', '_') }}"
)
EXPORT = RUN_FOLDER + "/export/leads/"
#: The columns of the unloaded table (Marketo API names).
HEADER = ["email", "firstName", "lastName", "company", "leadScore", "title"]
#: Values that break naive concatenation or splitting: quotes, delimiters, line breaks, non-ASCII.
TITLES = ['VP "Growth", EMEA', "Head of\nSales", "Ingénieur — R&D", "CFO; acting", "Zoë's 🚀 team", ""]

log = logging.getLogger(__name__)


@dag(
    dag_id="marketo_snowflake_export",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["marketo", "example"],
    params={
        "megabytes": Param(2, type="number", minimum=0.01, maximum=2000, description="Uncompressed size."),
        "shards": Param(12, type="integer", minimum=2, maximum=1000, description="Files in the unload."),
        "source_kind": Param("folder", enum=["folder", "glob"], description="Import the folder or a glob."),
    },
    doc_md=__doc__,
)
def marketo_snowflake_export() -> None:
    @task
    def unload_leads(params: dict[str, Any], **context: Any) -> str:
        """Stand-in for ``COPY INTO``: gzip CSV shards with a header each, the last one header-only."""
        folder = ObjectStoragePath(context["task"].render_template(EXPORT, context))
        folder.mkdir(parents=True, exist_ok=True)
        shards = int(params["shards"])
        per_shard = int(float(params["megabytes"]) * 1_000_000 / (shards - 1))
        row = 0
        for n in range(shards):
            text = io.StringIO(newline="")
            writer = csv.writer(text)  # Snowflake quotes when needed and ends lines with LF or CRLF
            writer.writerow(HEADER)
            while n < shards - 1 and text.tell() < per_shard:
                row += 1
                title = TITLES[row % len(TITLES)]
                writer.writerow(
                    [f"snow{row}@example.com", f"Zoë {row}", "O'Brien", "Acme, Inc.", row % 100, title]
                )
            with (folder / f"data_0_{n}_0.csv.gz").open("wb") as out:
                out.write(gzip.compress(text.getvalue().encode("utf-8"), compresslevel=1))
        (folder / "_SUCCESS").write_bytes(b"")
        log.info("Unloaded %d rows into %d gzip files under %s", row, shards, folder)
        source = str(folder) + "/"
        return source if params["source_kind"] == "folder" else source + "data_*.csv.gz"

    source = unload_leads()
    # --8<-- [start:import_shards]
    import_leads = BulkLeadImportOperator(
        task_id="import_leads",
        source=source,  # a folder (prefix) or a glob of the export's files, any ObjectStoragePath
        lookup_field="email",
        marketo_conn_id=CONN_ID,
        max_active_jobs=2,
        deferrable=True,
    )
    BulkImportSensor(
        task_id="wait_for_import",
        batch_ids=import_leads.output,  # target and rows sent per batch come with the output
        deferrable=True,
        results_path=RUN_FOLDER + "/results/",
        marketo_conn_id=CONN_ID,
        timeout=3600,
    )
    # --8<-- [end:import_shards]


marketo_snowflake_export()
