"""When finished jobs still fail the task: a Failed job, nothing imported, rows that do not add up,
and the thresholds a user sets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from airflow_provider_marketo.results.batches import BatchResult
from airflow_provider_marketo.results.files import top_reasons

#: Reasons named in the "nothing imported" message.
MESSAGE_REASONS = 3


@dataclass(frozen=True)
class ResultChecks:
    """
    The checks run once every job is finished (after the files are stored).

    :param max_failed_rows: fail when more rows failed in all jobs together.
    :param max_failed_ratio: fail when failed / (processed + failed) is higher (0..1).
    :param fail_on_warnings: fail when any row has a warning.
    :param fail_on_nothing_imported: fail when a job ended ``Complete`` with 0 rows processed and
        failed rows (Marketo's way of saying every row was rejected).
    :param fail_on_unaccounted_rows: fail when processed + failed != rows sent for a job (needs the
        rows sent); False only reports it in the summary.
    """

    max_failed_rows: int | None = None
    max_failed_ratio: float | None = None
    fail_on_warnings: bool = False
    fail_on_nothing_imported: bool = True
    fail_on_unaccounted_rows: bool = True

    @classmethod
    def from_arguments(cls, arguments: Mapping[str, Any]) -> ResultChecks:
        """The checks among an operator's arguments (its ``locals()`` in ``__init__``): the sensor and
        the import operators take them under these names, with these defaults."""
        return cls(**{f.name: arguments[f.name] for f in fields(cls)})

    def __post_init__(self) -> None:
        if self.max_failed_rows is not None and self.max_failed_rows < 0:
            raise ValueError(f"max_failed_rows must not be negative; got {self.max_failed_rows}.")
        if self.max_failed_ratio is not None and not 0 <= self.max_failed_ratio <= 1:
            raise ValueError(f"max_failed_ratio must be between 0 and 1; got {self.max_failed_ratio}.")

    def problems(self, batches: Sequence[BatchResult]) -> list[str]:
        """One message per problem found, in a stable order (empty: the jobs are acceptable)."""
        statuses = [b.status for b in batches]
        problems = [
            f"Batch {s.batch_id} failed: {s.message or 'no message'}"
            for s in statuses
            if s.status == "Failed"
        ]
        if self.fail_on_nothing_imported:
            problems += [
                f"Batch {b.batch_id} imported nothing: all {b.status.rows_failed} rows failed "
                f"(top reasons: {top_reasons(b.reasons('failures'), MESSAGE_REASONS)}); "
                "set fail_on_nothing_imported=False to accept this"
                for b in batches
                if b.status.status == "Complete" and b.status.rows_processed == 0 and b.status.rows_failed > 0
            ]
        # A Failed job fails the task on its own; its rows are in neither count by definition.
        unaccounted = [b for b in batches if b.rows_accounted is False and b.status.status != "Failed"]
        if self.fail_on_unaccounted_rows and unaccounted:
            details = ", ".join(
                f"batch {b.batch_id}: {b.rows_sent} sent, "
                f"{b.status.rows_processed} processed + {b.status.rows_failed} failed"
                for b in unaccounted
            )
            problems.append(
                f"Rows do not add up in batch(es) {[b.batch_id for b in unaccounted]} ({details}); "
                "set fail_on_unaccounted_rows=False to only report it"
            )
        processed = sum(s.rows_processed for s in statuses)
        failed = sum(s.rows_failed for s in statuses)
        warned = sum(s.rows_with_warning for s in statuses)
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
