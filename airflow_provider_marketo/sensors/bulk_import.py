"""Sensor that waits for Marketo bulk import jobs, then finishes them (files, report, checks, summary).

With ``deferrable=True`` the sensor defers to
:class:`~airflow_provider_marketo.triggers.bulk_import.BulkImportTrigger`; else it polls in
``poke()``. Once every job is finished, :func:`airflow_provider_marketo.results.finish_batches`
stores the files on the worker, checks the outcome and builds the summary (the return value).
``soft_fail`` turns only a timeout into a skip: a Failed job, a failed check or an error still fails.
An error no retry can change (a permission error, an unknown batch, the daily quota) fails the task
at once (:func:`~airflow_provider_marketo.exceptions.failing_without_retry`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.sdk import BaseSensorOperator, ObjectStoragePath

from airflow_provider_marketo._compat import (
    AirflowException,
    AirflowSensorTimeout,
    AirflowSkipException,
    AirflowTaskTimeout,
    TaskDeferralTimeout,
    conf,
)
from airflow_provider_marketo.exceptions import failing_without_retry
from airflow_provider_marketo.hooks.marketo import MarketoHook
from airflow_provider_marketo.objects import OBJECT_KINDS, ImportStatus, ObjectKind
from airflow_provider_marketo.operators._assets import declare_alias, record_finished_import
from airflow_provider_marketo.results import ResultChecks, ResultNames, finish_batches
from airflow_provider_marketo.sensors._arguments import SensorArguments
from airflow_provider_marketo.sensors._transient import TransientErrorCount
from airflow_provider_marketo.triggers.bulk_import import (
    DEFAULT_MAX_TRANSIENT_ERRORS,
    BulkImportTrigger,
    error_of_event,
    poll_statuses,
    read_event,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

T = TypeVar("T")
#: What ``soft_fail`` may turn into a skip: running out of the time the user gave.
TIMEOUTS = (AirflowSensorTimeout, AirflowTaskTimeout, TaskDeferralTimeout)


class BulkImportSensor(BaseSensorOperator):
    """
    Wait for Marketo bulk import jobs, then store their failure/warning files and return a summary.

    :param batch_ids: ``import_task.output`` (an
        :class:`~airflow_provider_marketo.operators.output.ImportOutput`; a mapped import task's list of
        them): the sensor takes the batch ids, the target and the rows sent per batch from it, so
        row accounting is on and no target argument is needed. Or, for batches created outside
        Airflow: batch id(s) as a list or one id (a list of lists is flattened) with the target
        arguments below. A template rendering to any of these works too.
    :param results_path: ``ObjectStoragePath`` or URL (``s3://conn@bucket/prefix/``, ``file:///tmp/x/``)
        for ``{batch_id}_failures.<ext>`` / ``{batch_id}_warnings.<ext>``, the merged
        ``<task_id>.failures.<ext>`` / ``<task_id>.warnings.<ext>`` and ``<task_id>.report.json``
        (``<task_id>.map_index=<n>.*`` for a mapped sensor); None: nothing is stored.
    :param object_type: ``leads`` (the default for plain batch ids), ``custom_objects`` or
        ``program_members``. Not needed with an import task's output; if given, it (and ``api_name``,
        ``program_id``) must name the output's target, else the sensor fails before any call.
    :param api_name: custom object API name (custom objects only).
    :param program_id: program id (program members only).
    :param marketo_conn_id: Marketo connection id.
    :param poll_interval: first wait between status checks in seconds (also the default
        ``poke_interval`` when not deferrable).
    :param deferrable: wait in the triggerer instead of a worker slot (default: Airflow's
        ``[operators] default_deferrable``).
    :param max_failed_rows: fail when more rows failed in all jobs together.
    :param max_failed_ratio: fail when failed / (processed + failed) is higher (0..1).
    :param fail_on_warnings: fail when any row has a warning.
    :param fail_on_nothing_imported: fail when a job ended ``Complete`` with 0 rows processed and
        failed rows (default True).
    :param rows_sent: ``{batch_id: rows}`` sent per job, to check that processed + failed == sent, for
        plain batch ids (a list of such mappings is merged). An import task's output already holds it.
    :param fail_on_unaccounted_rows: fail when processed + failed != rows sent for a job (default True).
    :param max_transient_errors: give up after this many consecutive status checks with transient errors.
    """

    template_fields: Sequence[str] = (
        "batch_ids",
        "results_path",
        "rows_sent",
        "marketo_conn_id",
        "api_name",
        "program_id",
    )
    ui_color = "#5c4ee5"
    ui_fgcolor = "#ffffff"

    def __init__(
        self,
        *,
        batch_ids: Any,
        results_path: str | ObjectStoragePath | None = None,
        object_type: ObjectKind | None = None,
        api_name: str | None = None,
        program_id: int | str | None = None,
        marketo_conn_id: str = "marketo_default",
        poll_interval: float = 5.0,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        max_failed_rows: int | None = None,
        max_failed_ratio: float | None = None,
        fail_on_warnings: bool = False,
        fail_on_nothing_imported: bool = True,
        rows_sent: Any = None,
        fail_on_unaccounted_rows: bool = True,
        max_transient_errors: int = DEFAULT_MAX_TRANSIENT_ERRORS,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poke_interval", poll_interval)
        super().__init__(**kwargs)
        declare_alias(self)  # the alias its asset events go through (operators/_assets.py)
        if object_type is not None and object_type not in OBJECT_KINDS:
            raise ValueError(f"object_type must be one of {OBJECT_KINDS}; got {object_type!r}.")
        if poll_interval <= 0:
            raise ValueError(f"poll_interval must be positive; got {poll_interval}.")
        if max_transient_errors < 0:
            raise ValueError(f"max_transient_errors must not be negative; got {max_transient_errors}.")
        self.checks = ResultChecks.from_arguments(locals())
        self.batch_ids = batch_ids
        self.results_path = results_path
        self.object_type = object_type
        self.api_name = api_name
        self.program_id = program_id
        self.marketo_conn_id = marketo_conn_id
        self.poll_interval = poll_interval
        self.deferrable = deferrable
        self.rows_sent = rows_sent
        self.max_transient_errors = max_transient_errors
        self._arguments: SensorArguments | None = None
        self._transient = TransientErrorCount(rescheduled=self.reschedule)
        self._finished: list[ImportStatus] = []

    @property
    def arguments(self) -> SensorArguments:
        """The rendered arguments, parsed and checked on first use (templates render before execute)."""
        if self._arguments is None:
            self._arguments = SensorArguments.parse(
                self.batch_ids,
                self.rows_sent,
                self.object_type,
                self.api_name,
                self.program_id,
                self.results_path,
            )
        return self._arguments

    # -- waiting --------------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        with failing_without_retry():
            return self._execute(context)

    def _execute(self, context: Context) -> Any:
        batch_ids = self.arguments.batch_ids
        if not batch_ids:
            self.log.warning("No batch ids to wait for.")
            return self._finish(context, [])
        if not self.deferrable:
            self._skip_only_on_timeout(lambda: super(BulkImportSensor, self).execute(context))
            return self._finish(context, self._finished)
        trigger = BulkImportTrigger(
            marketo_conn_id=self.marketo_conn_id,
            target=self.arguments.target.to_dict(),
            batch_ids=batch_ids,
            poll_interval=self.poll_interval,
            deadline=time.time() + self.timeout,
            max_transient_errors=self.max_transient_errors,
        )
        self.log.info("Deferring until batches %s are finished (timeout %ss).", batch_ids, self.timeout)
        self.defer(trigger=trigger, method_name="execute_complete", timeout=timedelta(seconds=self.timeout))

    def poke(self, context: Context) -> bool:
        """Check every job once with the sync hook; True (statuses kept for ``execute``) when all are done."""
        known: dict[int, ImportStatus] = {}
        transient = poll_statuses(
            MarketoHook(self.marketo_conn_id), self.arguments.target, self.arguments.batch_ids, known
        )
        if transient is not None:
            count = self._transient.add(context)
            if count > self.max_transient_errors:
                raise AirflowException(
                    f"Gave up after {count} consecutive pokes with transient errors; last: {transient}"
                )
            self.log.warning(
                "Transient error (%d/%d), will poke again: %s", count, self.max_transient_errors, transient
            )
            return False
        self._transient.reset(context)
        statuses = list(known.values())
        pending = [s.batch_id for s in statuses if not s.is_terminal]
        if pending:
            self.log.info("Batches %s are still queued or importing.", pending)
            return False
        self._finished = statuses
        return True

    def execute_complete(self, context: Context, event: Any = None) -> dict[str, Any]:
        """Resume after the trigger: check the event, then finish the jobs."""
        status, message, statuses = read_event(event, self.arguments.batch_ids)
        if status == "error":
            raise error_of_event(event, f"Waiting for Marketo bulk imports failed: {message}")
        if status == "timeout":
            raise AirflowSensorTimeout(f"Marketo bulk imports not finished in time: {message}")
        return self._finish(context, statuses)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """Airflow's resume, except that ``soft_fail`` skips only on a timeout."""
        with failing_without_retry():
            return self._skip_only_on_timeout(
                lambda: super(BulkImportSensor, self).resume_execution(next_method, next_kwargs, context)
            )

    def _skip_only_on_timeout(self, run: Callable[[], T]) -> T:
        """Run ``run``; undo the skip Airflow's sensor makes of any failure under ``soft_fail``.

        ``BaseSensorOperator`` raises ``AirflowSkipException(...) from error`` for every
        ``AirflowException`` of a resumed sensor (and for fail/timeout errors of ``poke``) when
        ``soft_fail`` is set. The error is raised again unless it is a timeout (or ``never_fail``
        is set, which means skip on anything).
        """
        try:
            return run()
        except AirflowSkipException as skip:
            error = skip.__cause__
            if self.never_fail or error is None or isinstance(error, TIMEOUTS):
                raise
            self.log.info("soft_fail skips only timeouts: failing on %s.", type(error).__name__)
            raise error from error.__cause__

    def _finish(self, context: Context, statuses: list[ImportStatus]) -> dict[str, Any]:
        arguments = self.arguments
        summary = finish_batches(
            MarketoHook(self.marketo_conn_id),
            arguments.target,
            statuses,
            checks=self.checks,
            ti=context["ti"],
            names=ResultNames.of(context["ti"]),
            results_dir=arguments.results_dir,
            rows_sent=arguments.rows_sent,
        )
        record_finished_import(self, context, arguments.target, {}, summary, arguments.batch_ids)  # issue 26
        return summary
