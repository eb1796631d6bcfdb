"""The shards of an export normalised into one file (utils/shards.py): headers, skips, codecs, rewrite."""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import logging
import lzma
import os
import random
from typing import Any

import pytest

from airflow_provider_marketo.utils.formats import InputFileError, describe_content, infer_format
from airflow_provider_marketo.utils.parts import plan_parts
from airflow_provider_marketo.utils.shards import Shard, ShardOptions, stage_shards
from tests._support.hostile import parse, random_rows, render

LOG = logging.getLogger("test_shards")
CODECS: dict[str, Any] = {"gzip": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}


def shard(name: str, data: bytes, compression: str | None = None) -> Shard:
    return Shard(name, lambda: io.BytesIO(data), compression)


def stage(shards: list[Shard], **options: Any) -> tuple[bytes, Any]:
    options.setdefault("file_format", "csv")
    options.setdefault("max_part_bytes", 100_000)
    out = io.BytesIO()
    staged = stage_shards(shards, out, ShardOptions(**options), LOG)
    return out.getvalue(), staged


def rows_of(data: bytes, delimiter: str = ",") -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline=""), delimiter=delimiter))


@pytest.mark.parametrize("compression", ["gzip", "bz2", "xz", None])
def test_shards_become_one_file_with_one_header_and_every_row_once(compression: str | None) -> None:
    rng = random.Random(17)
    header = ["email", "note", "city"]
    pieces = [random_rows(rng, 40, 3) for _ in range(5)]  # hostile values: quotes, newlines, delimiters
    shards = []
    for n, rows in enumerate(pieces):
        data = render(header, rows, line_end=rng.choice(["\n", "\r\n"]), bom=n == 2, rng=rng)
        shards.append(shard(f"s{n}.csv", CODECS[compression](data) if compression else data, compression))
    data, staged = stage(shards)
    assert parse(data) == [header] + [row for rows in pieces for row in rows]
    assert staged.rows == len(rows_of(data)) - 1
    plan = plan_parts(io.BytesIO(data), file_format="csv", max_part_bytes=100_000)
    assert plan.total_rows == staged.rows  # the staged file plans to the same row count


def test_header_only_and_empty_shards_are_skipped_with_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    shards = [
        shard("a.csv", b"email\r\n"),
        shard("b.csv", b""),
        shard("c.csv", b"email\na@x.com\n"),
        shard("d.csv", b"\xef\xbb\xbfemail\n\n"),
    ]
    data, staged = stage(shards)
    assert data == b"email\r\na@x.com\n"  # the first header, with its line end
    assert staged.skipped == [
        ("a.csv", "it has a header but no data rows"),
        ("b.csv", "it is empty"),
        ("d.csv", "it has a header but no data rows"),
    ]
    assert "Skipping shard 2 of 4, b.csv: it is empty." in caplog.text


def test_only_header_only_shards_is_an_error() -> None:
    with pytest.raises(InputFileError, match="hold no data rows"):
        stage([shard("a.csv", b"email\n"), shard("b.csv", b"")])


@pytest.mark.parametrize(
    ("second", "match"),
    [
        (b"note,email\n1,2\n", r"shard 2, b.csv, differs .*column 1 is 'note', not 'email'"),
        (b"email,city\n1,2\n", r"shard 2, b.csv, differs .*missing 'note'; not in the first shard: 'city'"),
        (b"email\n1\n", r"shard 2, b.csv, differs .*missing 'note'"),
    ],
)
def test_a_header_that_differs_names_the_shard_and_the_columns(second: bytes, match: str) -> None:
    with pytest.raises(InputFileError, match=match):
        stage([shard("a.csv", b"email,note\nx@y.z,1\n"), shard("b.csv", second)])


def test_column_names_make_every_line_data() -> None:
    data, staged = stage(
        [shard("a.csv.gz", gzip.compress(b"a@x.com,1\nb@x.com,2"), "gzip"), shard("b.csv", b"c@x.com,3\n")],
        column_names=("email", "score"),
    )
    assert rows_of(data) == [["email", "score"], ["a@x.com", "1"], ["b@x.com", "2"], ["c@x.com", "3"]]
    assert staged.rows == 3


def test_column_names_with_a_bom_in_a_shard() -> None:
    data, _ = stage([shard("a.csv", b"\xef\xbb\xbfa@x.com,1\n")], column_names=("email", "score"))
    assert data == b"email,score\r\na@x.com,1\n"


def test_pipe_delimited_cp1252_with_null_markers_is_rewritten_as_csv() -> None:
    text = 'email|city|note\r\nzoë@x.com|Zürich|\\N\r\nb@x.com|\\N|"a|b, ""c"""\r\n\r\nc@x.com||€5\r\n'
    data, staged = stage(
        [shard("unload_0000_part_00", text.encode("cp1252"))],
        delimiter="|",
        encoding="cp1252",
        null_values=("\\N",),
    )
    assert rows_of(data) == [
        ["email", "city", "note"],
        ["zoë@x.com", "Zürich", ""],
        ["b@x.com", "", 'a|b, "c"'],
        ["c@x.com", "", "€5"],
    ]
    assert staged.rows == 3
    assert plan_parts(io.BytesIO(data), file_format="csv", max_part_bytes=1000).total_rows == 3


def test_rewrite_path_names_a_bad_byte_and_a_short_row() -> None:
    with pytest.raises(InputFileError, match=r"Shard x.txt is not valid cp1252 .*0x81.*encoding="):
        stage([shard("x.txt", b"email|a\nq@x.com|\x81\n")], delimiter="|", encoding="cp1252")
    with pytest.raises(InputFileError, match="has 1 values for 2 columns"):
        stage([shard("x.txt", b"email|a\nq@x.com\n")], delimiter="|")


def test_excel_sep_line_is_skipped() -> None:
    data, _ = stage([shard("a.csv", b"sep=,\r\nemail,n\r\nq@x.com,1\r\n")])
    assert data == b"email,n\r\nq@x.com,1\r\n"
    data, _ = stage([shard("a.csv", b"sep=;\nemail;n\nq@x.com;1\n")], delimiter=";", encoding="cp1252")
    assert rows_of(data) == [["email", "n"], ["q@x.com", "1"]]


def test_utf16_export_is_re_encoded() -> None:
    data, _ = stage(
        [shard("a.txt", "email\tn\r\nzoë@x.com\t1\r\n".encode("utf-16"))], encoding="utf-16", delimiter="\t"
    )
    assert rows_of(data) == [["email", "n"], ["zoë@x.com", "1"]]


def test_corrupt_gzip_names_the_shard_and_the_offset_it_reached() -> None:
    body = b"email,note\n" + b"".join(f"l{i}@x.com,{os.urandom(8).hex()}\n".encode() for i in range(20_000))
    packed = gzip.compress(body)
    cut = packed[: len(packed) // 2]
    with pytest.raises(
        InputFileError,
        match=r"Shard s3://b/x/data_1.csv.gz could not be decompressed \(gzip\) after \d+ bytes of data, byte \d+ of the stored file: EOFError",
    ) as caught:
        stage(
            [
                shard("s3://b/x/data_0.csv", b"email,note\nq@x.com,1\n"),
                shard("s3://b/x/data_1.csv.gz", cut, "gzip"),
            ]
        )
    reached = int(str(caught.value).split(" after ")[1].split(" ")[0])
    assert 0 < reached < len(body)
    garbage = packed[:20] + bytes(b ^ 0x55 for b in packed[20:200]) + packed[200:]
    with pytest.raises(InputFileError, match=r"data_1.csv.gz could not be decompressed \(gzip\)"):
        stage([shard("data_1.csv.gz", garbage, "gzip")])


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (gzip.compress(b"email\n"), "compressed (gzip)"),
        (bz2.compress(b"email\n"), "compressed (bz2)"),
        (lzma.compress(b"email\n"), "compressed (xz)"),
        ("email\n".encode("utf-16"), "UTF-16 (pass encoding='utf-16')"),
        ("email,x\n".encode("utf-16-le"), "UTF-16 little-endian"),
    ],
)
def test_content_that_is_not_text_is_named(data: bytes, what: str) -> None:
    assert (describe_content(data) or "").startswith(what)
    with pytest.raises(
        InputFileError, match=f"Shard leads.csv is {what}".replace("(", r"\(").replace(")", r"\)")
    ):
        stage([shard("leads.csv", data)])
    with pytest.raises(InputFileError, match="leads.csv is " + what.replace("(", r"\(").replace(")", r"\)")):
        plan_parts(io.BytesIO(data), file_format="csv", max_part_bytes=1000, source_name="leads.csv")


def test_plain_text_is_not_named_and_sep_line_is_named_on_the_fast_path() -> None:
    assert describe_content(b"email,firstName\r\n") is None
    with pytest.raises(InputFileError, match=r"Excel's 'sep=,' delimiter hint.*pass delimiter="):
        plan_parts(
            io.BytesIO(b"sep=,\nemail\nq@x.com\n"),
            file_format="csv",
            max_part_bytes=1000,
            source_name="a.csv",
        )


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("leads.csv.gz", "csv"), ("x/data_0_0_0.tsv.bz2", "tsv"), ("a.SSV.xz", "ssv"), ("a.csv", "csv")],
)
def test_format_is_inferred_before_the_compression_suffix(name: str, fmt: str) -> None:
    assert infer_format(name) == fmt


def test_a_record_too_large_names_the_shard() -> None:
    with pytest.raises(InputFileError, match=r"Row 2 of b\.csv"):
        stage(
            [
                shard("a.csv", b"email,n\nq@x.com,1\n"),
                shard("b.csv", b"email,n\nq@x.com,1\nr@x.com," + b"x" * 3000 + b"\n"),
            ],
            max_part_bytes=1024,
        )


def test_memory_stays_flat_reading_a_large_gzip_shard() -> None:
    """The shard is read in chunks: what the writer receives at a time stays bounded."""
    body = b"email,note\n" + b"q@x.com,0123456789abcdef0123456789\n" * 200_000  # ~7 MB
    writes: list[int] = []

    class Out(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, data: Any) -> int:
            writes.append(len(data))
            return len(data)

    stage_shards(
        [shard("a.csv.gz", gzip.compress(body), "gzip")],
        Out(),
        ShardOptions("csv", 100_000, chunk_size=1 << 16),
        LOG,
    )  # type: ignore[arg-type]
    assert sum(writes) == len(body)
    assert max(writes) <= 2 * (1 << 16)
