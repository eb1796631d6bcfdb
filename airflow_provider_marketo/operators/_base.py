"""The machinery shared by every import task (:class:`BaseImportOperator`: plan the parts, submit
them within Marketo's queue, sleeping or deferring when it is full, push the output and, with
``wait_for_completion``, wait for the jobs and finish them as the sensor does) and the file source of
the bulk import operators (:class:`BaseBulkImportOperator`). ``SqlToMarketoOperator`` derives from
the first; the operators of each kind (``operators/bulk_import.py``) from the second.
"""

from __future__ import annotations

import dataclasses
import io
import os
import time
import warnings
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, ObjectStoragePath, XComArg

from airflow_provider_marketo._compat import conf
from airflow_provider_marketo.backoff import MAX_POLL_INTERVAL
from airflow_provider_marketo.exceptions import (
    MarketoListBusyError,
    MarketoQueueFullError,
)
from airflow_provider_marketo.hooks.marketo import MarketoHook
from airflow_provider_marketo.limits import MAX_PART_BYTES
from airflow_provider_marketo.objects import BulkTarget, ImportStatus
from airflow_provider_marketo.operators import _sync
from airflow_provider_marketo.operators._arguments import positive_int
from airflow_provider_marketo.operators._assets import declare_alias, record_finished_import
from airflow_provider_marketo.operators._completion import (
    DEFAULT_WAIT_TIMEOUT,
    statuses_of_event,
    wait_deadline,
    wait_on_worker,
)
from airflow_provider_marketo.operators._kinds import ImportKind
from airflow_provider_marketo.operators._lineage import import_lineage
from airflow_provider_marketo.operators._mirror import MirrorOptions, has_data_rows, mirror_list
from airflow_provider_marketo.operators._quota import errors_of_a_try
from airflow_provider_marketo.operators._sources import ReadOptions, prepare_source
from airflow_provider_marketo.operators._staging import (
    removed_unless_deferred,
    staged_path,
    to_object_storage_path,
)
from airflow_provider_marketo.operators._state import (
    Defer,
    Done,
    ParamValue,
    Sleep,
    SubmissionConfig,
    Submit,
)
from airflow_provider_marketo.operators._submission import Submission
from airflow_provider_marketo.operators.output import ImportOutput, make_output
from airflow_provider_marketo.results import ImportResultError, ResultChecks, ResultNames, finish_batches
from airflow_provider_marketo.results.finish import write_report
from airflow_provider_marketo.schema import check_header, fetch_schema
from airflow_provider_marketo.triggers.bulk_import import DEFAULT_MAX_TRANSIENT_ERRORS, BulkImportTrigger
from airflow_provider_marketo.utils.formats import check_format, infer_format
from airflow_provider_marketo.utils.parts import PartPlan

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import Context
    from airflow.sdk.definitions.mappedoperator import MappedOperator

#: Default (and largest) part size: Marketo's request limit less room for the multipart envelope.
DEFAULT_PART_SIZE = MAX_PART_BYTES
#: Smallest part size accepted (a part must hold the header and at least one row).
MIN_PART_SIZE = 1024


def rows_sent_of(task: BaseOperator | MappedOperator) -> XComArg:
    """Deprecated: the task's output (:class:`ImportOutput`) already carries the rows sent per batch;
    pass ``batch_ids=task.output`` to the sensor and leave ``rows_sent`` out.

    Returns ``task.output``, which the sensor's ``rows_sent`` also accepts (so older DAGs keep working).
    """
    warnings.warn(
        "rows_sent_of(task) / rows_sent_output is deprecated: pass batch_ids=task.output to "
        "BulkImportSensor, which reads the rows sent from it.",
        DeprecationWarning,
        stacklevel=2,
    )
    return XComArg(task)


def _with_report(summary: dict[str, Any]) -> dict[str, Any]:
    """``summary``, written again as its ``report.json`` (when it has one) after fields were added."""
    if summary.get("report_path"):
        write_report(to_object_storage_path(summary["report_path"]), summary)
    return summary


class BaseImportOperator(BaseOperator):
    """
    What every Marketo import task does: get the file to import, plan its parts, submit them within
    Marketo's queue (sleeping or deferring when it is full), push the XComs and, with
    ``wait_for_completion``, wait for the jobs and finish them as the sensor does.

    Subclasses say where the rows come from (:meth:`resolve_source`, :meth:`staged_file`,
    :meth:`file_format`) and what they are (:meth:`import_kind`). :class:`BaseBulkImportOperator`
    reads a file or an export; ``SqlToMarketoOperator`` runs a query. The steps of a run, in order:
    :meth:`resolve_source` (the source is staged) -> :meth:`_submission` (the part plan, made or read
    from the manifest) -> :meth:`_run` (submit) -> :meth:`_push` or :meth:`_finish` (the output).

    :param marketo_conn_id: the Marketo connection.
    :param max_active_jobs: at most this many of this task's jobs queued or importing at once
        (Marketo's queue holds 10 jobs for the whole instance).
    :param deferrable: wait for queue room in the triggerer instead of sleeping on the worker
        (default: Airflow's ``[operators] default_deferrable``).
    :param poll_interval: first pause in seconds between checks while waiting (for queue room, or
        for the jobs with ``wait_for_completion``); x1.5 after each check, up to 30 s
        (:mod:`airflow_provider_marketo.backoff`).
    :param max_queue_wait: give up (seconds or timedelta) when Marketo has answered "queue full" (1016)
        or "list busy" (1019) for one part for this long.
    :param part_size: largest part in bytes (header included); default 10 MB less 64 KiB.
    :param staging_path: folder (templated) of the staged copy of what is imported when it is not a
        plain file (default: the local temp directory; a resume or retry on another worker stages the
        export again, once, and checks it against the manifest; shared storage saves that read). See
        ``docs/state.md``.
    :param manifest_path: where the import manifest goes (templated): an object storage folder, or a
        ``.json`` file name whose stem prefixes each manifest's name. Each task instance has its own
        manifest, named ``<dag_id>.<task_id>.<map_index>.<run_id>``. By default the manifest lives in
        Airflow's task state store (Airflow 3.3+), else in an Airflow Variable
        ``marketo_import_manifest.<that name>`` that is deleted when the task instance succeeds;
        nothing is written next to the source. See ``docs/state.md``.
    :param keep_completed_on_clear: when the task is cleared (a new try after the last one ended),
        keep the parts whose jobs are still known to Marketo and did not fail, and import only the
        others again. By default a cleared task imports every part again. A retry (Airflow's own,
        after a failure or a crash) always skips the parts already accepted.
    :param check_schema: before any upload, check the header against the target's fields in
        Marketo (Describe endpoints: unknown columns, a lookup field that is not searchable, missing
        custom object dedupe fields); ``False`` skips the check and its one or two API calls.
    :param wait_for_completion: after the last part is accepted, wait for this task's jobs (in the
        triggerer when ``deferrable``, else polling on the worker), then finish them exactly as
        :class:`BulkImportSensor` does; its summary is the output's ``result``. Default False: a
        separate sensor waits (``BulkImportSensor(task_id=..., batch_ids=import_task.output)``).
    :param results_path: with ``wait_for_completion``: where the failure/warning files and
        ``report.json`` go (templated), as on :class:`BulkImportSensor`; None: nothing is stored.
    :param max_failed_rows: with ``wait_for_completion``: fail when more rows failed in all jobs together.
    :param max_failed_ratio: with ``wait_for_completion``: fail when failed / (processed + failed) is
        higher (0..1).
    :param fail_on_warnings: with ``wait_for_completion``: fail when any row has a warning.
    :param fail_on_nothing_imported: with ``wait_for_completion``: fail when a job ended ``Complete``
        with 0 rows processed and failed rows.
    :param fail_on_unaccounted_rows: with ``wait_for_completion``: fail when processed + failed !=
        rows sent for a job.
    :param timeout: with ``wait_for_completion``, the longest wait for this task's jobs (seconds or
        timedelta; default 7 days), on the worker or deferred; ``execution_timeout`` shortens it.
        Past it the task fails naming the batches still unfinished.
    :param changes_only: send only the rows that are new, changed or failed last time, compared with
        the state committed in ``sync_state_path``; needs ``wait_for_completion=True`` (checked at
        DAG parse time). See docs/sync.md.
    :param sync_state_path: the folder (templated; any object storage path) where this sync keeps its
        state; one per sync. Required with ``changes_only``.
    :param full_refresh: send every row and rebuild the state (templated: ``"{{ params.full_refresh }}"``
        renders ``"True"``/``"False"``, read as booleans).
    :param dry_run: compute what would be sent: store those rows (``<task>.rows_to_send.<fmt>``) and
        the report (under ``results_path``, else a folder under ``staging_path``) and return the
        counts; send nothing, commit nothing, and with ``list_membership="mirror"`` report what the
        mirror would add and remove (nothing is removed). The output's ``result`` is a summary of no
        job with ``dry_run`` true. Templated like ``full_refresh`` (``"{{ params.dry_run }}"``).
    :param field_mapping: source column -> Marketo field; only the mapped columns are sent, and the
        schema check and the header use the Marketo names.
    :param duplicate_keys: ``"fail"`` (default: two rows with one key fail the run before anything
        is sent) or ``"keep_last"`` (the last row of each key is sent).

    Errors that no retry can change (a bad file or header, a header that does not match the
    target's fields, a connection or permission error, a list, program or object Marketo does not
    know) fail the task at once, without using its retries. Marketo's daily quota (607) is never
    retried before it resets: with ``deferrable`` the task waits for the reset (00:00 US Central)
    and goes on; without, it fails at once saying when the quota resets.

    ``execution_timeout`` bounds the whole try, time spent deferred included.

    Returns an :class:`~airflow_provider_marketo.operators.output.ImportOutput` (target, batch ids
    with the rows sent in each, total rows sent, ``result``) in both modes; the batch ids alone are
    also pushed as the ``batch_ids`` XCom.
    """

    template_fields: Sequence[str] = (
        "marketo_conn_id",
        "manifest_path",
        "staging_path",
        "results_path",
        "sync_state_path",
        "full_refresh",
        "dry_run_mode",
    )
    ui_color = "#5c4ee5"
    ui_fgcolor = "#ffffff"

    #: Set by the lead operators with ``list_membership="mirror"`` (``operators/_mirror.py``).
    mirror: MirrorOptions | None = None

    def __init__(
        self,
        *,
        marketo_conn_id: str = "marketo_default",
        max_active_jobs: int = 3,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 5.0,
        max_queue_wait: float | timedelta = 3600.0,
        part_size: int | None = None,
        staging_path: str | ObjectStoragePath | None = None,
        manifest_path: str | ObjectStoragePath | None = None,
        keep_completed_on_clear: bool = False,
        check_schema: bool = True,
        wait_for_completion: bool = False,
        results_path: str | ObjectStoragePath | None = None,
        max_failed_rows: int | None = None,
        max_failed_ratio: float | None = None,
        fail_on_warnings: bool = False,
        fail_on_nothing_imported: bool = True,
        fail_on_unaccounted_rows: bool = True,
        timeout: float | timedelta = DEFAULT_WAIT_TIMEOUT,
        changes_only: bool = False,
        sync_state_path: str | ObjectStoragePath | None = None,
        full_refresh: bool | str = False,
        dry_run: bool | str = False,
        field_mapping: dict[str, str] | None = None,
        duplicate_keys: str = "fail",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        declare_alias(self)  # the alias its asset events go through (operators/_assets.py)
        # issue 22: the completion wait's bound
        self.timeout = timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)
        if self.timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}.")
        self.dry_run_mode = dry_run  # BaseOperator.dry_run() is a method
        # The change-only sync (operators/_sync.py): checked at DAG parse time.
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
        self.field_mapping = None if field_mapping is None else dict(field_mapping)
        self.duplicate_keys = duplicate_keys
        #: The whole file imported and its format (the mirror compares the list with it, not with
        #: the rows a sync sends).
        self._export: tuple[ObjectStoragePath, str] | None = None
        self.staging_path = staging_path
        #: True while a resume after a deferral runs (the source may then be reused, not staged again).
        self._resuming = False
        #: Resuming only to finish jobs already submitted (``complete_import``): the source is not read.
        self._completing = False
        self._staged: ObjectStoragePath | None = None
        #: The files a staged source was made from (``(url, size, version)``), for the manifest.
        self._shards: tuple[tuple[str, int, str], ...] | None = None
        #: The part plan made while :meth:`resolve_source` staged the source (None: plan by reading it).
        self._planned: PartPlan | None = None
        self.check_schema = check_schema
        self.wait_for_completion = wait_for_completion
        self.results_path = results_path
        self.checks = ResultChecks.from_arguments(locals())
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

    # What subclasses say: the rows' kind and where they come from.

    def import_kind(self) -> ImportKind:
        """The kind of import and its arguments, from the rendered arguments."""
        raise NotImplementedError

    def resolve_source(self, context: Context) -> ObjectStoragePath:
        """The file to import (``execute`` and every resume call this); may stage it at
        :meth:`staged_file` (set ``self._staged`` then, so that it is deleted when the task ends)."""
        raise NotImplementedError

    def staged_file(self, context: Context) -> ObjectStoragePath:
        """Where this task instance stages what it imports (the same for every try and resume)."""
        raise NotImplementedError

    def file_format(self, source: ObjectStoragePath) -> str:
        """The format (csv, tsv, ssv) of the file :meth:`resolve_source` returned."""
        raise NotImplementedError

    @property
    def is_dry_run(self) -> bool:
        """``dry_run`` as rendered (a bool, or ``"True"``/``"False"`` from a template)."""
        return _sync.as_bool(self.dry_run_mode, "dry_run")

    # The kind's rules (from :meth:`import_kind`).

    @property
    def target(self) -> BulkTarget:
        """Where the rows go (built from the rendered arguments)."""
        return self.import_kind().target

    def create_params(self) -> dict[str, ParamValue]:
        """Parameters of the create call besides ``format`` (None values are not sent)."""
        return self.import_kind().create_params()

    @property
    def lookup_column(self) -> str | None:
        """The column that must be in the header to match existing records, if any."""
        return self.import_kind().lookup_column

    @property
    def required_columns(self) -> tuple[str, ...]:
        """Columns the header must hold."""
        return self.import_kind().required_columns

    @property
    def job_limit(self) -> int:
        """How many of this task's jobs may be queued or importing at once."""
        return self.import_kind().job_limit(self.max_active_jobs)

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
        """Deprecated: ``self.output`` holds the rows sent; see :func:`rows_sent_of`."""
        return rows_sent_of(self)

    def lineage_source(self) -> ObjectStoragePath | None:
        """The dataset the rows come from, for OpenLineage (None: none to name)."""
        return None

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage[Any, Any]:
        """The source as input; the Marketo object as output, with the header as its schema and,
        once known, the rows imported (``wait_for_completion``) or sent as its statistics."""
        submission = self._submission
        return import_lineage(
            self.lineage_source(),
            MarketoHook(self.marketo_conn_id).settings.base_url,
            self.target,
            header=None if submission is None else submission.plan.header,
            rows=self._rows_written,
            size=None if submission is None else submission.plan.total_bytes,
        )

    # Running.

    def execute(self, context: Context) -> ImportOutput:
        self._resuming, self._completing, self._staged, self._planned = False, False, None, None
        with (
            removed_unless_deferred(lambda: self._staged or self.staged_file(context), self.log),
            errors_of_a_try(deferrable=self.deferrable, defer=self.defer, log=self.log),
        ):
            output = self._begin(context)
        self._release_manifest()
        return output

    def _release_manifest(self) -> None:
        """The task instance succeeds: drop its manifest where nothing else would (an Airflow Variable)."""
        if self._submission is None:
            return
        try:
            self._submission.manifest.release()
        except Exception as err:  # the import succeeded; a leftover manifest harms nothing
            self.log.warning("Could not delete the import manifest in %s: %s", self._submission.manifest, err)

    def _begin(self, context: Context) -> ImportOutput:
        """Start (or, after the quota's reset, start again) from the manifest, as a retry does."""
        export = self.resolve_source(context)
        self._export = (export, self.file_format(export))
        source, synced = self._to_send(context, export)
        if (
            synced is not None
            or self.is_dry_run
            or (self.mirror is not None and not has_data_rows(*self._export))
        ):
            # Nothing is sent: a dry run, nothing changed since the last sync, or an empty export
            # whose mirror the guard decides.
            context["ti"].xcom_push(key="batch_ids", value=[])
            return self._finish(context, Done([], {}, 0), [], synced)
        config = self._config(source)
        check = self._header_check(MarketoHook(self.marketo_conn_id), source)
        return self._run(context, Submission.begin(config, context, source, check))

    def _to_send(
        self, context: Context, source: ObjectStoragePath
    ) -> tuple[ObjectStoragePath, dict[str, Any] | None]:
        """The file to send (the sync's diff, or the mapped file; else ``source``) and, for a dry
        run or when nothing is to be sent, the sync's counts instead (``operators/_sync.py``)."""
        if not _sync.active(self):
            return source, None
        prepared = _sync.prepare(self, context, source, self.file_format(source))
        if prepared.path != source:
            self._planned = None  # the plan made while staging is the source's, not this file's
        return prepared.path, prepared.result

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """The one entry point after a deferral (whatever its method; a trigger failure or timeout
        too): Airflow's checks, then :meth:`resume_import` (or :meth:`resume_after_quota`)."""
        self._resuming, self._completing, self._staged, self._planned = True, False, None, None
        with (
            removed_unless_deferred(lambda: self._staged or self.staged_file(context), self.log),
            errors_of_a_try(deferrable=self.deferrable, defer=self.defer, log=self.log),
        ):
            output = super().resume_execution(next_method, next_kwargs, context)
        self._release_manifest()
        return output

    def resume_after_quota(self, context: Context, event: Any = None, **_: Any) -> ImportOutput:
        """Start again once Marketo's daily quota has reset: from the manifest, as a retry does (the
        parts already accepted are skipped, a staged copy is reused)."""
        return self._begin(context)

    def resume_import(
        self, context: Context, event: Any = None, completing: bool = False, **_: Any
    ) -> ImportOutput:
        """Continue from the manifest (the defer kwargs are not relied on) after either wait: for queue
        room (parts are left: submit them) or, with ``wait_for_completion``, for the jobs (every part
        is accepted: ``event`` holds their statuses). ``completing`` (the job wait's defer kwargs): the
        source need not be read or staged again to finish (unless the list mirror reads it)."""
        # The mirror reads the whole export, and the sync sends the file its diff wrote.
        self._completing = completing and self.mirror is None and not _sync.active(self)
        export = self.resolve_source(context)
        self._export = (export, self.file_format(export))
        source = self._to_send(context, export)[0]
        return self._run(context, Submission.resume(self._config(source), context, source, event), event)

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

    def _run(self, context: Context, submission: Submission, event: Any = None) -> ImportOutput:
        """Submit what is left; then the output, or wait for the jobs and finish them. ``event`` is
        the trigger event a resume got: if every part was accepted before it, it ends the job wait."""
        self._submission = submission
        first = True
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
            elif first and event is not None:  # resumed from the wait for the jobs
                return self._finish(context, step, statuses_of_event(event, step.batch_ids))
            else:
                self._push(context, step)
                return self._wait_for_jobs(context, submission, step)
            first = False

    def _wait_for_jobs(self, context: Context, submission: Submission, done: Done) -> ImportOutput:
        """Wait for this task's jobs (deferring, or polling on the worker), then finish them."""
        remaining = submission.check_time()
        deadline, bound = wait_deadline(self.timeout, remaining)  # issue 22: every wait has a deadline
        if self.deferrable:
            trigger = BulkImportTrigger(
                marketo_conn_id=self.marketo_conn_id,
                target=self.target.to_dict(),
                batch_ids=done.batch_ids,
                poll_interval=self.poll_interval,
                max_poll_interval=MAX_POLL_INTERVAL,
                deadline=deadline,
            )
            self.log.info("Deferring until batches %s are finished (at most %s).", done.batch_ids, bound)
            timeout = timedelta(seconds=max(deadline - time.time(), 0))
            self.defer(
                trigger=trigger, method_name="resume_import", kwargs={"completing": True}, timeout=timeout
            )
        statuses = wait_on_worker(
            submission.hook,
            self.target,
            done.batch_ids,
            poll_interval=self.poll_interval,
            max_poll_interval=MAX_POLL_INTERVAL,
            max_transient_errors=DEFAULT_MAX_TRANSIENT_ERRORS,
            log=self.log,
            deadline=deadline,  # issue 22
            bound=bound,
        )
        return self._finish(context, done, statuses)

    def _finish(
        self,
        context: Context,
        done: Done,
        statuses: list[ImportStatus],
        synced: dict[str, Any] | None = None,
    ) -> ImportOutput:
        """Finish the jobs as the sensor does, commit a sync, mirror a list; the output holds the
        summary as ``result`` (also when a check fails: then the output is pushed as the return
        value before the error). ``synced``: a sync's counts when it sent nothing (dry run, nothing
        changed)."""
        try:
            summary = finish_batches(
                MarketoHook(self.marketo_conn_id),
                self.target,
                statuses,
                checks=self.checks,
                ti=context["ti"],
                names=ResultNames.of(context["ti"]),
                results_dir=_sync.results_dir(self, context, jobs=bool(done.batch_ids)),
                rows_sent=done.rows_sent,
            )
        except ImportResultError as err:
            context["ti"].xcom_push(key="return_value", value=self._output(done, err.summary))
            raise
        self._rows_written = int(summary["rows_processed"])
        finished = summary
        if synced is not None:
            summary = {**summary, **synced}
        summary = _sync.commit(self, context, summary, done, statuses)  # after the checks passed
        if summary is not finished:  # the sync's counts, into the report finish_batches wrote
            summary = _with_report(summary)
        summary = self._mirror_step(context, summary, self._export)  # its report adds list_mirror
        record_finished_import(self, context, self.target, self.create_params(), summary, done.batch_ids)
        return self._output(done, summary)

    def _mirror_step(
        self,
        context: Context,
        summary: dict[str, Any],
        imported: tuple[ObjectStoragePath, str] | None,
    ) -> dict[str, Any]:
        """List mirror (``operators/_mirror.py``): once the jobs have finished, or in a dry run."""
        if self.mirror is None or imported is None:
            return summary
        source, file_format = imported
        return mirror_list(
            MarketoHook(self.marketo_conn_id),
            self.mirror,
            list_id=positive_int(getattr(self, "list_id", None), "list_id"),
            lookup_field=self.lookup_column or "email",
            export=source,
            file_format=file_format,
            summary=summary,
            rows_imported=None if self.is_dry_run else self._rows_written,
            results_dir=None if not self.results_path else to_object_storage_path(self.results_path),
            report_name=ResultNames.of(context["ti"]).report,
            dry_run=self.is_dry_run,
            max_busy_wait=self.max_queue_wait,
            poll_interval=self.poll_interval,
            log=self.log,
        )

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

    def _push(self, context: Context, done: Done) -> ImportOutput:
        """Push the ``batch_ids`` XCom; the output (without a result) is the return value."""
        self.log.info(
            "Submitted %d rows in %d job(s): batch ids %s.",
            done.total_rows,
            len(done.batch_ids),
            done.batch_ids,
        )
        context["ti"].xcom_push(key="batch_ids", value=done.batch_ids)
        self._rows_written = done.total_rows
        return self._output(done, None)

    def _output(self, done: Done, result: dict[str, Any] | None) -> ImportOutput:
        sent = [(batch_id, done.rows_sent[str(batch_id)]) for batch_id in done.batch_ids]
        return make_output(self.target, sent, result)

    def _config(self, source: ObjectStoragePath) -> SubmissionConfig:
        timeout = self.execution_timeout
        return SubmissionConfig(
            marketo_conn_id=self.marketo_conn_id,
            target=self.target,
            params=self.create_params(),
            file_format=self.file_format(source),
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
            plan=self._planned,
            log=self.log,
        )


class BaseBulkImportOperator(BaseImportOperator):
    """
    Import a delimited file, or an export's files, into Marketo with as many bulk import jobs as its
    size needs. Subclasses say the kind (:meth:`import_kind`); see ``operators/bulk_import.py``.

    :param source: the file: a local path, an ``ObjectStoragePath`` or a URL such as
        ``s3://aws_conn@bucket/key.csv`` (templated). Its first row is a header of Marketo API names.
        Also a folder (prefix) or a glob (``.../data_*.csv.gz``) of an export's files, imported in
        lexical order as one file: each file's header must equal the first's and is dropped; empty and
        header-only files are skipped; ``_*``, ``.*`` and ``*.crc`` files are not data. A compressed
        file (``.gz``, ``.bz2``, ``.xz``, ``.zst`` with ``zstandard``) is decompressed as it is read.
    :param format: ``csv``, ``tsv`` or ``ssv``; inferred from the file extension (before a compression
        suffix) when omitted. With ``delimiter``: the format the file is rewritten to (default csv).
    :param column_names: the header of files written without one (Snowflake's ``HEADER = FALSE``).
    :param delimiter: the files' delimiter if not the format's (``"|"``: Redshift). This, ``encoding``
        and ``null_values`` parse fields with the ``csv`` module (slower than the byte-level copy used
        otherwise).
    :param encoding: the files' encoding if not UTF-8 (``"cp1252"``, ``"utf-16"``: any Python codec);
        re-encoded to UTF-8.
    :param null_values: exact NULL markers (``["\\N"]``) written as empty fields.

    The other parameters are those of :class:`BaseImportOperator`.
    """

    template_fields: Sequence[str] = ("source", "format", *BaseImportOperator.template_fields)

    def __init__(
        self,
        *,
        source: str | os.PathLike[str] | ObjectStoragePath,
        format: str | None = None,
        column_names: Sequence[str] | None = None,
        delimiter: str | None = None,
        encoding: str | None = None,
        null_values: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.read_options = ReadOptions.of(format, column_names, delimiter, encoding, null_values)
        self.source = source
        self.format = format
        self._staged_format: str | None = None

    def resolve_source(self, context: Context) -> ObjectStoragePath:
        """The file to import; override to produce it.

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
            completing=self._completing,
            max_part_bytes=self.part_size,
            # With field_mapping the source has its own names: the mapped file is what is checked.
            lookup_field=None if self.field_mapping else self.lookup_column,
            required=() if self.field_mapping else self.required_columns,
            log=self.log,
        )
        self._staged, self._staged_format, self._shards = source.staged, source.file_format, source.shards
        self._planned = source.plan
        return source.path

    def staged_file(self, context: Context) -> ObjectStoragePath:
        return staged_path(context, self.staging_path, "export")

    def file_format(self, source: ObjectStoragePath) -> str:
        """The staged copy's format, else ``format`` or the one the file name says."""
        return self._staged_format or (
            check_format(self.format) if self.format else infer_format(source.name)
        )

    def lineage_source(self) -> ObjectStoragePath | None:
        return to_object_storage_path(self.source)
