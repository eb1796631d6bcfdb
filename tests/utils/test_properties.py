"""Property test: on generated hostile files, part planning agrees with a strict csv reading, for each format.

Either the planner rejects the file as malformed exactly where the strict reading (``strict_records``)
does, or the records of all parts, read with the ``csv`` module, are the rows of the whole file, in
order, every part within its size limit and every count exact.
"""

from __future__ import annotations

import csv
import io
import random
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_marketo.utils.formats import FORMATS, InputFileError
from airflow_provider_marketo.utils.parts import plan_parts, read_part
from tests._support.files import non_seekable
from tests._support.hostile import Malformed, parse, strict_records

#: Quotes anywhere, every delimiter, CR and LF alone and together, 2-, 3- and 4-byte UTF-8.
TOKENS = ['"', '""', ",", "\t", ";", "\n", "\r\n", "\r", " ", "a", "mx1@example.com", '27"', "é", "日", "😀"]


@st.composite
def hostile_files(draw: st.DrawFn) -> tuple[str, bytes]:
    file_format = draw(st.sampled_from(sorted(FORMATS)))
    delimiter = FORMATS[file_format]
    header = delimiter.join(
        draw(st.lists(st.sampled_from(["id", "email", "note", "ünï"]), min_size=1, max_size=3, unique=True))
    )
    body = "".join(draw(st.lists(st.sampled_from(TOKENS), max_size=60)))
    if draw(st.booleans()):  # often well-formed records too: quoted fields built by the csv module
        out = io.StringIO(newline="")
        writer = csv.writer(out, delimiter=delimiter, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
        writer.writerows(
            draw(st.lists(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=3), max_size=6))
        )
        body = out.getvalue() + body if draw(st.booleans()) else body + out.getvalue()
    line_end = draw(st.sampled_from(["\n", "\r\n"]))
    return file_format, (header + line_end + body).encode()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    hostile_files(),
    st.integers(min_value=1, max_value=40),
    st.integers(min_value=0, max_value=60),
    st.randoms(),
)
def test_planning_matches_a_strict_csv_reading(
    case: tuple[str, bytes], chunk_size: int, slack: int, rng: random.Random
) -> None:
    file_format, data = case
    header_bytes = data[: data.index(b"\n") + 1]
    try:
        records = strict_records(data, file_format)
    except Malformed as malformed:
        with pytest.raises(InputFileError) as caught:
            plan_parts(
                non_seekable(data, rng),
                file_format=file_format,
                max_part_bytes=len(header_bytes) + 400,
                chunk_size=chunk_size,
            )
        message = str(caught.value)
        assert re.search(
            rf"\brow {malformed.row} (of \S+ )?\(line {malformed.line}\)", message, re.IGNORECASE
        ), (malformed, message)
        return
    if not records:
        with pytest.raises(InputFileError, match="has a header but no data rows"):
            plan_parts(io.BytesIO(data), file_format=file_format, max_part_bytes=1000)
        return
    limit = len(header_bytes) + max(len(r) for r in records) + 2 + slack
    plan = plan_parts(
        non_seekable(data, rng), file_format=file_format, max_part_bytes=limit, chunk_size=chunk_size
    )
    expected = parse(data, file_format)[1:]
    assert plan.total_rows == len(records) == len(expected)
    stream = io.BytesIO(data)
    got: list[list[str]] = []
    for part in plan.parts:
        body = read_part(stream, plan, part)
        assert len(body) == part.size <= limit
        assert body.startswith(plan.header_bytes)
        rows = parse(body, file_format)[1:]
        assert len(rows) == part.data_rows > 0
        got.extend(rows)
    assert got == expected
