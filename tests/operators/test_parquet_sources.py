"""Parquet sources of the import operators: a file, a folder or a glob, local or on S3 (operators/_sources.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_provider_marketo._compat import AirflowException
from airflow_provider_marketo.exceptions import MarketoConfigError
from airflow_provider_marketo.operators.bulk_import import BulkLeadImportOperator
from airflow_provider_marketo.operators.output import batch_ids_of
from airflow_provider_marketo.utils.formats import InputFileError
from tests._support.files import received_rows
from tests._support.parquet import write_parquet
from tests._support.sim import our_jobs
from tests._support.tasks import CreateSpy, FakeTaskInstance, make_context

_LEADS = "SELECT 'lead' || i || '@example.com' AS email, 'N' || i AS firstName FROM range({}, {}) t(i)"


def _rows(start: int, stop: int) -> list[list[str]]:
    return [[f"lead{i}@example.com", f"N{i}"] for i in range(start, stop)]


def _export(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(3):
        write_parquet(
            folder / f"part-{n:05d}.parquet", _LEADS.format(n * 100, n * 100 + 100), row_group_size=30
        )
    (folder / "_SUCCESS").write_bytes(b"")
    (folder / ".part-00000.parquet.crc").write_bytes(b"crc")


def _op(source: Any, conn_id: str, tmp_path: Path, **kwargs: Any) -> BulkLeadImportOperator:
    return BulkLeadImportOperator(
        task_id="import",
        source=source,
        marketo_conn_id=conn_id,
        staging_path=str(tmp_path / "staging"),
        poll_interval=0.05,
        part_size=4_000,
        **kwargs,
    )


@pytest.mark.parametrize("how", ["folder", "glob", "file"])
def test_parquet_folder_glob_or_file_is_staged_once_and_imported(
    how: str, tmp_path: Path, marketo_simulator: Any, marketo_conn_id: str
) -> None:
    _export(tmp_path / "export")
    source = {
        "folder": str(tmp_path / "export"),
        "glob": str(tmp_path / "export" / "part-*.parquet"),
        "file": str(tmp_path / "export" / "part-00001.parquet"),
    }[how]
    batch_ids = batch_ids_of(_op(source, marketo_conn_id, tmp_path, format="tsv").execute(make_context()))
    expected = _rows(100, 200) if how == "file" else _rows(0, 300)
    assert received_rows(marketo_simulator, batch_ids, "tsv") == [["email", "firstName"], *expected]
    assert len(batch_ids) == (1 if how == "file" else 2)  # parts planned on the staged file
    assert not [p for p in (tmp_path / "staging").iterdir() if p.is_file()]  # the staged copy is removed


def test_parquet_prefix_on_s3_is_read_through_its_filesystem(
    tmp_path: Path, moto_s3: dict[str, Any], marketo_simulator: Any, marketo_conn_id: str
) -> None:
    s3, bucket = moto_s3["client"], moto_s3["bucket"]
    _export(tmp_path / "export")
    for path in sorted((tmp_path / "export").iterdir()):
        s3.put_object(Bucket=bucket, Key=f"exports/{path.name}", Body=path.read_bytes())
    source = f"s3://{moto_s3['conn_id']}@{bucket}/exports/"
    batch_ids = batch_ids_of(_op(source, marketo_conn_id, tmp_path).execute(make_context(FakeTaskInstance())))
    assert received_rows(marketo_simulator, batch_ids) == [["email", "firstName"], *_rows(0, 300)]


def test_binary_column_is_refused_before_any_call(
    tmp_path: Path, marketo_simulator: Any, marketo_conn_id: str
) -> None:
    write_parquet(tmp_path / "x.parquet", "SELECT 'a@b.c' AS email, '\\x00\\x01'::BLOB AS photo")
    with pytest.raises(InputFileError, match=r"Column 'photo' of .*x\.parquet is BLOB \(binary\)"):
        _op(str(tmp_path / "x.parquet"), marketo_conn_id, tmp_path).execute(make_context())
    assert sum(marketo_simulator.api_calls().values()) == 0


def test_mixed_export_and_text_options_are_refused(
    tmp_path: Path, marketo_simulator: Any, marketo_conn_id: str
) -> None:
    _export(tmp_path / "export")
    (tmp_path / "export" / "extra.csv").write_bytes(b"email\na@b.c\n")
    with pytest.raises(MarketoConfigError, match=r"mix Parquet and other files \(.*extra\.csv\)"):
        _op(str(tmp_path / "export"), marketo_conn_id, tmp_path).execute(make_context())
    file = str(tmp_path / "export" / "part-00000.parquet")
    with pytest.raises(MarketoConfigError, match="delimiter, null_values apply to delimited text"):
        _op(file, marketo_conn_id, tmp_path, delimiter="|", null_values=["NULL"]).execute(make_context())
    assert sum(marketo_simulator.api_calls().values()) == 0


def test_retry_skips_parts_already_imported_and_a_rewritten_file_is_named(
    tmp_path: Path, marketo_simulator: Any, marketo_conn_id: str, create_spy: CreateSpy
) -> None:
    _export(tmp_path / "export")
    create_spy.fail_after = 1
    with pytest.raises(SystemExit):
        _op(tmp_path / "export", marketo_conn_id, tmp_path).execute(
            make_context(FakeTaskInstance(try_number=1, max_tries=2))
        )
    create_spy.fail_after = None
    (first,) = [job["batch_id"] for job in our_jobs(marketo_simulator)]
    retry = FakeTaskInstance(try_number=2, max_tries=2)
    batch_ids = batch_ids_of(_op(tmp_path / "export", marketo_conn_id, tmp_path).execute(make_context(retry)))
    assert isinstance(batch_ids, list) and batch_ids[0] == first and len(batch_ids) == 2
    assert received_rows(marketo_simulator, batch_ids) == [["email", "firstName"], *_rows(0, 300)]

    # A file rewritten between two tries of another run: the retry refuses, naming it.
    context = make_context(FakeTaskInstance(run_id="second", try_number=1, max_tries=2))
    create_spy.calls, create_spy.fail_after = 0, 1
    with pytest.raises(SystemExit):
        _op(tmp_path / "export", marketo_conn_id, tmp_path).execute(context)
    create_spy.fail_after = None
    write_parquet(tmp_path / "export" / "part-00001.parquet", _LEADS.format(100, 150))
    retry = FakeTaskInstance(run_id="second", try_number=2, max_tries=2)
    with pytest.raises(AirflowException, match=r"files of the export changed .*part-00001\.parquet changed"):
        _op(tmp_path / "export", marketo_conn_id, tmp_path).execute(make_context(retry))
