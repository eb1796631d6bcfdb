"""Mirroring a static list: after the import, the list holds exactly the leads of the export.

The step runs once the import's jobs have finished (``wait_for_completion``). It reads the keys of the
whole export (the delimited file the operator imported: with a change-only sync, unchanged rows are
not sent but their leads stay members), reads the list's members (Get Leads by List ID: id and lookup
field, 300 a call), and removes every member whose key is not in the export (Remove from List, 300 ids
a call). Keys compare with :func:`airflow_provider_marketo.sync.keys.normalize_key`. Leads are never
deleted, only taken off the list. Before removing anything, the guard (``max_list_removals``) refuses a
removal larger than a count or a fraction of the members: an empty export would otherwise empty the list.

Everything is computed again from Marketo's list and the export on every try, and a lead whose key is
in the export is never in the removal set: a step killed half way resumes by reading the list again.
"""

from __future__ import annotations

import csv
import functools
import io
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from airflow.sdk import ObjectStoragePath

from airflow_provider_marketo._compat import AirflowFailException
from airflow_provider_marketo.exceptions import MarketoListBusyError, MarketoPagingTokenError
from airflow_provider_marketo.hooks.marketo import MarketoHook
from airflow_provider_marketo.limits import LIST_IDS_PER_CALL
from airflow_provider_marketo.objects import ListMemberChange
from airflow_provider_marketo.operators._state import TaskLog
from airflow_provider_marketo.results.finish import write_report
from airflow_provider_marketo.sync.keys import is_email_field, normalize_key
from airflow_provider_marketo.utils.formats import FORMATS

LIST_MEMBERSHIPS = ("add", "mirror")
#: Keys named in a guard refusal and in the log.
FIRST_KEYS = 10
#: Full re-reads of the list after Marketo refused a paging token (expired during a slow read).
MAX_READ_RESTARTS = 2
#: Longest pause between two tries of a removal refused with 1019 (an import into the list runs).
MAX_BUSY_PAUSE = 30.0


@dataclass(frozen=True)
class MirrorOptions:
    """``list_membership="mirror"`` and its guard, checked when the DAG is parsed."""

    max_list_removals: int | float | None

    def allowed(self, members: int) -> float:
        """How many removals the guard lets through for a list of ``members``."""
        limit = self.max_list_removals
        if limit is None:
            return float("inf")
        return limit * members if isinstance(limit, float) else float(limit)


def mirror_options(
    list_membership: str,
    max_list_removals: int | float | None,
    *,
    list_id: object,
    wait_for_completion: bool,
) -> MirrorOptions | None:
    """The mirror settings (None for ``"add"``); ValueError for a combination that cannot work."""
    if list_membership not in LIST_MEMBERSHIPS:
        raise ValueError(f"list_membership must be 'add' or 'mirror', got {list_membership!r}.")
    limit = max_list_removals
    if isinstance(limit, bool) or not (
        limit is None
        or (isinstance(limit, int) and limit >= 0)
        or (isinstance(limit, float) and 0.0 <= limit <= 1.0)
    ):
        raise ValueError(
            "max_list_removals must be a count (int >= 0), a fraction of the members (float from 0 to 1) "
            f"or None, got {max_list_removals!r}."
        )
    if list_membership == "add":
        return None
    if list_id in (None, ""):
        raise ValueError("list_membership='mirror' needs list_id: the static list to mirror.")
    if not wait_for_completion:
        raise ValueError(
            "list_membership='mirror' needs wait_for_completion=True: the list is mirrored once the "
            "import's jobs have finished."
        )
    return MirrorOptions(limit)


def _rows(path: ObjectStoragePath, file_format: str) -> Iterator[list[str]]:
    with path.open("rb") as raw:  # type: ignore[no-untyped-call]
        text = io.TextIOWrapper(cast("io.BufferedReader", raw), encoding="utf-8-sig", newline="")
        yield from csv.reader(text, delimiter=FORMATS[file_format])


def has_data_rows(path: ObjectStoragePath, file_format: str) -> bool:
    """Whether the export has a row after its header (an empty export goes straight to the guard)."""
    rows = _rows(path, file_format)
    next(rows, None)
    return any(any(cell for cell in row) for row in rows)


def export_keys(path: ObjectStoragePath, file_format: str, lookup_field: str) -> tuple[set[str], int]:
    """The normalized keys of every row of the imported file, and the rows without a key.

    Streams the file with the ``csv`` module and the format's delimiter (the quote rules the import
    validated); the lookup column is found by name in any case, as Marketo matches header names.
    """
    email = is_email_field(lookup_field)
    keys: set[str] = set()
    no_key = 0
    reader = _rows(path, file_format)
    header = next(reader, [])
    wanted = lookup_field.lower()
    column = next((i for i, name in enumerate(header) if name.lower() == wanted), None)
    if column is None:
        raise AirflowFailException(f"{path} has no column {lookup_field!r} to match list members on.")
    for row in reader:
        if not any(row):
            continue  # a blank line is no row
        key = normalize_key(row[column], email=email) if column < len(row) else ""
        if key:
            keys.add(key)
        else:
            no_key += 1
    return keys, no_key


@dataclass
class ListMembers:
    """The members of a list by lead id, with their normalized key, and the calls it took to read them."""

    keys: dict[int, str] = field(default_factory=dict)
    calls: int = 0


def read_members(hook: MarketoHook, list_id: int, lookup_field: str, log: TaskLog) -> ListMembers:
    """Every member of the list (id and lookup field); read again from the start if a paging token
    expires (at most :data:`MAX_READ_RESTARTS` times)."""
    email = is_email_field(lookup_field)
    fields = ("id",) if lookup_field == "id" else ("id", lookup_field)
    calls = 0
    for attempt in range(MAX_READ_RESTARTS + 1):
        members = ListMembers()
        try:
            for page in hook.iter_list_members(list_id, fields):
                members.calls += 1
                for lead in page:
                    value = lead.get(lookup_field)
                    members.keys[int(lead["id"])] = normalize_key(
                        "" if value is None else str(value), email=email
                    )
        except MarketoPagingTokenError as exc:
            calls += members.calls + 1
            if attempt == MAX_READ_RESTARTS:
                raise
            log.warning("%s Reading list %d again from the start.", exc, list_id)
            continue
        members.calls += calls
        return members
    raise AssertionError("unreachable")


@dataclass
class MirrorPlan:
    """What mirroring changes: members to remove (id, key), export keys not on the list."""

    members_before: int
    to_remove: list[tuple[int, str]]
    not_members: int
    would_add: int


def plan_mirror(members: ListMembers, keys: set[str]) -> MirrorPlan:
    """Members whose key is not in the export are removed; nothing else is."""
    to_remove = sorted((lead_id, key) for lead_id, key in members.keys.items() if key not in keys)
    on_list = set(members.keys.values())
    missing = sum(1 for key in keys if key not in on_list)
    return MirrorPlan(len(members.keys), to_remove, missing, missing)


def check_guard(options: MirrorOptions, plan: MirrorPlan, list_id: int) -> None:
    """Refuse (before anything is removed) a removal over ``max_list_removals``."""
    count, members = len(plan.to_remove), plan.members_before
    allowed = options.allowed(members)
    if count <= allowed:
        return
    limit = options.max_list_removals
    what = f"{limit} of the members ({allowed:g})" if isinstance(limit, float) else f"{limit}"
    first = ", ".join(key or f"(no value, lead {lead_id})" for lead_id, key in plan.to_remove[:FIRST_KEYS])
    raise AirflowFailException(
        f"Mirroring list {list_id} would remove {count} of its {members} members "
        f"({count / max(members, 1):.0%}), more than max_list_removals={what}. Nothing was removed. "
        f"First keys to remove: {first}. If the export really shrank that much, raise "
        "max_list_removals (or set it to None) for this run."
    )


T = TypeVar("T")


def while_busy(
    call: Callable[[], T], list_id: int, *, max_busy_wait: float, poll_interval: float, log: TaskLog
) -> tuple[T, int]:
    """``call()``, tried again while the list is busy with an import (1019) for up to ``max_busy_wait``
    seconds; returns its result and the number of tries."""
    started, pause, tries = time.monotonic(), poll_interval, 0
    while True:
        tries += 1
        try:
            return call(), tries
        except MarketoListBusyError:
            if time.monotonic() - started >= max_busy_wait:
                raise
            log.info("List %d is busy with an import (1019); trying again in %.1f s.", list_id, pause)
            time.sleep(pause)
            pause = min(pause * 2, MAX_BUSY_PAUSE)


def _batches(items: Sequence[tuple[int, str]]) -> Iterator[Sequence[tuple[int, str]]]:
    for start in range(0, len(items), LIST_IDS_PER_CALL):
        yield items[start : start + LIST_IDS_PER_CALL]


def remove_members(
    hook: MarketoHook,
    list_id: int,
    to_remove: Sequence[tuple[int, str]],
    *,
    max_busy_wait: float,
    poll_interval: float,
    log: TaskLog,
) -> tuple[list[ListMemberChange], int]:
    """Remove in batches of 300; wait while the list is busy (1019) up to ``max_busy_wait`` seconds
    per batch. Returns every id's change and the calls made."""
    changes: list[ListMemberChange] = []
    calls = 0
    for batch in _batches(to_remove):
        ids = [lead_id for lead_id, _ in batch]
        result, tries = while_busy(
            functools.partial(hook.remove_from_list, list_id, ids),
            list_id,
            max_busy_wait=max_busy_wait,
            poll_interval=poll_interval,
            log=log,
        )
        changes += result
        calls += tries
    return changes, calls


def mirror_list(
    hook: MarketoHook,
    options: MirrorOptions,
    *,
    list_id: int,
    lookup_field: str,
    export: ObjectStoragePath,
    file_format: str,
    summary: dict[str, Any],
    rows_imported: int | None,
    results_dir: ObjectStoragePath | None,
    report_name: str,
    dry_run: bool,
    max_busy_wait: float,
    poll_interval: float,
    log: TaskLog,
) -> dict[str, Any]:
    """Mirror the list to the export's keys (or, ``dry_run``, say what that would change); return
    ``summary`` with the ``list_*`` counts added."""
    keys, no_key = export_keys(export, file_format, lookup_field)
    members, tries = while_busy(
        lambda: read_members(hook, list_id, lookup_field, log),
        list_id,
        max_busy_wait=max_busy_wait,
        poll_interval=poll_interval,
        log=log,
    )
    members.calls += tries - 1
    plan = plan_mirror(members, keys)
    log.info(
        "List %d has %d members; the export has %d keys (%d rows without one): %d members to remove, "
        "%d keys not on the list.",
        list_id,
        plan.members_before,
        len(keys),
        no_key,
        len(plan.to_remove),
        plan.not_members,
    )
    check_guard(options, plan, list_id)
    changes: list[ListMemberChange] = []
    remove_calls = 0
    if not dry_run and plan.to_remove:
        changes, remove_calls = remove_members(
            hook, list_id, plan.to_remove, max_busy_wait=max_busy_wait, poll_interval=poll_interval, log=log
        )
    removed = {c.lead_id for c in changes if c.status == "removed"}
    skipped = [c for c in changes if c.status != "removed"]
    calls = members.calls + remove_calls
    log.info(
        "Mirroring list %d used %d API calls (%d reading %d members, %d removing).",
        list_id,
        calls,
        members.calls,
        plan.members_before,
        remove_calls,
    )
    summary = {
        **summary,
        "list_id": list_id,
        "list_membership": "mirror",
        "dry_run": dry_run,
        "list_members_before": plan.members_before,
        # dry run: export keys not on the list (the import would add them); else the rows this
        # run's import put on the list (already members included).
        "list_added": plan.would_add if dry_run or rows_imported is None else rows_imported,
        "list_removed": len(plan.to_remove) if dry_run else len(removed),
        "list_removal_skipped": len(skipped),
        "list_not_members": plan.not_members,
        "list_calls": calls,
    }
    if results_dir is not None:
        _write_report(results_dir / report_name, summary, plan, removed, skipped, dry_run)
    return summary


def _write_report(
    report: ObjectStoragePath,
    summary: dict[str, Any],
    plan: MirrorPlan,
    removed: set[int],
    skipped: list[ListMemberChange],
    dry_run: bool,
) -> None:
    summary["report_path"] = str(report)
    leads = [{"id": lead_id, "key": key} for lead_id, key in plan.to_remove if dry_run or lead_id in removed]
    mirror = {
        "would_remove" if dry_run else "removed": leads,
        "skipped": [
            {"id": c.lead_id, "status": c.status, "reasons": [list(r) for r in c.reasons]} for c in skipped
        ],
    }
    write_report(report, {**summary, "list_mirror": mirror})
