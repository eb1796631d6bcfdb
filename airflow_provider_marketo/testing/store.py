"""The simulated instance's data (leads, list and program members, custom objects) and row import rules."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from airflow_provider_marketo.testing.config import SimulatorConfig

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_INTEGER = re.compile(r"^[+-]?\d+$")
_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
INVALID_EMAIL = "Invalid email address"


@dataclass(frozen=True)
class RowOutcome:
    """What happened to one row: imported (maybe with a warning) or failed with a reason."""

    failure: str | None = None
    warning: str | None = None


@dataclass(frozen=True)
class ImportSpec:
    """How a job's rows are applied; built and validated when the job is created."""

    kind: str
    columns: list[str]  # canonical field names, aligned with the file header
    lookup_field: str = "email"
    list_id: int | None = None
    partition: str | None = None
    api_name: str | None = None
    program_id: int | None = None
    member_status: str | None = None


def coerce(raw: str, field_type: str) -> tuple[Any, str | None]:
    """Typed value of a non-empty cell and an optional warning; ValueError when the type is wrong."""
    value = raw.strip()
    if field_type == "integer":
        if not _INTEGER.match(value):
            raise ValueError(value)
        return int(value), None
    if field_type == "float":
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(value)
        return number, None
    if field_type == "boolean":
        return _BOOLEANS[value.lower()], None  # KeyError is a LookupError, handled by the caller
    if field_type == "date":
        return date.fromisoformat(value).isoformat(), None
    if field_type == "datetime":
        return datetime.fromisoformat(value.replace("Z", "+00:00")).isoformat(), None
    if field_type == "email":
        return value, None if _EMAIL.match(value) else INVALID_EMAIL
    return raw, None


def resolve_columns(header: Iterable[str], known: Iterable[str]) -> tuple[list[str], list[str]]:
    """Canonical field names for a header (matched case-insensitively) and the unknown columns."""
    by_lower = {name.lower(): name for name in known}
    columns = [by_lower.get(column.lower(), column) for column in header]
    unknown = [column for column in header if column.lower() not in by_lower]
    return columns, unknown


class DataStore:
    """Leads with lookup indexes, static list members, program members and custom object records."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.leads: dict[int, dict[str, Any]] = {}
        self.list_members: dict[int, dict[int, None]] = {}
        self.program_members: dict[int, dict[int, dict[str, Any]]] = {}
        self.custom_objects: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {}
        self._next_lead_id = 1
        self._indexed = sorted(config.lookup_fields() - {"id"})
        self._index: dict[str, dict[Any, set[int]]] = {name: {} for name in self._indexed}

    def apply(self, spec: ImportSpec, record: list[str]) -> RowOutcome:
        """Import one data row of a job."""
        if len(record) != len(spec.columns):
            return RowOutcome(failure=f"Invalid number of columns: expected {len(spec.columns)}")
        if spec.kind == "custom_objects":
            return self._apply_custom_object(spec, record)
        values, outcome = self._typed(spec.columns, record, self.config.lead_fields)
        if outcome.failure:
            return outcome
        lead_id, failure = self._upsert_lead(spec, values)
        if failure:
            return RowOutcome(failure=failure)
        if spec.list_id is not None:
            self.list_members.setdefault(spec.list_id, {})[lead_id] = None
        if spec.program_id is not None:
            members = self.program_members.setdefault(spec.program_id, {})
            email = self.leads[lead_id].get("email")
            members[lead_id] = {"leadId": lead_id, "email": email, "status": spec.member_status}
        return outcome

    def _typed(
        self, columns: list[str], record: list[str], types: dict[str, Any]
    ) -> tuple[dict[str, Any], RowOutcome]:
        values: dict[str, Any] = {}
        warning = None
        for name, raw in zip(columns, record, strict=True):
            if not raw.strip():
                continue
            try:
                values[name], cell_warning = coerce(raw, types[name])
            except (ValueError, LookupError):
                return {}, RowOutcome(failure=f"Invalid data type in field {self.config.display_name(name)}")
            warning = warning or cell_warning
        return values, RowOutcome(warning=warning)

    def _key(self, field: str, value: Any) -> Any:
        return value.lower() if self.config.lead_fields.get(field) == "email" else value

    def _find(self, field: str, value: Any) -> set[int]:
        if field == "id":
            return {value} if value in self.leads else set()
        return set(self._index[field].get(self._key(field, value), ()))

    def _upsert_lead(self, spec: ImportSpec, values: dict[str, Any]) -> tuple[int, str | None]:
        lookup = spec.lookup_field
        if lookup not in values:
            return 0, f"Value for lookup field '{lookup}' not found"
        matches = self._find(lookup, values[lookup])
        if len(matches) > 1:
            return 0, "1007 Multiple leads match the lookup criteria"
        if not matches and lookup == "id":
            return 0, "1004 Lead not found"
        if matches:
            lead = self.leads[matches.pop()]
            values = {name: value for name, value in values.items() if name != lookup}
        else:
            lead = {"id": self._next_lead_id, "partitionName": spec.partition or "Default"}
            self._next_lead_id += 1
            self.leads[lead["id"]] = lead
        if spec.partition:
            lead["partitionName"] = spec.partition
        for name, value in values.items():
            if name == "id":
                continue
            if name in self._index:
                self._reindex(name, lead, value)
            lead[name] = value
        return int(lead["id"]), None

    def _reindex(self, field: str, lead: dict[str, Any], value: Any) -> None:
        index = self._index[field]
        if field in lead:
            index.get(self._key(field, lead[field]), set()).discard(lead["id"])
        index.setdefault(self._key(field, value), set()).add(lead["id"])

    def find_lead(self, field: str, value: Any) -> int | None:
        """The id of the one lead whose ``field`` is ``value`` (emails in any case), else None."""
        matches = self._find(field, value)
        return next(iter(matches)) if len(matches) == 1 else None

    def _apply_custom_object(self, spec: ImportSpec, record: list[str]) -> RowOutcome:
        assert spec.api_name is not None
        schema = self.config.custom_objects[spec.api_name]
        known = [
            (name, raw) for name, raw in zip(spec.columns, record, strict=True) if name in schema["fields"]
        ]
        values, outcome = self._typed(
            [name for name, _ in known], [raw for _, raw in known], schema["fields"]
        )
        if outcome.failure:
            return outcome
        if any(name not in values for name in schema["dedupe"]):
            return RowOutcome(failure="missing.dedupe.fields")
        key = tuple(values[name] for name in schema["dedupe"])
        self.custom_objects.setdefault(spec.api_name, {}).setdefault(key, {}).update(values)
        return outcome
