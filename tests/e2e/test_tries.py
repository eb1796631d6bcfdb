"""Issue 22 under ``dag.test()`` (DAGs in ``tries_dags/marketo_tries.py``), not marked e2e: each test
is one ``dag.test()`` of a few seconds.

- Tries: with ``retries=3``, an error no retry can change (input, schema, configuration, the daily
  quota) fails after one try; a transient error keeps its retries. Airflow's own retry loop decides,
  so the count is what a scheduler would do.
- Results: a mapped import sharing ``results_path`` keeps one set of merged files per instance.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from tests._support.files import write_rows
from tests._support.processes import ROOT, run_dag

pytestmark = pytest.mark.timeout(300)


def _files(folder: Path) -> None:
    leads = [["email", "firstName"]] + [[f"t{i}@example.com", f"T {i}"] for i in range(5)]
    write_rows(folder / "bad_header.csv", [["email", "", "leadScore"], ["a@example.com", "A", "1"]])
    write_rows(folder / "unknown_field.csv", [["email", "favouriteColour"], ["a@example.com", "blue"]])
    write_rows(folder / "leads.csv", leads)
    write_rows(folder / "members.csv", leads)
    write_rows(
        folder / "cars.csv", [["vin", "make", "model"], ["VIN1", "Ford", "T"], ["VIN2", "Fiat", "500"]]
    )


def test_errors_no_retry_can_change_fail_after_one_try(
    dag_env: dict[str, str], marketo_simulator: Any, tmp_path: Path
) -> None:
    files = tmp_path / "files"
    files.mkdir()
    _files(files)
    dag_env["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "tests" / "e2e" / "tries_dags")
    dag_env["MARKETO_TRIES_DIR"] = str(files)
    # Two attempts per call: the two 503s below fail the transient task's first try, not its second.
    dag_env["AIRFLOW_CONN_MARKETO_DEFAULT"] = marketo_simulator.connection_json(extra={"max_attempts": 2})
    marketo_simulator.inject("error_code", code="607", path="customobjects/car_c/import")
    marketo_simulator.inject("http_error", status=503, count=2, path="program/1001/members/import")

    result = run_dag(dag_env, "marketo_tries", tmp_path)

    assert result["tasks"] == {
        "bad_header": "failed",
        "schema_mismatch": "failed",
        "unknown_list": "failed",
        "daily_quota": "failed",
        "transient": "success",
    }, result["log"][-3000:]
    assert result["tries"] == {
        "bad_header": 1,
        "schema_mismatch": 1,
        "unknown_list": 1,
        "daily_quota": 1,
        "transient": 2,
    }
    log = result["log"]
    assert "column 2 has no name" in log or "no name" in log
    assert "favouriteColour" in log and "Static list 424242 not found" in log
    assert "00:00 US Central" in log and "clear the task after the reset" in log
    assert marketo_simulator.pending_faults == []


def test_a_mapped_import_keeps_its_results_per_task_instance(
    dag_env: dict[str, str], marketo_simulator: Any, tmp_path: Path
) -> None:
    """Issue 22's done-when under dag.test(): ``.partial().expand()`` over three files with failed rows,
    one ``results_path``: three merged failure files holding every failed row once, three reports."""
    files = tmp_path / "files"
    files.mkdir()
    for n in range(3):  # every 4th row has a lead score Marketo cannot store
        rows = [[f"x{n}.{i}@example.com", "high" if i % 4 == 0 else str(i)] for i in range(1, 41 + 10 * n)]
        write_rows(files / f"export_{n}.csv", [["email", "leadScore"], *rows])
    write_rows(files / "more.csv", [["email", "leadScore"], ["m@example.com", "bad"], ["n@example.com", "1"]])
    dag_env["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "tests" / "e2e" / "tries_dags")
    dag_env["MARKETO_TRIES_DIR"] = str(files)

    result = run_dag(dag_env, "marketo_mapped_results", tmp_path)

    assert result["state"] == "success", result["log"][-3000:]
    results = files / "results"
    merged: list[tuple[str, ...]] = []
    for n in range(3):
        header, *rows = _csv(results / f"import_files.map_index={n}.failures.csv")
        assert header == ["batch_id", "email", "leadScore", "Import Failure Reason"]
        assert len(rows) == (40 + 10 * n) // 4
        assert all(row[1].startswith(f"x{n}.") for row in rows)
        report = json.loads((results / f"import_files.map_index={n}.report.json").read_text())
        assert (report["task_id"], report["map_index"], report["rows_failed"]) == (
            "import_files",
            n,
            len(rows),
        )
        assert report["failures_path"].endswith(f"/import_files.map_index={n}.failures.csv")
        merged += [tuple(row) for row in rows]
    expected = [
        (str(job["batch_id"]), *row)
        for job in marketo_simulator.jobs
        for row in marketo_simulator.result_rows(job["batch_id"], "failures")
        if not row[0].startswith("m@")
    ]
    assert len(set(merged)) == len(merged) == len(expected) == 10 + 12 + 15
    assert sorted(merged) == sorted(expected)
    assert (results / "import_more.report.json").is_file() and (
        results / "import_more.failures.csv"
    ).is_file()
    reports = sorted(p.name for p in results.glob("*.report.json"))
    assert reports == [f"import_files.map_index={n}.report.json" for n in range(3)] + [
        "import_more.report.json"
    ]


def _csv(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))
