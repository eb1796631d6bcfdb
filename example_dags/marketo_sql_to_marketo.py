"""A SQL table -> Marketo leads in one import task, no export code.

1. ``build_warehouse`` fills a ``contacts`` table in the SQLite database of the connection
   ``marketo_example_warehouse`` with hostile values (quotes, delimiters, CR/LF, unicode, NULLs,
   long text) and a score that is not a number in every 1000th row (Marketo fails those rows).
2. ``load_contacts`` (``SqlToMarketoOperator``) runs the query, streams its rows into a staged file,
   splits it under the 10 MB limit and submits the jobs; with ``wait_for_completion=True`` it then
   waits for them in the triggerer (deferrable) and stores the failed rows, the merged
   ``load_contacts.failures.csv`` and ``load_contacts.report.json`` under ``results_path``. Its return
   value is the summary.
   The aliases are the Marketo field names; ``ORDER BY id`` keeps a retry from importing a part twice.

Settings (Airflow Variables, read at run time): ``marketo_example_conn_id`` (default
``marketo_default``), ``marketo_example_sql_conn_id`` (default ``marketo_example_warehouse``, e.g.
``AIRFLOW_CONN_MARKETO_EXAMPLE_WAREHOUSE='{"conn_type": "sqlite", "host": "/tmp/warehouse.db"}'``) and
``marketo_example_storage`` (where staged files and results go; default ``file:///tmp/marketo-examples``).
"""

from __future__ import annotations

import logging
from typing import Any

import pendulum
from airflow.providers.common.sql.hooks.sql import DbApiHook
from airflow.sdk import BaseHook, Param, dag, task

from airflow_provider_marketo.transfers.sql_to_marketo import SqlToMarketoOperator

log = logging.getLogger(__name__)

CONN_ID = "{{ var.value.get('marketo_example_conn_id', 'marketo_default') }}"
SQL_CONN_ID = "{{ var.value.get('marketo_example_sql_conn_id', 'marketo_example_warehouse') }}"
STORAGE = "{{ var.value.get('marketo_example_storage', 'file:///tmp/marketo-examples') | trim('/') }}"
RUN_FOLDER = STORAGE + "/{{ dag.dag_id }}/{{ run_id | replace(':', '_') | replace('+', '_') }}"

# --8<-- [start:query]
QUERY = """
SELECT email, first_name AS firstName, last_name AS lastName, company, title,
       score AS leadScore, revenue AS annualRevenue
FROM contacts
ORDER BY id
"""
# --8<-- [end:query]

#: Values that break naive CSV writing.
HOSTILE = [
    'VP "Growth", EMEA',
    "Ops; Data\tQuality",
    "line one\nline two",
    "carriage\rreturn and crlf\r\ninside",
    "Zoë Ångström — naïve café",
    "日本語の会社 😀",
    "  spaces around  ",
    '"',
    "=SUM(A1:A2)",
]
LONG_TEXT = ('Long notes: "quoted", with, commas; semicolons\tand\r\nline breaks. ' * 80).strip()


def contact(i: int) -> tuple[Any, ...]:
    """Row ``i`` of the contacts table: id, email, first_name, last_name, company, title, score, revenue."""
    pick, other = HOSTILE[i % len(HOSTILE)], HOSTILE[(i * 5 + 2) % len(HOSTILE)]
    return (
        i,
        f"contact{i}@example.com",
        f"{pick} {i}",
        f"{other} O'Brien",
        None if i % 7 == 0 else f"{other}, Inc. #{i % 211}",
        LONG_TEXT if i % 250 == 3 else f"{pick} / {other}",
        "high" if i % 1000 == 999 else (None if i % 5 == 0 else i % 100),
        None if i % 3 == 0 else i / 8,
    )


@dag(
    dag_id="marketo_sql_to_marketo",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["marketo", "example"],
    params={"rows": Param(60_000, type="integer", minimum=1, description="Rows in the contacts table.")},
    doc_md=__doc__,
)
def marketo_sql_to_marketo() -> None:
    @task
    def build_warehouse(params: dict[str, Any], **context: Any) -> int:
        conn_id = context["task"].render_template(SQL_CONN_ID, context)
        hook = BaseHook.get_connection(conn_id).get_hook()
        assert isinstance(hook, DbApiHook)
        rows = int(params["rows"])
        hook.run(
            [
                "DROP TABLE IF EXISTS contacts",
                "CREATE TABLE contacts (id INTEGER PRIMARY KEY, email TEXT, first_name TEXT, "
                "last_name TEXT, company TEXT, title TEXT, score INTEGER, revenue REAL)",
            ]
        )
        for start in range(0, rows, 10_000):
            batch = [contact(i) for i in range(start, min(start + 10_000, rows))]
            hook.insert_rows("contacts", batch, executemany=True, commit_every=10_000)
        log.info("%d contacts in %s", rows, conn_id)
        return rows

    # --8<-- [start:sql_to_marketo]
    load_contacts = SqlToMarketoOperator(
        task_id="load_contacts",
        sql=QUERY,
        sql_conn_id=SQL_CONN_ID,
        lookup_field="email",
        marketo_conn_id=CONN_ID,
        staging_path=STORAGE + "/staging",
        max_active_jobs=2,
        deferrable=True,
        wait_for_completion=True,
        results_path=RUN_FOLDER + "/results/",
        execution_timeout=pendulum.duration(hours=2),
    )
    # --8<-- [end:sql_to_marketo]
    build_warehouse() >> load_contacts


marketo_sql_to_marketo()
