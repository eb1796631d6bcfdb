"""Finishing a set of finished Marketo import jobs: files, merged report, checks, summary.

:func:`finish_batches` is the one implementation of "finish", used by ``BulkImportSensor`` and by
the import operators' ``wait_for_completion``. In this order it:

1. downloads each job's failures/warnings file (when Marketo reports such rows) to local disk,
   counts its reasons and, with a ``results_dir``, stores it as ``<batch_id>_<which>.<ext>``;
2. with a ``results_dir``, writes the merged ``<task>.failures.<ext>`` / ``<task>.warnings.<ext>``
   (every row of every batch, ``batch_id`` column first) and ``<task>.report.json`` (the summary),
   where ``<task>`` is the task id, plus ``.map_index=<n>`` for a mapped task (:class:`ResultNames`):
   task instances that share a ``results_path`` never overwrite each other's files;
3. runs the checks; on a problem it pushes the summary as the task's ``return_value`` XCom and
   raises :class:`ImportResultError`, else it returns the summary (the caller returns it).
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from airflow.sdk import ObjectStoragePath

from airflow_provider_marketo._compat import AirflowFailException
from airflow_provider_marketo.hooks.marketo import MarketoHook
from airflow_provider_marketo.objects import BulkTarget, FileKind, ImportStatus
from airflow_provider_marketo.results.batches import FILE_KINDS, SUMMARY_KEYS, BatchResult, check_rows_sent
from airflow_provider_marketo.results.checks import ResultChecks
from airflow_provider_marketo.results.files import (
    add_reasons,
    fetch_result_file,
    open_for_writing,
    store_result_file,
)
from airflow_provider_marketo.results.merged import write_merged
from airflow_provider_marketo.results.names import ResultNames

log = logging.getLogger(__name__)


class XComPusher(Protocol):
    """What finishing needs of a task instance."""

    def xcom_push(self, key: str, value: Any) -> None: ...


class ImportResultError(AirflowFailException):
    """The jobs finished, but a check failed (a Failed job, nothing imported, rows unaccounted, a
    threshold). Raised after the files and the summary are stored; ``summary`` is that summary.
    ``BulkImportSensor`` never turns it into a skip, whatever ``soft_fail`` says."""

    def __init__(self, message: str, summary: dict[str, Any]) -> None:
        super().__init__(message)
        self.summary = summary


def finish_batches(
    hook: MarketoHook,
    target: BulkTarget,
    statuses: Sequence[ImportStatus],
    *,
    checks: ResultChecks,
    ti: XComPusher,
    names: ResultNames,
    results_dir: ObjectStoragePath | None = None,
    rows_sent: Mapping[int, int] | Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Store the files and report of finished jobs, check them and return the summary (JSON-friendly).

    ``rows_sent`` maps each batch id to the data rows sent in it, for all batches or none; keys may
    be strings (the operators' ``rows_sent`` XCom). ``names`` are the task instance's file names
    (``ResultNames.of(context["ti"])``); the summary says which task instance it is. Raises :class:`ImportResultError` (after pushing
    the summary) when a check fails.
    """
    sent = None if rows_sent is None else {int(key): int(rows) for key, rows in rows_sent.items()}
    if sent is not None:
        check_rows_sent((s.batch_id for s in statuses), sent)
    if results_dir is None:
        log.info("results_path is not set: failure and warning files are not stored.")
    with tempfile.TemporaryDirectory(prefix="marketo-results-") as tmp:
        batches = [_collect(hook, target, status, sent, Path(tmp), results_dir) for status in statuses]
        merged = {
            which: write_merged(
                [b.files[which] for b in batches if which in b.files], results_dir, which, names
            )
            if results_dir is not None
            else None
            for which in FILE_KINDS
        }
    problems = checks.problems(batches)
    summary = _summary(batches, sent, results_dir, merged, problems, names)
    if results_dir is not None:
        report = results_dir / names.report
        summary["report_path"] = str(report)
        write_report(report, summary)
    if problems:
        ti.xcom_push(key="return_value", value=summary)
        raise ImportResultError(summary["message"], summary)
    log.info(
        "Marketo bulk imports done: %d processed, %d failed, %d with warning.",
        summary["rows_processed"],
        summary["rows_failed"],
        summary["rows_with_warning"],
    )
    return summary


def write_report(report: ObjectStoragePath, document: Mapping[str, Any]) -> None:
    """Write a task instance's ``report.json`` (the summary, and what later steps add to it)."""
    with open_for_writing(report) as out:
        out.write(json.dumps(document, indent=1).encode())


def _collect(
    hook: MarketoHook,
    target: BulkTarget,
    status: ImportStatus,
    rows_sent: Mapping[int, int] | None,
    workdir: Path,
    results_dir: ObjectStoragePath | None,
) -> BatchResult:
    batch = BatchResult(status, None if rows_sent is None else rows_sent[status.batch_id])
    for which in FILE_KINDS:
        if not batch.rows(which):
            continue
        result = fetch_result_file(hook, target, status.batch_id, which, workdir)
        if result is None:
            continue
        if results_dir is not None:
            store_result_file(result, results_dir)
        batch.files[which] = result
    if batch.rows_accounted is False:
        log.warning(
            "Batch %s: %d rows sent but %d processed + %d failed.",
            status.batch_id,
            batch.rows_sent,
            status.rows_processed,
            status.rows_failed,
        )
    return batch


def _summary(
    batches: Sequence[BatchResult],
    rows_sent: Mapping[int, int] | None,
    results_dir: ObjectStoragePath | None,
    merged: Mapping[FileKind, str | None],
    problems: Sequence[str],
    names: ResultNames,
) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "task_id": names.task_id,
        "map_index": names.map_index,
        "status": "failed" if problems else "success",
        "message": "; ".join(problems) if problems else f"{len(batches)} import jobs finished",
        "rows_processed": sum(b.status.rows_processed for b in batches),
        "rows_failed": sum(b.status.rows_failed for b in batches),
        "rows_with_warning": sum(b.status.rows_with_warning for b in batches),
        "rows_sent": sum(rows_sent.values()) if rows_sent is not None else None,
        "rows_accounted": all(b.rows_accounted for b in batches) if rows_sent is not None else None,
        "results_path": str(results_dir) if results_dir is not None else None,
        "report_path": None,
    }
    for which in FILE_KINDS:
        path_key, reasons_key = SUMMARY_KEYS[which]
        summary[path_key] = merged[which]
        totals: Counter[str] = Counter()
        for batch in batches:
            add_reasons(totals, batch.reasons(which).items())
        summary[reasons_key] = dict(totals.most_common())
    summary["batches"] = [b.to_dict() for b in batches]
    return summary
