"""Delimited files in tests: write rows, parse them back, a stream that cannot seek."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

DELIMITERS = {"csv": ",", "tsv": "\t", "ssv": ";"}


def write_rows(path: Path, rows: list[list[str]], file_format: str = "csv") -> Path:
    """Write ``rows`` (header first) with the csv module in the format's delimiter."""
    with path.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out, delimiter=DELIMITERS[file_format]).writerows(rows)
    return path


def parse(data: bytes, file_format: str = "csv") -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline=""), delimiter=DELIMITERS[file_format]))


def lead_rows(count: int, start: int = 0) -> list[list[str]]:
    rows = [["email", "firstName", "lastName", "company"]]
    rows += [
        [f"lead{i}@example.com", f"First{i}", f"Last{i}", f"Company {i % 7}"]
        for i in range(start, start + count)
    ]
    return rows


def received_rows(sim: Any, batch_ids: list[int], file_format: str = "csv") -> list[list[str]]:
    """Header of the first job's file, then the data rows of every job, in order."""
    rows: list[list[str]] = []
    for n, batch_id in enumerate(batch_ids):
        parsed = parse(sim.job_file(batch_id), file_format)
        rows.extend(parsed if n == 0 else parsed[1:])
    return rows


class NonSeekable(io.RawIOBase):
    """A stream that can only be read forward (like a pipe)."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)
