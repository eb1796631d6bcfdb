"""Sensor that waits for Marketo bulk import jobs, stores their failure/warning files and sums them up.

By default the sensor defers to :class:`~airflow_provider_marketo.triggers.bulk_import.BulkImportTrigger`;
the files are fetched on the worker once every job is finished. The return value (XCom) is a
JSON-friendly summary of the jobs, their row counts, the files and the failure/warning reasons.
"""

from __future__ import annotations

import ast
import csv
import io
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import IO, TYPE_CHECKING, Any, TypeGuard

from airflow.sdk import BaseSensorOperator, ObjectStoragePath, PokeReturnValue

from airflow_provider_marketo._compat import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
)
from airflow_provider_marketo.exceptions import MarketoError, MarketoRetryableError
from airflow_provider_marketo.hooks.marketo import MarketoHook
from airflow_provider_marketo.objects import (
    OBJECT_KINDS,
    BulkTarget,
    FileKind,
    ImportStatus,
    ObjectKind,
)
from airflow_provider_marketo.triggers.bulk_import import (
    DEFAULT_MAX_TRANSIENT_ERRORS,
    EVENT_STATUSES,
    BulkImportTrigger,
    describe_error,
)
from airflow_provider_marketo.utils.delimited import FORMATS

if TYPE_CHECKING:
    from airflow.sdk import Context

#: Last column of the failure / warning files Marketo returns.
REASON_COLUMNS: dict[FileKind, str] = {
    "failures": "Import Failure Reason",
    "warnings": "Import Warning Reason",
}
#: File extension for each delimiter Marketo can answer in (the job's format).
EXTENSIONS = {delimiter: f".{file_format}" for file_format, delimiter in FORMATS.items()}
LOCAL_PROTOCOLS = frozenset({"", "file", "local"})
TOP_REASONS = 10


def as_int_list(value: object, name: str, *, minimum: int) -> list[int]:
    """Normalise a list, a single number or a rendered string like ``"[1, 2]"`` or ``"12"``.

    A list of lists (the output of a mapped import task) is flattened in order.
    """
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            raise AirflowException(
                f"{name} must be a list of integers or one integer; got the string {value!r}."
            ) from None
    if not _is_list(value) and (isinstance(value, bool) or not isinstance(value, int | str)):
        raise AirflowException(f"{name} must be a list of integers or one integer; got {value!r}.")
    items = value if _is_list(value) else [value]
    flat = [element for item in items for element in (item if _is_list(item) else [item])]
    numbers: list[int] = []
    for item in flat:
        try:
            if isinstance(item, bool) or not isinstance(item, int | str):
                raise ValueError
            number = int(item)
        except ValueError:
            raise AirflowException(f"{name} must contain integers; got {item!r}.") from None
        if number < minimum:
            raise AirflowException(f"{name} must contain integers >= {minimum}; got {number}.")
        numbers.append(number)
    return numbers


def _is_list(value: object) -> TypeGuard[Iterable[Any]]:
    return isinstance(value, Iterable) and not isinstance(value, str | bytes | Mapping)


def count_reasons(binary_file: IO[bytes], reason_column: str) -> tuple[str, Counter[str]]:
    """Detect the delimiter of a failure/warning file and count the rows per reason (last column).

    The delimiter is the character right before the reason column's name in the header line.
    The file is read row by row, never whole; its position is left at the end.
    """
    text = io.TextIOWrapper(binary_file, encoding="utf-8-sig", errors="replace", newline="")
    try:
        header = text.readline().rstrip("\r\n")
        delimiter = _header_delimiter(header, reason_column)
        reasons: Counter[str] = Counter(row[-1] for row in csv.reader(text, delimiter=delimiter) if row)
    finally:
        text.detach()
    return delimiter, reasons


def _header_delimiter(header: str, reason_column: str) -> str:
    for name in (reason_column, f'"{reason_column}"'):
        if header.endswith(name) and len(header) > len(name):
            delimiter = header[-len(name) - 1]
            if delimiter in EXTENSIONS:
                return delimiter
    # Unexpected header (or the reason column alone): pick the most frequent known delimiter.
    return max(EXTENSIONS, key=header.count) if any(d in header for d in EXTENSIONS) else ","


class BulkImportSensor(BaseSensorOperator):
    """
    Wait for Marketo bulk import jobs, then store their failure/warning files and return a summary.

    :param batch_ids: batch id(s): a list, one id, ``import_task.output`` or a template rendering to either.
    :param results_path: ``ObjectStoragePath`` or URL (``s3://conn@bucket/prefix/``, ``file:///tmp/x/``)
        where ``{batch_id}_failures.csv`` / ``{batch_id}_warnings.csv`` go; None: files are not stored.
    :param object_type: ``leads``, ``custom_objects`` or ``program_members``.
    :param api_name: custom object API name (custom objects only).
    :param program_id: program id (program members only).
    :param marketo_conn_id: Marketo connection id.
    :param poll_interval: first wait between status checks in seconds (also the default
        ``poke_interval`` when not deferrable).
    :param deferrable: wait in the triggerer (default) instead of a worker slot.
    :param max_failed_rows: fail when more rows failed in all jobs together.
    :param max_failed_ratio: fail when failed / (processed + failed) is higher (0..1).
    :param fail_on_warnings: fail when any row has a warning.
    :param rows_sent: rows sent per job, aligned with ``batch_ids`` (``import_task.rows_sent_output``),
        to check that processed + failed == sent.
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
        object_type: ObjectKind = "leads",
        api_name: str | None = None,
        program_id: int | str | None = None,
        marketo_conn_id: str = "marketo_default",
        poll_interval: float = 5.0,
        deferrable: bool = True,
        max_failed_rows: int | None = None,
        max_failed_ratio: float | None = None,
        fail_on_warnings: bool = False,
        rows_sent: Any = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poke_interval", poll_interval)
        super().__init__(**kwargs)
        if object_type not in OBJECT_KINDS:
            raise ValueError(f"object_type must be one of {OBJECT_KINDS}; got {object_type!r}.")
        if poll_interval <= 0:
            raise ValueError(f"poll_interval must be positive; got {poll_interval}.")
        if max_failed_rows is not None and max_failed_rows < 0:
            raise ValueError(f"max_failed_rows must not be negative; got {max_failed_rows}.")
        if max_failed_ratio is not None and not 0 <= max_failed_ratio <= 1:
            raise ValueError(f"max_failed_ratio must be between 0 and 1; got {max_failed_ratio}.")
        self.batch_ids = batch_ids
        self.results_path = results_path
        self.object_type = object_type
        self.api_name = api_name
        self.program_id = program_id
        self.marketo_conn_id = marketo_conn_id
        self.poll_interval = poll_interval
        self.deferrable = deferrable
        self.max_failed_rows = max_failed_rows
        self.max_failed_ratio = max_failed_ratio
        self.fail_on_warnings = fail_on_warnings
        self.rows_sent = rows_sent
        self._transient_errors = 0

    # -- arguments after rendering ------------------------------------------------------------

    def _batch_id_list(self) -> list[int]:
        batch_ids = as_int_list(self.batch_ids, "batch_ids", minimum=1)
        if len(set(batch_ids)) != len(batch_ids):
            raise AirflowException(f"batch_ids must not repeat a batch id; got {batch_ids}.")
        return batch_ids

    def _rows_sent_list(self, batch_ids: list[int]) -> list[int] | None:
        if self.rows_sent is None or self.rows_sent == "":
            return None
        rows_sent = as_int_list(self.rows_sent, "rows_sent", minimum=0)
        if len(rows_sent) != len(batch_ids):
            raise AirflowException(
                f"rows_sent has {len(rows_sent)} entries but there are {len(batch_ids)} batch ids; "
                "they must be aligned (one count per job)."
            )
        return rows_sent

    def _target(self) -> BulkTarget:
        program_id = None
        if self.program_id is not None and self.program_id != "":
            try:
                program_id = int(self.program_id)
            except ValueError:
                raise AirflowException(f"program_id must be an integer; got {self.program_id!r}.") from None
        return BulkTarget(self.object_type, api_name=self.api_name or None, program_id=program_id)

    def _results_dir(self) -> ObjectStoragePath | None:
        if self.results_path is None or self.results_path == "":
            return None
        if isinstance(self.results_path, ObjectStoragePath):
            return self.results_path
        return ObjectStoragePath(str(self.results_path))

    # -- waiting --------------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        batch_ids = self._batch_id_list()
        self._rows_sent_list(batch_ids)
        target = self._target()
        if not batch_ids:
            self.log.warning("No batch ids to wait for.")
            return self._finish(context, [])
        if not self.deferrable:
            return super().execute(context)
        trigger = BulkImportTrigger(
            marketo_conn_id=self.marketo_conn_id,
            target=target.to_dict(),
            batch_ids=batch_ids,
            poll_interval=self.poll_interval,
            deadline=time.time() + self.timeout,
        )
        self.log.info("Deferring until batches %s are finished (timeout %ss).", batch_ids, self.timeout)
        self.defer(trigger=trigger, method_name="execute_complete", timeout=timedelta(seconds=self.timeout))

    def poke(self, context: Context) -> bool | PokeReturnValue:
        """Check every job once with the sync hook; finish like ``execute_complete`` when all are done."""
        hook = MarketoHook(self.marketo_conn_id)
        target = self._target()
        statuses: list[ImportStatus] = []
        for batch_id in self._batch_id_list():
            try:
                statuses.append(hook.get_import_status(target, batch_id))
            except MarketoRetryableError as err:
                self._transient_errors += 1
                if self._transient_errors > DEFAULT_MAX_TRANSIENT_ERRORS:
                    raise AirflowException(describe_error(batch_id, err)) from err
                self.log.warning("Transient error, will poke again: %s", describe_error(batch_id, err))
                return False
            except MarketoError as err:
                raise AirflowException(describe_error(batch_id, err)) from err
        self._transient_errors = 0
        pending = [s.batch_id for s in statuses if not s.is_terminal]
        if pending:
            self.log.info("Batches %s are still queued or importing.", pending)
            return False
        return PokeReturnValue(is_done=True, xcom_value=self._finish(context, statuses))

    def execute_complete(self, context: Context, event: Any = None) -> dict[str, Any]:
        """Resume after the trigger: check the event, then store the files and summarise."""
        batch_ids = self._batch_id_list()
        status, message, statuses = self._read_event(event, batch_ids)
        if status == "error":
            raise AirflowException(f"Waiting for Marketo bulk imports failed: {message}")
        if status == "timeout":
            text = f"Marketo bulk imports not finished in time: {message}"
            if self.soft_fail:
                raise AirflowSkipException(text)
            raise AirflowSensorTimeout(text)
        return self._finish(context, statuses)

    @staticmethod
    def _read_event(event: Any, batch_ids: list[int]) -> tuple[str, str, list[ImportStatus]]:
        """Validate a trigger event payload; raise a clear error for anything malformed."""
        if not isinstance(event, dict):
            raise AirflowException(f"Malformed trigger event (expected a dict): {event!r:.200}")
        status, message, batches = event.get("status"), event.get("message"), event.get("batches")
        if status not in EVENT_STATUSES:
            raise AirflowException(f"Malformed trigger event: unknown status {status!r}.")
        if not isinstance(message, str) or not isinstance(batches, list):
            raise AirflowException("Malformed trigger event: 'message' must be a str and 'batches' a list.")
        try:
            statuses = [ImportStatus.from_dict(b) for b in batches]
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise AirflowException(f"Malformed trigger event: bad batch entry ({err!r}).") from None
        if status in ("success", "failed"):
            got = sorted(s.batch_id for s in statuses)
            if got != sorted(batch_ids) or not all(s.is_terminal for s in statuses):
                raise AirflowException(
                    f"Malformed trigger event: expected finished statuses of batches {sorted(batch_ids)}, "
                    f"got {[(s.batch_id, s.status) for s in statuses]}."
                )
        return status, message, statuses

    # -- finishing on the worker ---------------------------------------------------------------

    def _finish(self, context: Context, statuses: list[ImportStatus]) -> dict[str, Any]:
        """Store the files, build the summary and fail when a job failed or a threshold is crossed."""
        batch_ids = self._batch_id_list()
        rows_sent = self._rows_sent_list(batch_ids)
        sent_by_id = dict(zip(batch_ids, rows_sent, strict=True)) if rows_sent else {}
        results_dir = self._results_dir()
        if results_dir is None:
            self.log.info("results_path is not set: failure and warning files are not stored.")
        hook = MarketoHook(self.marketo_conn_id)
        target = self._target()
        batches = [
            self._batch_summary(hook, target, status, sent_by_id.get(status.batch_id), results_dir)
            for status in statuses
        ]
        processed = sum(s.rows_processed for s in statuses)
        failed = sum(s.rows_failed for s in statuses)
        warned = sum(s.rows_with_warning for s in statuses)
        summary: dict[str, Any] = {
            "status": "success",
            "message": f"{len(statuses)} import jobs finished",
            "rows_processed": processed,
            "rows_failed": failed,
            "rows_with_warning": warned,
            "rows_sent": sum(rows_sent) if rows_sent is not None else None,
            "rows_accounted": all(b["rows_accounted"] for b in batches) if rows_sent is not None else None,
            "results_path": str(results_dir) if results_dir is not None else None,
            "batches": batches,
        }
        problems = self._problems(statuses, processed, failed, warned)
        if problems:
            summary["status"] = "failed"
            summary["message"] = "; ".join(problems)
            context["ti"].xcom_push(key="return_value", value=summary)
            raise AirflowFailException(summary["message"])
        self.log.info(
            "Marketo bulk imports done: %d processed, %d failed, %d with warning.", processed, failed, warned
        )
        return summary

    def _problems(self, statuses: list[ImportStatus], processed: int, failed: int, warned: int) -> list[str]:
        problems = [
            f"Batch {s.batch_id} failed: {s.message or 'no message'}"
            for s in statuses
            if s.status == "Failed"
        ]
        if self.max_failed_rows is not None and failed > self.max_failed_rows:
            problems.append(f"{failed} rows failed, more than max_failed_rows={self.max_failed_rows}")
        total = processed + failed
        ratio = failed / total if total else 0.0
        if self.max_failed_ratio is not None and ratio > self.max_failed_ratio:
            problems.append(
                f"{failed} of {total} rows failed ({ratio:.2%}), "
                f"more than max_failed_ratio={self.max_failed_ratio}"
            )
        if self.fail_on_warnings and warned:
            problems.append(f"{warned} rows have warnings and fail_on_warnings is set")
        return problems

    def _batch_summary(
        self,
        hook: MarketoHook,
        target: BulkTarget,
        status: ImportStatus,
        rows_sent: int | None,
        results_dir: ObjectStoragePath | None,
    ) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "batch_id": status.batch_id,
            "status": status.status,
            "rows_processed": status.rows_processed,
            "rows_failed": status.rows_failed,
            "rows_with_warning": status.rows_with_warning,
            "message": status.message,
        }
        files: tuple[tuple[FileKind, int], ...] = (
            ("failures", status.rows_failed),
            ("warnings", status.rows_with_warning),
        )
        for which, count in files:
            path, reasons = (
                self._collect_file(hook, target, status.batch_id, which, results_dir) if count else (None, {})
            )
            entry[f"{which}_path"] = path
            entry[f"{which[:-1]}_reasons"] = reasons
        if rows_sent is not None:
            entry["rows_sent"] = rows_sent
            entry["rows_accounted"] = status.rows_processed + status.rows_failed == rows_sent
            if not entry["rows_accounted"]:
                self.log.warning(
                    "Batch %s: %d rows sent but %d processed + %d failed.",
                    status.batch_id,
                    rows_sent,
                    status.rows_processed,
                    status.rows_failed,
                )
        return entry

    def _collect_file(
        self,
        hook: MarketoHook,
        target: BulkTarget,
        batch_id: int,
        which: FileKind,
        results_dir: ObjectStoragePath | None,
    ) -> tuple[str | None, dict[str, int]]:
        """Download one failures/warnings file to a temporary file, count its reasons, store it."""
        with tempfile.TemporaryFile() as tmp:
            if not hook.download_import_file(target, batch_id, which, tmp):
                self.log.info("Batch %s has no %s file.", batch_id, which)
                return None, {}
            tmp.seek(0)
            delimiter, reasons = count_reasons(tmp, REASON_COLUMNS[which])
            self._log_reasons(batch_id, which, reasons)
            if results_dir is None:
                return None, dict(reasons)
            dest = results_dir / f"{batch_id}_{which}{EXTENSIONS[delimiter]}"
            if dest.protocol in LOCAL_PROTOCOLS:
                dest.parent.mkdir(parents=True, exist_ok=True)
            tmp.seek(0)
            with dest.open("wb") as out:  # type: ignore[no-untyped-call]
                shutil.copyfileobj(tmp, out)
        self.log.info("Batch %s: %s file stored at %s", batch_id, which, dest)
        return str(dest), dict(reasons)

    def _log_reasons(self, batch_id: int, which: FileKind, reasons: Counter[str]) -> None:
        rows = "\n".join(f"{count:>9}  {reason}" for reason, count in reasons.most_common(TOP_REASONS))
        self.log.info(
            "Batch %s: %d rows in the %s file; top reasons:\n%9s  %s\n%s",
            batch_id,
            sum(reasons.values()),
            which,
            "rows",
            "reason",
            rows,
        )
