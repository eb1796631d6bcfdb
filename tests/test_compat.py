"""The compatibility module: the fallbacks used before Airflow 3.3 / 3.2 behave like the new APIs."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_marketo import _compat


def test_task_state_store_is_returned_when_the_runtime_has_one(caplog: pytest.LogCaptureFixture) -> None:
    store = object()
    with caplog.at_level(logging.INFO, logger=_compat.__name__):
        assert _compat.task_state_store({"task_state_store": store}) is store
    assert caplog.records == []


def test_missing_task_state_store_before_3_3_says_the_manifest_falls_back(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Outside Airflow's task runner (no supervisor for Variables): the manifest falls back to a file."""
    from airflow.sdk.execution_time import task_runner

    monkeypatch.setattr(_compat, "AIRFLOW_V_3_3_PLUS", False)
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", None, raising=False)
    with caplog.at_level(logging.INFO, logger=_compat.__name__):
        assert _compat.task_state_store({}) is None
    (record,) = caplog.records
    assert "no task state store" in record.getMessage()
    assert "outside Airflow's task runner" in record.getMessage()
    assert "object storage" in record.getMessage()


def test_missing_task_state_store_on_3_3_is_not_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(_compat, "AIRFLOW_V_3_3_PLUS", True)
    with caplog.at_level(logging.INFO, logger=_compat.__name__):
        assert _compat.task_state_store({}) is None
    assert caplog.records == []


async def test_amask_secret_fallback_masks_the_secret() -> None:
    from airflow.sdk._shared.secrets_masker import redact

    secret = "fallback-secret-3f9c1d"
    await _compat._amask_secret_in_thread(secret)
    assert redact(f"token {secret} sent") == "token *** sent"


@pytest.mark.parametrize(
    ("namespace", "expected"),
    [
        ("s3://aws_test@bucket", "s3://bucket"),  # Airflow 3.1 keeps the connection id
        ("s3://bucket", "s3://bucket"),
        ("file", "file"),
    ],
)
def test_storage_namespace_drops_the_connection_id(namespace: str, expected: str) -> None:
    path: Any = SimpleNamespace(namespace=namespace)
    assert _compat.storage_namespace(path) == expected


def test_storage_conn_id_of_a_real_path() -> None:
    from airflow.sdk import ObjectStoragePath

    assert _compat.storage_conn_id(ObjectStoragePath("s3://aws_test@bucket/a.csv")) == "aws_test"
    assert _compat.storage_conn_id(ObjectStoragePath("file:///tmp/a.csv")) is None


def test_legacy_field_behaviour_needs_a_known_connection_type() -> None:
    with pytest.raises(KeyError, match="no connection type 'nope'"):
        _compat.legacy_field_behaviour("nope")


def test_keep_in_process_api_alive_patches_only_airflow_3_2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the kept reference Airflow 3.2's dag.test() fails every task (KeyError 'svcs_registry')."""
    from airflow.sdk.execution_time import supervisor

    def original() -> object:
        return object()

    monkeypatch.setattr(_compat, "_IN_PROCESS_APIS", [])
    for v32, v33, patched in ((True, True, False), (False, False, False), (True, False, True)):
        monkeypatch.setattr(supervisor, "in_process_api_server", original)
        monkeypatch.setattr(_compat, "AIRFLOW_V_3_2_PLUS", v32)
        monkeypatch.setattr(_compat, "AIRFLOW_V_3_3_PLUS", v33)
        _compat.keep_in_process_api_alive()
        assert (supervisor.in_process_api_server is not original) is patched
    api = supervisor.in_process_api_server()
    assert [api] == _compat._IN_PROCESS_APIS
    _compat.keep_in_process_api_alive()  # a second call does not wrap the wrapper
    supervisor.in_process_api_server()
    assert len(_compat._IN_PROCESS_APIS) == 2
