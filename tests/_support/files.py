"""Delimited files in tests: write rows, parse them back, a stream that cannot seek."""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path
from typing import Any, BinaryIO, cast

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
    """A forward-only stream (like a pipe or an S3 object body); with ``rng``, reads come back short."""

    def __init__(self, data: bytes, rng: random.Random | None = None) -> None:
        self._data = memoryview(data)
        self._pos = 0
        self._rng = rng

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._rng is not None and size > 1:
            size = self._rng.randint(1, size)
        end = len(self._data) if size is None or size < 0 else self._pos + size
        chunk = bytes(self._data[self._pos : end])
        self._pos += len(chunk)
        return chunk

    def readinto(self, buffer: Any) -> int:
        chunk = self.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def non_seekable(data: bytes, rng: random.Random | None = None) -> BinaryIO:
    return cast(BinaryIO, NonSeekable(data, rng))
