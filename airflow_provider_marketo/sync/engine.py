"""The sync's DuckDB connection and how it reads a delimited file.

DuckDB is an optional dependency (extra ``sync``), imported here only. One connection per task, with
a ``memory_limit`` and a spill folder, closed at the end. A file is read with every column as text,
the format's exact delimiter, ``"`` as quote and escape, the header as given and no sniffing or type
inference: nothing is re-typed (leading zeros, ``NULL``-looking strings and white space stay). A
remote file is read through the path's fsspec filesystem registered with DuckDB (no copy).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from airflow_provider_marketo.utils.formats import FORMATS, InputFileError

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

#: DuckDB's memory limit for a sync (spills to disk beyond it).
DEFAULT_MEMORY_LIMIT = "200MB"
INSTALL_HINT = "pip install airflow-provider-marketo[sync]"
#: Threads for statements whose result does not depend on the order rows are read in (joins, counts);
#: a statement that numbers a file's rows runs on one thread, so a row's number is its place.
ORDERLESS_THREADS = max(1, min(4, os.cpu_count() or 1))


def import_duckdb() -> Any:
    """The ``duckdb`` module, or an ImportError that says how to install it."""
    try:
        import duckdb
    except ImportError as err:
        raise ImportError(
            f"The change-only sync, dry run and field_mapping need DuckDB: {INSTALL_HINT}"
        ) from err
    return duckdb


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def is_local(path: ObjectStoragePath) -> bool:
    return str(path.protocol) in ("file", "local", "")


@contextmanager
def connect(spill_dir: str, memory_limit: str = DEFAULT_MEMORY_LIMIT) -> Iterator[Any]:
    """One DuckDB connection: one thread (so ``row_number() OVER ()`` follows the file's order; a
    statement that does not number rows may raise it to :data:`ORDERLESS_THREADS`), the memory limit,
    temporary files under ``spill_dir``; closed on exit."""
    duckdb = import_duckdb()
    os.makedirs(spill_dir, exist_ok=True)
    con = duckdb.connect(
        config={
            "threads": 1,
            "memory_limit": memory_limit,
            "temp_directory": spill_dir,
            "preserve_insertion_order": True,
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        }
    )
    try:
        yield con
    finally:
        con.close()


def duck_path(con: Any, path: ObjectStoragePath) -> str:
    """The name DuckDB opens ``path`` by (to read or write): a local path, or a URL of the path's
    fsspec filesystem, registered with the connection (the one registered last for its protocol)."""
    if is_local(path):
        return str(path.path)
    fs = path.fs
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    if protocol in con.list_filesystems():
        con.unregister_filesystem(protocol)
    con.register_filesystem(fs)
    return f"{protocol}://{path.path}"


def read_csv_sql(location: str, columns: Sequence[str], file_format: str) -> str:
    """A ``read_csv`` call that reads the file's every column as text, exactly (no sniffing)."""
    spec = ", ".join(f"{sql_literal(c)}: 'VARCHAR'" for c in columns)
    delimiter = FORMATS[file_format]
    return (
        f"read_csv({sql_literal(location)}, header = true, auto_detect = false, all_varchar = true, "
        f"delim = {sql_literal(delimiter)}, quote = '\"', escape = '\"', strict_mode = true, "
        f"null_padding = false, columns = {{{spec}}})"
    )


def copy_options(file_format: str) -> str:
    """``COPY ... TO`` options writing the same dialect (header, delimiter, ``"`` quote and escape)."""
    return f"FORMAT csv, HEADER true, DELIMITER {sql_literal(FORMATS[file_format])}, QUOTE '\"', ESCAPE '\"'"


def input_error(err: Exception, source_name: str) -> InputFileError:
    """A DuckDB read error as the provider's input error, naming the file."""
    first = str(err).strip().splitlines()
    detail = " ".join(first[:3])
    return InputFileError(
        f"{source_name}: cannot be read as delimited text with every value kept exactly: {detail} "
        "(the change-only sync reads a file with one kind of line end and standard quoting)"
    )
