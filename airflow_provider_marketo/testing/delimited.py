"""Reading uploaded import files and writing failure/warning files (csv, tsv, ssv) with the csv module."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass

DELIMITERS = {"csv": ",", "tsv": "\t", "ssv": ";"}


class DelimitedFileError(ValueError):
    """The uploaded file cannot be read as the declared format."""


@dataclass(frozen=True)
class DelimitedFile:
    """A parsed import file: the header (names untrimmed) and the data records (blank lines dropped)."""

    header: list[str]
    records: list[list[str]]


def parse_file(data: bytes, file_format: str) -> DelimitedFile:
    """Parse UTF-8 (with or without BOM) delimited text with real quoting rules."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DelimitedFileError(f"File is not valid UTF-8: {err.reason}") from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=DELIMITERS[file_format])
    try:
        rows = [row for row in reader if row]
    except csv.Error as err:
        raise DelimitedFileError(f"Cannot parse file: {err}") from None
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise DelimitedFileError("Empty file or empty header row")
    return DelimitedFile(header=rows[0], records=rows[1:])  # names as sent: Marketo does not trim them


def write_file(header: list[str], rows: Iterable[list[str]], file_format: str) -> bytes:
    """Delimited UTF-8 text, quoted where needed."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=DELIMITERS[file_format], lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")
