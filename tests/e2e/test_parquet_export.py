"""Done-when of issue 26 under ``dag.test()``: a folder of 8 Parquet files (several row groups each;
int64, decimal(18,4), timestamps with and without a timezone, date, bool, NULLs, strings with quotes,
delimiters and CR/LF) imported by ``marketo_asset_triggered_import`` (a manual run given the folder),
every value read back from the simulator's stored leads as the documented rules say, and the
``marketo://.../leads`` asset event in the metadata database. A binary column is refused before any
call to Marketo."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_marketo.testing.config import SimulatorConfig
from tests._support.parquet import write_parquet
from tests._support.processes import run_dag

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

DAG_ID = "marketo_asset_triggered_import"
#: The issue's export: 8 files in row groups of 50,000 rows (about 50 s here, on Airflow 3.3 only).
#: Files of several row groups are in tests/utils/test_parquet.py; size is the benchmark's
#: (benchmarks/bench_parquet.py).
FILES, ROWS_PER_FILE, ROW_GROUP = 8, 50_000, 50_000
#: String fields store the text they receive as it is: what the rules wrote is what is read back.
TEXT_FIELDS = {
    "bigNumber": "string",
    "amount": "string",
    "seenAt": "string",
    "localTime": "string",
    "note": "string",
}
LEAD_FIELDS = {**SimulatorConfig().lead_fields, **TEXT_FIELDS}

SELECT = """
SELECT 'pq' || i || '@example.com' AS email,
       'Zoë "' || i || '", a;b' || chr(9) || 'c' || chr(13) || chr(10) || 'line 2' AS firstName,
       (9223372036854775807 - i)::BIGINT AS bigNumber,
       ((i - 50000) * 1.2345)::DECIMAL(18, 4) AS amount,
       TIMESTAMPTZ '2024-03-10 01:30:00+05:30' + to_seconds(i) AS seenAt,
       TIMESTAMP '2024-03-10 02:30:00' + to_seconds(i) AS localTime,
       DATE '1990-01-01' + (i % 10000)::INTEGER AS dateOfBirth,
       i % 2 = 0 AS unsubscribed,
       (i % 100)::BIGINT AS leadScore,
       CASE WHEN i % 5 = 0 THEN NULL ELSE 'n' || i END AS note
FROM range({start}, {stop}) t(i)
"""


def _expected(i: int) -> dict[str, Any]:
    """The lead row ``i`` becomes, by the rules (computed here, not by the code under test)."""
    lead: dict[str, Any] = {
        "email": f"pq{i}@example.com",
        "firstName": f'Zoë "{i}", a;b\tc\r\nline 2',
        "bigNumber": str(9223372036854775807 - i),
        "amount": format((i - 50000) * Decimal("1.2345"), "f"),  # exact, 4 decimals kept
        "seenAt": (datetime(2024, 3, 9, 20, 0, tzinfo=UTC) + timedelta(seconds=i)).isoformat(),
        "localTime": (datetime(2024, 3, 10, 2, 30) + timedelta(seconds=i)).isoformat(),  # no offset
        "dateOfBirth": (date(1990, 1, 1) + timedelta(days=i % 10000)).isoformat(),
        "unsubscribed": i % 2 == 0,
        "leadScore": i % 100,
    }
    if i % 5:
        lead["note"] = f"n{i}"  # NULL: an empty field, nothing stored
    return lead


@pytest.mark.marketo_simulator(lead_fields=LEAD_FIELDS)
def test_parquet_folder_imports_every_value_by_the_rules(
    dag_env: dict[str, str], marketo_simulator: Any, tmp_path: Path, airflow_home: Path
) -> None:
    export = tmp_path / "export"
    export.mkdir()
    for n in range(FILES):
        start = n * ROWS_PER_FILE
        query = SELECT.format(start=start, stop=start + ROWS_PER_FILE)
        write_parquet(export / f"part-{n:05d}.parquet", query, row_group_size=ROW_GROUP)
    (export / "_SUCCESS").write_bytes(b"")

    result = run_dag(dag_env, DAG_ID, tmp_path, conf={"source": str(export)})
    log = result["log"]
    assert result["state"] == "success", log[-5000:]
    assert "Importing 8 Parquet file(s)" in log and "_SUCCESS" in log

    total = FILES * ROWS_PER_FILE
    leads = {lead["email"]: lead for lead in marketo_simulator.leads}
    assert len(leads) == total
    wrong = []
    for i in range(total):
        lead = dict(leads[f"pq{i}@example.com"])
        lead.pop("id"), lead.pop("partitionName")
        if lead != _expected(i):
            wrong.append((i, lead, _expected(i)))
    assert not wrong, wrong[:3]

    summary = result["xcoms"]["import_leads"]["return_value"]["result"]
    assert summary["rows_processed"] == summary["rows_sent"] == total
    with sqlite3.connect(airflow_home / "airflow.db") as db:
        events = db.execute(
            "SELECT a.uri, e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id "
            "WHERE e.source_dag_id = ? AND e.source_run_id = ?",
            (DAG_ID, result["run_id"]),
        ).fetchall()
    assert [uri for uri, _ in events] == [f"marketo://{marketo_simulator.base_url.split('://', 1)[1]}/leads"]
    extra = json.loads(events[0][1])
    assert extra["rows_processed"] == total
    assert extra["batch_ids"] == sorted(int(b["batch_id"]) for b in summary["batches"])


def test_binary_column_is_refused_before_any_call_to_marketo(
    dag_env: dict[str, str], marketo_simulator: Any, tmp_path: Path
) -> None:
    export = tmp_path / "export"
    export.mkdir()
    write_parquet(export / "part-0.parquet", "SELECT 'a@example.com' AS email, 'x'::BLOB AS photo")
    result = run_dag(dag_env, DAG_ID, tmp_path, conf={"source": str(export)})
    assert result["state"] == "failed"
    assert "Column 'photo' of " in result["log"] and "is BLOB (binary)" in result["log"]
    assert sum(marketo_simulator.api_calls().values()) == 0
