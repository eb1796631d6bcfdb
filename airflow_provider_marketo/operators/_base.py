"""The machinery shared by the import operators: resolve and validate the source, plan its parts,
submit them within Marketo's queue (sleeping or deferring when it is full), push the XComs and, with
``wait_for_completion``, wait for the jobs and finish them as the sensor does. The operators of each
kind are in :mod:`airflow_provider_marketo.operators.bulk_import`.
"""

from __future__ import annotations

import dataclasses
import io
import os
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, ObjectStoragePath, XComArg

from airflow_provider_marketo._compat import AirflowException, conf
from airflow_provider_marketo.exceptions import (
    MarketoListBusyError,
    MarketoQueueFullError,
)
from airflow_provider_marketo.hooks.marketo import MarketoHook
from airflow_provider_marketo.limits import MAX_PART_BYTES
from airflow_provider_marketo.objects import BulkTarget, ImportStatus
from airflow_provider_marketo.operators import _sync
from airflow_provider_marketo.operators._completion import statuses_of_event, wait_on_worker
from airflow_provider_marketo.operators._lineage import import_lineage
from airflow_provider_marketo.operators._sources import ReadOptions, prepare_source
from airflow_provider_marketo.operators._staging import (
    removed_unless_deferred,
    staged_path,
    to_object_storage_path,
)
from airflow_provider_marketo.operators._state import (
    MAX_POLL_INTERVAL,
    Defer,
    Done,
    ParamValue,
    Sleep,
    SubmissionConfig,
    Submit,
)
from airflow_provider_marketo.operators._submission import Submission
from airflow_provider_marketo.results import ResultChecks, finish_batches
from airflow_provider_marketo.schema import check_header, fetch_schema
from airflow_provider_marketo.triggers.bulk_import import DEFAULT_MAX_TRANSIENT_ERRORS, BulkImportTrigger
from airflow_provider_marketo.utils.formats import check_format, infer_format

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import Context
    from airflow.sdk.definitions.mappedoperator import MappedOperator

#: Default (and largest) part size: Marketo's request limit less room for the multipart envelope.
DEFAULT_PART_SIZE = MAX_PART_BYTES
#: Smallest part size accepted (a part must hold the header and at least one row).
MIN_PART_SIZE = 1024


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
        Also a folder (prefix) or a glob (``.../data_*.csv.gz``) of an export's files, imported in
        lexical order as one file: each file's header must equal the first's and is dropped; empty and
        header-only files are skipped; ``_*``, ``.*`` and ``*.crc`` files are not data. A compressed
        file (``.gz``, ``.bz2``, ``.xz``, ``.zst`` with ``zstandard``) is decompressed as it is read.
    :param format: ``csv``, ``tsv`` or ``ssv``; inferred from the file extension (before a compression
        suffix) when omitted. With ``delimiter``: the format the file is rewritten to (default csv).
    :param column_names: the header of files written without one (Snowflake's ``HEADER = FALSE``).
    :param delimiter: the files' delimiter if not the format's (``"|"``: Redshift), ``encoding`` if not
        UTF-8 (``"cp1252"``), ``null_values``: exact NULL markers (``["\\N"]``) written as empty fields.
        These parse fields with the ``csv`` module (slower than the byte-level copy used otherwise).
    :param staging_path: folder (templated) of the staged copy of an export that is a folder, a glob,
        compressed or rewritten (default: the local temp directory; use shared storage with several
        workers, else a resume on another worker reads the export again).
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
    :param wait_for_completion: after the last part is accepted, wait for this task's jobs (in the
        triggerer when ``deferrable``, else polling on the worker), then finish them exactly as
        :class:`BulkImportSensor` does and return its summary instead of the batch ids (which stay
        in the ``batch_ids`` XCom). Default False: a separate sensor waits.
    :param results_path, max_failed_rows, max_failed_ratio, fail_on_warnings,
        fail_on_nothing_imported, fail_on_unaccounted_rows: with ``wait_for_completion``, as on
        :class:`BulkImportSensor` (``results_path`` is templated).
    :param changes_only: send only the rows that are new, changed or failed last time, compared with
        the state committed in ``sync_state_path``; needs ``wait_for_completion=True`` (checked at
        DAG parse time). See docs/sync.md.
    :param sync_state_path: the folder (templated; any object storage path) where this sync keeps its
        state; one per sync. Required with ``changes_only``.
    :param full_refresh: send every row and rebuild the state (templated: ``"{{ params.full_refresh }}"``
        renders ``"True"``/``"False"``, read as booleans).
    :param dry_run: store the rows that would be sent and ``report.json`` (under ``results_path``,
        else the staging folder) and return the counts; send nothing, commit nothing.
    :param field_mapping: source column -> Marketo field; only the mapped columns are sent, and the
        schema check and the header use the Marketo names.
    :param duplicate_keys: ``"fail"`` (default: two rows with one key fail the run before anything
        is sent) or ``"keep_last"`` (the last row of each key is sent).
    """

    template_fields: Sequence[str] = (
        "source",
        "format",
        "marketo_conn_id",
        "manifest_path",
        "staging_path",
        "results_path",
        "sync_state_path",
        "full_refresh",
    )
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
        column_names: Sequence[str] | None = None,
        delimiter: str | None = None,
        encoding: str | None = None,
        null_values: Sequence[str] | None = None,
        staging_path: str | ObjectStoragePath | None = None,
        wait_for_completion: bool = False,
        results_path: str | ObjectStoragePath | None = None,
        max_failed_rows: int | None = None,
        max_failed_ratio: float | None = None,
        fail_on_warnings: bool = False,
        fail_on_nothing_imported: bool = True,
        fail_on_unaccounted_rows: bool = True,
        changes_only: bool = False,
        sync_state_path: str | ObjectStoragePath | None = None,
        full_refresh: bool | str = False,
        dry_run: bool = False,
        field_mapping: dict[str, str] | None = None,
        duplicate_keys: str = "fail",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # --- sync arguments (operators/_sync.py) ---
        _sync.check_arguments(
            changes_only=changes_only,
            sync_state_path=sync_state_path,
            wait_for_completion=wait_for_completion,
            field_mapping=field_mapping,
            duplicate_keys=duplicate_keys,
        )
        self.changes_only = changes_only
        self.sync_state_path = sync_state_path
        self.full_refresh = full_refresh
        self.sync_dry_run = dry_run  # not ``dry_run``: BaseOperator.dry_run() is a method
        self.field_mapping = None if field_mapping is None else dict(field_mapping)
        self.duplicate_keys = duplicate_keys
        # --- end sync arguments ---
        self.read_options = ReadOptions.of(format, column_names, delimiter, encoding, null_values)
        self.staging_path = staging_path
        self._resuming = False
        self._staged: ObjectStoragePath | None = None
        self._staged_format: str | None = None
        self._shards: tuple[tuple[str, int, str], ...] | None = None
        self.check_schema = check_schema
        self.wait_for_completion = wait_for_completion
        self.results_path = results_path
        self.checks = ResultChecks.from_arguments(locals())
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
        #: Rows imported (``wait_for_completion``) or sent, for OpenLineage; None until known.
        self._rows_written: int | None = None
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
        """The file to import (``execute`` and the resume both call this); override to produce it.

        A single uncompressed file that needs no rewriting is imported as it is. An export (folder or
        glob), a compressed file or one to rewrite is normalised into a staged file, once per task
        instance: a resume after a deferral reuses it (after checking the export's files are the same).
        """
        options = dataclasses.replace(self.read_options, format=self.format or None)
        source = prepare_source(
            to_object_storage_path(self.source),
            options,
            staged_file=lambda: self.staged_file(context),
            resuming=self._resuming,
            max_part_bytes=self.part_size,
            # sync: with field_mapping the source has its own names; the mapped file is checked.
            lookup_field=None if self.field_mapping else self.lookup_column,
            required=() if self.field_mapping else self.required_columns,
            log=self.log,
        )
        self._staged, self._staged_format, self._shards = source.staged, source.file_format, source.shards
        return source.path

    def staged_file(self, context: Context) -> ObjectStoragePath:
        """Where this task instance stages what it imports (the same for every try and resume)."""
        return staged_path(context, self.staging_path, "export")

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
        """The source as input; the Marketo object as output, with the header as its schema and,
        once known, the rows imported (``wait_for_completion``) or sent as its statistics."""
        submission = self._submission
        return import_lineage(
            to_object_storage_path(self.source),
            MarketoHook(self.marketo_conn_id).settings.base_url,
            self.target,
            header=None if submission is None else submission.plan.header,
            rows=self._rows_written,
            size=None if submission is None else submission.plan.total_bytes,
        )

    # Running.

    def execute(self, context: Context) -> list[int] | dict[str, Any]:
        self._resuming, self._staged = False, None
        with removed_unless_deferred(lambda: self._staged or self.staged_file(context), self.log):
            return self._execute(context)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """Every resume after a deferral (whatever its method, a trigger failure or timeout too)."""
        self._resuming, self._staged = True, None
        with removed_unless_deferred(lambda: self._staged or self.staged_file(context), self.log):
            return super().resume_execution(next_method, next_kwargs, context)

    def _to_send(
        self, context: Context, source: ObjectStoragePath
    ) -> tuple[ObjectStoragePath, dict[str, Any] | None]:
        """sync: the file to send (the diff's rows, or the mapped file) and, for a dry run or when
        nothing is to be sent, the task's result instead (operators/_sync.py)."""
        if not _sync.active(self):
            return source, None
        prepared = _sync.prepare(self, context, source, self._config(source).file_format)
        return prepared.path, prepared.result

    def _execute(self, context: Context) -> list[int] | dict[str, Any]:
        source, result = self._to_send(context, self.resolve_source(context))  # sync
        if result is not None:
            return result
        config = self._config(source)
        check = self._header_check(MarketoHook(self.marketo_conn_id), source)
        return self._run(context, Submission.begin(config, context, source, check))

    def resume_import(self, context: Context, event: Any = None, **_: Any) -> list[int] | dict[str, Any]:
        """Continue after a deferral from the manifest (the defer kwargs are not relied on)."""
        source = self._to_send(context, self.resolve_source(context))[0]  # sync
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

    def complete_import(self, context: Context, event: Any = None, **_: Any) -> dict[str, Any]:
        """Resume after waiting for this task's jobs (``wait_for_completion``): check the event
        against the batch ids in the manifest, then finish the jobs."""
        source = self._to_send(context, self.resolve_source(context))[0]  # sync
        submission = Submission.resume(self._config(source), context, source, event)
        done = submission.next_step()
        if not isinstance(done, Done):
            raise AirflowException(f"Cannot finish: the manifest has parts left to submit ({done}).")
        return self._finish(context, done, statuses_of_event(event, done.batch_ids))

    def _run(self, context: Context, submission: Submission) -> list[int] | dict[str, Any]:
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
            elif not self.wait_for_completion or not step.batch_ids:
                return self._push(context, step)
            else:
                self._push(context, step)
                return self._wait_for_jobs(context, submission, step)

    def _wait_for_jobs(self, context: Context, submission: Submission, done: Done) -> dict[str, Any]:
        """Wait for this task's jobs (deferring, or polling on the worker), then finish them."""
        remaining = submission.check_time()
        if self.deferrable:
            trigger = BulkImportTrigger(
                marketo_conn_id=self.marketo_conn_id,
                target=self.target.to_dict(),
                batch_ids=done.batch_ids,
                poll_interval=self.poll_interval,
                max_poll_interval=MAX_POLL_INTERVAL,
                deadline=None if remaining is None else time.time() + remaining,
            )
            self.log.info("Deferring until batches %s are finished.", done.batch_ids)
            timeout = None if remaining is None else timedelta(seconds=remaining)
            self.defer(trigger=trigger, method_name="complete_import", timeout=timeout)
        statuses = wait_on_worker(
            submission.hook,
            self.target,
            done.batch_ids,
            poll_interval=self.poll_interval,
            max_poll_interval=MAX_POLL_INTERVAL,
            max_transient_errors=DEFAULT_MAX_TRANSIENT_ERRORS,
            log=self.log,
        )
        return self._finish(context, done, statuses)

    def _finish(self, context: Context, done: Done, statuses: list[ImportStatus]) -> dict[str, Any]:
        summary = finish_batches(
            MarketoHook(self.marketo_conn_id),
            self.target,
            statuses,
            checks=self.checks,
            ti=context["ti"],
            results_dir=_sync.results_dir(self, context),  # sync: the commit needs the failures file
            rows_sent=done.rows_sent,
        )
        self._rows_written = int(summary["rows_processed"])
        return _sync.commit(self, context, summary, done, statuses)  # sync: after the checks passed

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
        self._rows_written = done.total_rows
        return done.batch_ids

    def _config(self, source: ObjectStoragePath) -> SubmissionConfig:
        timeout = self.execution_timeout
        return SubmissionConfig(
            marketo_conn_id=self.marketo_conn_id,
            target=self.target,
            params=self.create_params(),
            file_format=self._staged_format
            or (check_format(self.format) if self.format else infer_format(source.name)),
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
            shards=self._shards,
            log=self.log,
        )
