"""The SQL transfer's test data: hostile lead rows, their expected Marketo values, a SQLite table."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from airflow_provider_marketo.hooks.marketo import MarketoHook
from airflow_provider_marketo.objects import BulkTarget
from tests._support.sim import our_jobs

#: Values that break naive CSV writing: every delimiter, quotes, CR, LF, CRLF, unicode, long text.
HOSTILE = [
    "plain",
    'say "hi", then leave',
    "comma, inside",
    "tab\tinside",
    "semi;colon",
    '"',
    '""',
    "line\nbreak",
    "carriage\rreturn",
    "crlf\r\ninside",
    "\r\n\r\n",
    "  leading and trailing  ",
    "naïve café",
    "日本語テキスト",
    "emoji 😀 and 𝄞",
    "=cmd|' /C calc'!A0",
]


#: Very long text (with the hostile characters in it), in the title of every 1000th row.
LONG_TEXT = ('long "text", with; tabs\t and\r\nbreaks ' * 500).strip()


LEAD_COLUMNS = ["email", "firstName", "lastName", "company", "title", "leadScore", "annualRevenue"]


def hostile_lead(i: int) -> tuple[Any, ...]:
    """Row ``i`` of the hostile leads table (values in LEAD_COLUMNS order); every 7th company is NULL."""
    pick = HOSTILE[i % len(HOSTILE)]
    other = HOSTILE[(i * 7 + 3) % len(HOSTILE)]
    return (
        f"lead{i}@example.com",
        f"{pick[:50]} {i}",
        other,
        None if i % 7 == 0 else f"{other[:30]}, Inc. {i}",
        LONG_TEXT if i % 1000 == 1 else pick if i % 97 == 0 else f"t{i % 13}",
        None if i % 5 == 0 else i % 100,
        None if i % 3 == 0 else i / 8,
    )


def expected_lead(row: tuple[Any, ...]) -> dict[str, Any]:
    """The lead the simulator should hold for ``row``: NULL and blank values are not stored."""
    return {
        name: value
        for name, value in zip(LEAD_COLUMNS, row, strict=True)
        if value is not None and (not isinstance(value, str) or value.strip())
    }


def create_leads_table(path: Path, count: int, table: str = "leads") -> list[tuple[Any, ...]]:
    """A SQLite table of ``count`` hostile lead rows; returns the rows in id order."""
    rows = [hostile_lead(i) for i in range(count)]
    with sqlite3.connect(path) as db:
        db.execute(
            f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, email TEXT, first_name TEXT, last_name TEXT, "
            "company TEXT, title TEXT, score INTEGER, revenue REAL)"
        )
        db.executemany(
            f"INSERT INTO {table} VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [(i, *r) for i, r in enumerate(rows)]
        )
    return rows


#: The query mapping the table's columns to Marketo field names.
LEADS_SQL = (
    "SELECT email, first_name AS firstName, last_name AS lastName, company, title, score AS leadScore, "
    "revenue AS annualRevenue FROM leads ORDER BY id"
)


MARKETO_CONN = "marketo_default"  # the marketo_conn_id fixture's connection


def settle(sim: Any, target: BulkTarget | None = None) -> None:
    """Let the simulator finish every job: it moves jobs when asked for their status, as a sensor would."""
    hook = MarketoHook(MARKETO_CONN)
    for _ in range(50):
        pending = [job for job in our_jobs(sim) if job["status"] not in ("Complete", "Failed")]
        if not pending:
            return
        hook.get_import_status(target or BulkTarget("leads"), pending[0]["batch_id"])
        sim.advance_clock(60)
    raise AssertionError(f"jobs still running: {sim.jobs}")


def stored_leads(sim: Any) -> dict[str, dict[str, Any]]:
    settle(sim)
    return {lead["email"]: {k: lead[k] for k in LEAD_COLUMNS if k in lead} for lead in sim.leads}
