"""Every way an input file is rejected, each with a message a person can act on."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from airflow_provider_marketo.utils.formats import InputFileError, validate_header
from airflow_provider_marketo.utils.part_files import split_delimited
from airflow_provider_marketo.utils.reading import read_header


def reject(data: bytes, tmp_path: Path, match: str, **kwargs: object) -> InputFileError:
    """Split ``data`` expecting an InputFileError matching ``match``; check no part file is left."""
    kwargs.setdefault("file_format", "csv")
    kwargs.setdefault("max_part_bytes", 1000)
    workdir = tmp_path / "parts"
    with pytest.raises(InputFileError, match=match) as caught:
        split_delimited(io.BytesIO(data), workdir=workdir, source_name="leads.csv", **kwargs)  # type: ignore[arg-type]
    assert not workdir.exists() or not any(workdir.iterdir())
    return caught.value


# Header validation (validate_header on parsed columns)


@pytest.mark.parametrize(
    ("columns", "file_format", "guess"),
    [
        (["email\tfirstName"], "csv", "tsv"),
        (["email;firstName;lastName"], "csv", "ssv"),
        (["email,firstName"], "tsv", "csv"),
        (["email,firstName"], "ssv", "csv"),
    ],
)
def test_delimiter_not_matching_the_format(columns: list[str], file_format: str, guess: str) -> None:
    with pytest.raises(InputFileError, match=rf"looks like {guess.upper()}, not .*; pass format='{guess}'"):
        validate_header(columns, file_format=file_format)


def test_a_single_column_header_is_fine() -> None:
    validate_header(["email"], file_format="csv", lookup_field="email", required=["email"])


def test_empty_column_name_names_its_position() -> None:
    with pytest.raises(
        InputFileError, match=r"Column 2 of 3 in the header of x.csv has no name; every column"
    ):
        validate_header(["email", " ", "lastName"], file_format="csv", source_name="x.csv")


def test_trailing_delimiter_is_hinted() -> None:
    with pytest.raises(
        InputFileError, match=r"Column 3 of 3 .* \(a delimiter at the end of the header line\?\)"
    ):
        validate_header(["email", "firstName", ""], file_format="csv")


def test_duplicate_columns_are_named_with_positions() -> None:
    with pytest.raises(
        InputFileError,
        match=r"repeats column names \(Marketo matches names in any case\): 'email' \(columns 1, 3\); "
        r"'id' \(columns 2, 4\)",
    ):
        validate_header(["email", "id", "email", "id"], file_format="csv")


def test_columns_differing_only_in_case_are_duplicates() -> None:
    with pytest.raises(InputFileError, match=r"'email' / 'Email' \(columns 1, 3\)"):
        validate_header(["email", "firstName", "Email"], file_format="csv")


def test_header_names_match_the_lookup_and_required_fields_in_any_case() -> None:
    # Adobe's "Bulk Lead Import" page uploads FirstName,LastName,Email,Company and Marketo accepts it
    # (https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/bulk-import/bulk-lead-import).
    validate_header(["FirstName", "LastName", "Email", "Company"], file_format="csv", lookup_field="email")
    validate_header(["EMAIL", "firstName"], file_format="csv", required=("email",))
    validate_header(["ID", "email"], file_format="csv", lookup_field="id")


@pytest.mark.parametrize("name", [" vin", "vin ", "\tvin"])
def test_a_name_with_surrounding_whitespace_is_rejected_naming_it(name: str) -> None:
    # Marketo does not trim header names: Adobe's "Bulk Custom Object Import" page shows a header
    # cell " vin" failing every row (missing.dedupe.fields).
    with pytest.raises(
        InputFileError,
        match=rf"Column 4 of 4 in the header of cars.csv, {re.escape(repr(name))}, has leading or "
        r"trailing whitespace\. Marketo does not trim field names.* Rename it 'vin'\.",
    ):
        validate_header(["color", "make", "model", name], file_format="csv", source_name="cars.csv")


def test_lookup_field_missing_from_header() -> None:
    with pytest.raises(
        InputFileError,
        match=r"lookup_field='sfdcLeadId' is the field Marketo deduplicates on, but the header of <input> "
        r"has no 'sfdcLeadId' column \(in any case\)\. Its columns are: 'email', 'firstName'\.",
    ):
        validate_header(["email", "firstName"], file_format="csv", lookup_field="sfdcLeadId")


def test_lookup_field_id_needs_an_id_column() -> None:
    with pytest.raises(
        InputFileError,
        match=r"lookup_field='id' updates existing records by their Marketo id, but .* no 'id'",
    ):
        validate_header(["email", "firstName"], file_format="csv", lookup_field="id")


def test_missing_column_suggests_a_near_match() -> None:
    with pytest.raises(InputFileError, match=r"no 'email' column \(in any case\) \(did you mean 'E-mail'\?"):
        validate_header(["E-mail", "firstName"], file_format="csv", lookup_field="email")


def test_required_column_missing() -> None:
    with pytest.raises(
        InputFileError, match=r"This import needs it in every row, but .* has no 'email' column"
    ):
        validate_header(["firstName", "id"], file_format="csv", required=("email",))


# Whole-file validation (split_delimited and read_header)


def test_empty_file(tmp_path: Path) -> None:
    reject(b"", tmp_path, r"leads.csv is empty; it needs a header line and at least one data row")


def test_file_with_only_a_bom_is_empty(tmp_path: Path) -> None:
    reject(b"\xef\xbb\xbf", tmp_path, r"leads.csv is empty")


@pytest.mark.parametrize("data", [b"\nemail\na@b.c\n", b"\r\nemail\r\n"])
def test_first_line_empty_means_no_header(tmp_path: Path, data: bytes) -> None:
    reject(data, tmp_path, r"The first line of leads.csv is empty; it must be the header")


def test_header_only_file(tmp_path: Path) -> None:
    reject(b"email,firstName\n\n\r\n", tmp_path, r"leads.csv has a header but no data rows")


def test_header_only_without_line_end(tmp_path: Path) -> None:
    reject(b"email,firstName", tmp_path, r"leads.csv has a header but no data rows")


def test_header_errors_come_through_the_splitter(tmp_path: Path) -> None:
    reject(b"email\tname\na@b.c\tx\n", tmp_path, r"looks like TSV, not CSV; pass format='tsv'")
    reject(b"email,name\na,x\n", tmp_path, r"'id' updates existing .* no 'id' column", lookup_field="id")
    reject(b"firstName\nx\n", tmp_path, r"no 'email' column", required=["email"])


def test_header_with_bad_quoting(tmp_path: Path) -> None:
    reject(b'"email"x,name\na,b\n', tmp_path, r"The header of leads.csv is not valid CSV: .*expected")


def test_header_with_unbalanced_quote(tmp_path: Path) -> None:
    reject(
        b'"email,name\na,b\n', tmp_path, r"The header of leads.csv opens a quoted field that is never closed"
    )


def test_cr_only_line_endings(tmp_path: Path) -> None:
    reject(b"email,name\ra@b.c,x\r", tmp_path, r"old Mac \(CR-only\) line endings\. Convert it to LF or CRLF")


def test_header_longer_than_a_part(tmp_path: Path) -> None:
    reject(
        b"email," + b"x" * 100 + b"\na,b\n",
        tmp_path,
        r"The header of leads.csv is 107 bytes: parts of max_part_bytes=50 cannot hold it and a row",
        max_part_bytes=50,
    )
    reject(
        b"email," + b"x" * 100,
        tmp_path,
        r"The header line of leads.csv is longer than 50 bytes",
        max_part_bytes=50,
        chunk_size=16,
    )
    reject(
        b"email,name\na,b\n",
        tmp_path,
        r"header of leads.csv is 11 bytes: parts of max_part_bytes=12 cannot",
        max_part_bytes=12,
    )


@pytest.mark.parametrize("chunk_size", [1, 4, 1 << 20])
def test_invalid_utf8_names_offset_and_line(tmp_path: Path, chunk_size: int) -> None:
    data = b"email,name\na@b.c,ok\nc@d.e,caf\xe9 au lait\n"
    error = reject(
        data,
        tmp_path,
        r"leads.csv is not valid UTF-8: byte 0xE9 at byte offset 29 \(line 3\)",
        chunk_size=chunk_size,
    )
    assert "Save the file as UTF-8" in str(error)


def test_invalid_utf8_in_the_header(tmp_path: Path) -> None:
    reject(b"email,n\xffme\na,b\n", tmp_path, r"byte 0xFF at byte offset 7 \(line 1\)", chunk_size=3)


def test_truncated_utf8_at_end_of_file(tmp_path: Path) -> None:
    reject(
        b"email,name\na,\xe6\x97",
        tmp_path,
        r"byte 0xE6 at byte offset 13 \(line 2\) cannot be decoded \(unexpected end of data\)",
    )


@pytest.mark.parametrize("chunk_size", [2, 1 << 20])
def test_unbalanced_quote_at_end_of_file(tmp_path: Path, chunk_size: int) -> None:
    data = b'email,note\na@b.c,fine\n\nc@d.e,"never closed\nmore,rows\n'
    reject(
        data,
        tmp_path,
        r"leads.csv ends inside a quoted field: row 2 \(line 4\) opens a quote that is never",
        chunk_size=chunk_size,
    )


@pytest.mark.parametrize("chunk_size", [3, 64, 1 << 20])
def test_record_too_large_for_a_part(tmp_path: Path, chunk_size: int) -> None:
    big = b'b@c.d,"' + b"x\n" * 300 + b'"\n'
    data = b"email,note\n" + b"a@b.c,1\n" * 5 + big + b"e@f.g,2\n"
    message = (
        rf"Row 6 of leads.csv \(starting on line 7\) is {len(big)} bytes: too large for a part of 500 bytes "
        r"with its 11-byte header \(a row may take 489 bytes with its line end\)\. If the row is not meant"
    )
    reject(data, tmp_path, message, max_part_bytes=500, chunk_size=chunk_size)


def test_unbalanced_quote_in_a_long_file_is_reported_as_such(tmp_path: Path) -> None:
    data = b'email,note\na,"oops\n' + b"b,c\n" * 500
    reject(data, tmp_path, r"ends inside a quoted field: row 1 \(line 2\)", max_part_bytes=100, chunk_size=16)


def test_last_record_too_large(tmp_path: Path) -> None:
    reject(
        b"email\n" + b"y" * 60,
        tmp_path,
        r"Row 1 of leads.csv \(starting on line 2\) is 60 bytes",
        max_part_bytes=50,
    )


def test_read_header_returns_validated_columns() -> None:
    stream = io.BytesIO(b'\xef\xbb\xbf"email","first,name"\r\nx@y.z,Al\r\n')
    assert read_header(stream, file_format="csv", lookup_field="email") == ["email", "first,name"]


def test_read_header_rejects_bad_headers() -> None:
    with pytest.raises(
        InputFileError,
        match=re.escape("repeats column names (Marketo matches names in any case): 'a' (columns 1, 2)"),
    ):
        read_header(io.BytesIO(b"a;a\n1;2\n"), file_format="ssv")
