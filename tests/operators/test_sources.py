"""Sources that are an export's files: a folder, a prefix or a glob, compressed, rewritten (operators/_sources.py)."""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_marketo._compat import AirflowException, TaskDeferred
from airflow_provider_marketo.exceptions import MarketoConfigError, without_retry
from airflow_provider_marketo.operators.bulk_import import BulkLeadImportOperator
from airflow_provider_marketo.operators.output import batch_ids_of
from airflow_provider_marketo.utils.formats import InputFileError
from airflow_provider_marketo.utils.parts import SourceChangedError
from tests._support.files import lead_rows, received_rows
from tests._support.sim import create_calls, our_jobs
from tests._support.tasks import CreateSpy, FakeTaskInstance, make_context


def csv_bytes(rows: list[list[str]], line_end: str = "\n") -> bytes:
    return "".join(",".join(row) + line_end for row in rows).encode()


def write_export(folder: Path, rows: list[list[str]], shards: int, *, gz: bool = True) -> list[Path]:
    """``rows`` (header first) as ``shards`` files ``data_N.csv[.gz]``, a header in each, the last
    header-only; plus files that are not data."""
    folder.mkdir(parents=True, exist_ok=True)
    header, body = rows[0], rows[1:]
    per = -(-len(body) // (shards - 1))
    paths = []
    for n in range(shards):
        data = csv_bytes([header, *body[n * per : (n + 1) * per]], "\r\n" if n % 2 else "\n")
        path = folder / f"data_{n:02d}.csv{'.gz' if gz else ''}"
        path.write_bytes(gzip.compress(data) if gz else data)
        paths.append(path)
    (folder / "_SUCCESS").write_bytes(b"")
    (folder / ".data_00.csv.gz.crc").write_bytes(b"crc")
    (folder / "data_00.csv.gz.crc").write_bytes(b"crc")
    return paths


def lead_op(source: Any, conn_id: str, tmp_path: Path, **kwargs: Any) -> BulkLeadImportOperator:
    args = {"poll_interval": 0.05, "part_size": 20_000, "retries": 2, **kwargs}
    return BulkLeadImportOperator(
        task_id="import",
        source=source,
        marketo_conn_id=conn_id,
        staging_path=str(tmp_path / "staging"),
        **args,
    )


def staged_files(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "staging"
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.exists() else []


@pytest.mark.parametrize("how", ["folder", "glob"])
def test_folder_or_glob_of_gzip_shards_is_imported_once_in_packed_parts(
    how: str,
    tmp_path: Path,
    marketo_simulator: Any,
    marketo_conn_id: str,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    rows = lead_rows(1000)
    paths = write_export(tmp_path / "export", rows, 12)
    source = str(tmp_path / "export") + ("/" if how == "folder" else "/data_*.csv.gz")
    batch_ids = batch_ids_of(lead_op(source, marketo_conn_id, tmp_path).execute(make_context()))
    assert received_rows(marketo_simulator, batch_ids) == rows  # every row once, in lexical order
    raw = sum(len(gzip.decompress(p.read_bytes())) for p in paths)
    assert len(batch_ids) == -(-raw // 20_000) < len(paths)  # packed across shards, not one job per shard
    out = capsys.readouterr().out + caplog.text
    assert "Importing 12 file(s) of " in out
    assert "in this order: " + ", ".join(p.as_uri() for p in paths) in out  # the resolved list, lexical
    assert "Skipping shard 12 of 12" in out and "header but no data rows" in out
    assert how == "glob" or ("_SUCCESS" in out and ".crc" in out)  # left out, and said so
    assert staged_files(tmp_path) == []  # the staged copy is deleted when the task ends


def test_single_gzip_file_and_plain_file(
    tmp_path: Path, marketo_simulator: Any, marketo_conn_id: str
) -> None:
    rows = lead_rows(50)
    (tmp_path / "leads.csv.gz").write_bytes(gzip.compress(csv_bytes(rows)))
    batch_ids = batch_ids_of(
        lead_op(tmp_path / "leads.csv.gz", marketo_conn_id, tmp_path).execute(make_context())
    )
    assert received_rows(marketo_simulator, batch_ids) == rows
    # A plain file keeps the fast path: no staged copy, the manifest next to the file itself.
    (tmp_path / "plain.csv").write_bytes(csv_bytes(rows))
    op = lead_op(tmp_path / "plain.csv", marketo_conn_id, tmp_path)
    op.execute(make_context(FakeTaskInstance(task_id="plain")))
    assert staged_files(tmp_path) == []
    assert any((tmp_path / ".marketo").glob("plain.csv.*.json"))


def test_mismatched_header_fails_before_any_upload(
    tmp_path: Path, marketo_simulator: Any, marketo_conn_id: str
) -> None:
    write_export(tmp_path / "export", lead_rows(100), 4)
    bad = [["email", "lastName", "firstName", "company"], ["x@y.z", "a", "b", "c"]]
    (tmp_path / "export" / "data_02.csv.gz").write_bytes(gzip.compress(csv_bytes(bad)))
    with pytest.raises(
        InputFileError, match=r"shard 3, .*data_02\.csv\.gz, differs .*column 2 is 'lastName'"
    ):
        lead_op(tmp_path / "export", marketo_conn_id, tmp_path).execute(make_context())
    assert create_calls(marketo_simulator.api_calls()) == 0
    assert staged_files(tmp_path) == []


def test_column_names_for_headerless_shards(
    tmp_path: Path, marketo_simulator: Any, marketo_conn_id: str
) -> None:
    rows = lead_rows(40)
    folder = tmp_path / "unload"
    folder.mkdir()
    (folder / "data_0_0_0.csv.gz").write_bytes(gzip.compress(csv_bytes(rows[1:21])))
    (folder / "data_0_1_0.csv.gz").write_bytes(gzip.compress(csv_bytes(rows[21:])))
    op = lead_op(folder, marketo_conn_id, tmp_path, column_names=rows[0])
    batch_ids = batch_ids_of(op.execute(make_context()))
    assert received_rows(marketo_simulator, batch_ids) == rows


def test_pipe_delimited_cp1252_with_null_markers(
    tmp_path: Path, marketo_simulator: Any, marketo_conn_id: str
) -> None:
    text = "email|firstName|lastName\nzoë@x.com|Zoë|\\N\nb@x.com|\\N|Müller\n"
    (tmp_path / "0000_part_00").write_bytes(text.encode("cp1252"))
    op = lead_op(
        tmp_path / "0000_part_00",
        marketo_conn_id,
        tmp_path,
        delimiter="|",
        encoding="cp1252",
        null_values=["\\N"],
    )
    batch_ids = batch_ids_of(op.execute(make_context()))
    assert received_rows(marketo_simulator, batch_ids) == [
        ["email", "firstName", "lastName"],
        ["zoë@x.com", "Zoë", ""],
        ["b@x.com", "", "Müller"],
    ]


def test_empty_folder_and_bad_options_are_named(tmp_path: Path, marketo_conn_id: str) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "_SUCCESS").write_bytes(b"")
    with pytest.raises(
        MarketoConfigError, match=r"is a folder with no file to import \(left out as not data: .*_SUCCESS"
    ):
        lead_op(tmp_path / "empty", marketo_conn_id, tmp_path).execute(make_context())
    with pytest.raises(MarketoConfigError, match="matches no file"):
        lead_op(str(tmp_path / "nothing_*.csv"), marketo_conn_id, tmp_path).execute(make_context())
    with pytest.raises(MarketoConfigError, match="delimiter must be one character"):
        lead_op(tmp_path, marketo_conn_id, tmp_path, delimiter="||")
    with pytest.raises(MarketoConfigError, match="Unknown encoding 'latin-9x'"):
        lead_op(tmp_path, marketo_conn_id, tmp_path, encoding="latin-9x")


def _crash_after_one(op: BulkLeadImportOperator, create_spy: CreateSpy) -> None:
    create_spy.fail_after = 1
    with pytest.raises(SystemExit):
        op.execute(make_context(FakeTaskInstance(try_number=1, max_tries=2)))
    create_spy.fail_after = None


def test_retry_skips_parts_already_imported_and_a_changed_shard_set_is_a_clear_error(
    tmp_path: Path, marketo_simulator: Any, marketo_conn_id: str, create_spy: CreateSpy
) -> None:
    rows = lead_rows(1000)
    write_export(tmp_path / "export", rows, 6)
    _crash_after_one(lead_op(tmp_path / "export", marketo_conn_id, tmp_path), create_spy)
    (first,) = [job["batch_id"] for job in our_jobs(marketo_simulator)]
    retry = FakeTaskInstance(try_number=2, max_tries=2)
    # A shard added since the first try: the retry refuses, naming it.
    extra = tmp_path / "export" / "data_99.csv.gz"
    extra.write_bytes(gzip.compress(csv_bytes(lead_rows(3, start=5000))))
    with pytest.raises(AirflowException, match=r"files of the export changed .*data_99\.csv\.gz is new"):
        lead_op(tmp_path / "export", marketo_conn_id, tmp_path).execute(make_context(retry))
    assert len(our_jobs(marketo_simulator)) == 1
    extra.unlink()
    batch_ids = batch_ids_of(
        lead_op(tmp_path / "export", marketo_conn_id, tmp_path).execute(make_context(retry))
    )
    assert batch_ids[0] == first
    assert len(our_jobs(marketo_simulator)) == len(batch_ids) > 2
    assert received_rows(marketo_simulator, batch_ids) == rows


@pytest.mark.marketo_simulator(rows_per_second=200)
@pytest.mark.usefixtures("running_clock")
def test_resume_after_deferral_reuses_the_staged_copy_and_checks_the_shards(
    tmp_path: Path, marketo_simulator: Any, marketo_conn_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = lead_rows(1000)
    write_export(tmp_path / "export", rows, 5)
    context = make_context()

    def op() -> BulkLeadImportOperator:
        return lead_op(tmp_path / "export", marketo_conn_id, tmp_path, deferrable=True, max_active_jobs=1)

    with pytest.raises(TaskDeferred) as deferred:
        op().execute(context)
    (staged,) = staged_files(tmp_path)
    capsys.readouterr()
    current = deferred.value
    for _ in range(200):
        kwargs = json.loads(json.dumps(current.kwargs or {}))
        event = {"status": "success", "message": "room", "batches": []}
        try:
            batch_ids = batch_ids_of(
                op().resume_execution(current.method_name, {**kwargs, "event": event}, context)
            )
            break
        except TaskDeferred as again:
            current = again
            assert staged.exists()
    assert "Resuming with the staged copy" in capsys.readouterr().out
    assert received_rows(marketo_simulator, batch_ids) == rows
    assert not staged.exists()

    # The shards changing while the task is deferred is an error.
    context = make_context(FakeTaskInstance(run_id="second"))
    with pytest.raises(TaskDeferred) as deferred:
        op().execute(context)
    (tmp_path / "export" / "data_01.csv.gz").unlink()
    kwargs = json.loads(json.dumps(deferred.value.kwargs or {}))
    with pytest.raises(
        AirflowException, match=r"changed while this task was deferred .*data_01\.csv\.gz is gone"
    ):
        op().resume_execution(
            deferred.value.method_name,
            {**kwargs, "event": {"status": "success", "message": "", "batches": []}},
            context,
        )


def test_s3_prefix_of_gzip_shards(
    moto_s3: dict[str, Any], marketo_simulator: Any, marketo_conn_id: str
) -> None:
    s3, bucket, conn_id = moto_s3["client"], moto_s3["bucket"], moto_s3["conn_id"]
    rows = lead_rows(600)
    header, body = rows[0], rows[1:]
    for n in range(6):
        chunk = body[n * 120 : (n + 1) * 120]
        s3.put_object(
            Bucket=bucket,
            Key=f"export/leads/data_0_0_{n}.csv.gz",
            Body=gzip.compress(csv_bytes([header, *chunk])),
        )
    s3.put_object(Bucket=bucket, Key="export/leads/_SUCCESS", Body=b"")
    s3.put_object(Bucket=bucket, Key="export/other/data.csv.gz", Body=b"not ours")
    op = BulkLeadImportOperator(
        task_id="import",
        source=f"s3://{conn_id}@{bucket}/export/leads/",
        marketo_conn_id=marketo_conn_id,
        part_size=20_000,
        poll_interval=0.05,
        staging_path=f"s3://{conn_id}@{bucket}/staging/",
    )
    batch_ids = batch_ids_of(op.execute(make_context()))
    assert received_rows(marketo_simulator, batch_ids) == rows
    assert len(batch_ids) < 6
    staging = s3.list_objects_v2(Bucket=bucket, Prefix="staging/").get("Contents", [])
    assert [item["Key"] for item in staging if "/.marketo/" not in item["Key"]] == []  # staged copy deleted
    # A retry of the same run sends nothing again (the manifest is next to the staged copy).
    calls = create_calls(marketo_simulator.api_calls())
    assert batch_ids_of(op.execute(make_context())) == batch_ids
    assert create_calls(marketo_simulator.api_calls()) == calls


def test_missing_compressed_file_is_named(tmp_path: Path, marketo_conn_id: str) -> None:
    with pytest.raises(
        FileNotFoundError, match=r"The import source file://\S+/nothing\.csv\.gz does not exist"
    ):
        lead_op(tmp_path / "nothing.csv.gz", marketo_conn_id, tmp_path).execute(make_context())


def test_a_shard_rewritten_while_it_is_read_is_an_error(
    tmp_path: Path, marketo_conn_id: str, marketo_simulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_marketo.utils import shards

    write_export(tmp_path / "export", lead_rows(100), 3)
    real = shards.stage_shards

    def stage_then_add_a_file(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        (tmp_path / "export" / "data_05.csv.gz").write_bytes(gzip.compress(csv_bytes(lead_rows(2))))
        return result

    monkeypatch.setattr("airflow_provider_marketo.operators._sources.stage_shards", stage_then_add_a_file)
    with pytest.raises(SourceChangedError, match="changed while they were read") as changed:
        lead_op(tmp_path / "export", marketo_conn_id, tmp_path).execute(make_context())
    assert not without_retry(changed.value)  # a retry may find the export complete
    assert create_calls(marketo_simulator.api_calls()) == 0


def test_a_hundred_small_shards_make_about_ten_jobs(
    tmp_path: Path, marketo_simulator: Any, marketo_conn_id: str
) -> None:
    """Marketo's queue is the bottleneck: 100 shards of ~1/10 part each are packed into ~10 parts."""
    rows = lead_rows(2000)
    paths = write_export(tmp_path / "export", rows, 101)  # 100 with data, 1 header-only
    data = sum(len(gzip.decompress(p.read_bytes()).split(b"\n", 1)[1]) for p in paths)  # headers dropped
    part_size = data // 10 + 1000
    batch_ids = batch_ids_of(
        lead_op(tmp_path / "export", marketo_conn_id, tmp_path, part_size=part_size).execute(make_context())
    )
    assert 10 <= len(batch_ids) <= 11
    assert all(job["received_bytes"] <= part_size + 64 * 1024 for job in our_jobs(marketo_simulator))
    assert received_rows(marketo_simulator, batch_ids) == rows
