"""The retry manifest of a bulk import: which parts of a source Marketo already accepted.

The operator records the manifest after every accepted part, so that a retry of the task (after a
worker crash, say) skips the parts whose index and SHA-256 still match instead of importing them
twice. It lives in Airflow's task state store (``context["task_state_store"]``, shared by the tries
of a task instance) or, where asked or where the runtime has no such store, in a JSON file in object
storage. A manifest that cannot be read or written only costs that protection: the problem is logged
and the import goes on.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from airflow.sdk import ObjectStoragePath

log = logging.getLogger(__name__)


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


def default_manifest_path(
    source: ObjectStoragePath, *, dag_id: str, task_id: str, map_index: int, run_id: str
) -> ObjectStoragePath:
    """``<source dir>/.marketo/<source name>.<dag_id>.<task_id>.<map_index>.<run_id slug>.json``."""
    run_slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", run_id).strip("_")
    name = f"{source.name}.{dag_id}.{task_id}.{map_index}.{run_slug}.json"
    return source.parent / ".marketo" / name


class TaskStateStore(Protocol):
    """What the manifest needs of Airflow's ``context["task_state_store"]``."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any) -> None: ...


#: Key of the manifest in the task state store.
STATE_KEY = "marketo_import_manifest"


class ImportManifest:
    """The manifest of one task's import of one source, in a task state store or an object storage file."""

    def __init__(self, location: ObjectStoragePath | TaskStateStore, source: str) -> None:
        self.location = location
        self.source = source
        self._write_failed = False

    def __str__(self) -> str:
        if isinstance(self.location, ObjectStoragePath):
            return str(self.location)
        return f"the task state store (key {STATE_KEY!r})"

    def _read(self) -> Any:
        if not isinstance(self.location, ObjectStoragePath):
            return self.location.get(STATE_KEY)
        if not self.location.exists():
            return None
        return json.loads(self.location.read_text(encoding="utf-8"))

    def _write(self, body: dict[str, Any]) -> None:
        if not isinstance(self.location, ObjectStoragePath):
            self.location.set(STATE_KEY, body)
            return
        self.location.parent.mkdir(parents=True, exist_ok=True)
        self.location.write_text(json.dumps(body, indent=1), encoding="utf-8")

    def load(self) -> dict[int, SubmittedPart]:
        """The parts recorded by earlier tries, by index (empty when there is no usable manifest)."""
        try:
            data = self._read()
            if data is None:
                return {}
            if data.get("source") != self.source:
                log.warning(
                    "Ignoring retry manifest in %s: it was written for %s, not %s.",
                    self,
                    data.get("source"),
                    self.source,
                )
                return {}
            parts = (SubmittedPart.from_dict(item) for item in data["parts"])
            return {part.index: part for part in parts}
        except Exception as err:
            log.warning(
                "Could not read retry manifest in %s (%s); parts imported by an earlier try may be "
                "imported again.",
                self,
                err,
            )
            return {}

    def save(self, parts: Iterable[SubmittedPart]) -> None:
        """Record the accepted parts; a failure is logged once (a retry could then re-import)."""
        body = {
            "source": self.source,
            "parts": [part.to_dict() for part in sorted(parts, key=lambda p: p.index)],
        }
        try:
            self._write(body)
        except Exception as err:
            if not self._write_failed:
                log.warning(
                    "Could not write retry manifest in %s (%s); if this task is retried, parts already "
                    "imported could be imported again.",
                    self,
                    err,
                )
            self._write_failed = True
