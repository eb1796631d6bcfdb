"""Test-wide setup: an isolated AIRFLOW_HOME before Airflow is imported, and no network besides loopback;
the fixtures several folders use (moto S3, a create spy, a running simulator clock)."""

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
import threading  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from typing import TYPE_CHECKING, Any  # noqa: E402

import pytest  # noqa: E402

if TYPE_CHECKING:
    from tests._support.api import Api
    from tests._support.tasks import CreateSpy


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


@pytest.fixture
def create_spy(marketo_simulator: Any, monkeypatch: pytest.MonkeyPatch) -> CreateSpy:
    """Records how many of our jobs were unfinished at each ``create_import``."""
    from tests._support.tasks import CreateSpy  # Airflow is imported only once the test needs it

    return CreateSpy(marketo_simulator).install(monkeypatch)


@pytest.fixture
def running_clock(marketo_simulator: Any) -> Iterator[None]:
    """Advance the simulator clock by 0.5 s every 10 ms of real time while the test runs."""
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(0.01):
            marketo_simulator.advance_clock(0.5)

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join()


@pytest.fixture
def api(marketo_simulator: Any) -> Iterator[Api]:
    """The simulator's plain-``requests`` client (simulator and contract tests)."""
    from tests._support.api import Api

    client = Api(marketo_simulator)
    yield client
    client.session.close()  # idle keep-alive connections would slow the server's shutdown
