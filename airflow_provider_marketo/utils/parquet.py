"""Parquet exports staged, in one streaming pass, into one delimited UTF-8 file (DuckDB; no Airflow import).

:func:`stage_parquet` reads the files in the order given with DuckDB (the ``parquet`` extra) and writes
their rows with :class:`~airflow_provider_marketo.utils.rows.RowWriter`, so values become Marketo text
by the same rules as ``SqlToMarketoOperator``'s query results. DuckDB reads a file row group by row
group and the rows are fetched in batches, so memory stays flat whatever the size. Before any row is
written, every file's schema is read (its footer only):

- a column whose type has no text form (binary, list, array, struct, map, union, interval, ...) is
  refused, naming the column and its type;
- a file whose columns (names, order or types) differ from the first file's is refused, naming it.

Column types DuckDB maps to: integers of any width -> ``int``; ``DECIMAL(p, s)`` -> ``Decimal`` (exact
text, scale kept); ``DOUBLE`` -> ``float``; ``FLOAT`` (32-bit) -> its shortest decimal text read as a
``DOUBLE`` (``0.1`` stays ``0.1``); ``TIMESTAMP WITH TIME ZONE`` (Parquet's ``isAdjustedToUTC``) -> an
aware datetime in UTC, written with ``+00:00``; ``TIMESTAMP`` (naive) -> written as it is, with no
offset; ``DATE`` / ``TIME`` -> ISO 8601; ``BOOLEAN`` -> ``true``/``false``; ``NULL`` -> an empty field.
Timestamps have microsecond precision (nanoseconds are truncated).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from airflow_provider_marketo.utils.formats import InputFileError, check_format, validate_header
from airflow_provider_marketo.utils.rows import RowWriter
from airflow_provider_marketo.utils.shards import Log, Staged

if TYPE_CHECKING:
    import duckdb
    from fsspec import AbstractFileSystem

#: File name endings read as Parquet (any case).
PARQUET_SUFFIXES = (".parquet", ".parq", ".pq")
#: Rows fetched from DuckDB and handed to the writer at a time.
BATCH_ROWS = 10_000
#: DuckDB's memory limit while staging (it reads row group by row group; this bounds its buffers).
MEMORY_LIMIT = "512MB"

#: DuckDB types written as Marketo text (after the casts of :data:`_CASTS`).
_SCALAR = re.compile(
    r"(BOOLEAN|U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)|FLOAT|DOUBLE|DECIMAL\(\d+,\s*\d+\)|VARCHAR"
    r"|DATE|TIME|TIME WITH TIME ZONE|TIMESTAMP(_S|_MS|_NS)?|TIMESTAMP WITH TIME ZONE|UUID)"
)
#: SQL applied to a column of a type before the writer sees it.
_CASTS = {"FLOAT": "CAST(CAST({} AS VARCHAR) AS DOUBLE)"}
_KINDS = (
    ("BLOB", "binary"),
    ("BIT", "a bit string"),
    ("STRUCT(", "a struct"),
    ("MAP(", "a map"),
    ("UNION(", "a union"),
    ("INTERVAL", "an interval"),
)


def is_parquet(name: str) -> bool:
    """Whether a file name ends like a Parquet file."""
    return name.lower().endswith(PARQUET_SUFFIXES)


def _duckdb() -> Any:
    try:
        import duckdb
    except ImportError as err:  # pragma: no cover - the extra is installed in the tests
        raise ImportError(
            "Reading Parquet needs DuckDB: install the provider with the 'parquet' extra "
            "(pip install 'airflow-provider-marketo[parquet]')."
        ) from err
    return duckdb


@dataclass(frozen=True)
class ParquetFile:
    """One file of an export: ``name`` for messages (its URL), ``path`` as DuckDB opens it."""

    name: str
    path: str


@dataclass(frozen=True)
class ParquetOptions:
    """What to write."""

    file_format: str  #: the staged file's Marketo format
    lookup_field: str | None = None
    required: tuple[str, ...] = ()
    batch_rows: int = BATCH_ROWS
    memory_limit: str = MEMORY_LIMIT


def _kind(column_type: str) -> str | None:
    """What a type is when it has no text form (None: it has one)."""
    if _SCALAR.fullmatch(column_type):
        return None
    if column_type.endswith("]"):
        return "a list"
    return next((what for prefix, what in _KINDS if column_type.startswith(prefix)), "a type")


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _connect(filesystem: AbstractFileSystem | None, memory_limit: str) -> duckdb.DuckDBPyConnection:
    con: duckdb.DuckDBPyConnection = _duckdb().connect(config={"memory_limit": memory_limit, "threads": 1})
    con.execute("SET TimeZone = 'UTC'")
    if filesystem is not None:
        con.register_filesystem(filesystem)
    return con


def _schema(con: duckdb.DuckDBPyConnection, file: ParquetFile) -> list[tuple[str, str]]:
    try:
        rows = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [file.path]).fetchall()
    except Exception as err:  # DuckDB's IO / invalid-input errors: name the file
        raise InputFileError(f"{file.name} could not be read as Parquet: {_first_line(err)}.") from None
    return [(str(row[0]), str(row[1])) for row in rows]


def check_schemas(con: duckdb.DuckDBPyConnection, files: Sequence[ParquetFile]) -> list[tuple[str, str]]:
    """The export's columns and types; an error for a column with no text form or a file that differs."""
    first = _schema(con, files[0])
    for name, column_type in first:
        what = _kind(column_type)
        if what is not None:
            raise InputFileError(
                f"Column {name!r} of {files[0].name} is {column_type} ({what}), which has no text form for "
                "Marketo; select or cast the columns to import when writing the export."
            )
    for file in files[1:]:
        schema = _schema(con, file)
        if schema != first:
            raise InputFileError(_difference(file, schema, files[0], first))
    return first


def _difference(
    file: ParquetFile, schema: list[tuple[str, str]], first: ParquetFile, expected: list[tuple[str, str]]
) -> str:
    names, want = [n for n, _ in schema], [n for n, _ in expected]
    if names != want:
        what = f"columns {names} instead of {want}"
    else:
        what = "; ".join(
            f"{n!r} is {got}, not {exp}"
            for (n, got), (_, exp) in zip(schema, expected, strict=True)
            if got != exp
        )
    return (
        f"The schema of {file.name} differs from the first file's ({first.name}): {what}. Every file of "
        "an export must have the same columns, in the same order, with the same types."
    )


def stage_parquet(
    files: Sequence[ParquetFile],
    out: BinaryIO,
    options: ParquetOptions,
    log: Log,
    *,
    filesystem: AbstractFileSystem | None = None,
) -> Staged:
    """Write the rows of ``files``, in the order given, to ``out`` as one delimited UTF-8 file.

    ``filesystem`` (an fsspec filesystem) is registered with DuckDB, which then reads the files through
    it (no copy); None reads local paths directly.
    """
    if not files:
        raise InputFileError("No Parquet file to import.")
    file_format = check_format(options.file_format)
    con = _connect(filesystem, options.memory_limit)
    try:
        schema = check_schemas(con, files)
        columns = [name for name, _ in schema]
        validate_header(
            columns,
            file_format=file_format,
            lookup_field=options.lookup_field,
            required=options.required,
            source_name=files[0].name,
        )
        select = ", ".join(_CASTS.get(t, "{}").format(_quoted(n)) for n, t in schema)
        writer = RowWriter(out, columns, file_format=file_format, source_name=files[0].name)
        staged = Staged(columns=columns)
        for number, file in enumerate(files, start=1):
            rows = _copy(con, select, file, writer, options.batch_rows)
            if rows:
                staged.rows += rows
                staged.shard_rows.append((file.name, rows))
                log.info("Parquet file %d of %d, %s: %d rows.", number, len(files), file.name, rows)
            else:
                log.info("Skipping Parquet file %d of %d, %s: it has no rows.", number, len(files), file.name)
                staged.skipped.append((file.name, "it has no rows"))
    finally:
        con.close()
    if not staged.rows:
        raise InputFileError(
            f"The {len(files)} Parquet file(s) of the export hold no rows: nothing to import."
        )
    return staged


def _copy(
    con: duckdb.DuckDBPyConnection, select: str, file: ParquetFile, writer: RowWriter, size: int
) -> int:
    writer.source_name = file.name
    before = writer.rows
    try:
        result = con.execute(f"SELECT {select} FROM read_parquet(?)", [file.path])
        while batch := result.fetchmany(size):
            writer.write_rows(batch)
    except InputFileError:
        raise
    except Exception as err:  # DuckDB's errors while reading (a corrupt row group): name the file
        raise InputFileError(
            f"{file.name} could not be read after {writer.rows - before} rows: {_first_line(err)}."
        ) from None
    return writer.rows - before


def _first_line(err: Exception) -> str:
    """DuckDB's message without the SQL excerpt it appends."""
    return f"{type(err).__name__}: {str(err).splitlines()[0].rstrip('.')}"
