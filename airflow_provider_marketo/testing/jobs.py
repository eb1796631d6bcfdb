"""Import jobs and Marketo's FIFO import queue (at most ``max_importing`` jobs importing at once).

Jobs advance lazily from the simulator clock: with ``rows_per_second > 0`` an importing job processes
rows as simulated time passes; with ``rows_per_second == 0`` every API call is a "look" that completes
the jobs at the head of the queue, ``max_importing`` at a time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_marketo.testing.config import SimulatorConfig
from airflow_provider_marketo.testing.delimited import write_file
from airflow_provider_marketo.testing.store import DataStore, ImportSpec

TERMINAL = ("Complete", "Failed")


def status_message(processed: int, failed: int, warned: int) -> str:
    """A Complete job's message, worded like Adobe's examples for all three kinds.

    "Import succeeded, 8 records imported (8 members)"; "Import completed with errors, 0 records
    imported (0 members), 3 failed"; "Import succeeded, 1 records imported (1 members), 1 warning."
    """
    imported = f"{processed} records imported ({processed} members)"
    message = (
        f"Import completed with errors, {imported}, {failed} failed"
        if failed
        else f"Import succeeded, {imported}"
    )
    if warned:
        message += f", {warned} warning{'s' if warned != 1 else ''}."
    return message


@dataclass
class Job:
    """One bulk import job (``foreign`` jobs stand for another integration's imports)."""

    batch_id: int
    kind: str
    created_at: float
    spec: ImportSpec | None = None
    params: dict[str, Any] = field(default_factory=dict)
    file_format: str = "csv"
    file: bytes = b""
    header: list[str] = field(default_factory=list)
    records: list[list[str]] = field(default_factory=list)
    foreign: bool = False
    hold_until: float = 0.0
    fail_message: str | None = None
    status: str = "Queued"
    started_at: float | None = None
    message: str | None = None
    cursor: int = 0
    import_seconds: int | None = None
    rows_processed: int = 0
    rows_failed: int = 0
    rows_with_warning: int = 0
    failures: list[list[str]] = field(default_factory=list)
    warnings: list[list[str]] = field(default_factory=list)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def file_rows(self, which: str) -> bytes | None:
        """The failures or warnings file, or None when there is none (job unfinished or no such rows)."""
        rows = self.failures if which == "failures" else self.warnings
        if self.status != "Complete" or not rows:
            return None
        reason = "Import Failure Reason" if which == "failures" else "Import Warning Reason"
        return write_file([*self.header, reason], rows, self.file_format)

    def create_result(self) -> dict[str, Any]:
        """The ``result`` element of the create call: the fields of Adobe's create examples."""
        result: dict[str, Any] = {"batchId": self.batch_id}
        if self.kind != "custom_objects":
            result["importId"] = str(self.batch_id)
        result["status"] = self.status
        if self.kind == "custom_objects":
            result["objectApiName"] = self.params.get("apiName", "")
        return result

    def status_result(self) -> dict[str, Any]:
        """One element of a status response's ``result``."""
        # The fields of Adobe's examples: custom objects report numOfObjectsProcessed, operation,
        # objectApiName and importTime; program members numOfLeadsProcessed and importId; leads
        # numOfLeadsProcessed only.
        processed = "numOfObjectsProcessed" if self.kind == "custom_objects" else "numOfLeadsProcessed"
        result: dict[str, Any] = {"batchId": self.batch_id}
        if self.kind == "custom_objects":
            result.update(operation="import", objectApiName=self.params.get("apiName", ""))
        elif self.kind == "program_members":
            result["importId"] = str(self.batch_id)
        result.update(
            {
                "status": self.status,
                processed: self.rows_processed,
                "numOfRowsFailed": self.rows_failed,
                "numOfRowsWithWarning": self.rows_with_warning,
            }
        )
        if self.kind == "custom_objects" and self.import_seconds is not None:
            result["importTime"] = f"{self.import_seconds} second(s)"
        if self.message is not None:
            result["message"] = self.message
        return result

    def to_dict(self) -> dict[str, Any]:
        """Inspection view."""
        return {
            "batch_id": self.batch_id,
            "kind": self.kind,
            "status": self.status,
            "rows": len(self.records),
            "rows_processed": self.rows_processed,
            "rows_failed": self.rows_failed,
            "rows_with_warning": self.rows_with_warning,
            "message": self.message,
            "params": dict(self.params),
            "format": self.file_format,
            "received_bytes": len(self.file),
            "created_at": self.created_at,
            "foreign": self.foreign,
        }


class ImportQueue:
    """Every job ever created, and the FIFO of unfinished ones."""

    def __init__(self, config: SimulatorConfig, store: DataStore, now: float) -> None:
        self.config = config
        self.store = store
        self.jobs: dict[int, Job] = {}
        self.pending: list[Job] = []
        self._last = now
        self._next_batch_id = 3401

    def new_batch_id(self) -> int:
        self._next_batch_id += 1
        return self._next_batch_id - 1

    def add(self, job: Job) -> None:
        self.jobs[job.batch_id] = job
        self.pending.append(job)

    def advance(self, now: float, *, look: bool) -> None:
        """Bring every job up to ``now``; a ``look`` also moves jobs when rows_per_second is 0."""
        now = max(now, self._last)
        t = self._last
        while True:
            self._promote(t)
            due = [(end, job) for job in self._importing() if (end := self._end_time(job)) is not None]
            due = [item for item in due if item[0] <= now]
            if not due:
                break
            end, job = min(due, key=lambda item: item[0])
            self._finish(job, end)
            t = max(t, end)
        rate = self.config.rows_per_second
        for job in self._importing():
            if rate > 0 and not job.foreign and job.started_at is not None:
                self._process(job, math.floor((now - job.started_at) * rate))
        if look and rate <= 0:
            self._promote(now)
            for job in self._importing():
                if not job.foreign:
                    self._finish(job, now)
            self._promote(now)
        self._last = now

    def _importing(self) -> list[Job]:
        return [job for job in self.pending if job.status == "Importing"]

    def _promote(self, t: float) -> None:
        free = self.config.max_importing - len(self._importing())
        for job in [job for job in self.pending if job.status == "Queued"][: max(free, 0)]:
            job.status = "Importing"
            job.started_at = max(t, job.created_at)

    def _end_time(self, job: Job) -> float | None:
        assert job.started_at is not None
        if job.foreign:
            return max(job.started_at, job.hold_until)
        if self.config.rows_per_second <= 0:
            return None
        return job.started_at + len(job.records) / self.config.rows_per_second

    def _process(self, job: Job, upto: int) -> None:
        if job.fail_message or job.spec is None:
            return
        for record in job.records[job.cursor : min(upto, len(job.records))]:
            outcome = self.store.apply(job.spec, record)
            # The row exactly as sent (a wrong field count included), then the reason.
            if outcome.failure:
                job.rows_failed += 1
                job.failures.append([*record, outcome.failure])
                continue
            job.rows_processed += 1
            if outcome.warning:
                job.rows_with_warning += 1
                job.warnings.append([*record, outcome.warning])
        job.cursor = max(job.cursor, min(upto, len(job.records)))

    def _finish(self, job: Job, now: float) -> None:
        self._process(job, len(job.records))
        self.pending.remove(job)
        job.import_seconds = max(1, round(now - (job.started_at if job.started_at is not None else now)))
        if job.fail_message:
            job.status, job.message = "Failed", job.fail_message
            return
        job.status = "Complete"
        job.message = status_message(job.rows_processed, job.rows_failed, job.rows_with_warning)
