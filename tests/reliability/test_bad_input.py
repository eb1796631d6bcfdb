"""Bad input through the whole pipeline: a specific error each, before any API call when detectable locally."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_marketo.exceptions import MarketoConfigError, MarketoRequestError
from airflow_provider_marketo.testing import MarketoSimulator
from airflow_provider_marketo.utils.formats import InputFileError
from tests._support.files import write_rows
from tests._support.guard import SummaryRow
from tests._support.pipeline import lead_rows, run_pipeline
from tests._support.sim import SIM_FAST, create_calls

pytestmark = pytest.mark.marketo_simulator(**SIM_FAST)

GOOD = lead_rows(5, failing=False, warning=False)
DESCRIBE = "GET /rest/v1/leads/describe2.json"  # the schema check before upload


def _csv(content: bytes, name: str = "leads.csv") -> Callable[[Path, pytest.FixtureRequest], str]:
    def make(directory: Path, request: pytest.FixtureRequest) -> str:
        path = directory / name
        path.write_bytes(content)
        return str(path)

    return make


def _rows(rows: list[list[str]], name: str = "leads.csv") -> Callable[[Path, pytest.FixtureRequest], str]:
    def make(directory: Path, request: pytest.FixtureRequest) -> str:
        return str(write_rows(directory / name, rows))

    return make


def _export(*shards: bytes) -> Callable[[Path, pytest.FixtureRequest], str]:
    """A folder of gzip shards ``data_N.csv.gz`` (each given as its compressed bytes)."""

    def make(directory: Path, request: pytest.FixtureRequest) -> str:
        folder = directory / "export"
        folder.mkdir()
        for n, data in enumerate(shards):
            (folder / f"data_{n}.csv.gz").write_bytes(data)
        return str(folder)

    return make


_GOOD_GZ = gzip.compress(
    b"email,firstName\r\n" + b"".join(f"l{i}@example.com,{i:08x}\r\n".encode() for i in range(5000))
)


def _missing_bucket(directory: Path, request: pytest.FixtureRequest) -> str:
    moto_s3: dict[str, Any] = request.getfixturevalue("moto_s3")
    return f"s3://{moto_s3['conn_id']}@no-such-bucket-{moto_s3['bucket']}/exports/leads.csv"


@dataclass(frozen=True)
class BadInput:
    label: str
    make: Callable[[Path, pytest.FixtureRequest], str]
    error: type[Exception]
    match: str
    operator_kwargs: dict[str, Any] = field(default_factory=dict)
    #: Detectable without Marketo: rejected before any API call (else: one create call, no retry).
    local: bool = True
    #: Rejected by the schema check before upload: one Describe call, no create.
    schema: bool = False


CASES = {
    "empty-file": BadInput("empty file", _csv(b""), InputFileError, r"leads\.csv is empty"),
    "header-only": BadInput(
        "header only", _csv(b"email,firstName\r\n"), InputFileError, "has a header but no data rows"
    ),
    "no-header": BadInput(
        "no header (first line is data)",
        _rows(GOOD[1:]),
        InputFileError,
        r"has no 'email' column \(in any case\)\. Its columns are: 'lead0@example\.com'",
    ),
    "duplicate-columns": BadInput(
        "duplicate columns",
        _rows([["email", "firstName", "email"], ["a@example.com", "Ann", "b@example.com"]]),
        InputFileError,
        r"repeats column names \(Marketo matches names in any case\): 'email' \(columns 1, 3\)",
    ),
    "blank-column-name": BadInput(
        "blank column name",
        _csv(b"email,,lastName\r\na@example.com,Ann,Lee\r\n"),
        InputFileError,
        "Column 2 of 3 in the header of .* has no name",
    ),
    "wrong-delimiter": BadInput(
        "wrong delimiter for the format (SSV as csv)",
        _csv(b"email;firstName\r\na@example.com;Ann\r\n"),
        InputFileError,
        "looks like SSV, not CSV; pass format='ssv'",
    ),
    "unbalanced-quote": BadInput(
        "unbalanced quote at end of file",
        _csv(b'email,firstName\r\na@example.com,Ann\r\nb@example.com,"Bob\r\n'),
        InputFileError,
        r"ends inside a quoted field: row 2 \(line 3\)",
    ),
    "not-utf8": BadInput(
        "non-UTF-8 bytes",
        _csv(b"email,firstName\r\na@example.com,Ren\xe9e\r\n"),
        InputFileError,
        "is not valid UTF-8: byte 0xE9 .*line 2",
    ),
    "record-over-part-limit": BadInput(
        "single record over the part limit",
        _rows([["email", "firstName"], ["a@example.com", "Ann"], ["b@example.com", "x" * 2000]]),
        InputFileError,
        "Row 2 of .* is 2016 bytes: too large for a part of 1024 bytes",
        {"part_size": 1024},
    ),
    "lookup-not-in-header": BadInput(
        "lookup field not in header",
        _rows(GOOD),
        InputFileError,
        "lookup_field='sfdcLeadId' is the field Marketo deduplicates on, but .* has no 'sfdcLeadId' column",
        {"lookup_field": "sfdcLeadId"},
    ),
    "name-with-whitespace": BadInput(
        "column name with a leading space",
        _rows([[" email", "firstName"], ["a@example.com", "Ann"]]),
        InputFileError,
        "Column 1 of 2 in the header of .*, ' email', has leading or trailing whitespace",
    ),
    "id-lookup-without-id": BadInput(
        "id lookup without an id column",
        _rows(GOOD),
        InputFileError,
        "lookup_field='id' updates existing records by their Marketo id, but .* has no 'id' column",
        {"lookup_field": "id"},
    ),
    "invalid-format": BadInput(
        "invalid format value",
        _rows(GOOD),
        InputFileError,
        "Unknown file format 'xlsx'; expected one of: csv, tsv, ssv",
        {"format": "xlsx"},
    ),
    "corrupt-gzip-shard": BadInput(
        "corrupt gzip shard in an export folder",
        _export(_GOOD_GZ, _GOOD_GZ[: len(_GOOD_GZ) // 2]),
        InputFileError,
        r"Shard \S+/data_1\.csv\.gz could not be decompressed \(gzip\) after \d+ bytes of data",
    ),
    "shard-header-differs": BadInput(
        "shard header differs from the first shard's",
        _export(_GOOD_GZ, gzip.compress(b"firstName,email\r\nAnn,a@example.com\r\n")),
        InputFileError,
        r"shard 2, \S+/data_1\.csv\.gz, differs .*column 1 is 'firstName', not 'email'",
    ),
    "gzip-named-csv": BadInput(
        "gzip data named .csv",
        _csv(_GOOD_GZ),
        InputFileError,
        r"leads\.csv is compressed \(gzip\), not UTF-8 delimited text",
    ),
    "missing-file": BadInput(
        "missing source file",
        lambda directory, request: str(directory / "nowhere.csv"),
        FileNotFoundError,
        r"nowhere\.csv does not exist",
    ),
    "missing-s3-bucket": BadInput(
        "missing S3 bucket (moto)",
        _missing_bucket,
        FileNotFoundError,
        r"The import source s3://aws_test@no-such-bucket-test-\w+/exports/leads\.csv does not exist",
    ),
    "negative-list-id": BadInput(
        "negative list id",
        _rows(GOOD),
        MarketoConfigError,
        "list_id must be a positive integer, got -5",
        {"list_id": -5},
    ),
    "zero-list-id": BadInput(
        "zero list id",
        _rows(GOOD),
        MarketoConfigError,
        "list_id must be a positive integer, got 0",
        {"list_id": 0},
    ),
    "unknown-column": BadInput(
        "unknown column (schema check)",
        _rows([["email", "favouriteColour"], ["a@example.com", "blue"]]),
        InputFileError,
        "unknown column\\(s\\), not fields of the lead database: 'favouriteColour'",
        local=False,
        schema=True,
    ),
    "unknown-column-unchecked": BadInput(
        "unknown column (Marketo 1006, check_schema=False)",
        _rows([["email", "favouriteColour"], ["a@example.com", "blue"]]),
        MarketoRequestError,
        "Marketo error 1006: Field\\(s\\) not found: favouriteColour",
        {"check_schema": False},
        local=False,
    ),
    "unknown-list": BadInput(
        "unknown list (Marketo 1013)",
        _rows(GOOD),
        MarketoRequestError,
        "Marketo error 1013: Static list 9999 not found",
        {"list_id": 9999},
        local=False,
    ),
    "unknown-partition": BadInput(
        "unknown partition",
        _rows(GOOD),
        MarketoRequestError,
        "Marketo error 1003: Partition 'Mars' not found",
        {"partition_name": "Mars"},
        local=False,
    ),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_bad_input_gets_a_specific_error(
    case: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    marketo_simulator: MarketoSimulator,
    conn_id: str,
    summary_row: SummaryRow,
) -> None:
    bad = CASES[case]
    where = (
        "before any upload" if bad.local else "1 Describe call" if bad.schema else "1 create call, no retry"
    )
    summary_row.describe(bad.label, f"{bad.error.__name__}, {where}", section="bad input")
    source = bad.make(tmp_path, request)

    with pytest.raises(bad.error, match=bad.match) as info:
        run_pipeline(marketo_simulator, source, operator_kwargs=bad.operator_kwargs)

    calls = marketo_simulator.api_calls()
    describe = {} if bad.operator_kwargs.get("check_schema") is False else {DESCRIBE: 1}
    if bad.local:
        # Nothing is sent: a file that fails past its header may have had the schema read (issue 12:
        # the fields are fetched once the header is parsed, before the data is read), nothing more.
        assert create_calls(calls) == 0
        assert dict(calls) in ({}, describe), calls
    elif bad.schema:
        assert dict(calls) == describe
    else:
        assert dict(calls) == {**describe, "POST /bulk/v1/leads.json": 1}
    assert marketo_simulator.jobs == []
    message = str(info.value).replace(f"file://{tmp_path}/", "").replace(f"{tmp_path}/", "")
    summary_row.seen = f"{type(info.value).__name__}: {message}"
