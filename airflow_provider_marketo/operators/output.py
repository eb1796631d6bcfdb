"""What an import task returns: :class:`ImportOutput`, the same JSON-friendly dict with and without
``wait_for_completion``, for the three import operators and ``SqlToMarketoOperator``.

It is the hand-off to :class:`~airflow_provider_marketo.sensors.bulk_import.BulkImportSensor`:
``BulkImportSensor(task_id="wait", batch_ids=import_task.output)`` learns the target and the rows
sent per batch from it (a mapped import task gives a list of them). :func:`check_output` validates
such a value against these ``TypedDict`` declarations at run time (the sensor calls it).

Example (a custom object import of two parts, without ``wait_for_completion``)::

    {
        "target": {"kind": "custom_objects", "api_name": "car_c", "program_id": None},
        "batches": [{"batch_id": 1201, "rows_sent": 41000}, {"batch_id": 1202, "rows_sent": 3500}],
        "rows_sent": 44500,
        "result": None,
    }
"""

import types
from collections.abc import Mapping, Sequence
from typing import Any, Literal, NotRequired, TypedDict, Union, get_args, get_origin, get_type_hints

from airflow_provider_marketo.exceptions import MarketoConfigError
from airflow_provider_marketo.objects import BulkTarget, ObjectKind

__all__ = [
    "BatchSent",
    "BatchSummary",
    "ImportOutput",
    "ImportSummary",
    "OutputTarget",
    "batch_ids_of",
    "check_output",
    "is_import_output",
    "make_output",
    "target_of",
]


class OutputTarget(TypedDict):
    """Where the rows went (``BulkTarget.to_dict()``)."""

    #: ``leads``, ``custom_objects`` or ``program_members``.
    kind: ObjectKind
    #: The custom object's API name (``car_c``); None for the other kinds.
    api_name: str | None
    #: The program's id; None for the other kinds.
    program_id: int | None


class BatchSent(TypedDict):
    """One job the task created, in part order."""

    #: Marketo's batch id of the job (valid for 7 days).
    batch_id: int
    #: Data rows (header not counted) sent in the job's file.
    rows_sent: int


class BatchSummary(TypedDict):
    """One finished job in :attr:`ImportSummary.batches`."""

    batch_id: int
    #: ``Complete`` or ``Failed``.
    status: str
    rows_processed: int
    rows_failed: int
    rows_with_warning: int
    #: Marketo's message for the job, if any.
    message: str | None
    #: The job's stored ``<batch_id>_failures.<ext>`` (None: none, or no ``results_path``).
    failures_path: str | None
    #: Failed rows per reason (at most 1000 reasons, the rest under ``(other reasons)``).
    failure_reasons: dict[str, int]
    warnings_path: str | None
    warning_reasons: dict[str, int]
    #: Data rows sent in the job; only when known.
    rows_sent: NotRequired[int]
    #: processed + failed == sent; only when the rows sent are known.
    rows_accounted: NotRequired[bool]


class ImportSummary(TypedDict):
    """The outcome of finished jobs: what ``BulkImportSensor`` returns and ``report.json`` holds
    (built by :func:`airflow_provider_marketo.results.finish_batches`)."""

    #: ``success``, or ``failed`` when a check failed (the task fails after storing it).
    status: Literal["success", "failed"]
    #: The problems found, or ``"<n> import jobs finished"``.
    message: str
    #: Rows of every job together: imported, failed, imported with a warning.
    rows_processed: int
    rows_failed: int
    rows_with_warning: int
    #: Data rows sent in all jobs; None when not known.
    rows_sent: int | None
    #: Every job's rows add up (processed + failed == sent); None when the rows sent are not known.
    rows_accounted: bool | None
    #: The ``results_path`` folder, and its ``report.json``; None without ``results_path``.
    results_path: str | None
    report_path: str | None
    #: The merged ``failures.<ext>`` / ``warnings.<ext>`` (``batch_id`` column first), if any.
    failures_path: str | None
    #: Rows per reason over all jobs, most frequent first.
    failure_reasons: dict[str, int]
    warnings_path: str | None
    warning_reasons: dict[str, int]
    #: One entry per job, in batch id order given.
    batches: list[BatchSummary]
    #: The task instance that finished the jobs: its files under ``results_path`` are named after
    #: it (``<task_id>[.map_index=<n>].report.json``, ...); ``map_index`` -1 when not mapped.
    task_id: NotRequired[str]
    map_index: NotRequired[int]
    #: True for a dry run: nothing was sent (and, mirroring, nothing removed).
    dry_run: NotRequired[bool]
    #: With ``list_membership="mirror"`` (``docs/mirror.md``): the list, its members when it was
    #: read, the rows this run's import put on it (a dry run: the export's keys not on it), the
    #: members removed (a dry run: that would be), the removals Marketo skipped, the export rows
    #: that are not members because Marketo failed them, and the API calls the mirror used.
    list_id: NotRequired[int]
    list_membership: NotRequired[str]
    list_members_before: NotRequired[int]
    list_added: NotRequired[int]
    list_removed: NotRequired[int]
    list_removal_skipped: NotRequired[int]
    list_not_members: NotRequired[int]
    list_calls: NotRequired[int]
    #: A change-only sync (``docs/sync.md``): rows new, changed, unchanged, failed last time and
    #: sent again, in the state but not in this export, and without a key (not sent; kept in
    #: ``rows_without_key_path``); the state version committed (a run that sent nothing: the one it
    #: read). None where a count does not apply (a ``field_mapping`` without ``changes_only``).
    rows_new: NotRequired[int | None]
    rows_changed: NotRequired[int | None]
    rows_unchanged: NotRequired[int | None]
    rows_retried: NotRequired[int | None]
    rows_absent: NotRequired[int | None]
    rows_without_key: NotRequired[int | None]
    rows_without_key_path: NotRequired[str | None]
    state_version: NotRequired[int | None]
    #: A dry run (or a sync that sent nothing): the rows that would be sent, and where they are.
    rows_to_send: NotRequired[int]
    rows_to_send_path: NotRequired[str]


class ImportOutput(TypedDict):
    """What an import task returns (its ``return_value`` XCom), with or without ``wait_for_completion``.

    The batch ids alone are also in the task's ``batch_ids`` XCom (a list of integers).
    """

    #: Where the rows went.
    target: OutputTarget
    #: Each job the task created, in part order; empty when the source had no data row.
    batches: list[BatchSent]
    #: Data rows sent in all jobs together.
    rows_sent: int
    #: With ``wait_for_completion``: the finished jobs' summary, as the sensor returns it;
    #: None without ``wait_for_completion`` (a sensor waits).
    result: ImportSummary | None


def make_output(
    target: BulkTarget, batches: Sequence[tuple[int, int]], result: Mapping[str, Any] | None = None
) -> ImportOutput:
    """The output of a task that created ``batches`` (``(batch_id, rows_sent)`` in part order)."""
    sent: list[BatchSent] = [{"batch_id": b, "rows_sent": rows} for b, rows in batches]
    return check_output(
        {
            "target": target.to_dict(),
            "batches": sent,
            "rows_sent": sum(rows for _, rows in batches),
            "result": None if result is None else dict(result),
        }
    )


def is_import_output(value: object) -> bool:
    """Whether ``value`` looks like an :class:`ImportOutput` (a mapping with its keys); it is then
    checked whole by :func:`check_output`."""
    return isinstance(value, Mapping) and {"target", "batches"} <= value.keys()


def check_output(value: object, name: str = "import output") -> ImportOutput:
    """``value`` if it is an :class:`ImportOutput` (every field of every nested ``TypedDict``, with
    its type), else a :class:`MarketoConfigError` naming the first field that is not."""
    _check(value, ImportOutput, name)
    output: ImportOutput = value  # type: ignore[assignment]
    BulkTarget.from_dict(dict(output["target"]))  # a custom object target without api_name, ...
    if output["rows_sent"] != sum(b["rows_sent"] for b in output["batches"]):
        raise MarketoConfigError(f"{name}: rows_sent is not the sum of its batches' rows_sent.")
    return output


def batch_ids_of(output: ImportOutput) -> list[int]:
    """The batch ids of an output, in part order."""
    return [batch["batch_id"] for batch in output["batches"]]


def target_of(output: ImportOutput) -> BulkTarget:
    """The output's target as a :class:`BulkTarget`."""
    return BulkTarget.from_dict(dict(output["target"]))


def _check(value: object, expected: Any, where: str) -> None:
    """Check ``value`` against a type made of TypedDicts, lists, ``dict[str, int]``, Literals,
    unions and the JSON scalars (the only types the declarations above use)."""
    origin = get_origin(expected)
    if expected is type(None):
        ok = value is None
    elif expected is bool:
        ok = isinstance(value, bool)
    elif expected is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif expected in (str, float):
        ok = isinstance(value, expected)
    elif origin is Literal:
        ok = value in get_args(expected)
    elif origin in (Union, types.UnionType):
        options = get_args(expected)
        if value is None and type(None) in options:
            return
        others = [option for option in options if option is not type(None)]
        if len(others) == 1:  # X | None: the error about X
            _check(value, others[0], where)
            return
        for option in others:
            try:
                _check(value, option, where)
                return
            except MarketoConfigError:
                pass
        raise _error(where, expected, value)
    elif origin is list:
        if not isinstance(value, list | tuple):
            raise _error(where, expected, value)
        (item,) = get_args(expected)
        for index, element in enumerate(value):
            _check(element, item, f"{where}[{index}]")
        return
    elif origin is dict:
        if not isinstance(value, Mapping):
            raise _error(where, expected, value)
        key_type, item = get_args(expected)
        for key, element in value.items():
            _check(key, key_type, f"{where} key")
            _check(element, item, f"{where}[{key!r}]")
        return
    elif isinstance(expected, type) and issubclass(expected, dict) and hasattr(expected, "__required_keys__"):
        _check_typed_dict(value, expected, where)
        return
    else:
        raise TypeError(f"no runtime check for {expected!r}")
    if not ok:
        raise _error(where, expected, value)


def _check_typed_dict(value: object, expected: Any, where: str) -> None:
    if not isinstance(value, Mapping):
        raise _error(where, expected, value)
    hints = get_type_hints(expected)
    missing = sorted(expected.__required_keys__ - value.keys())
    unknown = sorted(set(value) - set(hints))
    if missing or unknown:
        parts = ([f"missing {missing}"] if missing else []) + ([f"unknown {unknown}"] if unknown else [])
        raise MarketoConfigError(f"{where} is not a {expected.__name__}: {'; '.join(parts)}.")
    for key, element in value.items():
        _check(element, hints[key], f"{where}[{key!r}]")


def _error(where: str, expected: Any, value: object) -> MarketoConfigError:
    name = getattr(expected, "__name__", None) or str(expected).replace("typing.", "")
    return MarketoConfigError(f"{where} must be {name}; got {value!r:.100}.")
