"""What a commit records: processed rows (warned included), failures matched by key or, without the
key column (the contract's failure file notes: a row whose lookup value was empty comes back without
it), by the fingerprint of its other fields; a Failed job records none of its rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from airflow_provider_marketo.sync.engine import connect
from airflow_provider_marketo.sync.outcome import (
    FailuresFile,
    JobOutcome,
    SentFile,
    record_outcomes,
    write_snapshot,
)
from airflow_provider_marketo.sync.spec import KeySpec

EMAIL = KeySpec(("email",), (True,))
SENT = "email,firstName\na@x.com,A\nb@x.com,B\nc@x.com,C\nd@x.com,D\n"


@pytest.fixture
def con(tmp_path: Path) -> Any:
    with connect(str(tmp_path / "spill")) as connection:
        yield connection


def _run(
    con: Any, tmp_path: Path, jobs: list[JobOutcome], failures: str | None, base: str | None = None
) -> dict[str, tuple[Any, ...]]:
    (tmp_path / "send.csv").write_text(SENT)
    ff = None
    if failures is not None:
        (tmp_path / "failures.csv").write_text(failures)
        ff = FailuresFile(str(tmp_path / "failures.csv"), tuple(failures.splitlines()[0].split(",")), "csv")
    record_outcomes(con, SentFile(str(tmp_path / "send.csv"), ("email", "firstName"), "csv"), jobs, ff, EMAIL)
    dest = str(tmp_path / "snap.parquet")
    write_snapshot(con, key=EMAIL, base=base, run_id="r1", dest=dest)
    rows = duckdb.execute(f"SELECT email, fingerprint IS NOT NULL, failed FROM '{dest}'").fetchall()
    return {row[0]: row[1:] for row in rows}


def test_processed_and_failed_by_key(con: Any, tmp_path: Path) -> None:
    failures = "batch_id,Email,firstName,Import Failure Reason\n1, B@X.com,B,Invalid data\n"
    snap = _run(con, tmp_path, [JobOutcome(1, 2, True), JobOutcome(2, 2, True)], failures)
    assert snap == {
        "a@x.com": (True, False),
        "b@x.com": (False, True),
        "c@x.com": (True, False),
        "d@x.com": (True, False),
    }


def test_failed_row_without_key_column_matched_by_fingerprint(con: Any, tmp_path: Path) -> None:
    failures = "batch_id,firstName,Import Failure Reason\n2,C,Value for lookup field 'email' not found\n"
    snap = _run(con, tmp_path, [JobOutcome(1, 2, True), JobOutcome(2, 2, True)], failures)
    assert snap["c@x.com"] == (False, True) and snap["d@x.com"] == (True, False)


def test_unmatched_failure_leaves_its_job_unrecorded(con: Any, tmp_path: Path) -> None:
    failures = "batch_id,email,firstName,Import Failure Reason\n2,zz@x.com,Z,?\n"
    snap = _run(con, tmp_path, [JobOutcome(1, 2, True), JobOutcome(2, 2, True)], failures)
    assert sorted(snap) == ["a@x.com", "b@x.com"]


def test_failed_job_records_none_of_its_rows_and_base_rows_stay(con: Any, tmp_path: Path) -> None:
    first = _run(con, tmp_path, [JobOutcome(1, 4, True)], None)
    assert len(first) == 4
    base = str(tmp_path / "base.parquet")
    (tmp_path / "snap.parquet").rename(base)
    duckdb.sql(
        f"COPY (SELECT * REPLACE ('zold' AS run_id) FROM '{base}' UNION ALL SELECT 'old@x.com', 'f', false, 'zold') TO '{tmp_path / 'b2.parquet'}'"
    )
    snap = _run(
        con,
        tmp_path,
        [JobOutcome(1, 2, True), JobOutcome(2, 2, False)],
        None,
        base=str(tmp_path / "b2.parquet"),
    )
    assert sorted(snap) == ["a@x.com", "b@x.com", "c@x.com", "d@x.com", "old@x.com"]
    runs = dict(duckdb.execute(f"SELECT email, run_id FROM '{tmp_path / 'snap.parquet'}'").fetchall())
    assert runs == {
        "a@x.com": "r1",
        "b@x.com": "r1",
        "c@x.com": "zold",
        "d@x.com": "zold",
        "old@x.com": "zold",
    }
