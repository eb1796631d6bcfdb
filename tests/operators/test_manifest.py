"""The retry manifest: where it lives, what it records, and what it does when storage misbehaves."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_marketo._compat import storage_conn_id
from airflow_provider_marketo.operators._manifest import ImportManifest, SubmittedPart, default_manifest_path

PARTS = [SubmittedPart(index=1, sha256="b" * 64, rows=5, batch_id=12), SubmittedPart(0, "a" * 64, 7, 11)]


def _path(tmp_path: Path, name: str = "m.json") -> ObjectStoragePath:
    return ObjectStoragePath(tmp_path.joinpath(name).as_uri())


def test_default_location_is_next_to_the_source() -> None:
    source = ObjectStoragePath("s3://aws_test@bucket/exports/leads.csv")
    path = default_manifest_path(
        source, dag_id="d", task_id="t", map_index=3, run_id="scheduled__2026-01-01T00:00:00+00:00"
    )
    assert (
        str(path)
        == "s3://aws_test@bucket/exports/.marketo/leads.csv.d.t.3.scheduled__2026-01-01T00_00_00_00_00.json"
    )
    assert storage_conn_id(path) == "aws_test"


def test_saved_parts_load_back_by_index(tmp_path: Path) -> None:
    manifest = ImportManifest(_path(tmp_path, "sub/dir/m.json"), "file:///data/leads.csv")
    assert manifest.load() == {}
    manifest.save(PARTS)
    assert manifest.load() == {0: PARTS[1], 1: PARTS[0]}
    assert ImportManifest(manifest.location, "file:///data/leads.csv").load() == {0: PARTS[1], 1: PARTS[0]}


def test_manifest_of_another_source_is_ignored(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ImportManifest(_path(tmp_path), "file:///data/a.csv").save(PARTS)
    with caplog.at_level(logging.WARNING):
        assert ImportManifest(_path(tmp_path), "file:///data/b.csv").load() == {}
    assert "written for file:///data/a.csv" in caplog.text


def test_unreadable_manifest_warns_and_counts_as_empty(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "m.json").write_text('{"source": "x", "parts": [{"index"')
    with caplog.at_level(logging.WARNING):
        assert ImportManifest(_path(tmp_path), "x").load() == {}
    assert "may be imported again" in caplog.text


def test_unwritable_manifest_warns_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "file").write_text("not a directory")
    manifest = ImportManifest(_path(tmp_path, "file/m.json"), "x")
    with caplog.at_level(logging.WARNING):
        manifest.save(PARTS[:1])
        manifest.save(PARTS)
    assert caplog.text.count("could be imported again") == 1


class FakeTaskStateStore:
    """Airflow's task state store as a task sees it: a JSON key/value store shared by retries."""

    def __init__(self) -> None:
        self.values: dict[str, object] = {}

    def get(self, key: str, default: object = None) -> object:
        return self.values.get(key, default)

    def set(self, key: str, value: object) -> None:
        self.values[key] = json.loads(json.dumps(value))  # JSON only, as the real store


def test_manifest_in_the_task_state_store() -> None:
    store = FakeTaskStateStore()
    manifest = ImportManifest(store, "file:///data/leads.csv")
    assert manifest.load() == {}
    manifest.save(PARTS)
    assert list(store.values) == ["marketo_import_manifest"]
    assert ImportManifest(store, "file:///data/leads.csv").load() == {0: PARTS[1], 1: PARTS[0]}
    assert ImportManifest(store, "file:///data/other.csv").load() == {}
    assert "task state store" in str(manifest)
