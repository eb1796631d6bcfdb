"""Parquet files for tests and benchmarks, written by DuckDB from a SELECT."""

from __future__ import annotations

from pathlib import Path


def write_parquet(path: Path | str, select: str, *, row_group_size: int = 50_000) -> Path:
    """Write the rows of ``select`` (DuckDB SQL) to ``path`` as Parquet with row groups of ``row_group_size``."""
    import duckdb

    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        target = str(path).replace("'", "''")
        con.execute(f"COPY ({select}) TO '{target}' (FORMAT parquet, ROW_GROUP_SIZE {row_group_size})")
    return Path(path)
