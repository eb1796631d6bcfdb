"""The import manifest: one document per task instance, where it lives, and storage that misbehaves."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_marketo._compat import storage_conn_id
from airflow_provider_marketo.operators._manifest import (
    ImportManifest,
    ManifestError,
    ManifestScope,
    manifest_file,
)
from tests._support.tasks import FakeTaskStateStore

SCOPE = ManifestScope("d", "t", "scheduled__2026-01-01T00:00:00+00:00", 3)
BODY = {
    "source": "file:///data/leads.csv",
    "parts": [{"index": 0, "sha256": "a" * 64, "rows": 7, "batch_id": 11}],
}


def _path(tmp_path: Path, name: str = "m.json") -> ObjectStoragePath:
    return ObjectStoragePath(tmp_path.joinpath(name).as_uri())


def test_the_key_holds_dag_task_map_index_and_run() -> None:
    assert SCOPE.key == "d.t.3.scheduled__2026-01-01T00_00_00_00_00"


def test_file_locations() -> None:
    source = ObjectStoragePath("s3://aws_test@bucket/exports/leads.csv")
    default = manifest_file(None, source, SCOPE)
    assert str(default) == f"s3://aws_test@bucket/exports/.marketo/leads.csv.{SCOPE.key}.json"
    assert storage_conn_id(default) == "aws_test"
    fixed = manifest_file(ObjectStoragePath("file:///data/manifests/fixed.json"), source, SCOPE)
    assert str(fixed) == f"file:///data/manifests/fixed.{SCOPE.key}.json"
    folder = manifest_file(ObjectStoragePath("file:///data/manifests"), source, SCOPE)
    assert str(folder) == f"file:///data/manifests/{SCOPE.key}.json"


def test_saved_document_loads_back(tmp_path: Path) -> None:
    manifest = ImportManifest(_path(tmp_path, "sub/dir/m.json"), SCOPE)
    assert manifest.load() is None
    manifest.save(BODY)
    assert ImportManifest(manifest.location, SCOPE).load() == {"version": 2, "scope": SCOPE.to_dict(), **BODY}


def test_document_of_another_task_instance_is_not_used(tmp_path: Path) -> None:
    # Even in one file (a fixed location written by hand, say), the scope inside must match.
    ImportManifest(_path(tmp_path), SCOPE).save(BODY)
    other = ManifestScope("d", "t", "scheduled__2026-01-02T00:00:00+00:00", 3)
    assert ImportManifest(_path(tmp_path), other).load() is None
    assert ImportManifest(_path(tmp_path), SCOPE).load() is not None


def test_document_of_another_version_is_not_used(tmp_path: Path) -> None:
    (tmp_path / "m.json").write_text('{"source": "x", "parts": []}')  # the version 1 format
    assert ImportManifest(_path(tmp_path), SCOPE).load() is None


def test_unreadable_manifest_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "m.json").write_text('{"source": "x", "parts": [{"index"')
    with pytest.raises(ManifestError, match="Could not read the import manifest"):
        ImportManifest(_path(tmp_path), SCOPE).load()


def test_unwritable_manifest_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(ManifestError, match="Could not write the import manifest"):
        ImportManifest(_path(tmp_path, "file/m.json"), SCOPE).save(BODY)


def test_manifest_in_the_task_state_store() -> None:
    store = FakeTaskStateStore()
    manifest = ImportManifest(store, SCOPE)
    assert manifest.load() is None
    manifest.save(BODY)
    assert list(store.values) == [f"marketo_import_manifest.{SCOPE.key}"]
    assert ImportManifest(store, SCOPE).load() == {"version": 2, "scope": SCOPE.to_dict(), **BODY}
    assert "task state store" in str(manifest)
