"""Operators that import a delimited file into Marketo through the Bulk Import API.

One operator per kind of import (leads, custom objects, program members); the shared machinery is in
:class:`BaseBulkImportOperator`. The operator reads the source once through ``ObjectStoragePath``,
validates the whole file and splits it into parts under Marketo's 10 MB request limit, then submits
the parts in order, keeping at most ``max_active_jobs`` of its own jobs in Marketo's import queue and
waiting (on the worker or, with ``deferrable=True``, in the triggerer) when the queue is full (1016)
or the list is busy (1019). It returns the batch ids; :class:`BulkImportSensor` waits for the jobs.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import TYPE_CHECKING, Any, BinaryIO, cast
from urllib.parse import urlsplit

from airflow.sdk import BaseOperator, ObjectStoragePath, XComArg

from airflow_provider_marketo._compat import AirflowException, conf, storage_namespace, task_state_store
from airflow_provider_marketo.exceptions import (
    MarketoConfigError,
    MarketoError,
    MarketoListBusyError,
    MarketoQueueFullError,
)
from airflow_provider_marketo.hooks.marketo import MarketoHook
from airflow_provider_marketo.objects import TERMINAL_STATUSES, BulkTarget
from airflow_provider_marketo.operators._manifest import (
    ImportManifest,
    SubmittedPart,
    TaskStateStore,
    default_manifest_path,
)
from airflow_provider_marketo.triggers.bulk_import import BulkImportTrigger
from airflow_provider_marketo.utils.delimited import (
    Part,
    SplitResult,
    check_format,
    infer_format,
    split_delimited,
)

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import Context
    from airflow.triggers.base import BaseTrigger

#: Default part size: our conservative reading of Marketo's 10 MB request limit, leaving 64 KiB for
#: the multipart envelope.
DEFAULT_PART_SIZE = 10_000_000 - 64 * 1024
#: Longest pause between two checks while waiting for queue room.
MAX_POLL_INTERVAL = 30.0
#: Smallest part size accepted (a part must hold the header and at least one row).
MIN_PART_SIZE = 1024

ParamValue = str | int | None


@dataclass
class _ImportState:
    """What survives a deferral: the parts accepted in this try and the current wait."""

    submitted: list[SubmittedPart] = field(default_factory=list)
    #: Epoch seconds of the first 1016/1019 answer for the part being submitted (None: no such wait).
    wait_started: float | None = None
    #: The next pause in seconds (None: start from ``poll_interval``).
    delay: float | None = None
    #: Batch ids known to be Complete or Failed (not asked about again).
    finished: set[int] = field(default_factory=set)

    def to_dict(self) -> dict[str, Any]:
        return {
            "submitted": [part.to_dict() for part in self.submitted],
            "wait_started": self.wait_started,
            "delay": self.delay,
            "finished": sorted(self.finished),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> _ImportState:
        return cls(
            submitted=[SubmittedPart.from_dict(item) for item in data.get("submitted", [])],
            wait_started=data.get("wait_started"),
            delay=data.get("delay"),
            finished={int(batch_id) for batch_id in data.get("finished", [])},
        )


@dataclass
class _ImportRun:
    """One execution's working set: where the parts go and which of them Marketo accepted."""

    hook: MarketoHook
    target: BulkTarget
    params: dict[str, ParamValue]
    source: ObjectStoragePath
    file_format: str
    part_count: int
    state: _ImportState
    #: Accepted parts by index (this try's and those an earlier try recorded in the manifest).
    accepted: dict[int, SubmittedPart]


def _positive_int(value: Any, name: str) -> int:
    """``value`` (possibly a rendered template string) as a positive int, else a clear error."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if isinstance(value, bool) or number <= 0 or str(number) != str(value).strip():
        raise MarketoConfigError(f"{name} must be a positive integer, got {value!r}.")
    return number


def to_object_storage_path(source: str | os.PathLike[str] | ObjectStoragePath) -> ObjectStoragePath:
    """The source as an ``ObjectStoragePath``: URLs as given, local paths as ``file://`` URLs."""
    if isinstance(source, ObjectStoragePath):
        return source
    text = os.fspath(source)
    if "://" in text:
        return ObjectStoragePath(text)
    return ObjectStoragePath(Path(text).expanduser().absolute().as_uri())


class BaseBulkImportOperator(BaseOperator):
    """
    Import a delimited file into Marketo with as many bulk import jobs as its size needs.

    Subclasses say where the rows go (:attr:`target`), the create parameters
    (:meth:`create_params`) and the columns every file needs (:attr:`required_columns`).

    :param source: the file: a local path, an ``ObjectStoragePath`` or a URL such as
        ``s3://aws_conn@bucket/key.csv`` (templated). Its first row is a header of Marketo API names.
    :param format: ``csv``, ``tsv`` or ``ssv``; inferred from the file extension when omitted.
    :param marketo_conn_id: the Marketo connection.
    :param max_active_jobs: at most this many of this task's jobs queued or importing at once
        (Marketo's queue holds 10 jobs for the whole instance).
    :param deferrable: wait for queue room in the triggerer instead of sleeping on the worker
        (default: Airflow's ``[operators] default_deferrable``).
    :param poll_interval: first pause in seconds between checks while waiting; doubles up to 30 s.
    :param max_queue_wait: give up (seconds or timedelta) when Marketo has answered "queue full" (1016)
        or "list busy" (1019) for one part for this long.
    :param part_size: largest part in bytes (header included); default 10 MB less 64 KiB.
    :param manifest_path: an object storage file for the retry manifest (templated); by default the
        manifest lives in Airflow's task state store (Airflow 3.3+), else in
        ``<source dir>/.marketo/<source name>.<dag_id>.<task_id>.<map_index>.<run_id>.json``.
    """

    template_fields: Sequence[str] = ("source", "format", "marketo_conn_id", "manifest_path")
    ui_color = "#5c4ee5"
    ui_fgcolor = "#ffffff"

    #: Columns the header must hold.
    required_columns: tuple[str, ...] = ()

    def __init__(
        self,
        *,
        source: str | os.PathLike[str] | ObjectStoragePath,
        format: str | None = None,
        marketo_conn_id: str = "marketo_default",
        max_active_jobs: int = 3,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 5.0,
        max_queue_wait: float | timedelta = 3600.0,
        part_size: int | None = None,
        manifest_path: str | ObjectStoragePath | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.format = format
        self.marketo_conn_id = marketo_conn_id
        self.max_active_jobs = max_active_jobs
        self.deferrable = deferrable
        self.poll_interval = float(poll_interval)
        self.max_queue_wait = (
            max_queue_wait.total_seconds() if isinstance(max_queue_wait, timedelta) else float(max_queue_wait)
        )
        self.part_size = DEFAULT_PART_SIZE if part_size is None else part_size
        self.manifest_path = manifest_path
        if max_active_jobs < 1:
            raise ValueError(f"max_active_jobs must be at least 1, got {max_active_jobs}.")
        if self.poll_interval <= 0:
            raise ValueError(f"poll_interval must be positive, got {poll_interval}.")
        if self.max_queue_wait < 0:
            raise ValueError(f"max_queue_wait must not be negative, got {max_queue_wait}.")
        if not MIN_PART_SIZE <= self.part_size <= DEFAULT_PART_SIZE:
            raise ValueError(
                f"part_size must be between {MIN_PART_SIZE} and {DEFAULT_PART_SIZE} bytes, got {part_size}."
            )

    # What subclasses say.

    @property
    def target(self) -> BulkTarget:
        """Where the rows go (built from the rendered arguments)."""
        raise NotImplementedError

    def create_params(self) -> dict[str, ParamValue]:
        """Parameters of the create call besides ``format`` (None values are not sent)."""
        return {}

    @property
    def lookup_column(self) -> str | None:
        """The column that must be in the header to match existing records, if any."""
        return None

    @property
    def job_limit(self) -> int:
        """How many of this task's jobs may be queued or importing at once."""
        return self.max_active_jobs

    # XCom and lineage.

    @property
    def rows_sent_output(self) -> XComArg:
        """The data rows sent in each job, aligned with the returned batch ids."""
        return XComArg(self, key="rows_sent")

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage[Any, Any]:
        """The source file as input, the Marketo object as output."""
        from airflow.providers.common.compat.openlineage.facet import Dataset
        from airflow.providers.openlineage.extractors import OperatorLineage

        source = to_object_storage_path(self.source)
        host = urlsplit(MarketoHook(self.marketo_conn_id).settings.base_url).netloc
        return OperatorLineage(
            inputs=[
                Dataset(
                    namespace=storage_namespace(source), name=source.key if source.bucket else source.path
                )
            ],
            outputs=[Dataset(namespace=f"marketo://{host}", name=_lineage_name(self.target))],
        )

    # Running.

    def execute(self, context: Context) -> list[int]:
        return self._run_import(context, _ImportState())

    def resume_import(self, context: Context, state: dict[str, Any], event: Any = None) -> list[int]:
        """Continue after a deferral: re-split the source and submit the remaining parts."""
        resumed = _ImportState.from_dict(state)
        if isinstance(event, Mapping):
            status, message = event.get("status"), event.get("message")
            if status == "error":
                raise AirflowException(f"Checking this task's Marketo jobs failed: {message}")
            if status == "failed":
                self.log.warning("Resuming; some of this task's jobs failed: %s", message)
            else:
                self.log.info("Resuming: %s", message)
            resumed.finished.update(
                int(batch["batch_id"])
                for batch in event.get("batches", [])
                if batch.get("status") in TERMINAL_STATUSES
            )
        return self._run_import(context, resumed)

    def _run_import(self, context: Context, state: _ImportState) -> list[int]:
        target = self.target
        params = self.create_params()
        source = to_object_storage_path(self.source)
        file_format = check_format(self.format) if self.format else infer_format(source.name)
        self._check_source(source)
        with TemporaryDirectory(prefix="marketo-import-") as workdir:
            split = self._split(source, file_format, Path(workdir))
            manifest = ImportManifest(self._manifest_location(context, source), str(source))
            self.log.info("Retry manifest: %s.", manifest)
            run = _ImportRun(
                hook=MarketoHook(self.marketo_conn_id),
                target=target,
                params=params,
                source=source,
                file_format=file_format,
                part_count=len(split.parts),
                state=state,
                accepted=self._accepted_parts(split, state, manifest, source),
            )
            for part in split.parts:
                if part.index in run.accepted:
                    continue
                submitted = SubmittedPart(part.index, part.sha256, part.data_rows, self._submit(run, part))
                run.accepted[part.index] = submitted
                state.submitted.append(submitted)
                state.wait_started = state.delay = None
                manifest.save(run.accepted.values())
        batch_ids = [run.accepted[part.index].batch_id for part in split.parts]
        rows_sent = [run.accepted[part.index].rows for part in split.parts]
        self.log.info(
            "Submitted %d rows in %d job(s): batch ids %s.", split.total_rows, len(batch_ids), batch_ids
        )
        ti = context["ti"]
        ti.xcom_push(key="batch_ids", value=batch_ids)
        ti.xcom_push(key="batch_id", value=batch_ids[0] if batch_ids else None)
        ti.xcom_push(key="rows_sent", value=rows_sent)
        return batch_ids

    def _check_source(self, source: ObjectStoragePath) -> None:
        try:
            found = source.is_file()
        except Exception as err:
            raise FileNotFoundError(f"Cannot read the import source {source}: {err}") from err
        if not found:
            raise FileNotFoundError(f"The import source {source} does not exist or is not a file.")

    def _split(self, source: ObjectStoragePath, file_format: str, workdir: Path) -> SplitResult:
        self.log.info(
            "Reading and validating %s (%s) in parts of at most %d bytes.",
            source,
            file_format,
            self.part_size,
        )
        with source.open("rb") as stream:  # type: ignore[no-untyped-call]
            split = split_delimited(
                cast("BinaryIO", stream),
                file_format=file_format,
                max_part_bytes=self.part_size,
                workdir=workdir,
                lookup_field=self.lookup_column,
                required=self.required_columns,
                source_name=str(source),
            )
        self.log.info(
            "%s: %d bytes, %d data rows, %d part(s) planned.",
            source,
            split.total_bytes,
            split.total_rows,
            len(split.parts),
        )
        return split

    def _manifest_location(
        self, context: Context, source: ObjectStoragePath
    ) -> ObjectStoragePath | TaskStateStore:
        if self.manifest_path:
            return to_object_storage_path(self.manifest_path)
        store = task_state_store(context)
        if store is not None:
            return cast("TaskStateStore", store)
        ti = context["ti"]
        map_index = getattr(ti, "map_index", None)
        return default_manifest_path(
            source,
            dag_id=ti.dag_id,
            task_id=ti.task_id,
            map_index=-1 if map_index is None else map_index,
            run_id=ti.run_id,
        )

    def _accepted_parts(
        self, split: SplitResult, state: _ImportState, manifest: ImportManifest, source: ObjectStoragePath
    ) -> dict[int, SubmittedPart]:
        """Parts accepted before: by this try before a deferral (must match) or by an earlier try."""
        parts = {part.index: part for part in split.parts}
        accepted: dict[int, SubmittedPart] = {}
        for done in state.submitted:
            part = parts.get(done.index)
            if part is None or part.sha256 != done.sha256:
                raise AirflowException(
                    f"The source {source} changed while this task was deferred: part {done.index + 1} "
                    f"no longer matches the part already imported as batch {done.batch_id}. "
                    "Do not change an import's source until the task has finished."
                )
            accepted[done.index] = done
        for index, done in sorted(manifest.load().items()):
            part = parts.get(index)
            if index in accepted:
                continue
            if part is None or part.sha256 != done.sha256:
                self.log.warning(
                    "Part %d differs from the part batch %d imported in an earlier try; importing it again.",
                    index + 1,
                    done.batch_id,
                )
                continue
            self.log.info(
                "Part %d already imported as batch %d by an earlier try; skipping it.",
                index + 1,
                done.batch_id,
            )
            accepted[index] = done
        return accepted

    def _submit(self, run: _ImportRun, part: Part) -> int:
        """Create the job for ``part`` once there is room; wait as long as there is none."""
        label = f"part {part.index + 1} of {run.part_count}"
        filename = f"{run.source.stem}.part-{part.index + 1:04d}-of-{run.part_count:04d}.{run.file_format}"
        while True:
            active = self._active_jobs(run)
            if len(active) >= self.job_limit:
                reason = (
                    f"{len(active)} of this task's jobs are still queued or importing "
                    f"(limit {self.job_limit}): {active}"
                )
                self._wait(run, label, reason, active, max_pending=self.job_limit - 1, error=None)
                continue
            try:
                with open(part.path, "rb") as fileobj:
                    batch_id = run.hook.create_import(
                        run.target, fileobj, file_format=run.file_format, filename=filename, params=run.params
                    )
            except (MarketoQueueFullError, MarketoListBusyError) as err:
                reason = (
                    "Marketo's import queue is full (1016: at most 10 jobs per instance, shared with "
                    f"other integrations): {err.marketo_message}"
                    if isinstance(err, MarketoQueueFullError)
                    else f"another import into the same list is in progress (1019): {err.marketo_message}"
                )
                self._wait(run, label, reason, active, max_pending=len(active) - 1, error=err)
                continue
            self.log.info(
                "Submitted %s (%s, %d bytes, %d rows) as batch %d.",
                label,
                filename,
                part.size,
                part.data_rows,
                batch_id,
            )
            return batch_id

    def _active_jobs(self, run: _ImportRun) -> list[int]:
        """This task's jobs that are still queued or importing (asks Marketo about each)."""
        active = []
        for done in sorted(run.accepted.values(), key=lambda p: p.index):
            if done.batch_id in run.state.finished:
                continue
            status = run.hook.get_import_status(run.target, done.batch_id)
            if not status.is_terminal:
                active.append(done.batch_id)
                continue
            run.state.finished.add(done.batch_id)
            if status.status == "Failed":
                self.log.warning("Batch %d failed: %s", status.batch_id, status.message)
            else:
                self.log.info("Batch %d finished: %s", status.batch_id, status.message or status.status)
        return active

    def _wait(
        self,
        run: _ImportRun,
        label: str,
        reason: str,
        active: list[int],
        *,
        max_pending: int,
        error: MarketoError | None,
    ) -> None:
        """Pause before the next try: sleep here, or defer (returns only when not deferrable).

        ``error`` is the 1016/1019 answer that makes this wait count against ``max_queue_wait``;
        waits for this task's own jobs (``error=None``) do not.
        """
        state = run.state
        delay = state.delay or self.poll_interval
        state.delay = min(max(delay * 2, self.poll_interval), max(MAX_POLL_INTERVAL, self.poll_interval))
        deadline: float | None = None
        if error is not None:
            now = time.time()
            if state.wait_started is None:
                state.wait_started = now
            waited = now - state.wait_started
            if waited >= self.max_queue_wait:
                raise type(error)(
                    f"Gave up submitting {label} after waiting {waited:.1f} s "
                    f"(max_queue_wait={self.max_queue_wait:g} s): {reason}",
                    code=error.code,
                    request_id=error.request_id,
                )
            delay = min(delay, self.max_queue_wait - waited)
            deadline = now + delay
            reason = f"{reason} (waited {waited:.1f} of at most {self.max_queue_wait:g} s)"
        if self.deferrable:
            self.log.info("Deferring %s: %s", label, reason)
            trigger: BaseTrigger
            if active and max_pending >= 0:
                # Wakes up when enough of our jobs finished (or, for 1016/1019, at the deadline).
                trigger = BulkImportTrigger(
                    marketo_conn_id=self.marketo_conn_id,
                    target=run.target.to_dict(),
                    batch_ids=active,
                    poll_interval=self.poll_interval,
                    max_poll_interval=max(MAX_POLL_INTERVAL, self.poll_interval),
                    deadline=deadline,
                    max_pending=max_pending,
                )
            else:
                from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger

                trigger = TimeDeltaTrigger(timedelta(seconds=delay))
            self.defer(
                trigger=trigger,
                method_name="resume_import",
                kwargs={"state": state.to_dict()},
                timeout=None if deadline is None else timedelta(seconds=delay + 600),
            )
        self.log.info("Waiting %.3g s before submitting %s: %s", delay, label, reason)
        time.sleep(delay)


def _lineage_name(target: BulkTarget) -> str:
    if target.kind == "custom_objects":
        return f"customobjects/{target.api_name}"
    if target.kind == "program_members":
        return f"program/{target.program_id}/members"
    return "leads"


class BulkLeadImportOperator(BaseBulkImportOperator):
    """
    Import (insert or update) leads from a delimited file.

    :param lookup_field: the dedupe field (Marketo's default: ``email``; ``id`` updates only). The
        header must hold it.
    :param list_id: also add the leads to this static list (jobs into one list run one at a time).
    :param partition_name: the lead partition to write into.

    See :class:`BaseBulkImportOperator` for the other parameters.
    """

    template_fields: Sequence[str] = (
        *BaseBulkImportOperator.template_fields,
        "lookup_field",
        "list_id",
        "partition_name",
    )

    def __init__(
        self,
        *,
        source: str | os.PathLike[str] | ObjectStoragePath,
        lookup_field: str | None = None,
        list_id: int | str | None = None,
        partition_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(source=source, **kwargs)
        self.lookup_field = lookup_field
        self.list_id = list_id
        self.partition_name = partition_name

    @property
    def target(self) -> BulkTarget:
        return BulkTarget("leads")

    def create_params(self) -> dict[str, ParamValue]:
        list_id = None if self.list_id in (None, "") else _positive_int(self.list_id, "list_id")
        return {
            "lookupField": self.lookup_field or None,
            "listId": list_id,
            "partitionName": self.partition_name or None,
        }

    @property
    def lookup_column(self) -> str | None:
        return self.lookup_field or "email"

    @property
    def job_limit(self) -> int:
        # Two imports into one list at once fail with 1019.
        return 1 if self.list_id not in (None, "") else self.max_active_jobs


class BulkCustomObjectImportOperator(BaseBulkImportOperator):
    """
    Import (insert or update) custom object records from a delimited file.

    :param api_name: the custom object's API name, e.g. ``car_c``. Records are matched on the
        object's dedupe fields.

    See :class:`BaseBulkImportOperator` for the other parameters.
    """

    template_fields: Sequence[str] = (*BaseBulkImportOperator.template_fields, "api_name")

    def __init__(
        self, *, api_name: str, source: str | os.PathLike[str] | ObjectStoragePath, **kwargs: Any
    ) -> None:
        super().__init__(source=source, **kwargs)
        self.api_name = api_name

    @property
    def target(self) -> BulkTarget:
        return BulkTarget("custom_objects", api_name=self.api_name)


class BulkProgramMemberImportOperator(BaseBulkImportOperator):
    """
    Import leads into a program as members with a status; every row needs ``email``.

    :param program_id: the program's id.
    :param program_member_status: the status the members get, e.g. ``Registered``.

    See :class:`BaseBulkImportOperator` for the other parameters.
    """

    template_fields: Sequence[str] = (
        *BaseBulkImportOperator.template_fields,
        "program_id",
        "program_member_status",
    )
    required_columns = ("email",)

    def __init__(
        self,
        *,
        program_id: int | str,
        program_member_status: str,
        source: str | os.PathLike[str] | ObjectStoragePath,
        **kwargs: Any,
    ) -> None:
        super().__init__(source=source, **kwargs)
        self.program_id = program_id
        self.program_member_status = program_member_status

    @property
    def target(self) -> BulkTarget:
        return BulkTarget("program_members", program_id=_positive_int(self.program_id, "program_id"))

    def create_params(self) -> dict[str, ParamValue]:
        status = (self.program_member_status or "").strip()
        if not status:
            raise MarketoConfigError("program_member_status must not be empty.")
        return {"programMemberStatus": status}
