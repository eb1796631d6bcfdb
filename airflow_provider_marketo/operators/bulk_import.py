"""Operators that import a delimited file into Marketo through the Bulk Import API.

One operator per kind of import (leads, custom objects, program members); the shared machinery is in
:class:`BaseBulkImportOperator`. The operator reads the source once through ``ObjectStoragePath``,
validates the whole file and splits it into parts under Marketo's 10 MB request limit, then submits
the parts in order, keeping at most ``max_active_jobs`` of its own jobs in Marketo's import queue and
waiting (on the worker or, with ``deferrable=True``, in the triggerer) when the queue is full (1016)
or the list is busy (1019). It returns the batch ids; :class:`BulkImportSensor` waits for the jobs.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow.sdk import BaseOperator, ObjectStoragePath, XComArg

from airflow_provider_marketo._compat import conf, storage_namespace
from airflow_provider_marketo.exceptions import (
    MarketoConfigError,
    MarketoListBusyError,
    MarketoQueueFullError,
)
from airflow_provider_marketo.hooks.marketo import MarketoHook
from airflow_provider_marketo.limits import MAX_PART_BYTES
from airflow_provider_marketo.objects import BulkTarget
from airflow_provider_marketo.operators._state import (
    Defer,
    Done,
    ParamValue,
    Sleep,
    SubmissionConfig,
    Submit,
)
from airflow_provider_marketo.operators._submission import Submission
from airflow_provider_marketo.schema import check_header, fetch_schema
from airflow_provider_marketo.utils.delimited import check_format, infer_format

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import Context
    from airflow.sdk.definitions.mappedoperator import MappedOperator

#: Default (and largest) part size: Marketo's request limit less room for the multipart envelope.
DEFAULT_PART_SIZE = MAX_PART_BYTES
#: Smallest part size accepted (a part must hold the header and at least one row).
MIN_PART_SIZE = 1024


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


def rows_sent_of(task: BaseOperator | MappedOperator) -> XComArg:
    """The ``rows_sent`` XCom (``{str(batch_id): data_rows}``) of an import task, plain or mapped.

    Pass it to :class:`BulkImportSensor`'s ``rows_sent``; for a mapped import the sensor receives one
    mapping per mapped task instance.
    """
    return XComArg(task, key="rows_sent")


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
    :param manifest_path: where the import manifest goes (templated): an object storage folder, or a
        ``.json`` file name whose stem prefixes each manifest's name. Each task instance has its own
        manifest, named ``<dag_id>.<task_id>.<map_index>.<run_id>``. By default the manifest lives in
        Airflow's task state store (Airflow 3.3+), else in ``<source dir>/.marketo/``.
    :param keep_completed_on_clear: when the task is cleared (a new try after the last one ended),
        keep the parts whose jobs are still known to Marketo and did not fail, and import only the
        others again. By default a cleared task imports every part again. A retry (Airflow's own,
        after a failure or a crash) always skips the parts already accepted.

    ``execution_timeout`` bounds the whole try, time spent deferred included.
    :param check_schema: before any upload, check the header against the target's fields in
        Marketo (Describe endpoints: unknown columns, a lookup field that is not searchable, missing
        custom object dedupe fields); ``False`` skips the check and its one or two API calls.
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
        keep_completed_on_clear: bool = False,
        check_schema: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.check_schema = check_schema
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
        self.keep_completed_on_clear = keep_completed_on_clear
        self._submission: Submission | None = None
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

    def resolve_source(self, context: Context) -> ObjectStoragePath:
        """The file to import (``execute`` and the resume both call this); override to produce it."""
        return to_object_storage_path(self.source)

    def _header_check(
        self, hook: MarketoHook, source: ObjectStoragePath
    ) -> Callable[[list[str]], None] | None:
        """The schema check of the header, run once it is parsed and before the data is read.

        None when ``check_schema`` is off. The Describe call(s) happen only when a plan is made, so a
        resumed or retried import that reuses its plan makes none.
        """
        if not self.check_schema:
            return None

        def check(columns: list[str]) -> None:
            schema = fetch_schema(hook, self.target)
            check_header(schema, columns, lookup_field=self.lookup_column, source_name=str(source))
            self.log.info("The header of %s matches %s in Marketo.", source, schema.described)

        return check

    # XCom and lineage.

    @property
    def rows_sent_output(self) -> XComArg:
        """The data rows sent in each job, ``{str(batch_id): rows}``; see :func:`rows_sent_of`."""
        return rows_sent_of(self)

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
        source = self.resolve_source(context)
        config = self._config(source)
        check = self._header_check(MarketoHook(self.marketo_conn_id), source)
        return self._run(context, Submission.begin(config, context, source, check))

    def resume_import(self, context: Context, event: Any = None, **_: Any) -> list[int]:
        """Continue after a deferral from the manifest (the defer kwargs are not relied on)."""
        source = self.resolve_source(context)
        return self._run(context, Submission.resume(self._config(source), context, source, event))

    def on_kill(self) -> None:
        """Log the jobs this try created. Marketo has no call to cancel an import job: queued and
        importing jobs go on and import their rows. The manifest keeps them, so a retry skips them."""
        if self._submission is not None and self._submission.accepted:
            batch_ids = sorted(p.batch_id for p in self._submission.accepted.values())
            self.log.warning(
                "Killed. Marketo cannot cancel import jobs: batches %s stay queued or importing and will "
                "import their rows; a retry of this task skips them.",
                batch_ids,
            )

    def _run(self, context: Context, submission: Submission) -> list[int]:
        self._submission = submission
        while True:
            step = submission.next_step()
            if isinstance(step, Submit):
                self._create(submission, step)
            elif isinstance(step, Sleep):
                self.log.info("%s", step.reason)
                time.sleep(step.seconds)
            elif isinstance(step, Defer):
                self.log.info("%s", step.reason)
                self.defer(trigger=step.trigger, method_name="resume_import", timeout=step.timeout)
            else:
                return self._push(context, step)

    def _create(self, submission: Submission, step: Submit) -> None:
        try:
            batch_id = submission.hook.create_import(
                submission.config.target,
                io.BytesIO(step.data),
                file_format=submission.plan.file_format,
                filename=step.filename,
                params=submission.config.params,
            )
        except (MarketoQueueFullError, MarketoListBusyError) as err:
            submission.refused(step, err)
        else:
            submission.accepted_as(step, batch_id)

    def _push(self, context: Context, done: Done) -> list[int]:
        self.log.info(
            "Submitted %d rows in %d job(s): batch ids %s.",
            done.total_rows,
            len(done.batch_ids),
            done.batch_ids,
        )
        ti = context["ti"]
        ti.xcom_push(key="batch_ids", value=done.batch_ids)
        ti.xcom_push(key="batch_id", value=done.batch_ids[0] if done.batch_ids else None)
        ti.xcom_push(key="rows_sent", value=done.rows_sent)
        return done.batch_ids

    def _config(self, source: ObjectStoragePath) -> SubmissionConfig:
        timeout = self.execution_timeout
        return SubmissionConfig(
            marketo_conn_id=self.marketo_conn_id,
            target=self.target,
            params=self.create_params(),
            file_format=check_format(self.format) if self.format else infer_format(source.name),
            part_size=self.part_size,
            lookup_column=self.lookup_column,
            required_columns=self.required_columns,
            job_limit=self.job_limit,
            deferrable=self.deferrable,
            poll_interval=self.poll_interval,
            max_queue_wait=self.max_queue_wait,
            execution_timeout=None if timeout is None else timeout.total_seconds(),
            keep_completed_on_clear=self.keep_completed_on_clear,
            retries=int(self.retries or 0),
            manifest_path=None if not self.manifest_path else to_object_storage_path(self.manifest_path),
            log=self.log,
        )


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
