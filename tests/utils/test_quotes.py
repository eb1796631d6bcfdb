"""Quote rules of the csv module (and Marketo's parser): literal quotes in unquoted fields, misplaced ones rejected."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from airflow_provider_marketo.utils.formats import FORMATS, InputFileError
from airflow_provider_marketo.utils.part_files import split_delimited
from airflow_provider_marketo.utils.parts import PartPlan, plan_parts, read_part
from tests._support.hostile import parse


def inch_mark_file(delimiter: str = ",") -> bytes:
    """Issue 14's file: 54 rows, inch marks in unquoted fields around one quoted two-line field (mx22)."""
    rows = ["email,title".replace(",", delimiter)]
    for i in range(1, 55):
        if i == 22:
            title = '"two\nlines"'
        elif i % 3 == 0:
            title = f'{i}" monitor'
        elif i % 3 == 1:
            title = f'{i % 10}" tablet, refurbished' if delimiter != "," else f'{i % 10}" tablet'
        else:
            title = f"plain title {i}"
        rows.append(f"mx{i}@example.com{delimiter}{title}")
    return ("\n".join(rows) + "\n").encode()


def read_all(data: bytes, plan: PartPlan) -> list[bytes]:
    stream = io.BytesIO(data)
    return [read_part(stream, plan, part) for part in plan.parts]


@pytest.mark.parametrize("chunk_size", [1, 7, 100, 1 << 20])
def test_issue_14_inch_marks_keep_every_row_intact(chunk_size: int) -> None:
    data = inch_mark_file()
    expected = parse(data)
    assert len(expected) == 55 and expected[22] == ["mx22@example.com", "two\nlines"]
    assert expected[3] == ["mx3@example.com", '3" monitor']
    plan = plan_parts(io.BytesIO(data), file_format="csv", max_part_bytes=1024, chunk_size=chunk_size)
    assert plan.total_rows == 54
    bodies = read_all(data, plan)
    assert len(bodies) > 1 and all(len(body) <= 1024 for body in bodies)
    got = [row for body in bodies for row in parse(body)[1:]]
    assert got == expected[1:]
    assert [p.data_rows for p in plan.parts] == [len(parse(body)) - 1 for body in bodies]
    assert sum(b'mx22@example.com,"two\nlines"\n' in body for body in bodies) == 1


@pytest.mark.parametrize("file_format", ["tsv", "ssv"])
def test_inch_marks_in_every_format(tmp_path: Path, file_format: str) -> None:
    data = inch_mark_file(FORMATS[file_format])
    result = split_delimited(
        io.BytesIO(data), file_format=file_format, max_part_bytes=300, workdir=tmp_path, chunk_size=13
    )
    got = [row for part in result.parts for row in parse(part.path.read_bytes(), file_format)[1:]]
    assert got == parse(data, file_format)[1:] and result.total_rows == 54


@pytest.mark.parametrize(
    ("data", "match"),
    [
        pytest.param(
            b'email,note\na@b.c,fine\nc@d.e,"two"x,y\n',
            r"Row 2 of leads.csv \(line 3\) has a quoted field '\"two\"' whose closing quote is followed by "
            r"'x' instead of a delimiter or a line end\. A quote inside a quoted field must be doubled",
            id="text-after-closing-quote",
        ),
        pytest.param(
            b'email,note\n\na@b.c,"multi\nline" says\n',
            r"Row 1 of leads.csv \(line 4\) has a quoted field '\"multi\\nline\"' whose closing quote is "
            r"followed by ' '",
            id="after-a-multi-line-field",
        ),
        pytest.param(
            b'email,note\na@b.c,27" monitor\nc@d.e,"x"" y"z\n',
            r"Row 2 of leads.csv \(line 3\) has a quoted field '\"x\"\" y\"' whose closing quote is followed by 'z'",
            id="after-a-literal-quote",
        ),
        pytest.param(
            b"email,note\na@b.c,one\rtwo\n",
            r"Row 1 of leads.csv \(line 2\) has a carriage return that is not followed by a line feed",
            id="bare-cr",
        ),
        pytest.param(
            b'email,note\na@b.c,"fine"\nc@d.e,27" and "quoted\n',
            None,
            id="quote-in-unquoted-field-is-literal",
        ),
        pytest.param(b'email,note\na@b.c,27" monitor\nc@d.e,x\n', None, id="one-inch-mark-is-not-unbalanced"),
    ],
)
@pytest.mark.parametrize("chunk_size", [1, 5, 1 << 20])
def test_misplaced_quotes_and_stray_carriage_returns(data: bytes, match: str | None, chunk_size: int) -> None:
    def plan() -> PartPlan:
        return plan_parts(
            io.BytesIO(data),
            file_format="csv",
            max_part_bytes=100,
            chunk_size=chunk_size,
            source_name="leads.csv",
        )

    if match is None:
        result = plan()
        assert [row for body in read_all(data, result) for row in parse(body)[1:]] == parse(data)[1:]
        return
    with pytest.raises(InputFileError, match=match):
        plan()


def test_a_quoted_cr_and_a_crlf_after_a_closing_quote_are_fine() -> None:
    data = b'email,note\r\na@b.c,"one\rtwo"\r\nc@d.e,"x"\r\n'
    plan = plan_parts(io.BytesIO(data), file_format="csv", max_part_bytes=100)
    assert read_all(data, plan) == [data]


def test_a_literal_quote_does_not_hide_a_too_large_record() -> None:
    data = b'email,note\na,8" tablet\nb,' + b"y" * 200 + b"\nc,z\n"
    with pytest.raises(InputFileError, match=r"Row 2 of <input> \(starting on line 3\) is 203 bytes"):
        plan_parts(io.BytesIO(data), file_format="csv", max_part_bytes=100, chunk_size=8)
