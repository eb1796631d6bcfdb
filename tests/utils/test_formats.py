"""Format names and inference from file names."""

from __future__ import annotations

import pytest

from airflow_provider_marketo.utils.formats import FORMATS, InputFileError, check_format, infer_format


def test_formats_map_marketo_names_to_delimiters() -> None:
    assert FORMATS == {"csv": ",", "tsv": "\t", "ssv": ";"}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("leads.csv", "csv"),
        ("/data/2024/leads.TSV", "tsv"),
        ("s3://bucket/exports/members.ssv", "ssv"),
        ("archive.tar.csv", "csv"),
    ],
)
def test_infer_format_from_extension(name: str, expected: str) -> None:
    assert infer_format(name) == expected


@pytest.mark.parametrize("name", ["leads.txt", "leads", "leads.txt.gz", "csv"])
def test_infer_format_rejects_unknown_extensions(name: str) -> None:
    with pytest.raises(
        InputFileError, match=r"Cannot tell the format of .* pass format='csv', 'tsv' or 'ssv'"
    ):
        infer_format(name)


@pytest.mark.parametrize(("value", "expected"), [("csv", "csv"), ("TSV", "tsv"), ("Ssv", "ssv")])
def test_check_format_accepts_any_case(value: str, expected: str) -> None:
    assert check_format(value) == expected


@pytest.mark.parametrize("value", ["xlsx", "", None, 3])
def test_check_format_lists_the_valid_formats(value: object) -> None:
    with pytest.raises(InputFileError, match=r"Unknown file format .*; expected one of: csv, tsv, ssv\."):
        check_format(value)


def test_input_file_error_is_a_value_error() -> None:
    assert issubclass(InputFileError, ValueError)
