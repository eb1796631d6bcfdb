"""An S3 source read through ObjectStoragePath, against a local moto server (``moto_s3`` fixture)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_marketo.operators.bulk_import import BulkLeadImportOperator
from airflow_provider_marketo.operators.output import batch_ids_of
from tests._support.files import lead_rows, received_rows
from tests._support.sim import create_calls
from tests._support.tasks import FakeTaskInstance, make_context


def _csv(rows: list[list[str]]) -> bytes:
    return "".join(",".join(row) + "\r\n" for row in rows).encode()


def test_s3_source_is_imported_and_manifest_written_next_to_it(
    moto_s3: dict[str, Any], marketo_simulator: Any, marketo_conn_id: str
) -> None:
    s3, bucket = moto_s3["client"], moto_s3["bucket"]
    rows = lead_rows(300)
    s3.put_object(Bucket=bucket, Key="exports/leads.csv", Body=_csv(rows))
    op = BulkLeadImportOperator(
        task_id="import",
        source=f"s3://{moto_s3['conn_id']}@{bucket}/exports/leads.csv",
        marketo_conn_id=marketo_conn_id,
        part_size=6_000,
        poll_interval=0.05,
    )
    batch_ids = batch_ids_of(op.execute(make_context(FakeTaskInstance())))
    assert len(batch_ids) > 1
    assert received_rows(marketo_simulator, batch_ids) == rows
    listing = s3.list_objects_v2(Bucket=bucket, Prefix="exports/.marketo/")["Contents"]
    keys = [item["Key"] for item in listing]
    assert keys == ["exports/.marketo/leads.csv.dag.import.-1.manual__2026-01-01T00_00_00_00_00.json"]
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=keys[0])["Body"].read())
    assert [part["batch_id"] for part in manifest["parts"]] == batch_ids

    lineage = op.get_openlineage_facets_on_complete(None)
    assert (lineage.inputs[0].namespace, lineage.inputs[0].name) == (f"s3://{bucket}", "exports/leads.csv")

    # A retry of the same run finds the manifest in S3 and sends nothing again.
    calls = create_calls(marketo_simulator.api_calls())
    assert batch_ids_of(op.execute(make_context(FakeTaskInstance()))) == batch_ids
    assert create_calls(marketo_simulator.api_calls()) == calls


@pytest.mark.parametrize("where", ["object", "bucket"])
def test_missing_s3_object_or_bucket_is_named(
    where: str, moto_s3: dict[str, Any], marketo_simulator: Any, marketo_conn_id: str
) -> None:
    bucket = moto_s3["bucket"] if where == "object" else "no-such-bucket"
    url = f"s3://{moto_s3['conn_id']}@{bucket}/exports/nothing.csv"
    op = BulkLeadImportOperator(task_id="import", source=url, marketo_conn_id=marketo_conn_id)
    with pytest.raises(FileNotFoundError, match=f"s3://{moto_s3['conn_id']}@{bucket}/exports/nothing.csv"):
        op.execute(make_context())
    assert create_calls(marketo_simulator.api_calls()) == 0
