"""Static list membership as Adobe's "List Membership (Static Lists)" page shows it.

Get Leads by List ID pages through a list ``batchSize`` (at most 300) members at a time; each page but
the last carries a ``nextPageToken``, a cursor over the members the first page saw, usable for
``paging_token_ttl`` seconds of simulator time (then error 1003). Remove from List answers per id:
``removed``, ``skipped`` with ``1004 Lead not found`` (Adobe's example), or ``skipped`` with
``1015 Lead not in list`` (Adobe's error code table) for a lead that is not a member.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_marketo.limits import LIST_IDS_PER_CALL
from airflow_provider_marketo.testing.envelope import ApiError
from airflow_provider_marketo.testing.store import DataStore

#: Fields of a page when the call names none (Adobe's page).
DEFAULT_FIELDS = ("email", "updatedAt", "createdAt", "lastName", "firstName", "id")


@dataclass
class Cursor:
    """Where a paging token points: the members seen by the first page and the next position."""

    list_id: int
    members: list[int]
    position: int
    fields: tuple[str, ...]
    expires_at: float


class ListMemberships:
    """Paging cursors over the store's static lists, and the membership changes of the REST calls."""

    def __init__(self, store: DataStore, token_ttl: float) -> None:
        self.store = store
        self.token_ttl = token_ttl
        self.cursors: dict[str, Cursor] = {}

    def _check_list(self, list_id: int) -> None:
        if list_id not in self.store.config.lists:
            raise ApiError("1013", f"Static list {list_id} not found")

    def page(
        self, list_id: int, params: dict[str, str], now: float
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of Get Leads by List ID and the token of the next one (None on the last page)."""
        self._check_list(list_id)
        raw_size = params.get("batchSize") or str(LIST_IDS_PER_CALL)
        if not raw_size.isdigit() or not 1 <= int(raw_size) <= LIST_IDS_PER_CALL:
            raise ApiError("1003", f"Invalid batchSize '{raw_size}', must be 1 to {LIST_IDS_PER_CALL}")
        size = int(raw_size)
        token = params.get("nextPageToken")
        if token:
            cursor = self.cursors.pop(token, None)
            if cursor is None or cursor.expires_at <= now or cursor.list_id != list_id:
                raise ApiError("1003", "Invalid nextPageToken")
        else:
            requested = tuple(f.strip() for f in (params.get("fields") or "").split(",") if f.strip())
            unknown = [
                f for f in requested if f not in self.store.config.lead_fields and f not in DEFAULT_FIELDS
            ]
            if unknown:
                raise ApiError("1006", f"Field '{unknown[0]}' not found")
            members = list(self.store.list_members.get(list_id, {}))
            cursor = Cursor(list_id, members, 0, requested or DEFAULT_FIELDS, 0.0)
        chunk = cursor.members[cursor.position : cursor.position + size]
        cursor.position += len(chunk)
        leads = [self.store.leads[lead_id] for lead_id in chunk if lead_id in self.store.leads]
        result = [{name: lead.get(name) for name in cursor.fields} for lead in leads]
        if cursor.position >= len(cursor.members):
            return result, None
        following = secrets.token_urlsafe(32).upper().replace("-", "A").replace("_", "B") + "==="
        cursor.expires_at = now + self.token_ttl
        self.cursors[following] = cursor
        return result, following

    def remove(self, list_id: int, lead_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Remove from List: the status of each id, in the order sent."""
        self._check_list(list_id)
        ids = _lead_ids(lead_ids)
        members = self.store.list_members.setdefault(list_id, {})
        result: list[dict[str, Any]] = []
        for lead_id in ids:
            if lead_id not in self.store.leads:
                result.append(_skipped(lead_id, "1004", "Lead not found"))
            elif lead_id not in members:
                result.append(_skipped(lead_id, "1015", "Lead not in list"))
            else:
                del members[lead_id]
                result.append({"id": lead_id, "status": "removed"})
        return result

    def add_by_hand(self, list_id: int, ids: Sequence[int], emails: Sequence[str]) -> list[int]:
        """Control API: add existing leads (by id or email) to a list, as a marketer does in Marketo."""
        self._check_list(list_id)
        found = [int(lead_id) for lead_id in ids]
        for email in emails:
            lead_id = self.store.find_lead("email", email)
            if lead_id is None:
                raise ValueError(f"No lead with email {email!r}")
            found.append(lead_id)
        missing = [lead_id for lead_id in found if lead_id not in self.store.leads]
        if missing:
            raise ValueError(f"No lead with id {missing[0]}")
        members = self.store.list_members.setdefault(list_id, {})
        for lead_id in found:
            members[lead_id] = None
        return found


def _skipped(lead_id: int, code: str, message: str) -> dict[str, Any]:
    return {"id": lead_id, "status": "skipped", "reasons": [{"code": code, "message": message}]}


def _lead_ids(raw: Sequence[str]) -> list[int]:
    if not raw:
        raise ApiError("1003", "Missing value for the required parameter 'id'")
    if len(raw) > LIST_IDS_PER_CALL:
        raise ApiError("1003", f"At most {LIST_IDS_PER_CALL} ids are allowed, got {len(raw)}")
    bad = [value for value in raw if not value.strip().isdigit()]
    if bad:
        raise ApiError("1001", f"Invalid value '{bad[0]}'. Required of type 'Integer'")
    return [int(value) for value in raw]
