"""Part plans: byte ranges planned in one pass, read back exactly, and a changed source detected."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import random
from pathlib import Path

import pytest

from airflow_provider_marketo.utils.formats import FORMATS, InputFileError
from airflow_provider_marketo.utils.part_files import split_delimited
from airflow_provider_marketo.utils.parts import (
    PartPlan,
    PlannedPart,
    SourceChangedError,
    plan_parts,
    read_part,
)
from tests._support.files import non_seekable
from tests._support.hostile import parse, random_rows, render


def plan(data: bytes, max_part_bytes: int = 300, **kwargs: object) -> PartPlan:
    kwargs.setdefault("file_format", "csv")
    return plan_parts(non_seekable(data), max_part_bytes=max_part_bytes, **kwargs)  # type: ignore[arg-type]


def read_all(data: bytes, result: PartPlan) -> list[bytes]:
    stream = io.BytesIO(data)
    return [read_part(stream, result, part) for part in result.parts]


def check_plan(data: bytes, result: PartPlan, max_part_bytes: int) -> list[bytes]:
    """Parts read back: header first, whole records, under the limit, rows as the csv module reads them."""
    expected = parse(data, result.file_format)
    assert result.header == expected[0]
    assert result.total_rows == len(expected) - 1
    assert result.total_bytes == len(data)
    bodies = read_all(data, result)
    got: list[list[str]] = []
    next_row, previous_end = 1, 0
    for index, (part, body) in enumerate(zip(result.parts, bodies, strict=True)):
        assert part.index == index
        assert part.sha256 is None  # planning does not hash
        assert previous_end <= part.start < part.end <= len(data)
        assert body.startswith(result.header_bytes) and body.endswith(b"\n")
        assert len(body) == part.size <= max_part_bytes
        rows = parse(body, result.file_format)
        assert rows[0] == expected[0]
        assert part.data_rows == len(rows) - 1 > 0
        assert part.first_row == next_row
        next_row += part.data_rows
        previous_end = part.end
        got.extend(rows[1:])
    assert got == expected[1:]
    return bodies


@pytest.mark.parametrize("file_format", list(FORMATS))
@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
def test_planned_parts_read_back_as_the_splitter_writes_them(
    tmp_path: Path, file_format: str, line_end: str
) -> None:
    rng = random.Random(f"{file_format}{line_end!r}")
    data = render(
        ["id", "email", "note"],
        random_rows(rng, 150, 3),
        file_format=file_format,
        line_end=line_end,
        blank_lines=0.2,
        bom=True,
        rng=rng,
    )
    result = plan(data, 500, file_format=file_format, chunk_size=97)
    assert len(result.parts) > 3
    bodies = check_plan(data, result, 500)
    written = split_delimited(
        io.BytesIO(data), file_format=file_format, max_part_bytes=500, workdir=tmp_path, chunk_size=97
    )
    assert [p.path.read_bytes() for p in written.parts] == bodies


def test_random_files_plan_correctly() -> None:
    rng = random.Random(14)
    for _ in range(60):
        file_format = rng.choice(list(FORMATS))
        data = render(
            ["id", *(f"c{i}" for i in range(rng.randint(0, 3)))],
            random_rows(rng, rng.randint(1, 40), 1 + rng.randint(0, 3)),
            file_format=file_format,
            line_end=rng.choice(["\n", "\r\n"]),
            blank_lines=rng.choice([0.0, 0.2]),
            trailing_newline=rng.random() < 0.7,
            rng=rng,
        )
        limit = rng.randint(200, 800) + 2 * max(len(line) for line in data.split(b"\n"))
        check_plan(data, plan(data, limit, file_format=file_format, chunk_size=rng.choice([1, 5, 64])), limit)


def test_a_missing_last_line_end_is_added_and_blank_lines_dropped() -> None:
    data = b"id;n\r\n\r\n1;a\r\n\n2;b"
    result = plan(data, 12, file_format="ssv")
    assert [(p.start, p.end, p.data_rows, p.size) for p in result.parts] == [(8, 14, 1, 11), (14, 17, 1, 11)]
    assert read_all(data, result) == [b"id;n\r\n1;a\r\n", b"id;n\r\n2;b\r\n"]


def test_the_plan_survives_json() -> None:
    data = 'id,név\n1,"a,b"\n2,ő\n'.encode()
    result = plan(data, 20)
    again = PartPlan.from_dict(json.loads(json.dumps(result.to_dict())))
    assert again == result
    assert again.header_bytes == "id,név\n".encode()


def test_check_header_runs_before_the_data_is_read() -> None:
    data = b"id,email\n" + b"1,a@example.com\n" * 10_000
    stream = io.BytesIO(data)
    seen: list[list[str]] = []

    def check(columns: list[str]) -> None:
        seen.append(columns)
        raise InputFileError(f"no field {columns[1]!r}")

    with pytest.raises(InputFileError, match="no field 'email'"):
        plan_parts(stream, file_format="csv", max_part_bytes=1000, check_header=check, chunk_size=64)
    assert seen == [["id", "email"]]
    assert stream.tell() <= 128


def test_header_rules_apply_when_planning() -> None:
    with pytest.raises(InputFileError, match="lookup_field='email'"):
        plan(b"id,name\n1,a\n", lookup_field="email")


def test_a_hash_set_later_is_verified() -> None:
    data = b"id,n\n1,a\n2,b\n3,c\n"
    result = plan(data, 12)
    first = read_part(io.BytesIO(data), result, result.parts[0])
    hashed = dataclasses.replace(result.parts[0], sha256=hashlib.sha256(first).hexdigest())
    assert read_part(io.BytesIO(data), result, hashed) == first
    changed = data.replace(b"1,a", b"1,z")  # same size, same shape: only the digest can tell
    assert read_part(io.BytesIO(changed), result, result.parts[0]) == b"id,n\n1,z\n"
    with pytest.raises(SourceChangedError, match=r"part 1 of 3 .*SHA-256 differs"):
        read_part(io.BytesIO(changed), result, hashed)


DATA = b'id,note\n1,"a\nb"\n2,x\n3,y\n4,"c,d"\n'


@pytest.mark.parametrize(
    ("changed", "index", "match"),
    [
        pytest.param(DATA + b"5,z\n", 2, "the source is now 36 bytes, not 32", id="grown"),
        pytest.param(DATA.replace(b"2,x\n3", b"2,x,3"), 1, "holds 1 rows, not 2", id="line-end-gone"),
        pytest.param(DATA.replace(b'b"\n2', b'b\n"2'), 0, "no longer ends at the end of a record", id="cut"),
        pytest.param(DATA.replace(b'b"\n2', b'b\n"2'), 1, "no longer starts after a line end", id="shifted"),
        pytest.param(DATA.replace(b"3,y", b"3,\xff"), 1, "no longer valid UTF-8", id="bad-utf8"),
        pytest.param(DATA.replace(b'"c,d"', b'"c,dd'), 2, "opens a quote that is never closed", id="quote"),
    ],
)
def test_a_changed_source_is_detected(changed: bytes, index: int, match: str) -> None:
    result = plan(DATA, 17)
    assert [p.data_rows for p in result.parts] == [1, 2, 1]
    with pytest.raises(SourceChangedError, match=match) as caught:
        read_part(io.BytesIO(changed), result, result.parts[index], source_name="leads.csv")
    assert f"leads.csv changed since its parts were planned: part {index + 1} of 3 " in str(caught.value)
    assert isinstance(caught.value, InputFileError)


def test_planning_reads_the_stream_once_and_sequentially() -> None:
    data = b"id\n" + b"".join(b"%d\n" % i for i in range(1000))
    result = plan_parts(non_seekable(data, random.Random(3)), file_format="csv", max_part_bytes=100)
    assert sum(p.data_rows for p in result.parts) == 1000
    assert isinstance(result.parts[0], PlannedPart)
