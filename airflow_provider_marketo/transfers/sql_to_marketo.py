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
from typing import TYPE_CHECKING, Any, cast

import sqlparse
from airflow.providers.common.sql.hooks.sql import DbApiHook
from airflow.sdk import BaseHook, ObjectStoragePath
from sqlparse import tokens

from airflow_provider_marketo._compat import AirflowException, AirflowSkipException
from airflow_provider_marketo.exceptions import MarketoConfigError
from airflow_provider_marketo.hooks.marketo import MarketoHook
from airflow_provider_marketo.objects import BulkTarget
from airflow_provider_marketo.operators._staging import staged_path
from airflow_provider_marketo.operators._state import ParamValue
from airflow_provider_marketo.operators.bulk_import import (
    BaseBulkImportOperator,
    BulkCustomObjectImportOperator,
    BulkLeadImportOperator,
    BulkProgramMemberImportOperator,
)
from airflow_provider_marketo.utils.formats import check_format, validate_header
from airflow_provider_marketo.utils.rows import RowWriter, check_writable_header

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import Context

#: Rows fetched from the cursor at a time (memory holds one batch).
DEFAULT_FETCH_SIZE = 2000
#: The import operator whose arguments and rules each ``object_type`` follows.
_KINDS: dict[str, type[BaseBulkImportOperator]] = {
    "leads": BulkLeadImportOperator,
    "custom_objects": BulkCustomObjectImportOperator,
    "program_members": BulkProgramMemberImportOperator,
}
#: Arguments that only some kinds take.
_KIND_ARGUMENTS = {
    "lookup_field": "leads",
    "list_id": "leads",
    "partition_name": "leads",
    "api_name": "custom_objects",
    "program_id": "program_members",
    "program_member_status": "program_members",
}
#: Kind arguments a user may leave out.
_OPTIONAL = frozenset({"lookup_field", "list_id", "partition_name"})
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


class SqlToMarketoOperator(BaseBulkImportOperator):
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
        :class:`BulkLeadImportOperator`; so are ``list_id`` and ``partition_name``.
    :param format: the staged file's format, ``csv`` (default), ``tsv`` or ``ssv``.
    :param fetch_size: rows fetched from the cursor at a time.
    :param on_empty: when the query returns no row: ``skip`` (default) marks the task skipped,
        ``fail`` fails it; Marketo is not called either way.
    :param staging_path: the folder (local path or object storage URL, templated) for the staged file
        ``<dag_id>.<task_id>.<map_index>.<run_id>.<hash>.<format>``; default: a folder in the local
        temp directory. With several workers, use shared storage so that a resume on another worker
        finds the file (else it runs the query again, and must get the same rows).

    The other parameters (``marketo_conn_id``, ``max_active_jobs``, ``deferrable``, ``poll_interval``,
    ``max_queue_wait``, ``part_size``, ``manifest_path``) are those of :class:`BaseBulkImportOperator`.
    """

    template_fields: Sequence[str] = (
        *(name for name in BaseBulkImportOperator.template_fields if name != "source"),
        "sql",
        "sql_conn_id",
        "parameters",
        *_KIND_ARGUMENTS,
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
        object_type: str = "leads",
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
        **kwargs: Any,
    ) -> None:
        super().__init__(source="", format=format, staging_path=staging_path, **kwargs)
        if object_type not in _KINDS:
            raise ValueError(f"object_type must be one of {', '.join(_KINDS)}, got {object_type!r}.")
        given = {
            "lookup_field": lookup_field,
            "list_id": list_id,
            "partition_name": partition_name,
            "api_name": api_name,
            "program_id": program_id,
            "program_member_status": program_member_status,
        }
        for name, value in given.items():
            if value not in (None, "") and _KIND_ARGUMENTS[name] != object_type:
                raise ValueError(f"{name} applies to object_type={_KIND_ARGUMENTS[name]!r} only.")
        needed = [n for n, kind in _KIND_ARGUMENTS.items() if kind == object_type and n not in _OPTIONAL]
        missing = [name for name in needed if given[name] in (None, "")]
        if missing:
            raise ValueError(f"object_type={object_type!r} needs {' and '.join(missing)}.")
        options = self.read_options
        if options.column_names or options.delimiter or options.encoding or options.null_values:
            raise ValueError("column_names, delimiter, encoding and null_values apply to file sources only.")
        if on_empty not in _ON_EMPTY:
            raise ValueError(f"on_empty must be 'skip' or 'fail', got {on_empty!r}.")
        if fetch_size < 1:
            raise ValueError(f"fetch_size must be at least 1, got {fetch_size}.")
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

    # The kind's rules are those of its import operator (same arguments on self).

    @property
    def _kind(self) -> type[BaseBulkImportOperator]:
        return _KINDS[self.object_type]

    def _kind_property(self, name: str) -> Any:
        """The value of property ``name`` of the kind's import operator, computed on this operator."""
        return getattr(self._kind, name).fget(self)

    @property
    def target(self) -> BulkTarget:
        return cast("BulkTarget", self._kind_property("target"))

    def create_params(self) -> dict[str, ParamValue]:
        return self._kind.create_params(self)

    @property
    def lookup_column(self) -> str | None:
        return cast("str | None", self._kind_property("lookup_column"))

    @property
    def job_limit(self) -> int:
        return cast("int", self._kind_property("job_limit"))

    @property
    def required_columns(self) -> tuple[str, ...]:  # type: ignore[override]
        return self._kind.required_columns

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
            self.log.warning(
                "The staged query result %s is gone (another worker?); running the query again. "
                "It must return the same rows in the same order as before the deferral.",
                staged,
            )
        self._staged = staged
        rows = self._stage(staged)
        if rows == 0:
            staged.unlink(missing_ok=True)
            message = f"The query on {self.sql_conn_id!r} returned no rows; nothing to import."
            if self.on_empty == "fail":
                raise AirflowException(message + " (on_empty='fail')")
            raise AirflowSkipException(message + " Skipping the task (on_empty='skip').")
        return staged

    def _header_check(
        self, hook: MarketoHook, source: ObjectStoragePath
    ) -> Callable[[list[str]], None] | None:
        """None: the schema check runs on the query's columns in :meth:`_stage`, before any row is
        written, not on the staged file."""
        return None

    def staged_file(self, context: Context) -> ObjectStoragePath:
        """Where this task instance stages the query result (the same for every try and resume)."""
        return staged_path(context, self.staging_path, check_format(self.format))

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
                    writer = RowWriter(stream, columns, file_format=file_format, source_name=source_name)
                    while batch:
                        writer.write_rows(batch)
                        batch = cursor.fetchmany(self.fetch_size)
            finally:
                cursor.close()
        self.log.info(
            "Staged %d rows (%d bytes) with columns %s.", writer.rows, writer.bytes, ", ".join(columns)
        )
        return writer.rows

    def _checked_sql(self) -> str:
        sql = self.sql.strip() if isinstance(self.sql, str) else ""
        statements = _statements(sql)
        if len(statements) != 1:
            raise MarketoConfigError(
                f"sql must be one SELECT statement, got {len(statements)} statements: {sql[:200]!r}."
            )
        if not has_top_level_order_by(sql):
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
