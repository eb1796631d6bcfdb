"""Parquet files as Marketo text (utils/parquet.py): the value rules of RowWriter, refused types, schemas."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_marketo.utils.formats import InputFileError
from airflow_provider_marketo.utils.parquet import ParquetFile, ParquetOptions, is_parquet, stage_parquet
from tests._support.files import parse
from tests._support.parquet import write_parquet


class _Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, msg: str, /, *args: Any) -> None:
        self.lines.append(msg % args)


def _stage(*paths: Path, file_format: str = "csv", **options: Any) -> tuple[list[list[str]], _Log]:
    out, log = io.BytesIO(), _Log()
    files = [ParquetFile(p.as_uri(), str(p)) for p in paths]
    stage_parquet(files, out, ParquetOptions(file_format=file_format, **options), log)
    return parse(out.getvalue(), file_format), log


def test_values_follow_the_row_writer_rules(tmp_path: Path) -> None:
    path = write_parquet(
        tmp_path / "a.parquet",
        """SELECT * FROM (VALUES
            (9223372036854775807::BIGINT, 255::UTINYINT, 18446744073709551615::UBIGINT,
             12345678901234.5678::DECIMAL(18,4), 1.5::DECIMAL(18,4), 0.1::FLOAT, 0.1::DOUBLE, 1e16::DOUBLE,
             TIMESTAMPTZ '2024-03-01 10:00:00.25+02', TIMESTAMP '2024-03-01 10:00:00', DATE '2024-02-29',
             TIME '23:59:01', true, 'a "q", b' || chr(13) || chr(10) || 'c', NULL::VARCHAR),
            (-1, 0, 5, -0.0001, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, false, '', 'x')
        ) t(i64, u8, huge, dec, dec2, f32, f64, big, tz, naive, d, tm, b, s, n)""",
    )
    rows, log = _stage(path)
    assert rows == [
        ["i64", "u8", "huge", "dec", "dec2", "f32", "f64", "big", "tz", "naive", "d", "tm", "b", "s", "n"],
        [
            "9223372036854775807",
            "255",
            "18446744073709551615",
            "12345678901234.5678",
            "1.5000",  # exact text, the scale kept
            "0.1",  # a 32-bit float's shortest text, not 0.10000000149011612
            "0.1",
            "10000000000000000",  # no exponent
            "2024-03-01T08:00:00.250000+00:00",  # with tz: UTC with its offset
            "2024-03-01T10:00:00",  # naive: as it is
            "2024-02-29",
            "23:59:01",
            "true",
            'a "q", b\r\nc',
            "",  # NULL
        ],
        ["-1", "0", "5", "-0.0001", "0.0000", "", "", "", "", "", "", "", "false", "", "x"],
    ]
    assert log.lines == [f"Parquet file 1 of 1, {path.as_uri()}: 2 rows."]


@pytest.mark.parametrize(
    ("sql_type", "shown"),
    [
        ("BLOB", "BLOB (binary)"),
        ("INTEGER[]", "INTEGER[] (a list)"),
        ("STRUCT(a INTEGER)", "STRUCT(a INTEGER) (a struct)"),
        ("MAP(VARCHAR, INTEGER)", "MAP(VARCHAR, INTEGER) (a map)"),
    ],
)
def test_columns_without_a_text_form_are_refused_naming_column_and_type(
    sql_type: str, shown: str, tmp_path: Path
) -> None:
    values = {
        "BLOB": "'\\xAA'::BLOB",
        "INTEGER[]": "[1, 2]",
        "STRUCT(a INTEGER)": "{'a': 1}",
        "MAP(VARCHAR, INTEGER)": "MAP {'k': 1}",
    }
    path = write_parquet(tmp_path / "x.parquet", f"SELECT 'a@b.c' AS email, {values[sql_type]} AS payload")
    out = io.BytesIO()
    with pytest.raises(InputFileError, match=r"Column 'payload' of .*x\.parquet is ") as err:
        stage_parquet([ParquetFile(path.as_uri(), str(path))], out, ParquetOptions("csv"), _Log())
    assert shown in str(err.value)
    assert out.getvalue() == b""  # refused before a byte is written


def test_a_file_whose_schema_differs_is_named(tmp_path: Path) -> None:
    a = write_parquet(tmp_path / "a.parquet", "SELECT 'a@b.c' AS email, 1::BIGINT AS n")
    b = write_parquet(tmp_path / "b.parquet", "SELECT 'a@b.c' AS email, 1::BIGINT AS n")
    c = write_parquet(tmp_path / "c.parquet", "SELECT 'a@b.c' AS email, 1::INTEGER AS n")
    d = write_parquet(tmp_path / "d.parquet", "SELECT 1::BIGINT AS n, 'a@b.c' AS email")
    with pytest.raises(
        InputFileError, match=r"The schema of .*c\.parquet differs .*a\.parquet.*'n' is INTEGER, not BIGINT"
    ):
        _stage(a, b, c, d)
    with pytest.raises(
        InputFileError, match=r"The schema of .*d\.parquet differs .*columns \['n', 'email'\]"
    ):
        _stage(a, d)


def test_files_are_read_in_order_empty_ones_skipped_and_tsv_written(tmp_path: Path) -> None:
    a = write_parquet(tmp_path / "a.parquet", "SELECT 'x' || i AS email FROM range(3) t(i)")
    empty = write_parquet(tmp_path / "b.parquet", "SELECT 'x' AS email WHERE false")
    c = write_parquet(tmp_path / "c.parquet", "SELECT 'y' || i AS email FROM range(2) t(i)", row_group_size=1)
    rows, log = _stage(c, empty, a, file_format="tsv", batch_rows=1)
    assert rows == [["email"], ["y0"], ["y1"], ["x0"], ["x1"], ["x2"]]
    assert f"Skipping Parquet file 2 of 3, {empty.as_uri()}: it has no rows." in log.lines
    with pytest.raises(InputFileError, match="hold no rows"):
        _stage(empty)


def test_not_parquet_and_bad_header_are_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"email\na@b.c\n")
    with pytest.raises(InputFileError, match=r"bad\.parquet could not be read as Parquet: "):
        _stage(bad)
    no_key = write_parquet(tmp_path / "k.parquet", "SELECT 'x' AS firstName")
    with pytest.raises(InputFileError, match="email"):
        _stage(no_key, lookup_field="email")
    assert is_parquet("part-0.PARQUET") and is_parquet("x.parq") and not is_parquet("x.csv")
