"""Staged files: a file an import task writes for itself and then imports (a query's rows, an export's
shards normalised into one file).

The staged file has a fixed name per dag/task/map index/run, so that a resume after a deferral finds
it and imports the same bytes without producing them again; it is deleted when the task ends other
than by deferring (:func:`removed_unless_deferred`).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import ObjectStoragePath

from airflow_provider_marketo._compat import TaskDeferred, conf

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_marketo.operators._state import TaskLog

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
#: Executors that run every try and resume of a task on the machine of the scheduler.
_ONE_MACHINE_EXECUTORS = frozenset({"LocalExecutor", "SequentialExecutor", "DebugExecutor"})


def executor_across_machines() -> str | None:
    """The configured executor (``[core] executor``) that can run a task's tries and resumes on
    different machines (Celery, Kubernetes, Edge, ...), or None when every one is local."""
    configured = str(conf.get("core", "executor", fallback="LocalExecutor") or "LocalExecutor")
    for entry in re.split(r"[,;=]", configured):
        name = entry.strip().rpartition(":")[2].rpartition(".")[2]
        if name.endswith("Executor") and name not in _ONE_MACHINE_EXECUTORS:
            return name
    return None


def to_object_storage_path(source: str | os.PathLike[str] | ObjectStoragePath) -> ObjectStoragePath:
    """The source as an ``ObjectStoragePath``: URLs as given, local paths as ``file://`` URLs."""
    if isinstance(source, ObjectStoragePath):
        return source
    text = os.fspath(source)
    if "://" in text:
        return ObjectStoragePath(text)
    # Not Path.as_uri(): it percent-encodes, and ObjectStoragePath would keep "%2A" for a glob's "*".
    return ObjectStoragePath("file://" + Path(text).expanduser().absolute().as_posix())


def default_staging_folder() -> ObjectStoragePath:
    """The local folder for staged files when ``staging_path`` is not given."""
    return to_object_storage_path(os.path.join(tempfile.gettempdir(), "airflow-marketo-staging"))


def staged_path(context: Context, staging_path: Any, suffix: str) -> ObjectStoragePath:
    """``<staging_path>/<dag_id>.<task_id>.<map_index>.<run_id>.<hash>.<suffix>``: the same for every
    try and resume of the task instance."""
    ti = context["ti"]
    map_index = getattr(ti, "map_index", None)
    map_index = -1 if map_index is None else map_index
    key = f"{ti.dag_id}\n{ti.task_id}\n{map_index}\n{ti.run_id}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    readable = ".".join(
        _UNSAFE_NAME.sub("_", str(part)) for part in (ti.dag_id, ti.task_id, map_index, ti.run_id)
    )
    folder = to_object_storage_path(staging_path) if staging_path else default_staging_folder()
    return folder / f"{readable}.{digest}.{suffix}"


@contextmanager
def removed_unless_deferred(staged: Callable[[], ObjectStoragePath | None], log: TaskLog) -> Iterator[None]:
    """Delete the staged file (``staged()``, None: nothing staged) when the block ends, unless it
    ends by deferring: the resume imports the same file."""
    deferred = False
    try:
        yield
    except TaskDeferred:
        deferred = True
        raise
    finally:
        path = None if deferred else staged()
        if path is not None:
            try:
                path.unlink(missing_ok=True)
            except OSError as err:
                log.warning("Could not delete the staged file %s: %s", path, err)
