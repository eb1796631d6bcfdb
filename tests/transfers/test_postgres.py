"""SqlToMarketoOperator on a real Postgres server (a throwaway cluster; skipped without the binaries):
typed values (numeric, timestamptz, date, boolean, uuid, bytea) and a server-side cursor."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_marketo.operators.output import batch_ids_of
from airflow_provider_marketo.transfers.sql_to_marketo import SqlToMarketoOperator, _open_cursor
from airflow_provider_marketo.utils.rows import RowValueError
from tests._support.files import received_rows
from tests._support.sql import HOSTILE, LONG_TEXT, settle, stored_leads
from tests._support.tasks import make_context

ROWS = 2000


@pytest.fixture
def pg_leads(postgres_conn_id: str) -> str:
    """A fresh ``leads`` table of typed, hostile rows in the Postgres server."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    hook = PostgresHook(postgres_conn_id=postgres_conn_id)
    with hook.get_conn() as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS leads")
        cur.execute(
            "CREATE TABLE leads (id int PRIMARY KEY, email text, first_name text, score int, "
            "revenue numeric(20, 6), born date, seen timestamptz, opted_out boolean, ref uuid, blob bytea)"
        )
        cur.executemany(
            "INSERT INTO leads VALUES (%s, %s, %s, %s, %s, %s, %s, %s, md5(%s::text)::uuid, %s)",
            [
                (
                    i,
                    f"pg{i}@example.com",
                    None
                    if i % 11 == 0
                    else f"{LONG_TEXT if i % 500 == 7 else HOSTILE[i % len(HOSTILE)]} {i}",
                    None if i % 4 == 0 else i % 100,
                    f"{i}.125" if i % 3 else "1E+6",
                    date(1990, 1, 1 + i % 28),
                    f"2026-03-0{1 + i % 9} 12:00:00+02",
                    i % 2 == 0,
                    i,
                    b"\x00\x01",
                )
                for i in range(ROWS)
            ],
        )
        conn.commit()
    return postgres_conn_id


def _op(tmp_path: Path, conn_id: str, sql: str, **kwargs: Any) -> SqlToMarketoOperator:
    return SqlToMarketoOperator(
        task_id="load",
        sql=sql,
        sql_conn_id=conn_id,
        marketo_conn_id="marketo_default",
        staging_path=str(tmp_path / "staging"),
        poll_interval=0.05,
        **kwargs,
    )


def test_typed_values_arrive_as_marketo_text(
    tmp_path: Path, pg_leads: str, marketo_simulator: Any, marketo_conn_id: str
) -> None:
    sql = (
        'SELECT email, first_name AS "firstName", score AS "leadScore", revenue AS "annualRevenue", '
        'born AS "dateOfBirth", opted_out AS unsubscribed, seen AS "title", ref AS "sfdcLeadId" '
        "FROM leads ORDER BY id"
    )
    batch_ids = batch_ids_of(
        _op(tmp_path, pg_leads, sql, part_size=120_000, fetch_size=300).execute(make_context())
    )
    assert len(batch_ids) >= 2
    received = received_rows(marketo_simulator, batch_ids)
    assert received[0] == [
        "email",
        "firstName",
        "leadScore",
        "annualRevenue",
        "dateOfBirth",
        "unsubscribed",
        "title",
        "sfdcLeadId",
    ]
    first, second, fourth = received[1], received[2], received[4]
    assert first[2:6] == ["", "1000000.000000", "1990-01-01", "true"]
    assert second[3:6] == ["1.125000", "1990-01-02", "false"]
    assert fourth[1:3] == [f"{HOSTILE[3]} 3", "3"]
    # timestamptz comes back in the session's zone (UTC here) with its offset, ISO 8601.
    assert first[6] == "2026-03-01T10:00:00+00:00"
    assert len(first[7]) == 36  # canonical uuid text
    assert len(received) - 1 == ROWS
    leads = stored_leads(marketo_simulator)
    assert len(leads) == ROWS
    assert leads["pg1@example.com"]["annualRevenue"] == 1.125
    assert leads["pg3@example.com"]["firstName"] == f"{HOSTILE[3]} 3"
    assert "firstName" not in leads["pg0@example.com"]  # NULL
    settle(marketo_simulator)


def test_bytea_column_is_refused_naming_it(tmp_path: Path, pg_leads: str, marketo_conn_id: str) -> None:
    # Aliased to a lead field: the schema check (before staging) passes, the value is refused.
    with pytest.raises(
        RowValueError, match=r"Row 1 of the query on 'postgres_test', column 'title': .*binary"
    ):
        _op(tmp_path, pg_leads, "SELECT email, blob AS title FROM leads ORDER BY id").execute(make_context())


def test_postgres_rows_stream_through_a_server_side_cursor(pg_leads: str) -> None:
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    conn = PostgresHook(postgres_conn_id=pg_leads).get_conn()
    try:
        cursor = _open_cursor(conn)
        assert cursor.name  # a named (server-side) cursor: the server holds the result
        cursor.execute("SELECT id FROM leads ORDER BY id")
        assert [row[0] for row in cursor.fetchmany(3)] == [0, 1, 2]
        cursor.close()
    finally:
        conn.close()


def test_openlineage_inputs_are_the_tables_read(
    tmp_path: Path, pg_leads: str, marketo_simulator: Any, marketo_conn_id: str
) -> None:
    op = _op(tmp_path, pg_leads, "SELECT l.email FROM public.leads l ORDER BY l.id")
    lineage = op.get_openlineage_facets_on_complete(None)
    assert [(d.namespace, d.name) for d in lineage.inputs] == [
        (f"postgres://127.0.0.1:{op._sql_hook().get_connection(pg_leads).port}", "postgres.public.leads")
    ]
    assert [d.name for d in lineage.outputs] == ["leads"]
