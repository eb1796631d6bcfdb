"""Correctness of the streaming splitter on hostile input, at tiny and real sizes."""

from __future__ import annotations

import hashlib
import io
import random
from pathlib import Path

import pytest

from airflow_provider_marketo.limits import MAX_PART_BYTES
from airflow_provider_marketo.utils.formats import FORMATS
from airflow_provider_marketo.utils.part_files import SplitResult, split_delimited
from tests._support.files import non_seekable
from tests._support.hostile import parse, random_rows, render


def split_bytes(data: bytes, tmp_path: Path, **kwargs: object) -> SplitResult:
    kwargs.setdefault("file_format", "csv")
    kwargs.setdefault("max_part_bytes", 300)
    kwargs.setdefault("workdir", tmp_path / "parts")
    return split_delimited(io.BytesIO(data), **kwargs)  # type: ignore[arg-type]


def check_parts(data: bytes, result: SplitResult, file_format: str, max_part_bytes: int) -> None:
    """Every part: header repeated verbatim, under the limit, counts and hash right; rows == input rows."""
    expected = parse(data, file_format)
    header, records = expected[0], expected[1:]
    assert result.header == header
    assert result.total_rows == len(records)
    got: list[list[str]] = []
    next_row = 1
    for index, part in enumerate(result.parts):
        content = part.path.read_bytes()
        assert part.index == index
        assert content.startswith(result.header_bytes)
        assert content.endswith(b"\n")
        assert part.size == len(content) <= max_part_bytes
        assert part.sha256 == hashlib.sha256(content).hexdigest()
        rows = parse(content, file_format)
        assert rows[0] == header
        assert part.data_rows == len(rows) - 1 > 0
        assert part.first_row == next_row
        next_row += part.data_rows
        got.extend(rows[1:])
    assert got == records


CASES = [
    pytest.param(dict(), id="csv-lf"),
    pytest.param(dict(line_end="\r\n"), id="csv-crlf"),
    pytest.param(dict(quote_all=True), id="quote-all"),
    pytest.param(dict(file_format="tsv"), id="tsv"),
    pytest.param(dict(file_format="ssv", line_end="\r\n"), id="ssv-crlf"),
    pytest.param(dict(blank_lines=0.3), id="blank-lines"),
    pytest.param(dict(trailing_newline=False), id="no-trailing-newline"),
    pytest.param(dict(trailing_newline=False, line_end="\r\n"), id="no-trailing-crlf"),
    pytest.param(dict(bom=True, blank_lines=0.1), id="bom"),
]


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 1 << 20])
@pytest.mark.parametrize("options", CASES)
def test_parts_hold_exactly_the_input_rows(
    tmp_path: Path, options: dict[str, object], chunk_size: int
) -> None:
    rng = random.Random(f"{options}-{chunk_size}")
    file_format = str(options.get("file_format", "csv"))
    data = render(["id", "email", "note"], random_rows(rng, 120, 3), rng=rng, **options)  # type: ignore[arg-type]
    result = split_bytes(data, tmp_path, file_format=file_format, max_part_bytes=400, chunk_size=chunk_size)
    assert len(result.parts) > 3
    assert result.total_bytes == len(data)
    check_parts(data, result, file_format, 400)


def test_random_files_split_correctly(tmp_path: Path) -> None:
    """Seeded property test: random formats, line ends, limits and chunk sizes (incl. short reads)."""
    rng = random.Random(20240601)
    for case in range(150):
        file_format = rng.choice(list(FORMATS))
        data = render(
            ["id", *(f"c{i}" for i in range(rng.randint(0, 4)))],
            random_rows(rng, rng.randint(1, 60), 1 + rng.randint(0, 4)),
            file_format=file_format,
            line_end=rng.choice(["\n", "\r\n"]),
            quote_all=rng.random() < 0.3,
            blank_lines=rng.choice([0.0, 0.0, 0.2]),
            trailing_newline=rng.random() < 0.8,
            bom=rng.random() < 0.2,
            rng=rng,
        )
        longest = max(len(line) for line in data.split(b"\n"))  # a loose bound on the largest record
        max_part = rng.randint(300, 2000) + longest * 2
        stream = non_seekable(data, rng)
        result = split_delimited(
            stream,
            file_format=file_format,
            max_part_bytes=max_part,
            workdir=tmp_path / f"case{case}",
            chunk_size=rng.choice([1, 2, 3, 5, 16, 100, 4096]),
        )
        check_parts(data, result, file_format, max_part)


def test_parts_are_filled_greedily_and_records_may_fill_a_part_exactly(tmp_path: Path) -> None:
    data = b"h\n" + b"".join(b"%03d\n" % i for i in range(10))  # header 2 bytes, records 4 bytes
    result = split_bytes(data, tmp_path, max_part_bytes=2 + 3 * 4, chunk_size=5)
    assert [p.data_rows for p in result.parts] == [3, 3, 3, 1]
    assert [p.first_row for p in result.parts] == [1, 4, 7, 10]
    assert result.parts[0].path.read_bytes() == b"h\n000\n001\n002\n"
    assert result.parts[0].path.name == "part-00000.csv"


def test_a_quoted_newline_is_never_a_cut_point(tmp_path: Path) -> None:
    record = b'1,"a\nb\r\nc,d""e"\n'
    data = b"id,note\n" + record * 20
    result = split_bytes(data, tmp_path, max_part_bytes=8 + len(record) * 2 + 3, chunk_size=3)
    assert {p.data_rows for p in result.parts} == {2}
    assert all(p.path.read_bytes() == b"id,note\n" + record * 2 for p in result.parts)


def test_blank_lines_are_dropped_but_quoted_empty_lines_kept(tmp_path: Path) -> None:
    data = b'id,note\r\n\r\n1,"x\n\n\r\ny"\r\n\n\n2,z\n\r\n'
    result = split_bytes(data, tmp_path, max_part_bytes=1000, chunk_size=2)
    assert result.total_rows == 2
    assert result.parts[0].path.read_bytes() == b'id,note\r\n1,"x\n\n\r\ny"\r\n2,z\n'


def test_header_line_end_is_kept_and_a_missing_last_line_end_is_added(tmp_path: Path) -> None:
    result = split_bytes(b"\xef\xbb\xbfid;n\r\n1;a\r\n2;b", tmp_path, file_format="ssv", max_part_bytes=12)
    assert result.header_bytes == b"id;n\r\n"
    assert [p.path.read_bytes() for p in result.parts] == [b"id;n\r\n1;a\r\n", b"id;n\r\n2;b\r\n"]


def test_multibyte_characters_straddling_chunks(tmp_path: Path) -> None:
    data = 'id,name\n1,😀日本\n2,"é,😀"\n'.encode()
    for chunk_size in range(1, 12):
        result = split_bytes(data, tmp_path / str(chunk_size), max_part_bytes=30, chunk_size=chunk_size)
        check_parts(data, result, "csv", 30)


def test_large_hostile_file_at_the_real_part_size(tmp_path: Path) -> None:
    rng = random.Random(7)
    block = render(["id", "email", "note", "city"], random_rows(rng, 2000, 4), line_end="\r\n")
    header, _, body = block.partition(b"\r\n")
    data = header + b"\r\n" + body * (25_000_000 // len(body) + 1)
    assert len(data) > 25_000_000
    result = split_delimited(
        non_seekable(data), file_format="csv", max_part_bytes=MAX_PART_BYTES, workdir=tmp_path
    )
    assert len(result.parts) == 3
    assert all(MAX_PART_BYTES - 2000 < p.size <= MAX_PART_BYTES for p in result.parts[:-1])
    check_parts(data, result, "csv", MAX_PART_BYTES)


def test_a_write_error_surfaces_and_no_part_is_left(tmp_path: Path) -> None:
    workdir = tmp_path / "parts"
    (workdir / "part-00001.csv").mkdir(parents=True)  # the second part cannot be created
    data = b"id\n" + b"".join(b"%d\n" % i for i in range(100))
    with pytest.raises(IsADirectoryError):
        split_bytes(data, tmp_path, max_part_bytes=50, workdir=workdir, chunk_size=16)
    assert [p.name for p in workdir.iterdir()] == ["part-00001.csv"]


def test_an_existing_workdir_is_reused_and_parts_overwritten(tmp_path: Path) -> None:
    data = b"id\n1\n2\n"
    first = split_bytes(data, tmp_path, max_part_bytes=5)
    second = split_bytes(data, tmp_path, max_part_bytes=5)
    assert [p.sha256 for p in first.parts] == [p.sha256 for p in second.parts]
    assert len(list((tmp_path / "parts").iterdir())) == 2
