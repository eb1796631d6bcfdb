"""Run a SQL query on any Airflow SQL connection and import its rows into Marketo in one task.

:class:`SqlToMarketoOperator` streams the query's rows (``fetchmany`` batches) into a staged delimited
file, then imports that file with the machinery of the bulk import operators (validation, parts under
10 MB, queue-aware submission, retry manifest, XComs). The staged file has a fixed name per
dag/task/run/map index, so that a resume after a deferral imports the same file without running the
query again; it is deleted when the task ends (succeeds, fails or is skipped; not when it defers).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import closing
from typing import TYPE_CHECKING, Any, BinaryIO, cast

import sqlparse
from airflow.providers.common.sql.hooks.sql import DbApiHook
from airflow.sdk import BaseHook, ObjectStoragePath
from sqlparse import tokens

from airflow_provider_marketo._compat import AirflowException, AirflowSkipException
from airflow_provider_marketo.exceptions import MarketoConfigError
from airflow_provider_marketo.hooks.marketo import MarketoHook
from airflow_provider_marketo.objects import ObjectKind
from airflow_provider_marketo.operators._base import BaseImportOperator
from airflow_provider_marketo.operators._kinds import KIND_ARGUMENTS, ImportKind, check_kind_arguments
from airflow_provider_marketo.operators._mirror import mirror_options
from airflow_provider_marketo.operators._staging import executor_across_machines, staged_path
from airflow_provider_marketo.utils.formats import check_format, validate_header
from airflow_provider_marketo.utils.parts import PlanningWriter
from airflow_provider_marketo.utils.rows import RowWriter, check_writable_header

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import Context

#: Rows fetched from the cursor at a time (memory holds one batch).
DEFAULT_FETCH_SIZE = 2000
_ON_EMPTY = ("skip", "fail")


def has_top_level_order_by(sql: str) -> bool:
    """Whether the (single) statement ends its result with ORDER BY (not one inside a subquery/window)."""
    (statement,) = _statements(sql)
    # A WHERE group can swallow what follows it (sqlparse closes it only on an exact "ORDER BY").
    clauses = (
        inner
        for token in statement.tokens
        for inner in (token.tokens if isinstance(token, sqlparse.sql.Where) else [token])
    )
    return any(
        token.ttype is tokens.Keyword and " ".join(token.normalized.split()) == "ORDER BY"
        for token in clauses
    )


def _statements(sql: str) -> list[sqlparse.sql.Statement]:
    return [
        s
        for s in sqlparse.parse(sql)
        if s.token_first(skip_cm=True, skip_ws=True) is not None  # type: ignore[no-untyped-call]
    ]


def _open_cursor(connection: Any) -> Any:
    """A cursor that streams: psycopg (2 and 3) buffer a whole result unless the cursor is named."""
    if type(connection).__module__.split(".")[0] in ("psycopg2", "psycopg"):
        return connection.cursor(name=f"marketo_export_{uuid.uuid4().hex}")
    return connection.cursor()


class SqlToMarketoOperator(BaseImportOperator):
    """
    Import the rows of a SQL query into Marketo: leads (default), custom objects or program members.

    The header is the query's column names: alias columns to Marketo's REST API field names
    (``SELECT mail AS email, given_name AS firstName ...``). Values are written as documented in
    :mod:`airflow_provider_marketo.utils.rows` (NULL empty, dates ISO 8601, booleans ``true``/``false``,
    numbers exact); a value with no text form (bytes, ...) fails the task naming its column, before
    anything is sent to Marketo.

    **Order.** The SQL must return its rows in a stable order (``ORDER BY`` a unique key): a retry runs
    the query again and skips the parts an earlier try imported only when they come out identical.
    The task logs a warning when the statement has no top-level ``ORDER BY``.

    :param sql: one SELECT statement (templated; a ``.sql`` file is read as a template).
    :param sql_conn_id: any Airflow connection whose hook is a ``DbApiHook`` (SQLite, Postgres, MySQL,
        Snowflake, BigQuery, ...). Rows are read ``fetch_size`` at a time; Postgres uses a server-side
        cursor. A driver that buffers whole results client-side (e.g. MySQL's default cursor) holds
        them in memory whatever ``fetch_size`` is.
    :param parameters: query parameters passed to ``cursor.execute`` (templated).
    :param object_type: ``leads``, ``custom_objects`` (with ``api_name``) or ``program_members``
        (with ``program_id`` and ``program_member_status``).
    :param lookup_field: leads only: the dedupe field (default ``email``), as for
        :class:`BulkLeadImportOperator`.
    :param list_id: leads only: also add the leads to this static list.
    :param partition_name: leads only: the lead partition to write into.
    :param api_name: custom objects only (required): the custom object's API name.
    :param program_id: program members only (required): the program's id.
    :param program_member_status: program members only (required): the status the members get.
    :param list_membership: leads only, with ``list_id``: ``"add"`` (default) or ``"mirror"``: the
        static list then holds exactly the query's leads once the jobs have finished (needs
        ``wait_for_completion=True``), as for :class:`BulkLeadImportOperator`.
    :param max_list_removals: with ``list_membership="mirror"``: the removal guard (a count, or a
        fraction of the current members up to 1; ``None`` turns it off), as for
        :class:`BulkLeadImportOperator`.
    :param format: the staged file's format, ``csv`` (default), ``tsv`` or ``ssv``.
    :param fetch_size: rows fetched from the cursor at a time.
    :param on_empty: when the query returns no row: ``skip`` (default) marks the task skipped,
        ``fail`` fails it; Marketo is not called either way.
    :param staging_path: the folder (local path or object storage URL, templated) for the staged file
        ``<dag_id>.<task_id>.<map_index>.<run_id>.<hash>.<format>``; default: a folder in the local
        temp directory. A resume on another worker runs the query again and continues only if the
        parts Marketo already accepted come out identical (SHA-256). With ``deferrable=True``, an
        executor that runs tasks on several machines (Celery, Kubernetes, ...) and a query without
        ``ORDER BY``, the task refuses to start until this is set (to storage every worker reads).
        See ``docs/state.md``.

    The other parameters (``marketo_conn_id``, ``max_active_jobs``, ``deferrable``, ``poll_interval``,
    ``max_queue_wait``, ``part_size``, ``manifest_path``, ``wait_for_completion``, ...) are those of
    :class:`~airflow_provider_marketo.operators._base.BaseImportOperator`, shared with the bulk import
    operators; the target is named as there (``object_type`` and that kind's arguments).
    """

    template_fields: Sequence[str] = (
        "format",
        *BaseImportOperator.template_fields,
        "sql",
        "sql_conn_id",
        "parameters",
        *KIND_ARGUMENTS,
    )
    template_ext: Sequence[str] = (".sql",)
    template_fields_renderers = {"sql": "sql", "parameters": "json"}
    ui_color = "#3f6fb5"

    def __init__(
        self,
        *,
        sql: str,
        sql_conn_id: str,
        parameters: Mapping[str, Any] | Sequence[Any] | None = None,
        object_type: ObjectKind = "leads",
        lookup_field: str | None = None,
        list_id: int | str | None = None,
        partition_name: str | None = None,
        api_name: str | None = None,
        program_id: int | str | None = None,
        program_member_status: str | None = None,
        format: str = "csv",
        fetch_size: int = DEFAULT_FETCH_SIZE,
        on_empty: str = "skip",
        staging_path: str | ObjectStoragePath | None = None,
        list_membership: str = "add",
        max_list_removals: int | float | None = 0.5,
        **kwargs: Any,
    ) -> None:
        super().__init__(staging_path=staging_path, **kwargs)
        check_kind_arguments(
            object_type,
            {
                "lookup_field": lookup_field,
                "list_id": list_id,
                "partition_name": partition_name,
                "api_name": api_name,
                "program_id": program_id,
                "program_member_status": program_member_status,
            },
        )
        # list mirror (issue 25): list_id applies to object_type="leads" only (checked above)
        self.mirror = mirror_options(
            list_membership,
            max_list_removals,
            list_id=list_id,
            wait_for_completion=self.wait_for_completion,
        )
        if on_empty not in _ON_EMPTY:
            raise ValueError(f"on_empty must be 'skip' or 'fail', got {on_empty!r}.")
        if fetch_size < 1:
            raise ValueError(f"fetch_size must be at least 1, got {fetch_size}.")
        self.format = format
        self.sql = sql
        self.sql_conn_id = sql_conn_id
        self.parameters = parameters
        self.object_type = object_type
        self.lookup_field = lookup_field
        self.list_id = list_id
        self.partition_name = partition_name
        self.api_name = api_name
        self.program_id = program_id
        self.program_member_status = program_member_status
        self.fetch_size = fetch_size
        self.on_empty = on_empty

    def import_kind(self) -> ImportKind:
        return ImportKind.of(self.object_type, self)

    # Running.

    def resolve_source(self, context: Context) -> ObjectStoragePath:
        """The staged result: written by running the query, or reused when resuming after a deferral."""
        staged = self.staged_file(context)
        if self._resuming:
            if staged.exists():
                self.log.info(
                    "Resuming with the staged query result %s (the query is not run again).", staged
                )
                return staged
            if self._completing:
                self.log.info(
                    "Every part is submitted: finishing without the staged query result %s "
                    "(the query is not run again).",
                    staged,
                )
                return staged
            self.log.warning(
                "The staged query result %s is not on this worker (the task deferred on another one); "
                "running the query again. The parts Marketo already accepted are compared with their "
                "SHA-256: the query must return them unchanged, in the same order.",
                staged,
            )
        else:
            self._check_staging()
        self._staged = staged
        rows = self._stage(staged)
        if rows == 0:
            staged.unlink(missing_ok=True)
            message = f"The query on {self.sql_conn_id!r} returned no rows; nothing to import."
            if self.on_empty == "fail":
                raise AirflowException(message + " (on_empty='fail')")
            raise AirflowSkipException(message + " Skipping the task (on_empty='skip').")
        return staged

    def _check_staging(self) -> None:
        """Refuse, before the query runs and before any upload, a deferrable task that could resume on
        another machine without the staged result and could not match its rows there again."""
        executor = executor_across_machines()
        if self.staging_path or not self.deferrable or executor is None:
            return
        if has_top_level_order_by(self._checked_sql(warn=False)):
            return
        raise MarketoConfigError(
            f"Set staging_path for {self.task_id!r}: with deferrable=True on the {executor}, a deferral "
            "can resume on another machine, which does not have this worker's staged query result "
            "(in its local temp directory) and must run the query again. This query has no ORDER BY, "
            "so its rows can come back in another order, the parts Marketo already accepted cannot be "
            "matched, and the import would stop half done. Set staging_path to storage every worker "
            "reads (e.g. 's3://bucket/marketo-staging/'), or end the query with ORDER BY a unique key."
        )

    def _header_check(
        self, hook: MarketoHook, source: ObjectStoragePath
    ) -> Callable[[list[str]], None] | None:
        """None: the schema check runs on the query's columns in :meth:`_stage`, before any row is
        written, not on the staged file."""
        return None

    def staged_file(self, context: Context) -> ObjectStoragePath:
        """Where this task instance stages the query result (the same for every try and resume)."""
        return staged_path(context, self.staging_path, check_format(self.format))

    def file_format(self, source: ObjectStoragePath) -> str:
        return check_format(self.format)

    def _stage(self, staged: ObjectStoragePath) -> int:
        """Run the query and write its rows to ``staged``; return the number of data rows."""
        sql = self._checked_sql()
        hook = self._sql_hook()
        file_format = check_format(self.format)
        source_name = f"the query on {self.sql_conn_id!r}"
        self.log.info("Running the query on %r, writing its rows to %s.", self.sql_conn_id, staged)
        with closing(hook.get_conn()) as connection:
            cursor = _open_cursor(connection)
            try:
                if self.parameters is None:
                    cursor.execute(sql)
                else:
                    cursor.execute(sql, self.parameters)
                batch = cursor.fetchmany(self.fetch_size)
                if not cursor.description:
                    raise MarketoConfigError(
                        f"The SQL on {self.sql_conn_id!r} returned no result set; it must be a SELECT."
                    )
                columns = [str(column[0]) for column in cursor.description]
                # sync: with field_mapping, the checks see the Marketo names of the mapped columns.
                mapping = self.field_mapping
                sent = columns if mapping is None else [mapping[c] for c in columns if c in mapping]
                validate_header(
                    sent,
                    file_format=file_format,
                    lookup_field=self.lookup_column,
                    required=self.required_columns,
                    source_name=source_name,
                )
                check_writable_header(columns, file_format=file_format, source_name=source_name)
                check_schema = super()._header_check(MarketoHook(self.marketo_conn_id), staged)
                if batch and check_schema is not None:
                    check_schema(sent)  # before any row is staged (an empty result calls no Marketo)
                staged.parent.mkdir(parents=True, exist_ok=True)
                with staged.open("wb") as stream:  # type: ignore[no-untyped-call]
                    planner = PlanningWriter(
                        stream,
                        file_format=file_format,
                        max_part_bytes=self.part_size,
                        source_name=str(staged),
                    )
                    writer = RowWriter(
                        cast("BinaryIO", planner), columns, file_format=file_format, source_name=source_name
                    )
                    while batch:
                        writer.write_rows(batch)
                        batch = cursor.fetchmany(self.fetch_size)
            finally:
                cursor.close()
        self.log.info(
            "Staged %d rows (%d bytes) with columns %s.", writer.rows, writer.bytes, ", ".join(columns)
        )
        if writer.rows:
            self._planned = planner.plan()  # the parts, planned as the rows were written
        return writer.rows

    def _checked_sql(self, *, warn: bool = True) -> str:
        sql = self.sql.strip() if isinstance(self.sql, str) else ""
        statements = _statements(sql)
        if len(statements) != 1:
            raise MarketoConfigError(
                f"sql must be one SELECT statement, got {len(statements)} statements: {sql[:200]!r}."
            )
        if warn and not has_top_level_order_by(sql):
            self.log.warning(
                "The query has no ORDER BY: a retry runs it again and can only skip the parts already "
                "imported if the rows come out in the same order. Add ORDER BY a unique key."
            )
        return sql

    def _sql_hook(self) -> DbApiHook:
        hook = BaseHook.get_connection(self.sql_conn_id).get_hook()  # type: ignore[no-untyped-call]
        if not isinstance(hook, DbApiHook):
            raise MarketoConfigError(
                f"The connection {self.sql_conn_id!r} gives a {type(hook).__name__}, not a SQL "
                "(DbApiHook) connection."
            )
        return hook

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage[Any, Any]:
        """The tables the query reads as inputs (when the hook gives database info), the Marketo object
        as output; the staged file is not a dataset."""
        from airflow.providers.openlineage.extractors import OperatorLineage

        lineage = super().get_openlineage_facets_on_complete(task_instance)
        return OperatorLineage(inputs=self._lineage_inputs(), outputs=lineage.outputs)

    def _lineage_inputs(self) -> list[Any]:
        try:
            from airflow.providers.openlineage.sqlparser import SQLParser

            hook = self._sql_hook()
            connection = hook.get_connection(hook.get_conn_id())
            database_info = hook.get_openlineage_database_info(connection)
            if database_info is None:
                return []
            parser = SQLParser(
                dialect=hook.get_openlineage_database_dialect(connection),
                default_schema=hook.get_openlineage_default_schema(),
            )
            metadata = parser.generate_openlineage_metadata_from_sql(
                sql=self.sql, hook=hook, database_info=database_info, use_connection=False
            )
        except Exception as err:  # lineage never fails the task
            self.log.debug("No OpenLineage inputs for the query: %s", err)
            return []
        return list(metadata.inputs)
