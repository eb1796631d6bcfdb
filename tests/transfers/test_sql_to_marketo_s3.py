"""The staged query result on S3 (shared by the workers), against a local moto server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow_provider_marketo.operators.output import batch_ids_of
from airflow_provider_marketo.transfers.sql_to_marketo import SqlToMarketoOperator
from tests._support.sim import create_calls
from tests._support.sql import LEADS_SQL, create_leads_table, expected_lead, stored_leads
from tests._support.tasks import FakeTaskInstance, make_context


def test_staging_on_s3_with_the_manifest_beside_it(
    moto_s3: dict[str, Any], sqlite_db: Path, marketo_simulator: Any, marketo_conn_id: str
) -> None:
    s3, bucket = moto_s3["client"], moto_s3["bucket"]
    rows = create_leads_table(sqlite_db, 500)

    def op() -> SqlToMarketoOperator:
        return SqlToMarketoOperator(
            task_id="load",
            sql=LEADS_SQL,
            sql_conn_id="sqlite_test",
            marketo_conn_id=marketo_conn_id,
            staging_path=f"s3://{moto_s3['conn_id']}@{bucket}/staging",
            part_size=30_000,
            poll_interval=0.05,
        )

    batch_ids = batch_ids_of(op().execute(make_context(FakeTaskInstance())))
    assert len(batch_ids) > 1
    assert stored_leads(marketo_simulator) == {row[0]: expected_lead(row) for row in rows}
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket, Prefix="staging/")["Contents"]]
    # The staged file is gone; the retry manifest (keyed by task instance) stays for retries.
    (manifest,) = keys
    assert manifest.startswith("staging/.marketo/dag.import.-1.manual__2026-01-01T00_00_00_00_00.")

    # A retry of the same run runs the query again, gets the same parts and sends nothing.
    calls = create_calls(marketo_simulator.api_calls())
    assert batch_ids_of(op().execute(make_context(FakeTaskInstance()))) == batch_ids
    assert create_calls(marketo_simulator.api_calls()) == calls
