"""Task instances that share a ``results_path`` never overwrite each other's files (issue 22): the
merged files and the report carry the task id and, for a mapped task, the map index; staged copies
and manifests are per task instance already."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_marketo.operators._manifest import ManifestScope
from airflow_provider_marketo.operators._staging import staged_path
from airflow_provider_marketo.operators.bulk_import import BulkLeadImportOperator
from airflow_provider_marketo.results import ResultNames
from tests._support.files import write_rows
from tests._support.tasks import FakeTaskInstance, make_context

HEADER = ["email", "firstName", "leadScore"]


def _rows(prefix: str, count: int) -> list[list[str]]:
    """Every 5th row has a lead score Marketo cannot store: it fails."""
    return [HEADER] + [
        [f"{prefix}{i}@example.com", f"{prefix} {i}", "high" if i % 5 == 0 else str(i)]
        for i in range(1, count + 1)
    ]


def _read(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))


@pytest.mark.marketo_simulator(rows_per_second=0)
def test_a_mapped_import_sharing_results_path_keeps_every_failed_row_once(
    marketo_simulator: Any, marketo_conn_id: str, tmp_path: Path
) -> None:
    """The done-when of issue 22: three mapped instances (and a plain task) write to one folder."""
    results = tmp_path / "results"
    sources = [write_rows(tmp_path / f"export_{n}.csv", _rows(f"m{n}x", 40 + 10 * n)) for n in range(3)]
    summaries = []
    for map_index, source in enumerate(sources):
        op = BulkLeadImportOperator(
            task_id="import_files",
            source=source,
            marketo_conn_id=marketo_conn_id,
            poll_interval=0.05,
            part_size=1024,  # several jobs per file
            wait_for_completion=True,
            deferrable=False,
            results_path=results.as_uri() + "/",
        )
        ti = FakeTaskInstance(task_id="import_files", map_index=map_index)
        summaries.append(op.execute(make_context(ti))["result"])
    plain = BulkLeadImportOperator(
        task_id="import_more",
        source=write_rows(tmp_path / "more.csv", _rows("more", 20)),
        marketo_conn_id=marketo_conn_id,
        poll_interval=0.05,
        wait_for_completion=True,
        deferrable=False,
        results_path=results.as_uri(),
    )
    summaries.append(plain.execute(make_context(FakeTaskInstance(task_id="import_more")))["result"])

    prefixes = [f"import_files.map_index={n}" for n in range(3)] + ["import_more"]
    names = {p.name for p in results.iterdir()}
    for prefix, summary in zip(prefixes, summaries, strict=True):
        assert summary["failures_path"] == f"{results.as_uri()}/{prefix}.failures.csv"
        assert summary["report_path"] == f"{results.as_uri()}/{prefix}.report.json"
        assert json.loads((results / f"{prefix}.report.json").read_text()) == summary
        assert {f"{prefix}.failures.csv", f"{prefix}.report.json"} <= names
    assert [s["map_index"] for s in summaries] == [0, 1, 2, -1]
    batch_ids = [b["batch_id"] for s in summaries for b in s["batches"]]
    assert len(batch_ids) > 4 and len(set(batch_ids)) == len(batch_ids)
    # Marketo's per-batch files keep their names; the merged files and reports are one per instance.
    assert names == {f"{b}_failures.csv" for b in batch_ids} | {
        f"{prefix}.{kind}" for prefix in prefixes for kind in ("failures.csv", "report.json")
    }

    merged = []
    for prefix, summary in zip(prefixes[:3], summaries[:3], strict=True):
        header, *rows = _read(results / f"{prefix}.failures.csv")
        assert header == ["batch_id", *HEADER, "Import Failure Reason"]
        assert len(rows) == summary["rows_failed"] == sum(b["rows_failed"] for b in summary["batches"])
        assert {int(row[0]) for row in rows} <= {b["batch_id"] for b in summary["batches"]}
        merged += [tuple(row) for row in rows]
    expected = [
        (str(b["batch_id"]), *row)
        for summary in summaries[:3]
        for b in summary["batches"]
        for row in marketo_simulator.result_rows(b["batch_id"], "failures")
    ]
    assert sum(s["rows_failed"] for s in summaries[:3]) == (40 + 50 + 60) // 5
    assert sorted(merged) == sorted(expected)
    assert len(set(merged)) == len(merged)  # every failed row exactly once


def test_result_names_differ_for_every_task_instance() -> None:
    """Task ids hold letters, digits, ``_``, ``-`` and ``.`` only: no two instances share a name,
    whatever the ids (a task named like another's mapped name cannot exist: it would need ``=``)."""
    task_ids = ["import", "import.map_index", "import.0", "import.failures", "import.report", "g.import"]
    instances = [ResultNames(t, m) for t in task_ids for m in (-1, 0, 1, 10)]
    files = [
        name
        for names in instances
        for name in (names.merged("failures", ".csv"), names.merged("warnings", ".csv"), names.report)
    ]
    assert len(set(files)) == len(files)
    assert (
        ResultNames.of(FakeTaskInstance(task_id="load", map_index=2)).report == "load.map_index=2.report.json"
    )
    assert ResultNames.of(FakeTaskInstance(task_id="load")).merged("failures", ".tsv") == "load.failures.tsv"


def test_staged_copies_and_manifests_are_per_task_instance(tmp_path: Path) -> None:
    """Issue 22 asks to check it: the staged copy's path and the manifest's key hold dag, task, map
    index and run, and are the same for every try of one task instance."""
    run = "manual__2026-01-01T00:00:00+00:00"
    instances = [
        ("dag", "import", -1, run),
        ("dag", "import", 0, run),
        ("dag", "import", 1, run),
        ("dag", "other", -1, run),
        ("dag2", "import", -1, run),
        ("dag", "import", -1, "manual__2026-01-02T00:00:00+00:00"),
    ]
    staging = ObjectStoragePath(tmp_path.as_uri())
    staged, keys = set(), set()
    for dag_id, task_id, map_index, run_id in instances:
        paths = {
            str(
                staged_path(
                    make_context(FakeTaskInstance(dag_id, task_id, run_id, map_index, try_number=t)),
                    staging,
                    "export",
                )
            )
            for t in (1, 2)
        }
        assert len(paths) == 1  # the same for every try (and resume)
        staged |= paths
        keys.add(ManifestScope(dag_id, task_id, run_id, map_index).key)
    assert len(staged) == len(keys) == len(instances)
