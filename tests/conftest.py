"""Test-wide setup: an isolated AIRFLOW_HOME before Airflow is imported, and no network besides loopback."""

from __future__ import annotations

import os
import tempfile

_HOME = tempfile.mkdtemp(prefix="airflow-home-")
os.environ.setdefault("AIRFLOW_HOME", _HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
# Tests read the operators' INFO lines (waits, parts): whatever the caller's environment says.
os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "INFO"
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
os.environ.setdefault("no_proxy", "127.0.0.1,localhost")

import json  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def moto_s3_server() -> Iterator[str]:
    """A local moto server playing S3 on 127.0.0.1; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def moto_s3(moto_s3_server: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A fresh bucket on the moto server and an Airflow AWS connection ``aws_test`` pointing at it.

    Returns ``{"bucket", "conn_id", "endpoint", "client" (boto3), "env" (for subprocesses)}``; the
    connection is also set in this process's environment.
    """
    import uuid

    import boto3

    bucket = f"test-{uuid.uuid4().hex[:12]}"
    conn = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"endpoint_url": moto_s3_server, "region_name": "us-east-1"},
    }
    env = {
        "AIRFLOW_CONN_AWS_TEST": json.dumps(conn),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    client = boto3.client(
        "s3",
        endpoint_url=moto_s3_server,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_bucket(Bucket=bucket)
    return {"bucket": bucket, "conn_id": "aws_test", "endpoint": moto_s3_server, "client": client, "env": env}
