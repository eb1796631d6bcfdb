"""Seeded generators of hostile delimited files for the splitter tests (hypothesis is not installed)."""

from __future__ import annotations

import csv
import io
import random

from airflow_provider_marketo.utils.delimited import FORMATS

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
