"""What a submission holds and answers: its settings, the steps it asks for, the wait in progress,
the try that runs and the source's fingerprint."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

from airflow.sdk import ObjectStoragePath

from airflow_provider_marketo._compat import AirflowException, task_state_store
from airflow_provider_marketo.backoff import MAX_POLL_INTERVAL
from airflow_provider_marketo.objects import BulkTarget
from airflow_provider_marketo.operators._manifest import (
    ImportManifest,
    ManifestError,
    ManifestScope,
    SubmittedPart,
    TaskStateStore,
    manifest_file,
)
from airflow_provider_marketo.utils.parts import PartPlan, PlannedPart

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.triggers.base import BaseTrigger


ParamValue = str | int | None
TryKind = Literal["new", "resume", "retry", "clear"]


class TaskLog(Protocol):
    """What the submission uses of a logger (the operator's ``self.log``)."""

    def info(self, msg: str, /, *args: Any) -> Any: ...

    def warning(self, msg: str, /, *args: Any) -> Any: ...


@dataclass(frozen=True)
class SubmissionConfig:
    """What the operator tells the submission (rendered arguments)."""

    marketo_conn_id: str
    target: BulkTarget
    params: dict[str, ParamValue]
    file_format: str
    part_size: int
    lookup_column: str | None
    required_columns: tuple[str, ...]
    job_limit: int
    deferrable: bool
    poll_interval: float
    max_queue_wait: float
    execution_timeout: float | None
    keep_completed_on_clear: bool
    retries: int
    manifest_path: ObjectStoragePath | None
    #: The export's files ``[url, size, version]`` when the source is their staged copy, else None.
    shards: tuple[tuple[str, int, str], ...] | None = None
    #: The part plan made while the source was staged (so planning does not read it back), else None.
    plan: PartPlan | None = None
    #: The operator's logger, so that the submission's messages are in the task log.
    log: TaskLog = field(default=logging.getLogger(__name__), compare=False)

    @property
    def max_delay(self) -> float:
        return max(MAX_POLL_INTERVAL, self.poll_interval)


@dataclass(frozen=True)
class Submit:
    """Create a job for this part now (``data`` is the part as uploaded)."""

    part: PlannedPart
    data: bytes
    sha256: str
    filename: str
    label: str


@dataclass(frozen=True)
class Sleep:
    """Sleep this long on the worker, then ask again."""

    seconds: float
    reason: str


@dataclass(frozen=True)
class Defer:
    """Defer on this trigger (``timeout``: the time ``execution_timeout`` leaves), then resume."""

    trigger: BaseTrigger
    timeout: timedelta | None
    reason: str


@dataclass(frozen=True)
class Done:
    """Every part is accepted."""

    batch_ids: list[int]
    rows_sent: dict[str, int]
    total_rows: int


Step = Submit | Sleep | Defer | Done


@dataclass
class WaitState:
    """The wait in progress: waits since the last accepted part, the first refusal, finished jobs."""

    attempts: int = 0
    #: Epoch seconds of the first 1016/1019 answer for the part being submitted (None: none yet).
    refused_since: float | None = None
    #: Batch ids known to be Complete or Failed (not asked about again).
    finished: set[int] = field(default_factory=set)

    def to_dict(self) -> dict[str, Any]:
        return {
            "attempts": self.attempts,
            "refused_since": self.refused_since,
            "finished": sorted(self.finished),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WaitState:
        return cls(
            attempts=int(data.get("attempts", 0)),
            refused_since=data.get("refused_since"),
            finished={int(b) for b in data.get("finished", [])},
        )


@dataclass(frozen=True)
class TryInfo:
    """The task instance and try running now."""

    scope: ManifestScope
    try_number: int
    max_tries: int | None
    can_retry: bool

    @classmethod
    def of(cls, context: Context, retries: int) -> TryInfo:
        ti = context["ti"]
        map_index = getattr(ti, "map_index", None)
        max_tries = getattr(ti, "max_tries", None)
        try_number = int(getattr(ti, "try_number", None) or 1)
        scope = ManifestScope(ti.dag_id, ti.task_id, ti.run_id, -1 if map_index is None else int(map_index))
        can_retry = retries > 0 and (max_tries is None or try_number <= int(max_tries))
        return cls(scope, try_number, None if max_tries is None else int(max_tries), can_retry)

    def kind_of(self, document: Mapping[str, Any] | None) -> TryKind:
        """How this try relates to the try that wrote ``document``."""
        if document is None:
            return "new"
        if int(document.get("try_number", 0)) == self.try_number:
            return "resume"
        if document.get("max_tries") == self.max_tries:
            return "retry"
        return "clear"


def info_version(info: Mapping[str, Any]) -> str:
    """A stored file's version from its fsspec ``info``: ETag, else modification time."""
    keys = ("ETag", "etag", "mtime", "LastModified", "last_modified")
    return str(next((info[k] for k in keys if info.get(k)), ""))


def fingerprint(
    source: ObjectStoragePath, shards: tuple[tuple[str, int, str], ...] | None = None
) -> dict[str, Any]:
    """The source's size and version (ETag or modification time): changes when the file does.

    For a staged copy of an export (``shards``): its size and the export's files, sizes and versions
    (the copy is written again by a retry, with a new modification time but the same bytes).
    """
    try:
        info = source.fs.info(source.path)
    except FileNotFoundError as err:
        raise FileNotFoundError(f"The import source {source} does not exist.") from err
    except Exception as err:
        raise FileNotFoundError(f"Cannot read the import source {source}: {err}") from err
    if info.get("type", "file") != "file":
        raise FileNotFoundError(f"The import source {source} is not a file.")
    if shards is not None:
        return {"size": int(info["size"]), "shards": [list(shard) for shard in shards]}
    return {"size": int(info["size"]), "version": info_version(info)}


def same_source(document: Mapping[str, Any], source: ObjectStoragePath, current: Mapping[str, Any]) -> bool:
    """Whether ``source`` is what ``document`` was made from: the same file and fingerprint, or for a
    staged copy of an export the same export files and copy size (the copy's path names the temp
    directory of the worker that wrote it; :func:`read_part` still checks every part it reads)."""
    if document.get("fingerprint") != current:
        return False
    return "shards" in current or document.get("source") == str(source)


def check_same_shards(document: Mapping[str, Any], current: Mapping[str, Any], when: str) -> None:
    """Raise when the export's files differ from those an earlier try or start of this task read."""
    before = document.get("fingerprint", {}).get("shards")
    now = current.get("shards")
    if before is None or now is None or before == now:
        return
    old = {str(s[0]): s for s in before}
    new = {str(s[0]): s for s in now}
    changes = [f"{url} is new" for url in new if url not in old]
    changes += [f"{url} is gone" for url in old if url not in new]
    changes += [f"{url} changed" for url in new if url in old and new[url] != old[url]]
    raise AirflowException(
        f"The files of the export changed {when} ({'; '.join(changes[:10])}"
        f"{'; ...' if len(changes) > 10 else ''}). Leave an export's files alone until its import "
        "task has finished; clear the task to import the new set from the start."
    )


def manifest_location(
    context: Context, config: SubmissionConfig, source: ObjectStoragePath, scope: ManifestScope
) -> ObjectStoragePath | TaskStateStore:
    """The task state store when the runtime has one (and no path is given), else a file."""
    store = task_state_store(cast("Mapping[str, Any]", context)) if config.manifest_path is None else None
    if config.manifest_path is None and store is not None:
        return cast("TaskStateStore", store)
    return manifest_file(config.manifest_path, source, scope)


KIND_TEXT: dict[TryKind, str] = {
    "new": "nothing imported yet",
    "resume": "resuming this try",
    "retry": "a retry: parts already accepted are skipped",
    "clear": "the task was cleared",
}


def load_document(manifest: ImportManifest) -> dict[str, Any] | None:
    try:
        return manifest.load()
    except ManifestError as err:
        raise AirflowException(
            f"{err}. Fix the storage or set manifest_path to a readable location."
        ) from err


def accepted_parts(document: Mapping[str, Any]) -> dict[int, SubmittedPart]:
    parts = (SubmittedPart.from_dict(item) for item in document.get("parts", []))
    return {part.index: part for part in parts}
