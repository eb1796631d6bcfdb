"""The import operators' side of the change-only sync, the dry run and ``field_mapping``.

The base operator calls this module at three places:

- :func:`check_arguments` in ``__init__`` (DAG parse time);
- :func:`prepare` once the source is resolved (staged) and before planning: it diffs the source
  against the committed state (or, without ``changes_only``, maps its columns) and returns the file
  to send, which the plan/upload machinery sends unchanged; or, for a dry run or when nothing is to
  be sent, the task's return value;
- :func:`commit` after the jobs are finished and the result checks passed: it records what Marketo
  took in a new state version and adds the sync's counts to the summary.

The diff runs once per task instance: its outputs (the rows to send, ``diff.json`` with the counts
and the base version) are kept in ``<staging>/<task instance>.sync/`` until the commit, so a resume
after a deferral or a retry reuses them and never diffs again against a newer state.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from airflow.sdk import ObjectStoragePath

from airflow_provider_marketo.exceptions import MarketoConfigError
from airflow_provider_marketo.hooks.marketo import MarketoHook
from airflow_provider_marketo.objects import ImportStatus
from airflow_provider_marketo.operators._staging import staged_path, to_object_storage_path
from airflow_provider_marketo.results.files import open_for_writing
from airflow_provider_marketo.results.names import ResultNames
from airflow_provider_marketo.schema import fetch_schema
from airflow_provider_marketo.sync.diff import COUNT_NAMES, DUPLICATE_KEYS, Baseline, Source, run_diff
from airflow_provider_marketo.sync.engine import (
    connect,
    copy_options,
    duck_path,
    import_duckdb,
    input_error,
    quote_identifier,
    read_csv_sql,
)
from airflow_provider_marketo.sync.fingerprint import FINGERPRINT
from airflow_provider_marketo.sync.keys import is_email_field
from airflow_provider_marketo.sync.outcome import (
    FailuresFile,
    JobOutcome,
    SentFile,
    record_outcomes,
    write_snapshot,
)
from airflow_provider_marketo.sync.spec import Columns, KeySpec
from airflow_provider_marketo.sync.state import StateStore
from airflow_provider_marketo.utils.formats import infer_format
from airflow_provider_marketo.utils.reading import read_header

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_marketo.operators._base import BaseImportOperator
    from airflow_provider_marketo.operators._state import Done

DIFF_NAME = "diff.json"
#: Counts a sync adds to the summary (and a dry run reports).
SUMMARY_COUNTS = tuple(n for n in COUNT_NAMES if n not in ("rows_total", "duplicate_keys", "rows_to_send"))
#: Summary entries that name files under the sync folder (dropped with it when no results_path).
_RESULT_PATHS = ("results_path", "report_path", "failures_path", "warnings_path")


def as_bool(value: Any, name: str) -> bool:
    """A flag from a bool or its rendered template (``"True"``/``"False"``, any case, ``1``/``0``)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no", "", "none"):
        return False
    raise MarketoConfigError(f"{name} must be True or False, got {value!r}.")


def check_arguments(
    *,
    changes_only: bool,
    sync_state_path: Any,
    wait_for_completion: bool,
    field_mapping: Mapping[str, str] | None,
    duplicate_keys: str,
) -> None:
    """The checks made at DAG parse time (``__init__``)."""
    if changes_only and not wait_for_completion:
        raise ValueError(
            "changes_only=True needs wait_for_completion=True: the state is committed only once "
            "Marketo has finished every job."
        )
    if changes_only and not sync_state_path:
        raise ValueError(
            "changes_only=True needs sync_state_path: the folder where the sync keeps its state."
        )
    if duplicate_keys not in DUPLICATE_KEYS:
        raise ValueError(f"duplicate_keys must be 'fail' or 'keep_last', got {duplicate_keys!r}.")
    if field_mapping is not None:
        if not isinstance(field_mapping, Mapping) or not field_mapping:
            raise ValueError("field_mapping must be a non-empty dict of source column -> Marketo field.")
        bad = [
            k for k, v in field_mapping.items() if not isinstance(k, str) or not isinstance(v, str) or not v
        ]
        if bad:
            raise ValueError(f"field_mapping must map column names to Marketo field names, got {bad!r}.")
        names = [v.lower() for v in field_mapping.values()]
        twice = sorted({v for v in field_mapping.values() if names.count(v.lower()) > 1})
        if twice:
            raise ValueError(f"field_mapping maps two columns to the same Marketo field: {twice}.")


def active(op: BaseImportOperator) -> bool:
    """Whether this run goes through the sync (a diff, a dry run or a mapping)."""
    return bool(op.changes_only or op.is_dry_run or op.field_mapping is not None)


def sync_folder(op: BaseImportOperator, context: Context) -> ObjectStoragePath:
    return staged_path(context, op.staging_path, "sync")


def results_dir(op: BaseImportOperator, context: Context, *, jobs: bool = True) -> ObjectStoragePath | None:
    """Where the jobs' results go: ``results_path``; else for a dry run its own folder under
    ``staging_path`` (the rows that would be sent and the report stay there), or, with
    ``changes_only`` and ``jobs`` to finish, the sync folder (the commit reads their failures file)."""
    if op.results_path:
        return to_object_storage_path(op.results_path)
    if op.is_dry_run:
        return staged_path(context, op.staging_path, "dry_run")
    return sync_folder(op, context) / "results" if op.changes_only and jobs else None


@dataclass(frozen=True)
class Prepared:
    """The file to send, or (dry run, nothing to send) the task's return value."""

    path: ObjectStoragePath
    result: dict[str, Any] | None = None


def _owner(op: BaseImportOperator, context: Context) -> dict[str, Any]:
    ti = context["ti"]
    map_index = getattr(ti, "map_index", None)
    return {
        "dag_id": ti.dag_id,
        "task_id": ti.task_id,
        "map_index": -1 if map_index is None else map_index,
        "target": op.target.to_dict(),
    }


def _key(op: BaseImportOperator) -> KeySpec:
    """Leads: the lookup field; program members: the lead's email (the state is the program's);
    custom objects: the dedupe fields Marketo describes."""
    kind = op.target.kind
    if kind == "custom_objects":
        fields = fetch_schema(MarketoHook(op.marketo_conn_id), op.target).dedupe_fields
        if not fields:
            raise MarketoConfigError(
                f"The custom object {op.target.api_name!r} has no dedupe fields: a change-only sync needs a key."
            )
    elif kind == "program_members":
        fields = ("email",)
    else:
        fields = (op.lookup_column or "email",)
    return KeySpec(tuple(fields), tuple(is_email_field(f) for f in fields))


def _header(path: ObjectStoragePath, file_format: str) -> list[str]:
    with path.open("rb") as stream:  # type: ignore[no-untyped-call]
        return read_header(stream, file_format=file_format, source_name=str(path))


def _remove(folder: ObjectStoragePath) -> None:
    try:
        if folder.exists():
            folder.fs.rm(folder.path, recursive=True)
    except OSError:
        pass


def _copy(src: ObjectStoragePath, dest: ObjectStoragePath) -> str:
    with src.open("rb") as inp, open_for_writing(dest) as out:  # type: ignore[no-untyped-call]
        shutil.copyfileobj(inp, out, 1 << 20)
    return str(dest)


def prepare(
    op: BaseImportOperator, context: Context, source: ObjectStoragePath, file_format: str
) -> Prepared:
    """The file to send for ``source``: the rows the diff selected (or every row, mapped), computed
    once per task instance. A dry run or a run with nothing to send returns its result instead."""
    folder = sync_folder(op, context)
    doc_path = folder / DIFF_NAME
    if doc_path.exists():
        doc = json.loads(doc_path.read_text())
        op.log.info(
            "Reusing the diff of an earlier try or resume (%s; state version %s): not diffing again.",
            doc_path,
            doc["base_version"],
        )
    else:
        doc = _diff(op, context, source, file_format, folder)
    send = folder / doc["send"]
    counts = doc["counts"]
    op.log.info("Sync counts: %s.", json.dumps(counts))
    if op.is_dry_run:
        result = _dry_run(op, context, send, doc)
        _remove(folder)
        return Prepared(send, result)
    if counts["rows_to_send"] == 0:
        message = (
            f"Nothing to send: {counts['rows_total']} rows, none new, changed or failed last time "
            f"(state version {doc['base_version']}); no import job created."
        )
        op.log.info("%s", message)
        _remove(folder)
        return Prepared(send, {"message": message, **_counts(doc), "rows_to_send": 0})
    return Prepared(send)


def _diff(
    op: BaseImportOperator,
    context: Context,
    source: ObjectStoragePath,
    file_format: str,
    folder: ObjectStoragePath,
) -> dict[str, Any]:
    """Diff (or map) ``source`` into ``folder``; write and return ``diff.json`` (written last)."""
    header = _header(source, file_format)
    columns = Columns.of(header, op.field_mapping, str(source))
    ext = "." + file_format
    folder.mkdir(parents=True, exist_ok=True)
    send = folder / f"send{ext}"
    keyless = folder / f"keyless{ext}"
    doc: dict[str, Any] = {
        "send": send.name,
        "file_format": file_format,
        "header": columns.names,
        "field_mapping": op.field_mapping,
        "changes_only": bool(op.changes_only),
        "base_version": 0,
        "base_snapshot": None,
        "rebuild": False,
        "keyless_path": None,
    }
    with tempfile.TemporaryDirectory(prefix="marketo-sync-") as spill, connect(spill) as con:
        location = duck_path(con, source)
        if not op.changes_only:
            doc["counts"] = _project(
                con, location, header, columns, file_format, duck_path(con, send), str(source)
            )
        else:
            key = _key(op)
            store = StateStore(to_object_storage_path(cast("str | ObjectStoragePath", op.sync_state_path)))
            current = store.current()
            if not op.is_dry_run:
                store.check_owner(current, _owner(op, context))
            elif current is not None and current.owner != _owner(op, context):
                # A dry run only reads: it may preview against the state of the sync it stands beside.
                op.log.info("Dry run against the state of %s.", current.owner)
            full = as_bool(op.full_refresh, "full_refresh")
            baseline = Baseline()
            if current is not None:
                doc["base_version"] = current.version
                same_key = [k.lower() for k in current.key] == [k.lower() for k in key.fields]
                changed = (
                    current.columns != columns.names
                    or current.field_mapping != op.field_mapping
                    or current.fingerprint != FINGERPRINT
                )
                if same_key:
                    doc["base_snapshot"] = str(store.snapshot(current))
                    snapshot = duck_path(con, store.snapshot(current))
                    baseline = Baseline(snapshot, all_changed=full or changed)
                doc["rebuild"] = full or not same_key
                if changed or not same_key:
                    op.log.warning(
                        "The columns, field_mapping, key or fingerprint differ from state version %d "
                        "(%s -> %s): every row counts as changed and is sent.",
                        current.version,
                        current.columns,
                        columns.names,
                    )
                elif full:
                    op.log.info("full_refresh: every row is sent and the state is rebuilt.")
            result = run_diff(
                con,
                Source(location, tuple(header), file_format, str(source)),
                key=key,
                columns=columns,
                baseline=baseline,
                duplicate_keys=cast("Any", op.duplicate_keys),
                send_to=duck_path(con, send),
                keyless_to=duck_path(con, keyless),
            )
            doc["counts"] = result.counts
            doc["key"] = list(key.fields)
            doc["email"] = list(key.email)
            if result.counts["rows_without_key"]:
                doc["keyless_path"] = _store_keyless(op, context, keyless, file_format)
    (folder / DIFF_NAME).write_text(json.dumps(doc, indent=1))
    return doc


def _project(
    con: Any,
    location: str,
    header: list[str],
    columns: Columns,
    file_format: str,
    send_to: str,
    source_name: str,
) -> dict[str, Any]:
    """Every row, only the mapped columns under their Marketo names (no key, no state)."""
    selected = ", ".join(f"{quote_identifier(c)} AS {quote_identifier(n)}" for c, n in columns.pairs)
    try:
        con.execute(
            f"COPY (SELECT {selected} FROM {read_csv_sql(location, header, file_format)}) "
            f"TO '{send_to.replace(chr(39), chr(39) * 2)}' ({copy_options(file_format)})"
        )
        total = int(
            con.execute(
                f"SELECT count(*) FROM {read_csv_sql(send_to, columns.names, file_format)}"
            ).fetchone()[0]
        )
    except import_duckdb().Error as err:
        raise input_error(err, source_name) from err
    return {
        "rows_total": total,
        "rows_to_send": total,
        **dict.fromkeys(SUMMARY_COUNTS),
        "duplicate_keys": None,
    }


def _store_keyless(
    op: BaseImportOperator, context: Context, keyless: ObjectStoragePath, file_format: str
) -> str:
    """Keep the rows without key: under ``results_path``, else beside the staged file."""
    name = f"rows_without_key.{file_format}"
    if op.results_path:
        dest = to_object_storage_path(op.results_path) / name
    else:
        dest = staged_path(context, op.staging_path, name)
    where = _copy(keyless, dest)
    op.log.warning("Rows without a key are not sent by a change-only sync; they are in %s.", where)
    return where


def _counts(doc: dict[str, Any]) -> dict[str, Any]:
    """The sync's counts for the summary (``ImportSummary``'s sync fields)."""
    return {
        **{name: doc["counts"].get(name) for name in SUMMARY_COUNTS},
        "rows_without_key_path": doc.get("keyless_path"),
        "state_version": doc["base_version"] or None,
    }


def _dry_run(
    op: BaseImportOperator, context: Context, send: ObjectStoragePath, doc: dict[str, Any]
) -> dict[str, Any]:
    """Store the rows that would be sent (``<task>.rows_to_send.<fmt>`` where the results go) and
    return the counts for the summary; the task's report is written with them. Nothing is sent or
    committed."""
    fmt = doc["file_format"]
    folder = results_dir(op, context)
    assert folder is not None  # a dry run always has one
    rows_path = _copy(send, folder / f"{ResultNames.of(context['ti']).prefix}.rows_to_send.{fmt}")
    result = {**_counts(doc), "dry_run": True, "rows_to_send": doc["counts"]["rows_to_send"]}
    result["rows_to_send_path"] = rows_path
    op.log.info(
        "Dry run: %s rows would be sent (%s); nothing was sent to Marketo and no state committed. "
        "Rows in %s.",
        result["rows_to_send"],
        ", ".join(f"{k}={result[k]}" for k in SUMMARY_COUNTS if result.get(k) is not None),
        rows_path,
    )
    return result


def commit(
    op: BaseImportOperator,
    context: Context,
    summary: dict[str, Any],
    done: Done,
    statuses: list[ImportStatus],
) -> dict[str, Any]:
    """Record what Marketo took (after the checks passed) and add the sync's counts to ``summary``.

    Without ``changes_only`` only the counts of a mapping are added. The sync folder goes after a
    commit; a failed commit keeps it, so a retry commits the same outcome against the same base.
    """
    folder = sync_folder(op, context)
    doc_path = folder / DIFF_NAME
    if not doc_path.exists():
        return summary
    doc = json.loads(doc_path.read_text())
    if not doc["changes_only"]:
        _remove(folder)
        return summary
    key = KeySpec(tuple(doc["key"]), tuple(doc["email"]))
    by_id = {s.batch_id: s for s in statuses}
    jobs = []
    for batch_id in done.batch_ids:
        rows = int(done.rows_sent[str(batch_id)])
        status = by_id[batch_id]
        usable = status.status == "Complete" and status.rows_processed + status.rows_failed == rows
        jobs.append(JobOutcome(batch_id, rows, usable))
    store = StateStore(to_object_storage_path(cast("str | ObjectStoragePath", op.sync_state_path)))
    fmt = doc["file_format"]
    run_id = str(context["ti"].run_id)
    with tempfile.TemporaryDirectory(prefix="marketo-sync-") as spill, connect(spill) as con:
        failures = None
        if summary.get("failures_path"):
            fpath = to_object_storage_path(summary["failures_path"])
            ffmt = infer_format(fpath.name)
            failures = FailuresFile(duck_path(con, fpath), tuple(_header(fpath, ffmt)), ffmt)
        send = folder / doc["send"]
        outcome = record_outcomes(
            con, SentFile(duck_path(con, send), tuple(doc["header"]), fmt), jobs, failures, key
        )
        base = None
        if doc["base_snapshot"] and not doc["rebuild"]:
            base = duck_path(con, to_object_storage_path(doc["base_snapshot"]))
        new = store.commit(
            base_version=int(doc["base_version"]),
            run_id=run_id,
            write_snapshot=lambda path: write_snapshot(
                con, key=key, base=base, run_id=run_id, dest=duck_path(con, path)
            ),
            describe={
                "key": list(key.fields),
                "columns": doc["header"],
                "field_mapping": doc["field_mapping"],
                "fingerprint": FINGERPRINT,
                "owner": _owner(op, context),
            },
        )
    op.log.info(
        "Committed sync state version %d in %s: %d rows recorded as processed, %d failed (sent "
        "again next run), %d unrecorded (their job failed: sent again next run).",
        new.version,
        store.root,
        outcome.get("processed", 0),
        outcome.get("failed", 0),
        outcome.get("unrecorded", 0),
    )
    summary = {**summary, **_counts(doc), "state_version": new.version}
    if not op.results_path:  # the results were only the commit's input, in the sync folder
        summary.update(dict.fromkeys(_RESULT_PATHS))
        summary["batches"] = [{**b, "failures_path": None, "warnings_path": None} for b in summary["batches"]]
    _remove(folder)
    return summary
