"""What one finished batch produced: its status, the rows sent, its downloaded files and reasons."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_marketo._compat import AirflowException
from airflow_provider_marketo.objects import FileKind, ImportStatus
from airflow_provider_marketo.results.files import ResultFile

#: The two files of a job, in summary order.
FILE_KINDS: tuple[FileKind, ...] = ("failures", "warnings")
#: Summary keys of each file: (path of the stored file, rows per reason).
SUMMARY_KEYS: dict[FileKind, tuple[str, str]] = {
    "failures": ("failures_path", "failure_reasons"),
    "warnings": ("warnings_path", "warning_reasons"),
}


@dataclass
class BatchResult:
    """One finished job; ``files`` holds the files Marketo had (downloaded, maybe stored)."""

    status: ImportStatus
    rows_sent: int | None = None
    files: dict[FileKind, ResultFile] = field(default_factory=dict)

    @property
    def batch_id(self) -> int:
        return self.status.batch_id

    def rows(self, which: FileKind) -> int:
        """Rows Marketo counts as failed (``failures``) or warned about (``warnings``)."""
        return self.status.rows_failed if which == "failures" else self.status.rows_with_warning

    def reasons(self, which: FileKind) -> Counter[str]:
        result = self.files.get(which)
        return result.scan.reasons if result is not None else Counter()

    @property
    def rows_accounted(self) -> bool | None:
        """processed + failed == sent; None when the rows sent are not known."""
        if self.rows_sent is None:
            return None
        return self.status.rows_processed + self.status.rows_failed == self.rows_sent

    def to_dict(self) -> dict[str, Any]:
        """The batch's entry in the summary (JSON-friendly)."""
        entry: dict[str, Any] = {
            "batch_id": self.batch_id,
            "status": self.status.status,
            "rows_processed": self.status.rows_processed,
            "rows_failed": self.status.rows_failed,
            "rows_with_warning": self.status.rows_with_warning,
            "message": self.status.message,
        }
        for which in FILE_KINDS:
            path_key, reasons_key = SUMMARY_KEYS[which]
            result = self.files.get(which)
            entry[path_key] = result.stored if result is not None else None
            entry[reasons_key] = dict(self.reasons(which))
        if self.rows_sent is not None:
            entry["rows_sent"] = self.rows_sent
            entry["rows_accounted"] = self.rows_accounted
        return entry


def check_rows_sent(batch_ids: Iterable[int], rows_sent: Mapping[int, int]) -> None:
    """Fail unless ``rows_sent`` has exactly one entry per batch id (aligned by id, not by position)."""
    ids = list(batch_ids)
    missing = [b for b in ids if b not in rows_sent]
    unknown = sorted(set(rows_sent) - set(ids))
    problems = []
    if missing:
        problems.append(f"no entry for batch(es) {missing}")
    if unknown:
        problems.append(f"entries for batch(es) {unknown} that are not among the batch ids {ids}")
    if problems:
        raise AirflowException(
            "rows_sent does not match batch_ids: "
            + "; ".join(problems)
            + ". Pass the import task's output as batch_ids: it holds the rows sent per batch."
        )
