"""The one way to name an import target: ``object_type`` plus the arguments of that kind.

The import operators fix ``object_type`` by class (leads, custom objects, program members);
``SqlToMarketoOperator`` takes it as an argument; both build an :class:`ImportKind` from the
rendered arguments, which holds every rule that differs by kind: the target, the create call's
parameters, the lookup column, the job limit and the required columns. ``BulkImportSensor`` names a
target with the same ``object_type`` / ``api_name`` / ``program_id`` when it is not given an import
task's output.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_marketo.exceptions import MarketoConfigError
from airflow_provider_marketo.objects import OBJECT_KINDS, BulkTarget, ObjectKind
from airflow_provider_marketo.operators._arguments import positive_int
from airflow_provider_marketo.operators._state import ParamValue

#: Arguments that only one kind takes.
KIND_ARGUMENTS: dict[str, ObjectKind] = {
    "lookup_field": "leads",
    "list_id": "leads",
    "partition_name": "leads",
    "api_name": "custom_objects",
    "program_id": "program_members",
    "program_member_status": "program_members",
}
#: Kind arguments a user may leave out.
OPTIONAL_ARGUMENTS = frozenset({"lookup_field", "list_id", "partition_name"})


def _given(value: Any) -> bool:
    return value not in (None, "")


def check_kind_arguments(object_type: str, arguments: Mapping[str, Any]) -> None:
    """At DAG parse time: ``object_type`` is known, its required arguments are given and no argument
    of another kind is (a ``ValueError`` naming it)."""
    if object_type not in OBJECT_KINDS:
        raise ValueError(f"object_type must be one of {', '.join(OBJECT_KINDS)}, got {object_type!r}.")
    for name, value in arguments.items():
        if _given(value) and KIND_ARGUMENTS[name] != object_type:
            raise ValueError(f"{name} applies to object_type={KIND_ARGUMENTS[name]!r} only.")
    needed = [n for n, kind in KIND_ARGUMENTS.items() if kind == object_type and n not in OPTIONAL_ARGUMENTS]
    missing = [name for name in needed if not _given(arguments.get(name))]
    if missing:
        raise ValueError(f"object_type={object_type!r} needs {' and '.join(missing)}.")


@dataclass(frozen=True)
class ImportKind:
    """The rules of one kind of import, from the rendered arguments (``object_type`` and its own)."""

    object_type: ObjectKind
    lookup_field: str | None = None
    list_id: int | str | None = None
    partition_name: str | None = None
    api_name: str | None = None
    program_id: int | str | None = None
    program_member_status: str | None = None

    @classmethod
    def of(cls, object_type: ObjectKind, source: object) -> ImportKind:
        """The kind named by ``object_type``, its arguments read from the attributes of ``source``."""
        names = [name for name, kind in KIND_ARGUMENTS.items() if kind == object_type]
        return cls(object_type, **{name: getattr(source, name, None) for name in names})

    @property
    def target(self) -> BulkTarget:
        """Where the rows go."""
        if self.object_type == "program_members":
            return BulkTarget("program_members", program_id=positive_int(self.program_id, "program_id"))
        if self.object_type == "custom_objects":
            return BulkTarget("custom_objects", api_name=self.api_name)
        return BulkTarget("leads")

    def create_params(self) -> dict[str, ParamValue]:
        """Parameters of the create call besides ``format`` (None values are not sent)."""
        if self.object_type == "program_members":
            status = (self.program_member_status or "").strip()
            if not status:
                raise MarketoConfigError("program_member_status must not be empty.")
            return {"programMemberStatus": status}
        if self.object_type == "custom_objects":
            return {}
        return {
            "lookupField": self.lookup_field or None,
            "listId": positive_int(self.list_id, "list_id") if _given(self.list_id) else None,
            "partitionName": self.partition_name or None,
        }

    @property
    def lookup_column(self) -> str | None:
        """The column the header must hold to match existing records (leads: ``email`` by default)."""
        return (self.lookup_field or "email") if self.object_type == "leads" else None

    @property
    def required_columns(self) -> tuple[str, ...]:
        """Columns every file needs (program members: ``email``)."""
        return ("email",) if self.object_type == "program_members" else ()

    def job_limit(self, max_active_jobs: int) -> int:
        """How many of the task's jobs may be queued or importing at once: one when leads go into a
        static list (two imports into one list at once fail with 1019)."""
        return 1 if self.object_type == "leads" and _given(self.list_id) else max_active_jobs
