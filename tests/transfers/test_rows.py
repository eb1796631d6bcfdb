"""RowWriter: each value type's text, quoting in every format, and errors naming the column."""

from __future__ import annotations

import csv
import enum
import io
import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pendulum
import pytest

from airflow_provider_marketo.utils.formats import FORMATS, InputFileError
from airflow_provider_marketo.utils.part_files import split_delimited
from airflow_provider_marketo.utils.rows import RowValueError, RowWriter
from tests._support.sql import HOSTILE, LONG_TEXT


def written(rows: list[tuple[Any, ...]], columns: list[str] | None = None, file_format: str = "csv") -> bytes:
    out = io.BytesIO()
    writer = RowWriter(out, columns or [f"c{i}" for i in range(len(rows[0]))], file_format=file_format)
    writer.write_rows(rows)
    assert writer.bytes == len(out.getvalue())
    return out.getvalue()


def parsed(data: bytes, file_format: str = "csv") -> list[list[str]]:
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""), delimiter=FORMATS[file_format])
    return list(reader)


class Tier(enum.IntEnum):
    GOLD = 3


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        ("", ""),
        ("text", "text"),
        (0, "0"),
        (-12345678901234567890, "-12345678901234567890"),
        (True, "true"),
        (False, "false"),
        (Tier.GOLD, "3"),
        (date(2026, 2, 28), "2026-02-28"),
        (datetime(2026, 2, 28, 13, 5, 9), "2026-02-28T13:05:09"),
        (datetime(2026, 2, 28, 13, 5, 9, 120, tzinfo=UTC), "2026-02-28T13:05:09.000120+00:00"),
        (datetime(2026, 2, 28, 13, 5, tzinfo=timezone(timedelta(hours=-5))), "2026-02-28T13:05:00-05:00"),
        (pendulum.datetime(2026, 2, 28, 13, 5, tz="Europe/Paris"), "2026-02-28T13:05:00+01:00"),
        (time(7, 30), "07:30:00"),
        (Decimal("1.50"), "1.50"),
        (Decimal("1E+3"), "1000"),
        (Decimal("-1.2E-7"), "-0.00000012"),
        (Decimal("12345678901234567890.123456789"), "12345678901234567890.123456789"),
        (0.1, "0.1"),
        (-0.0, "-0.0"),
        (1e16, "10000000000000000"),
        (1.5e-7, "0.00000015"),
        (123456789.125, "123456789.125"),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
    ],
)
def test_value_text(value: Any, text: str) -> None:
    header, row = parsed(written([(value, "end")]))
    assert header == ["c0", "c1"]
    assert row == [text, "end"]


def test_floats_read_back_exactly() -> None:
    values = [0.1 + 0.2, 1 / 3, 2.0**-30, 6.02214076e23, 5e-324, 1.7976931348623157e308]
    (row,) = parsed(written([tuple(values)]))[1:]
    assert [float(text) for text in row] == values
    assert not any("e" in text.lower() for text in row)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (b"\x00\x01", "binary data"),
        (bytearray(b"x"), "binary data"),
        (memoryview(b"x"), "binary data"),
        ({"a": 1}, "a dict"),
        ([1, 2], "a list"),
        (timedelta(days=1), "a timedelta"),
        (float("nan"), "nan is not a number"),
        (float("inf"), "inf is not a number"),
        (Decimal("NaN"), "NaN is not a number"),
        (Decimal("-Infinity"), "-Infinity is not a number"),
    ],
)
def test_unwritable_value_names_row_and_column(value: Any, message: str) -> None:
    out = io.BytesIO()
    writer = RowWriter(out, ["email", "payload"], file_format="csv", source_name="the query on 'wh'")
    writer.write_rows([("a@example.com", "fine")])
    with pytest.raises(RowValueError, match=rf"Row 2 of the query on 'wh', column 'payload': .*{message}"):
        writer.write_rows([("b@example.com", value)])


def test_lone_surrogate_names_row_and_column() -> None:
    writer = RowWriter(io.BytesIO(), ["email", "note"], file_format="csv")
    with pytest.raises(RowValueError, match=r"Row 3 of <rows>, column 'note': .*not valid Unicode"):
        writer.write_rows([("a", "ok"), ("b", "ok"), ("c", "bad \udc80 text")])


def test_row_of_the_wrong_width_is_an_error() -> None:
    writer = RowWriter(io.BytesIO(), ["a", "b"], file_format="csv")
    with pytest.raises(RowValueError, match="Row 1 of <rows> has 3 values for 2 columns"):
        writer.write_rows([(1, 2, 3)])


@pytest.mark.parametrize("name", ["first,name", 'say"what', "two\nlines", "cr\rname"])
def test_column_name_that_needs_quotes_is_refused(name: str) -> None:
    with pytest.raises(InputFileError, match="give the column an alias"):
        RowWriter(io.BytesIO(), ["email", name], file_format="csv")


@pytest.mark.parametrize("name", ["tab\tname", "semi;colon"])
def test_column_name_with_another_formats_delimiter(name: str) -> None:
    RowWriter(io.BytesIO(), ["email", name], file_format="csv")  # fine in CSV
    fmt = "tsv" if "\t" in name else "ssv"
    with pytest.raises(InputFileError, match="holds a delimiter"):
        RowWriter(io.BytesIO(), ["email", name], file_format=fmt)


@pytest.mark.parametrize("file_format", sorted(FORMATS))
def test_hostile_values_round_trip_in_every_format(file_format: str, tmp_path: Path) -> None:
    rows = [(i, value, None, value[::-1]) for i, value in enumerate([*HOSTILE, LONG_TEXT, ""] * 3)]
    rows.append((len(rows), None, None, None))
    data = written(rows, ["id", "a", "b", "c"], file_format)
    back = parsed(data, file_format)
    expected = [["id", "a", "b", "c"]] + [[str(i), a or "", "", c or ""] for i, a, _, c in rows]
    assert back == expected
    # The splitter that cuts parts for Marketo reads it the same way: every row, nothing merged.
    source = tmp_path / f"rows.{file_format}"
    source.write_bytes(data)
    with source.open("rb") as stream:
        split = split_delimited(stream, file_format=file_format, max_part_bytes=60_000, workdir=tmp_path)
    assert split.total_rows == len(rows)
    assert len(split.parts) > 1
    records: list[list[str]] = []
    for part in split.parts:
        records += parsed(part.path.read_bytes(), file_format)[1:]
    assert records == expected[1:]


def test_a_single_null_column_is_a_record_not_a_blank_line() -> None:
    data = written([(None,), ("x",), (None,)], ["email"])
    assert data == b'email\r\n""\r\nx\r\n""\r\n'
