"""The results module on local files: reason counts, the merged report, its memory, the checks."""

from __future__ import annotations

import csv
import io
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_marketo._compat import AirflowException
from airflow_provider_marketo.objects import FileKind, ImportStatus
from airflow_provider_marketo.results import ResultChecks, check_rows_sent
from airflow_provider_marketo.results.batches import BatchResult
from airflow_provider_marketo.results.files import (
    MAX_REASONS,
    OTHER_REASONS,
    REASON_COLUMNS,
    ResultFile,
    add_reasons,
    scan_result_file,
)
from airflow_provider_marketo.results.merged import align, restore_missing_lookup, write_merged
from airflow_provider_marketo.results.names import ResultNames

NO_EMAIL = "Value for lookup field 'email' not found"


def result_file(tmp_path: Path, batch_id: int, lines: list[str], which: FileKind = "failures") -> ResultFile:
    """A downloaded failures/warnings file made of ``lines`` (header first)."""
    local = tmp_path / f"{batch_id}_{which}"
    local.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with local.open("rb") as data:
        scan = scan_result_file(data, REASON_COLUMNS[which])
    return ResultFile(batch_id, which, local, scan)


def merged_rows(path: str, delimiter: str = ",") -> list[list[str]]:
    text = ObjectStoragePath(path).read_text(encoding="utf-8")
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


def test_reason_counts_are_bounded() -> None:
    counts = add_reasons(Counter(), ((f"reason {n}", 1) for n in range(MAX_REASONS + 50)))
    assert len(counts) == MAX_REASONS + 1
    assert counts[OTHER_REASONS] == 50
    assert sum(counts.values()) == MAX_REASONS + 50
    add_reasons(counts, [("reason 0", 2), ("new", 3)])  # known reasons still count; new ones fold
    assert (counts["reason 0"], counts[OTHER_REASONS]) == (3, 53)


def test_merged_file_matches_columns_by_name(tmp_path: Path) -> None:
    first = result_file(
        tmp_path,
        11,
        ["email,firstName,Import Failure Reason", 'a@x.com,"Ann, A",Bad', "b@x.com,Bob,Other"],
    )
    second = result_file(tmp_path, 12, ["email,leadScore,Import Failure Reason", "c@x.com,abc,Bad score"])
    path = write_merged(
        [first, second], ObjectStoragePath(tmp_path.as_uri()) / "out", "failures", ResultNames("load", 2)
    )
    assert path == f"{tmp_path.as_uri()}/out/load.map_index=2.failures.csv"
    assert merged_rows(path) == [
        ["batch_id", "email", "firstName", "leadScore", "Import Failure Reason"],
        ["11", "a@x.com", "Ann, A", "", "Bad"],
        ["11", "b@x.com", "Bob", "", "Other"],
        ["12", "c@x.com", "", "abc", "Bad score"],
    ]


def test_merged_file_keeps_the_first_batch_delimiter(tmp_path: Path) -> None:
    warned = result_file(
        tmp_path, 5, ["email\tfirstName\tImport Warning Reason", "x\tX\tInvalid email address"], "warnings"
    )
    path = write_merged([warned], ObjectStoragePath(tmp_path.as_uri()), "warnings", ResultNames("load"))
    assert path is not None and path.endswith("/load.warnings.tsv")
    assert merged_rows(path, "\t")[1] == ["5", "x", "X", "Invalid email address"]
    assert write_merged([], ObjectStoragePath(tmp_path.as_uri()), "warnings", ResultNames("load")) is None


def test_row_without_its_empty_lookup_column_is_realigned(tmp_path: Path) -> None:
    """Marketo leaves the empty lookup column out of such a row (reference: failure files, section 4)."""
    failed = result_file(
        tmp_path,
        7,
        ["Email,firstName,leadScore,Import Failure Reason", f"Ann,5,{NO_EMAIL}", "a@x.com,B,x,Bad"],
    )
    path = write_merged([failed], ObjectStoragePath(tmp_path.as_uri()), "failures", ResultNames("load"))
    assert path is not None
    assert merged_rows(path)[1:] == [["7", "", "Ann", "5", NO_EMAIL], ["7", "a@x.com", "B", "x", "Bad"]]


@pytest.mark.parametrize(
    ("values", "columns", "reason", "expected"),
    [
        (["Ann", "5"], ["email", "firstName", "leadScore"], NO_EMAIL, ["", "Ann", "5"]),
        (["Ann", "5"], ["firstName", "leadScore", "EMAIL"], NO_EMAIL, ["Ann", "5", ""]),
        (["Ann"], ["email", "firstName", "leadScore"], NO_EMAIL, ["Ann"]),  # not one short: left as is
        (["Ann", "5"], ["email", "firstName", "leadScore"], "Other", ["Ann", "5"]),
        (["Ann", "5"], ["id", "firstName", "leadScore"], NO_EMAIL, ["Ann", "5"]),  # no such column
    ],
)
def test_restore_missing_lookup(
    values: list[str], columns: list[str], reason: str, expected: list[str]
) -> None:
    assert restore_missing_lookup(values, columns, reason) == expected


@pytest.mark.parametrize(
    ("values", "places", "width", "expected"),
    [
        (["a", "b"], [0, 1], 2, ["a", "b"]),
        (["a"], [0, 1], 2, ["a", ""]),  # short row: padded
        (["a", "b", "c"], [0, 1], 2, ["a", "b", "c"]),  # long row: extra fields kept
        (["a", "b"], [2, 0], 3, ["b", "", "a"]),
    ],
)
def test_align(values: list[str], places: list[int], width: int, expected: list[str]) -> None:
    assert align(values, places, width) == expected


def test_merging_streams_rows(tmp_path: Path) -> None:
    """Memory while merging does not grow with the rows: 60,000 rows (~5 MB) in well under 1 MB."""
    local = tmp_path / "9_failures"
    with local.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["email", "firstName", "title", "Import Failure Reason"])
        for n in range(60_000):
            writer.writerow([f"lead{n}@example.com", f"Name {n}", "x" * 40, f"Reason {n % 7}"])
    size = local.stat().st_size
    tracemalloc.start()
    try:
        with local.open("rb") as data:
            scan = scan_result_file(data, "Import Failure Reason")
        path = write_merged(
            [ResultFile(9, "failures", local, scan)],
            ObjectStoragePath(tmp_path.as_uri()),
            "failures",
            ResultNames("load"),
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sum(scan.reasons.values()) == 60_000
    assert path is not None
    assert (tmp_path / "load.failures.csv").stat().st_size > size
    assert peak < size / 10, (peak, size)


def status(
    batch_id: int, state: str = "Complete", processed: int = 0, failed: int = 0, warned: int = 0
) -> Any:
    return ImportStatus(batch_id, "leads", state, processed, failed, warned, None)


def test_checks_default_to_failing_on_nothing_imported_and_unaccounted_rows() -> None:
    batches = [
        BatchResult(status(1, processed=5, failed=0), rows_sent=5),
        BatchResult(status(2, processed=0, failed=3), rows_sent=3),  # nothing imported
        BatchResult(status(3, processed=2, failed=1), rows_sent=4),  # one row unaccounted
        BatchResult(status(4, state="Failed"), rows_sent=6),  # fails as Failed, not again as unaccounted
    ]
    problems = ResultChecks().problems(batches)
    assert problems[0] == "Batch 4 failed: no message"
    assert problems[1].startswith("Batch 2 imported nothing: all 3 rows failed (top reasons: none)")
    assert problems[2].startswith(
        "Rows do not add up in batch(es) [3] (batch 3: 4 sent, 2 processed + 1 failed)"
    )
    assert len(problems) == 3
    relaxed = ResultChecks(fail_on_nothing_imported=False, fail_on_unaccounted_rows=False)
    assert relaxed.problems(batches) == ["Batch 4 failed: no message"]


def test_a_failed_job_with_nothing_processed_is_not_also_nothing_imported() -> None:
    assert ResultChecks().problems([BatchResult(status(1, state="Failed", failed=2))]) == [
        "Batch 1 failed: no message"
    ]


@pytest.mark.parametrize(
    "kwargs", [{"max_failed_rows": -1}, {"max_failed_ratio": 1.01}, {"max_failed_ratio": -0.1}]
)
def test_bad_thresholds(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ResultChecks(**kwargs)


def test_rows_sent_is_checked_by_batch_id() -> None:
    check_rows_sent([1, 2], {2: 1, 1: 3})
    with pytest.raises(AirflowException, match=r"no entry for batch\(es\) \[2\]"):
        check_rows_sent([1, 2], {1: 3})
    with pytest.raises(AirflowException, match=r"entries for batch\(es\) \[3\]"):
        check_rows_sent([1, 2], {1: 3, 2: 1, 3: 4})
