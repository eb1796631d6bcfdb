"""The sensor's arguments after rendering: batch ids, rows sent per batch, target and results folder.

Values may come as Python objects (``import_task.output``, a mapped task's list of lists) or as
rendered template strings (``"[1, 2]"``, ``"{'12': 5}"``); each is checked with a specific message.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from airflow.sdk import ObjectStoragePath

from airflow_provider_marketo._compat import AirflowException
from airflow_provider_marketo.objects import BulkTarget, ObjectKind
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


def rows_sent_by_batch(value: object, batch_ids: list[int]) -> dict[int, int] | None:
    """``{batch_id: rows}`` from one mapping or a list of mappings (a mapped task); None if not given.

    Keys may be strings (XCom is JSON). A plain list of counts is refused: it can only be aligned by
    position, which a reordered ``batch_ids`` silently breaks.
    """
    if value is None or value == "":
        return None
    expected = "a mapping {batch_id: rows} (the import task's rows_sent_output)"
    value = _literal(value, "rows_sent", expected)
    mappings = [value] if isinstance(value, Mapping) else list(value) if _is_list(value) else None
    if mappings is None or not all(isinstance(m, Mapping) for m in mappings):
        raise AirflowException(
            f"rows_sent must be {expected} or a list of such mappings (a mapped import task); "
            f"got {value!r:.200}. Pass rows_sent=import_task.rows_sent_output, not a list of counts."
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


def bulk_target(object_type: ObjectKind, api_name: str | None, program_id: object) -> BulkTarget:
    number = None
    if program_id is not None and program_id != "":
        try:
            number = int(str(program_id))
        except ValueError:
            raise AirflowException(f"program_id must be an integer; got {program_id!r}.") from None
    return BulkTarget(object_type, api_name=api_name or None, program_id=number)


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
