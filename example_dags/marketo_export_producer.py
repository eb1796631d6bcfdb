"""Parquet export -> asset event: the producer of the asset-triggered pair.

``export_leads`` writes a warehouse-style Parquet export (a folder of ``part-*.parquet`` files and a
``_SUCCESS`` marker, typed columns) into object storage with DuckDB, and records an event on the
``marketo_example_leads_export`` asset whose ``extra`` names the folder it wrote. The DAG
``marketo_asset_triggered_import`` is scheduled on that asset and imports the folder the event names.
Needs the ``parquet`` extra (DuckDB).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import Asset, ObjectStoragePath, Param, dag, task

log = logging.getLogger(__name__)

#: The export, as an asset: its events name the folder of each export in ``extra["path"]``.
LEADS_EXPORT = Asset(name="marketo_example_leads_export", uri="marketo-example://exports/leads")
STORAGE = "{{ var.value.get('marketo_example_storage', 'file:///tmp/marketo-examples') | trim('/') }}"
RUN_FOLDER = STORAGE + "/{{ dag.dag_id }}/{{ run_id | replace(':', '_') | replace('+', '_') }}"

EXPORT_QUERY = """
SELECT 'parquet' || i || '@example.com' AS email,
       'Zoë ' || i AS firstName,
       CASE WHEN i % 10 = 0 THEN 'O''Brien, "Jr."' ELSE 'Lee ' || i END AS lastName,
       (i % 100)::BIGINT AS leadScore,
       CASE WHEN i % 7 = 0 THEN NULL ELSE DATE '1980-01-01' + (i % 9000)::INTEGER END AS dateOfBirth,
       i % 3 = 0 AS unsubscribed,
       (i * 1.25)::DECIMAL(18, 4) AS annualRevenue
FROM range({start}, {stop}) t(i)
"""


@dag(
    dag_id="marketo_export_producer",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["marketo", "example"],
    params={
        "rows": Param(300, type="integer", minimum=1, description="Rows in the export."),
        "files": Param(3, type="integer", minimum=1, description="Parquet files the rows are split into."),
    },
    doc_md=__doc__,
)
def marketo_export_producer() -> None:
    @task(outlets=[LEADS_EXPORT])
    def export_leads(params: dict[str, Any], outlet_events: Any, **context: Any) -> str:
        import duckdb

        folder = ObjectStoragePath(context["task"].render_template(RUN_FOLDER, context)) / "leads"
        folder.mkdir(parents=True, exist_ok=True)
        rows, files = int(params["rows"]), int(params["files"])
        per = -(-rows // files)
        with tempfile.TemporaryDirectory() as tmp, duckdb.connect() as con:
            for n in range(files):
                local = Path(tmp) / f"part-{n:05d}.parquet"
                query = EXPORT_QUERY.format(start=n * per + 1, stop=min(rows, (n + 1) * per) + 1)
                con.execute(f"COPY ({query}) TO '{local}' (FORMAT parquet)")
                (folder / local.name).write_bytes(local.read_bytes())
        (folder / "_SUCCESS").write_bytes(b"")
        outlet_events[LEADS_EXPORT].extra = {"path": str(folder), "rows": rows, "files": files}
        log.info("Exported %d rows in %d Parquet files to %s", rows, files, folder)
        return str(folder)

    export_leads()


marketo_export_producer()
