"""The sensor's arguments after rendering: batch ids, rows sent per batch, target and results folder.

``batch_ids`` is an import task's output (:class:`ImportOutput`, or a list of them from a mapped
task), which names the target and the rows sent; or plain batch ids with the target given in
``object_type`` / ``api_name`` / ``program_id``. Values may come as Python objects or as rendered
template strings (``"[1, 2]"``, ``"{'12': 5}"``); each is checked with a specific message.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from airflow.sdk import ObjectStoragePath

from airflow_provider_marketo._compat import AirflowException
from airflow_provider_marketo.objects import BulkTarget, ObjectKind
from airflow_provider_marketo.operators.output import ImportOutput, check_output, is_import_output, target_of
from airflow_provider_marketo.results import check_rows_sent


def _is_list(value: object) -> TypeGuard[Iterable[Any]]:
    return isinstance(value, Iterable) and not isinstance(value, str | bytes | Mapping)


def _literal(value: object, name: str, expected: str) -> object:
    if not isinstance(value, str):
        return value
    try:
        return ast.literal_eval(value.strip())
    except (ValueError, SyntaxError):
        raise AirflowException(f"{name} must be {expected}; got the string {value!r}.") from None


def _to_int(item: object, name: str, minimum: int) -> int:
    try:
        if isinstance(item, bool) or not isinstance(item, int | str):
            raise ValueError
        number = int(item)
    except ValueError:
        raise AirflowException(f"{name} must contain integers; got {item!r}.") from None
    if number < minimum:
        raise AirflowException(f"{name} must contain integers >= {minimum}; got {number}.")
    return number


def as_int_list(value: object, name: str, *, minimum: int) -> list[int]:
    """Normalise a list, a single number or a rendered string like ``"[1, 2]"`` or ``"12"``.

    A list of lists (the output of a mapped import task) is flattened in order.
    """
    expected = "a list of integers or one integer"
    value = _literal(value, name, expected)
    if not _is_list(value) and (isinstance(value, bool) or not isinstance(value, int | str)):
        raise AirflowException(f"{name} must be {expected}; got {value!r}.")
    items = value if _is_list(value) else [value]
    flat = [element for item in items for element in (item if _is_list(item) else [item])]
    return [_to_int(item, name, minimum) for item in flat]


def batch_id_list(value: object) -> list[int]:
    """The batch ids, flattened, each once."""
    batch_ids = as_int_list(value, "batch_ids", minimum=1)
    if len(set(batch_ids)) != len(batch_ids):
        raise AirflowException(f"batch_ids must not repeat a batch id; got {batch_ids}.")
    return batch_ids


def import_outputs(value: object, name: str = "batch_ids") -> list[ImportOutput] | None:
    """The import task outputs in ``value`` (one, or a mapped task's list), each checked whole;
    None when ``value`` holds plain batch ids."""
    value = _literal(value, name, "an import task's output or a list of integers")
    items = [value] if isinstance(value, Mapping) else list(value) if _is_list(value) else []
    outputs = [item for item in items if is_import_output(item)]
    if not outputs:
        return None
    if len(outputs) != len(items):
        raise AirflowException(f"{name} mixes import task outputs with other values; got {value!r:.200}.")
    return [check_output(output, name) for output in outputs]


def output_target(
    outputs: list[ImportOutput], object_type: ObjectKind | None, api_name: str | None, program_id: object
) -> BulkTarget:
    """The one target of ``outputs``; target arguments, when given too, must name the same."""
    targets = {target_of(output) for output in outputs}
    if len(targets) != 1:
        raise AirflowException(f"batch_ids holds outputs of imports into different targets: {targets}.")
    (target,) = targets
    contradicting = [
        f"{name}={mine!r}"
        for name, mine, theirs in (
            ("object_type", object_type, target.kind),
            ("api_name", api_name or None, target.api_name),
            ("program_id", program_number(program_id), target.program_id),
        )
        if mine is not None and mine != theirs
    ]
    if contradicting:
        raise AirflowException(
            f"{', '.join(contradicting)} contradicts the import task's output, whose batches went to "
            f"{target.to_dict()}. Leave the target arguments out: the output names the target."
        )
    return target


def output_rows_sent(outputs: list[ImportOutput]) -> dict[int, int]:
    """``{batch_id: rows}`` of every batch of ``outputs``."""
    return {batch["batch_id"]: batch["rows_sent"] for output in outputs for batch in output["batches"]}


def rows_sent_by_batch(value: object, batch_ids: list[int]) -> dict[int, int] | None:
    """``{batch_id: rows}`` from one mapping or a list of mappings (a mapped task); None if not given.

    Keys may be strings (XCom is JSON). An import task's output (or a list of them: what the
    deprecated ``rows_sent_output`` gives) is read as its rows per batch. A plain list of counts is
    refused: it can only be aligned by position, which a reordered ``batch_ids`` silently breaks.
    """
    if value is None or value == "":
        return None
    expected = "a mapping {batch_id: rows}"
    value = _literal(value, "rows_sent", expected)
    outputs = import_outputs(value, "rows_sent")
    if outputs is not None:
        rows = output_rows_sent(outputs)
        check_rows_sent(batch_ids, rows)
        return rows
    mappings = [value] if isinstance(value, Mapping) else list(value) if _is_list(value) else None
    if mappings is None or not all(isinstance(m, Mapping) for m in mappings):
        raise AirflowException(
            f"rows_sent must be {expected} or a list of such mappings (a mapped import task); "
            f"got {value!r:.200}. Pass batch_ids=import_task.output (it holds the rows sent), not a list "
            "of counts."
        )
    rows_sent: dict[int, int] = {}
    for mapping in mappings:
        for key, rows in mapping.items():
            batch_id = _to_int(key, "rows_sent's keys", 1)
            if batch_id in rows_sent:
                raise AirflowException(f"rows_sent has two entries for batch {batch_id}.")
            rows_sent[batch_id] = _to_int(rows, "rows_sent's values", 0)
    check_rows_sent(batch_ids, rows_sent)
    return rows_sent


def program_number(program_id: object) -> int | None:
    """The rendered ``program_id`` as an integer; None when not given."""
    if program_id is None or program_id == "":
        return None
    try:
        return int(str(program_id))
    except ValueError:
        raise AirflowException(f"program_id must be an integer; got {program_id!r}.") from None


def bulk_target(object_type: ObjectKind, api_name: str | None, program_id: object) -> BulkTarget:
    return BulkTarget(object_type, api_name=api_name or None, program_id=program_number(program_id))


def results_folder(value: str | ObjectStoragePath | None) -> ObjectStoragePath | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, ObjectStoragePath) else ObjectStoragePath(str(value))


@dataclass(frozen=True)
class SensorArguments:
    """The rendered arguments, parsed and checked once."""

    batch_ids: list[int]
    rows_sent: dict[int, int] | None
    target: BulkTarget
    results_dir: ObjectStoragePath | None

    @classmethod
    def parse(
        cls,
        batch_ids: object,
        rows_sent: object,
        object_type: ObjectKind | None,
        api_name: str | None,
        program_id: object,
        results_path: str | ObjectStoragePath | None,
    ) -> SensorArguments:
        """From import task output(s): their batch ids, target and rows sent (``rows_sent``, if also
        given, must agree); from plain batch ids: the target arguments (default: leads)."""
        outputs = import_outputs(batch_ids)
        if outputs is None:
            ids = batch_id_list(batch_ids)
            return cls(
                batch_ids=ids,
                rows_sent=rows_sent_by_batch(rows_sent, ids),
                target=bulk_target(object_type or "leads", api_name, program_id),
                results_dir=results_folder(results_path),
            )
        ids = batch_id_list([batch["batch_id"] for output in outputs for batch in output["batches"]])
        sent = output_rows_sent(outputs)
        given = rows_sent_by_batch(rows_sent, ids)
        if given is not None and given != sent:
            raise AirflowException(
                f"rows_sent {given} contradicts the rows sent in the import task's output {sent}; "
                "leave rows_sent out: the output holds it."
            )
        return cls(
            batch_ids=ids,
            rows_sent=sent,
            target=output_target(outputs, object_type, api_name, program_id),
            results_dir=results_folder(results_path),
        )
