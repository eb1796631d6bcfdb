"""Marketo's failure and warning files: download to local disk, reason counts, stored copies.

A file is streamed from Marketo into a temporary file on the worker, then read row by row: memory
does not grow with the number of rows (reason counts keep at most :data:`MAX_REASONS` distinct
reasons per file). The copy under ``results_path`` is Marketo's bytes unchanged.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import shutil
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from airflow.sdk import ObjectStoragePath

from airflow_provider_marketo.hooks.marketo import MarketoHook
from airflow_provider_marketo.objects import BulkTarget, FileKind
from airflow_provider_marketo.utils.formats import FORMATS

log = logging.getLogger(__name__)

#: Last column of the failure / warning files Marketo returns.
REASON_COLUMNS: dict[FileKind, str] = {
    "failures": "Import Failure Reason",
    "warnings": "Import Warning Reason",
}
#: File extension for each delimiter Marketo can answer in (the job's format).
EXTENSIONS = {delimiter: f".{file_format}" for file_format, delimiter in FORMATS.items()}
LOCAL_PROTOCOLS = frozenset({"", "file", "local"})
#: Distinct reasons counted per file (and per task); any further reason is counted under OTHER_REASONS.
MAX_REASONS = 1000
OTHER_REASONS = "(other reasons)"
TOP_REASONS = 10


def add_reasons(counts: Counter[str], reasons: Iterable[tuple[str, int]]) -> Counter[str]:
    """Add ``(reason, rows)`` pairs to ``counts``, keeping at most :data:`MAX_REASONS` distinct reasons."""
    for reason, rows in reasons:
        key = reason if reason in counts or len(counts) < MAX_REASONS else OTHER_REASONS
        counts[key] += rows
    return counts


def top_reasons(counts: Counter[str], limit: int = TOP_REASONS) -> str:
    """``'reason' x3, 'other' x1`` for messages."""
    return ", ".join(f"{reason!r} x{rows}" for reason, rows in counts.most_common(limit)) or "none"


@dataclass(frozen=True)
class FileScan:
    """What one failure/warning file holds: its delimiter, header and rows per reason (last column)."""

    delimiter: str
    header: list[str]
    reasons: Counter[str]


def scan_result_file(binary_file: IO[bytes], reason_column: str) -> FileScan:
    """Detect the delimiter of a failure/warning file, read its header and count the rows per reason.

    The delimiter is the character right before the reason column's name in the header line.
    The file is read row by row, never whole; its position is left at the end.
    """
    with _text(binary_file) as text:
        header_line = text.readline().rstrip("\r\n")
        delimiter = _header_delimiter(header_line, reason_column)
        header = next(csv.reader([header_line], delimiter=delimiter), [])
        reasons = add_reasons(
            Counter(), ((row[-1], 1) for row in csv.reader(text, delimiter=delimiter) if row)
        )
    return FileScan(delimiter, header, reasons)


def read_rows(binary_file: IO[bytes], delimiter: str) -> Iterator[list[str]]:
    """The data rows of a failure/warning file (header skipped), one at a time, from its start."""
    binary_file.seek(0)
    with _text(binary_file) as text:
        reader = csv.reader(text, delimiter=delimiter)
        next(reader, None)
        yield from (row for row in reader if row)


@contextlib.contextmanager
def _text(binary_file: IO[bytes]) -> Iterator[io.TextIOWrapper]:
    """A text view of a binary file that leaves the binary file open when done."""
    text = io.TextIOWrapper(binary_file, encoding="utf-8-sig", errors="replace", newline="")
    try:
        yield text
    finally:
        text.detach()


def _header_delimiter(header: str, reason_column: str) -> str:
    for name in (reason_column, f'"{reason_column}"'):
        if header.endswith(name) and len(header) > len(name):
            delimiter = header[-len(name) - 1]
            if delimiter in EXTENSIONS:
                return delimiter
    # Unexpected header (or the reason column alone): pick the most frequent known delimiter.
    return max(EXTENSIONS, key=header.count) if any(d in header for d in EXTENSIONS) else ","


@dataclass
class ResultFile:
    """One batch's failures or warnings file, downloaded to ``local`` and scanned."""

    batch_id: int
    which: FileKind
    local: Path
    scan: FileScan
    stored: str | None = field(default=None)

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.scan.delimiter]


def fetch_result_file(
    hook: MarketoHook, target: BulkTarget, batch_id: int, which: FileKind, workdir: Path
) -> ResultFile | None:
    """Download a job's failures or warnings file into ``workdir`` and scan it; None if Marketo has none."""
    local = workdir / f"{batch_id}_{which}"
    with local.open("w+b") as tmp:
        if not hook.download_import_file(target, batch_id, which, tmp):
            log.info("Batch %s has no %s file.", batch_id, which)
            local.unlink()
            return None
        tmp.seek(0)
        scan = scan_result_file(tmp, REASON_COLUMNS[which])
    rows = "\n".join(f"{count:>9}  {reason}" for reason, count in scan.reasons.most_common(TOP_REASONS))
    log.info(
        "Batch %s: %d rows in the %s file; top reasons:\n%9s  %s\n%s",
        batch_id,
        sum(scan.reasons.values()),
        which,
        "rows",
        "reason",
        rows,
    )
    return ResultFile(batch_id, which, local, scan)


def open_for_writing(dest: ObjectStoragePath) -> IO[bytes]:
    """Open an object storage path for writing bytes, creating local parent folders."""
    if dest.protocol in LOCAL_PROTOCOLS:
        dest.parent.mkdir(parents=True, exist_ok=True)
    stream: IO[bytes] = dest.open("wb")  # type: ignore[no-untyped-call]
    return stream


def store_result_file(result: ResultFile, results_dir: ObjectStoragePath) -> str:
    """Copy the downloaded file, unchanged, to ``<results_dir>/<batch_id>_<which>.<ext>``."""
    dest = results_dir / f"{result.batch_id}_{result.which}{result.extension}"
    with result.local.open("rb") as src, open_for_writing(dest) as out:
        shutil.copyfileobj(src, out)
    log.info("Batch %s: %s file stored at %s", result.batch_id, result.which, dest)
    result.stored = str(dest)
    return result.stored
