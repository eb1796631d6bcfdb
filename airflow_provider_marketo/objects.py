"""The three kinds of Marketo bulk import, their URL paths and the typed job status.

Leads, custom objects and program members share one job lifecycle; only the paths and a few
parameters differ. :class:`BulkTarget` is JSON-friendly (``to_dict``/``from_dict``) so that it
can travel in trigger kwargs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

from airflow_provider_marketo.exceptions import MarketoConfigError

ObjectKind = Literal["leads", "custom_objects", "program_members"]
FileKind = Literal["failures", "warnings"]

OBJECT_KINDS: tuple[str, ...] = get_args(ObjectKind)
TERMINAL_STATUSES = frozenset({"Complete", "Failed"})


@dataclass(frozen=True)
class BulkTarget:
    """Where a bulk import goes: ``leads``, a custom object (``api_name``) or a program (``program_id``)."""

    kind: ObjectKind = "leads"
    api_name: str | None = None
    program_id: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in OBJECT_KINDS:
            raise MarketoConfigError(f"Unknown object type {self.kind!r}; expected one of {OBJECT_KINDS}.")
        if self.kind == "custom_objects" and not self.api_name:
            raise MarketoConfigError("Custom object imports need the object's api_name.")

    @property
    def create_path(self) -> str:
        """Path of the call that creates an import job."""
        if self.kind == "leads":
            return "/bulk/v1/leads.json"
        if self.kind == "custom_objects":
            return f"/bulk/v1/customobjects/{self.api_name}/import.json"
        if self.program_id is None or self.program_id <= 0:
            raise MarketoConfigError("Program member imports need a positive program_id.")
        return f"/bulk/v1/program/{self.program_id}/members/import.json"

    def _batch_base(self, batch_id: int) -> str:
        if self.kind == "leads":
            return f"/bulk/v1/leads/batch/{batch_id}"
        if self.kind == "custom_objects":
            return f"/bulk/v1/customobjects/{self.api_name}/import/{batch_id}"
        return f"/bulk/v1/program/members/import/{batch_id}"

    def status_path(self, batch_id: int) -> str:
        """Path of the job status call."""
        base = self._batch_base(batch_id)
        return f"{base}.json" if self.kind == "leads" else f"{base}/status.json"

    def file_path(self, batch_id: int, which: FileKind) -> str:
        """Path of the failures or warnings file of a job."""
        return f"{self._batch_base(batch_id)}/{which}.json"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "api_name": self.api_name, "program_id": self.program_id}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BulkTarget:
        return cls(kind=data["kind"], api_name=data.get("api_name"), program_id=data.get("program_id"))


@dataclass(frozen=True)
class ImportStatus:
    """One job's status as Marketo reports it (counts are "so far" while importing)."""

    batch_id: int
    kind: ObjectKind
    status: str
    rows_processed: int
    rows_failed: int
    rows_with_warning: int
    message: str | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @classmethod
    def from_result(cls, kind: ObjectKind, result: dict[str, Any]) -> ImportStatus:
        """Build from one element of a status response's ``result``."""
        processed = result.get("numOfLeadsProcessed", result.get("numOfObjectsProcessed", 0))
        return cls(
            batch_id=int(result["batchId"]),
            kind=kind,
            status=str(result["status"]),
            rows_processed=int(processed or 0),
            rows_failed=int(result.get("numOfRowsFailed") or 0),
            rows_with_warning=int(result.get("numOfRowsWithWarning") or 0),
            message=result.get("message"),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImportStatus:
        return cls(
            batch_id=int(data["batch_id"]),
            kind=data["kind"],
            status=str(data["status"]),
            rows_processed=int(data["rows_processed"]),
            rows_failed=int(data["rows_failed"]),
            rows_with_warning=int(data["rows_with_warning"]),
            message=data.get("message"),
        )


def list_leads_path(list_id: int) -> str:
    """Path of Get Leads by List ID, Add to List and Remove from List (Adobe's "List Membership")."""
    return f"/rest/v1/lists/{list_id}/leads.json"


@dataclass(frozen=True)
class ListMemberChange:
    """What a list membership call did to one lead id: ``removed`` / ``added``, or ``skipped`` with
    Marketo's reasons as ``(code, message)`` pairs (e.g. ``("1004", "Lead not found")``)."""

    lead_id: int
    status: str
    reasons: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_result(cls, result: dict[str, Any]) -> ListMemberChange:
        reasons = tuple(
            (str(reason.get("code", "")), str(reason.get("message", "")))
            for reason in result.get("reasons") or ()
            if isinstance(reason, dict)
        )
        return cls(lead_id=int(result["id"]), status=str(result.get("status", "")), reasons=reasons)
