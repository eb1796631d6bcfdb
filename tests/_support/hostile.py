"""Hostile delimited files for the splitter tests: seeded generators, and a strict reference reader."""

from __future__ import annotations

import csv
import io
import random

from airflow_provider_marketo.utils.formats import FORMATS

#: Field fragments that stress a quote-aware splitter: every delimiter, quotes, doubled quotes,
#: LF and CRLF inside fields, blank-line look-alikes and 2-, 3- and 4-byte UTF-8.
FRAGMENTS = [
    "plain",
    "",
    " ",
    ",",
    "\t",
    ";",
    '"',
    '""',
    'say "hi"',
    "\n",
    "\r\n",
    "\n\n",
    "\r\n\r\n",
    "a\nb",
    "é",
    "naïve",
    "日本語",
    "😀",
    "x" * 40,
]


def random_rows(rng: random.Random, n_rows: int, n_cols: int) -> list[list[str]]:
    """``n_rows`` rows of ``n_cols`` fields glued from random fragments (never a row of one empty field)."""
    rows = []
    for i in range(n_rows):
        row = [str(i)] + ["".join(rng.choices(FRAGMENTS, k=rng.randint(0, 4))) for _ in range(n_cols - 1)]
        rows.append(row)
    return rows


def render(
    header: list[str],
    rows: list[list[str]],
    *,
    file_format: str = "csv",
    line_end: str = "\n",
    quote_all: bool = False,
    blank_lines: float = 0.0,
    trailing_newline: bool = True,
    bom: bool = False,
    rng: random.Random | None = None,
) -> bytes:
    """Write header and rows as the given format; optionally scatter blank lines between records."""
    rng = rng or random.Random(0)
    out = io.StringIO(newline="")
    writer = csv.writer(
        out,
        delimiter=FORMATS[file_format],
        lineterminator=line_end,
        quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL,
    )
    writer.writerow(header)
    for row in rows:
        while rng.random() < blank_lines:
            out.write(rng.choice(["\n", "\r\n"]))
        writer.writerow(row)
    text = out.getvalue()
    if not trailing_newline:
        text = text.removesuffix(line_end)
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")


def parse(data: bytes, file_format: str = "csv") -> list[list[str]]:
    """All records of ``data`` as ``csv.reader`` reads them, blank lines left out (BOM stripped)."""
    text = data.decode("utf-8-sig")
    return [row for row in csv.reader(io.StringIO(text, newline=""), delimiter=FORMATS[file_format]) if row]


class Malformed(Exception):
    """Where a strict reading rejects a file: 1-based data row and line, and why."""

    def __init__(self, row: int, line: int, why: str) -> None:
        super().__init__(f"row {row} (line {line}): {why}")
        self.row, self.line, self.why = row, line, why


def strict_records(data: bytes, file_format: str = "csv") -> list[bytes]:
    """The data records of ``data`` (after its header line, blank lines left out) as raw bytes, each with
    its line end (``b""`` at EOF), read byte by byte with the csv module's quote rules, strictly.

    A ``"`` opens a quoted field only at a field start; elsewhere in an unquoted field it is literal.
    In a quoted field ``""`` is a quote; the closing quote must be followed by the delimiter, a line
    end or EOF. A CR outside quotes must be followed by LF (or be the last byte). Raises
    :class:`Malformed` (closing quote: the line of that quote; CR: its line; EOF inside quotes: the
    record's first line). The header line must not contain quotes.
    """
    delimiter = FORMATS[file_format].encode()[0]
    data = data.removeprefix(b"\xef\xbb\xbf")
    pos = data.index(b"\n") + 1
    line = 2
    records: list[bytes] = []
    start, start_line, state = pos, line, "start"  # start | unquoted | quoted | closed
    size = len(data)
    while pos < size:
        byte = data[pos]
        if state == "quoted":
            if byte == 0x22:
                state = "closed"
            elif byte == 0x0A:
                line += 1
            pos += 1
            continue
        if byte == 0x22 and state in ("closed", "start"):  # an escaped quote, or a quoted field opens
            state = "quoted"
        elif byte == delimiter:
            state = "start"
        elif byte == 0x0A or (byte == 0x0D and pos + 1 == size):
            if pos > start and data[start:pos] not in (b"\r",):
                records.append(data[start : pos + 1])
            line += byte == 0x0A
            start, start_line, state = pos + 1, line, "start"
        elif byte == 0x0D and data[pos + 1] != 0x0A:
            raise Malformed(len(records) + 1, line, "carriage return")
        elif byte == 0x0D:
            pass  # the LF that follows ends the record
        elif state == "closed":
            raise Malformed(len(records) + 1, line, "closing quote followed by text")
        else:
            state = "unquoted"
        pos += 1
    if state == "quoted":
        raise Malformed(len(records) + 1, start_line, "never closed")
    if start < size:
        records.append(data[start:])
    return records
