"""The manifest of a bulk import: the part plan and which parts Marketo accepted, per task instance.

One JSON document per task instance (dag, task, run, map index: its :class:`ManifestScope`) holds
what a later try or a resumed deferral needs: the source and its fingerprint, the part plan, the
accepted parts, the wait in progress and which try wrote it. It lives in Airflow's task state store
(``context["task_state_store"]``, Airflow 3.3+), in an Airflow Variable before 3.3
(``_compat.VariableTaskStore``, deleted once the task instance succeeds) or, where asked
(``manifest_path``) or outside Airflow's task runner, in a JSON file in object storage. The scope is in the key (file name or store key) and in the
document, so a document of another task instance is never taken for this one's.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from airflow.sdk import ObjectStoragePath


@dataclass(frozen=True)
class SubmittedPart:
    """One part of the source that Marketo accepted as an import job."""

    index: int
    sha256: str
    rows: int
    batch_id: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SubmittedPart:
        return cls(
            index=int(data["index"]),
            sha256=str(data["sha256"]),
            rows=int(data["rows"]),
            batch_id=int(data["batch_id"]),
        )


@dataclass(frozen=True)
class ManifestScope:
    """The task instance a manifest belongs to."""

    dag_id: str
    task_id: str
    run_id: str
    map_index: int

    @property
    def key(self) -> str:
        """``<dag_id>.<task_id>.<map_index>.<run_id slug>``: safe in a file name and a store key."""
        run_slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.run_id).strip("_")
        return f"{self.dag_id}.{self.task_id}.{self.map_index}.{run_slug}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class TaskStateStore(Protocol):
    """What the manifest needs of Airflow's ``context["task_state_store"]``."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any) -> None: ...


#: Prefix of the manifest's key in the task state store (the scope's key follows).
STATE_KEY = "marketo_import_manifest"
#: Version of the manifest document; documents of another version are not used.
MANIFEST_VERSION = 2


class ManifestError(Exception):
    """The manifest could not be read or written."""


def manifest_file(
    folder_or_file: ObjectStoragePath | None, source: ObjectStoragePath, scope: ManifestScope
) -> ObjectStoragePath:
    """Where the manifest file of ``scope`` goes.

    No location: ``<source dir>/.marketo/<source name>.<scope key>.json``. A location ending in
    ``.json``: ``<its dir>/<its stem>.<scope key>.json``. Any other location is a folder:
    ``<folder>/<scope key>.json``.
    """
    if folder_or_file is None:
        return source.parent / ".marketo" / f"{source.name}.{scope.key}.json"
    if folder_or_file.name.endswith(".json"):
        return folder_or_file.parent / f"{folder_or_file.stem}.{scope.key}.json"
    return folder_or_file / f"{scope.key}.json"


class ImportManifest:
    """Read and write the manifest document of one task instance, in a task state store or a file."""

    def __init__(self, location: ObjectStoragePath | TaskStateStore, scope: ManifestScope) -> None:
        self.location = location
        self.scope = scope

    @property
    def state_key(self) -> str:
        return f"{STATE_KEY}.{self.scope.key}"

    def __str__(self) -> str:
        if isinstance(self.location, ObjectStoragePath):
            return str(self.location)
        describe = getattr(self.location, "describe", None)
        if describe is not None:
            return str(describe(self.state_key))
        return f"the task state store (key {self.state_key!r})"

    def release(self) -> None:
        """The task instance succeeded: delete the document where Airflow would keep it for ever (an
        Airflow Variable). The task state store (its own retention) and files stay as they are."""
        if getattr(self.location, "delete_on_success", False):
            self.location.delete(self.state_key)  # type: ignore[union-attr]

    def load(self) -> dict[str, Any] | None:
        """This task instance's document, or None when there is none (or one of another version)."""
        try:
            if isinstance(self.location, ObjectStoragePath):
                data = (
                    json.loads(self.location.read_text(encoding="utf-8")) if self.location.exists() else None
                )
            else:
                data = self.location.get(self.state_key)
        except Exception as err:
            raise ManifestError(f"Could not read the import manifest in {self}: {err}") from err
        if not isinstance(data, dict) or data.get("version") != MANIFEST_VERSION:
            return None
        if data.get("scope") != self.scope.to_dict():
            return None
        return data

    def save(self, body: dict[str, Any]) -> None:
        """Write the document (the scope and version are added); raise :class:`ManifestError`."""
        document = {"version": MANIFEST_VERSION, "scope": self.scope.to_dict(), **body}
        try:
            if isinstance(self.location, ObjectStoragePath):
                self.location.parent.mkdir(parents=True, exist_ok=True)
                self.location.write_text(json.dumps(document, indent=1), encoding="utf-8")
            else:
                self.location.set(self.state_key, document)
        except Exception as err:
            raise ManifestError(f"Could not write the import manifest in {self}: {err}") from err
