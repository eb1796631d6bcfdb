"""The sync engine: fingerprint, diff, duplicates, rows without key, exact values (hostile rows)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_marketo.sync.diff import Baseline, DuplicateKeyError, Source, run_diff
from airflow_provider_marketo.sync.engine import connect, import_duckdb
from airflow_provider_marketo.sync.fingerprint import fingerprint, fingerprint_sql
from airflow_provider_marketo.sync.keys import normalize_key
from airflow_provider_marketo.sync.outcome import JobOutcome, SentFile, record_outcomes, write_snapshot
from airflow_provider_marketo.sync.spec import Columns, KeySpec
from airflow_provider_marketo.utils.formats import InputFileError
from tests._support.hostile import FRAGMENTS, parse, random_rows, render

EMAIL = KeySpec(("email",), (True,))


@pytest.fixture
def con(tmp_path: Path) -> Any:
    with connect(str(tmp_path / "spill")) as connection:
        yield connection


def _diff(con: Any, tmp_path: Path, data: bytes, **kw: Any) -> tuple[dict[str, int], list[list[str]]]:
    fmt = kw.pop("file_format", "csv")
    path = tmp_path / f"in.{fmt}"
    path.write_bytes(data)
    header = parse(data, fmt)[0]
    send = tmp_path / f"send.{fmt}"
    result = run_diff(
        con,
        Source(str(path), tuple(header), fmt, "in"),
        key=kw.pop("key", EMAIL),
        columns=Columns.of(header, kw.pop("field_mapping", None), "in"),
        baseline=kw.pop("baseline", Baseline()),
        duplicate_keys=kw.pop("duplicate_keys", "fail"),
        send_to=str(send),
        keyless_to=str(tmp_path / "keyless.csv"),
        **kw,
    )
    return result.counts, parse(send.read_bytes(), fmt)


def test_fingerprint_python_and_sql_agree(con: Any) -> None:
    rng = random.Random(7)
    for _ in range(200):
        row = {f"f{i}{rng.choice(FRAGMENTS)}": "".join(rng.choices(FRAGMENTS, k=3)) for i in range(4)}
        names = list(row)
        sql = fingerprint_sql((name, f"${n + 1}") for n, name in enumerate(names))
        assert con.execute(f"SELECT {sql}", [row[n] for n in names]).fetchone()[0] == fingerprint(row)


def test_fingerprint_is_pinned() -> None:
    # md5-lp-v1 of {"email": "a@b.c", "firstName": ""}: a changed value means a new algorithm name.
    assert fingerprint({"email": "a@b.c", "firstName": ""}) == fingerprint(
        {"firstName": None, "email": "a@b.c"}
    )
    assert (
        fingerprint({"email": "a@b.c", "firstName": ""}) == "4aa25cdda36c5e99803398c4147c8081"
    )  # md5("5:email5:a@b.c9:firstName0:")


@pytest.mark.parametrize("fmt", ["csv", "tsv", "ssv"])
def test_hostile_values_round_trip(con: Any, tmp_path: Path, fmt: str) -> None:
    rng = random.Random(3)
    rows = random_rows(rng, 2000, 5)
    rows += [["x1", " lead ", "NULL", "007", "\r\n"], ["x2", " ", "", '""', "\\N"]]
    for line_end in ("\n", "\r\n"):
        data = render(
            ["email", "a", "b", "c", "d"], rows, file_format=fmt, line_end=line_end, bom=True, rng=rng
        )
        counts, sent = _diff(con, tmp_path, data, file_format=fmt)
        assert counts["rows_new"] == len(rows)
        assert sent == [["email", "a", "b", "c", "d"], *rows]


#: Values with a lone carriage return (always quoted in a valid file: a bare CR is refused).
CR_VALUES = ["\r", "a\rb", "\r\r", "x\r", "\rx"]


@pytest.mark.parametrize("fmt", ["csv", "tsv", "ssv"])
@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
def test_quoted_carriage_returns_round_trip(con: Any, tmp_path: Path, fmt: str, line_end: str) -> None:
    # A "\r"-only value at a record's end in a CRLF file, "a\rb" in an LF file: read exactly, never
    # taken for a line end (quote_all: Python's csv module leaves a CR unquoted in an LF file).
    rng = random.Random(11)
    rows = [
        [f"r{i}", *(rng.choice(CR_VALUES + FRAGMENTS) for _ in range(3)), rng.choice(CR_VALUES)]
        for i in range(500)
    ]
    rows += [["y1", "\r", "a", "b", "\r"], ["y2", "a\rb", "", "", "\r"]]
    data = render(
        ["email", "a", "b", "c", "d"], rows, file_format=fmt, line_end=line_end, quote_all=True, rng=rng
    )
    counts, sent = _diff(con, tmp_path, data, file_format=fmt)
    assert counts["rows_new"] == len(rows)
    assert sent == [["email", "a", "b", "c", "d"], *rows]


def test_bare_carriage_return_is_refused_like_the_scanner(con: Any, tmp_path: Path) -> None:
    # Unquoted CR inside a record of an LF file: ambiguous, refused (as utils/scanner.py refuses it).
    with pytest.raises(InputFileError, match="in: cannot be read"):
        _diff(con, tmp_path, b"email,n\na@x.com,1\rb@x.com,2\nc@x.com,3\n")


def test_field_mapping_sends_mapped_columns_under_marketo_names(con: Any, tmp_path: Path) -> None:
    data = b"mail,first_name,secret\nA@x.com,Ann,1\n"
    _counts, sent = _diff(con, tmp_path, data, field_mapping={"mail": "email", "first_name": "firstName"})
    assert sent == [["email", "firstName"], ["A@x.com", "Ann"]]


def test_field_mapping_unknown_column(con: Any, tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="nope"):
        _diff(con, tmp_path, b"email\na@x.com\n", field_mapping={"nope": "email"})


def test_key_missing_from_columns_sent(con: Any, tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="key field 'email'"):
        _diff(con, tmp_path, b"email,x\na@x.com,1\n", field_mapping={"x": "firstName"})


def test_duplicates_fail_naming_keys_and_rows(con: Any, tmp_path: Path) -> None:
    lines = ["email,n"] + [f"k{i % 12}@x.com,{i}" for i in range(30)] + [" K0@X.com ,x"]
    with pytest.raises(DuplicateKeyError) as err:
        _diff(con, tmp_path, ("\n".join(lines) + "\n").encode())
    message = str(err.value)
    assert "12 key(s)" in message and "and 2 more" in message
    assert "email='k0@x.com' (data rows 1, 13, 25, 31)" in message


def test_duplicates_keep_last(con: Any, tmp_path: Path) -> None:
    counts, sent = _diff(
        con, tmp_path, b"email,n\na@x.com,1\nb@x.com,2\nA@x.com,3\n", duplicate_keys="keep_last"
    )
    assert sent[1:] == [["b@x.com", "2"], ["A@x.com", "3"]]
    assert counts["duplicate_keys"] == 1 and counts["rows_to_send"] == 2


def test_rows_without_key_are_not_sent_but_written(con: Any, tmp_path: Path) -> None:
    counts, sent = _diff(con, tmp_path, b"email,n\n,1\n  ,2\nb@x.com,3\n")
    assert counts["rows_without_key"] == 2 and sent[1:] == [["b@x.com", "3"]]
    assert parse((tmp_path / "keyless.csv").read_bytes()) == [["email", "n"], ["", "1"], ["  ", "2"]]
    counts, sent = _diff(con, tmp_path, b"email,n\n,1\nb@x.com,3\n", send_keyless=True)
    assert sent[1:] == [["", "1"], ["b@x.com", "3"]] and counts["rows_to_send"] == 2


def test_blank_lines_with_one_kind_of_line_end(con: Any, tmp_path: Path) -> None:
    _counts, sent = _diff(con, tmp_path, b'email,n\r\n\r\na@x.com,"1\n2"\r\n\r\n\r\nb@x.com,\r\n')
    assert sent[1:] == [["a@x.com", "1\n2"], ["b@x.com", ""]]


@pytest.mark.parametrize(
    "data",
    [b'email,n\na@x.com,"ab"c\n', b"email,n\na@x.com,1,2\n", b"email,n\r\na@x.com,1\nb@x.com,2\r\n"],
    ids=["text-after-quote", "extra-field", "mixed-line-ends"],
)
def test_unreadable_file_is_an_input_error(con: Any, tmp_path: Path, data: bytes) -> None:
    with pytest.raises(InputFileError, match="in: cannot be read"):
        _diff(con, tmp_path, data)


def _commit(con: Any, tmp_path: Path, base: str | None, jobs: list[JobOutcome], failures: Any = None) -> str:
    sent = parse((tmp_path / "send.csv").read_bytes())
    record_outcomes(con, SentFile(str(tmp_path / "send.csv"), tuple(sent[0]), "csv"), jobs, failures, EMAIL)
    dest = str(tmp_path / f"snap{len(list(tmp_path.glob('snap*')))}.parquet")
    write_snapshot(con, key=EMAIL, base=base, run_id="r", dest=dest)
    return dest


def test_diff_against_a_snapshot(con: Any, tmp_path: Path) -> None:
    first = b"email,n\na@x.com,1\nb@x.com,2\nc@x.com,3\n"
    _diff(con, tmp_path, first)
    snap = _commit(con, tmp_path, None, [JobOutcome(1, 3, True)])
    second = b"email,n\nA@X.com ,1\nb@x.com,22\nd@x.com,4\n"
    counts, _sent = _diff(con, tmp_path, second, baseline=Baseline(snap))
    assert counts["rows_unchanged"] == 0  # " A@X.com " is the same key but a different value sent
    assert (counts["rows_new"], counts["rows_changed"], counts["rows_absent"]) == (1, 2, 1)
    counts, _ = _diff(con, tmp_path, first, baseline=Baseline(snap))
    assert (counts["rows_unchanged"], counts["rows_to_send"]) == (3, 0)
    counts, _ = _diff(con, tmp_path, first, baseline=Baseline(snap, all_changed=True))
    assert counts["rows_changed"] == 3


def test_key_rule_matches_python(con: Any) -> None:
    from airflow_provider_marketo.sync.keys import normalize_key_sql

    # Both branches of the SQL form: all-ASCII (lower()) and not (A-Z only: À, İ and Σ stay).
    for value in [" A@B.c\t", "ÀB@X.COM", "İA@b.c", "ΣQ@x.COM", "\u00a0a@b.c", "x\r\n", "\v\fA\f"]:
        for email in (True, False):
            assert con.execute(f"SELECT {normalize_key_sql('$1', email=email)}", [value]).fetchone()[
                0
            ] == normalize_key(value, email=email)


def test_missing_duckdb_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "duckdb", None)
    with pytest.raises(ImportError, match=r"airflow-provider-marketo\[sync\]"):
        import_duckdb()


def test_a_large_diff_keeps_the_file_order_and_the_last_duplicate(con: Any, tmp_path: Path) -> None:
    """200,000 rows (many of DuckDB's row groups, so its joins and counts run on several threads):
    the rows sent are in the file's order, and ``keep_last`` keeps each repeated key's last row."""
    rows = [f"k{i}@x.com,{i}" for i in range(200_000)]
    _diff(con, tmp_path, ("email,n\n" + "\n".join(rows) + "\n").encode())
    snap = _commit(con, tmp_path, None, [JobOutcome(1, 200_000, True)])
    night = [f"k{i}@x.com,{i if i % 97 else -i}" for i in range(200_000)]
    night += [f"K{i}@x.com,again{i}" for i in range(0, 200_000, 20_000)]  # repeated keys, last wins
    counts, sent = _diff(
        con,
        tmp_path,
        ("email,n\n" + "\n".join(night) + "\n").encode(),
        baseline=Baseline(snap),
        duplicate_keys="keep_last",
    )
    repeated = set(range(0, 200_000, 20_000))
    expected = [[f"k{i}@x.com", str(-i)] for i in range(0, 200_000, 97) if i not in repeated]
    expected += [[f"K{i}@x.com", f"again{i}"] for i in sorted(repeated)]
    assert sent[1:] == expected
    assert counts["duplicate_keys"] == len(repeated) and counts["rows_changed"] == len(expected)
