"""The schema check of an import file's header against the Marketo instance, before anything is uploaded.

Adobe's import pages tell users to build the header from the REST API names that the Describe
endpoints return. :func:`fetch_schema` makes those calls (once per task: one for leads or custom
objects, two for program members) and :func:`check_header` compares a header with the result:
unknown columns, a ``lookup_field`` that is not searchable and missing custom object dedupe fields
are reported together, in one :class:`InputFileError`, with the closest field names. Names match
in any case, as Marketo matches them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_marketo.exceptions import MarketoAuthError
from airflow_provider_marketo.objects import BulkTarget
from airflow_provider_marketo.utils.formats import InputFileError

if TYPE_CHECKING:
    from airflow_provider_marketo.hooks.marketo import MarketoHook

#: How to turn the check off, repeated in every error it raises.
TURN_OFF = "pass check_schema=False to the import operator to skip this check"
_LEAD_PERMISSION = "'Read-Only Lead' or 'Read-Write Lead'"
_CUSTOM_OBJECT_PERMISSION = "'Read-Only Custom Object' or 'Read-Write Custom Object'"


@dataclass(frozen=True)
class TargetSchema:
    """What a header may hold for one import target, as the Describe endpoints report it."""

    #: What the fields belong to, for messages: "the lead database", "custom object 'car_c'", ...
    described: str
    #: REST API names a column may have.
    fields: tuple[str, ...]
    #: Fields allowed as ``lookup_field`` (single-field searchable sets); empty: no lookup field.
    lookup_fields: tuple[str, ...] = ()
    #: Fields every header needs (a custom object's ``dedupeFields``).
    dedupe_fields: tuple[str, ...] = ()


def _names(described: Mapping[str, Any], key: str = "fields", *, updateable_only: bool = False) -> list[str]:
    names = []
    for field in described.get(key) or []:
        if isinstance(field, Mapping) and field.get("name"):
            if updateable_only and field.get("updateable") is False:
                continue
            names.append(str(field["name"]))
    return names


def _searchable(described: Mapping[str, Any]) -> list[str]:
    return [
        str(group[0])
        for group in described.get("searchableFields") or []
        if isinstance(group, list) and len(group) == 1
    ]


def _describe(hook: MarketoHook, target: BulkTarget, call: str) -> dict[str, Any]:
    """One Describe call; a 603 names the permission the API user lacks and how to skip the check."""
    try:
        if call == "custom_object":
            assert target.api_name is not None
            return hook.describe_custom_object(target.api_name)
        if call == "program_members":
            return hook.describe_program_members()
        return hook.describe_leads()
    except MarketoAuthError as exc:
        if exc.code != "603":
            raise
        what, permission = {
            "leads": ("Describe Lead", _LEAD_PERMISSION),
            "program_members": ("Describe Program Member", _LEAD_PERMISSION),
            "custom_object": (f"Describe Custom Object ({target.api_name})", _CUSTOM_OBJECT_PERMISSION),
        }[call]
        raise MarketoAuthError(
            f"The schema check before upload could not read the target's fields: Marketo denied {what} "
            f"(603: {exc.marketo_message}). The API user of connection {hook.marketo_conn_id!r} lacks "
            f"the {permission} permission in its API role; grant it, or {TURN_OFF}.",
            code=exc.code,
            request_id=exc.request_id,
        ) from None


def fetch_schema(hook: MarketoHook, target: BulkTarget) -> TargetSchema:
    """The fields a header may hold for ``target`` (Describe Lead, Custom Object or Program Member)."""
    if target.kind == "custom_objects":
        described = _describe(hook, target, "custom_object")
        return TargetSchema(
            described=f"custom object {target.api_name!r}",
            fields=tuple(_names(described)),
            dedupe_fields=tuple(str(name) for name in described.get("dedupeFields") or []),
        )
    leads = _describe(hook, target, "leads")
    lead_fields = _names(leads)
    if target.kind == "program_members":
        members = _describe(hook, target, "program_members")
        member_fields = [
            name
            for name in _names(members, updateable_only=True)
            if name.lower() not in {f.lower() for f in lead_fields}
        ]
        return TargetSchema(
            described="the lead and program member fields", fields=(*lead_fields, *member_fields)
        )
    return TargetSchema(
        described="the lead database", fields=tuple(lead_fields), lookup_fields=tuple(_searchable(leads))
    )


def _closest(name: str, candidates: Iterable[str]) -> list[str]:
    """The closest candidate to ``name`` (any case), if one is close enough."""
    by_lower: dict[str, str] = {}
    for candidate in candidates:
        by_lower.setdefault(candidate.lower(), candidate)
    matches = difflib.get_close_matches(name.strip().lower(), list(by_lower), n=1, cutoff=0.6)
    return [by_lower[match] for match in matches]


def _with_hint(name: str, candidates: Iterable[str]) -> str:
    near = _closest(name, candidates)
    return f"{name!r} (did you mean {near[0]!r}?)" if near else repr(name)


def check_header(
    schema: TargetSchema, columns: Sequence[str], *, lookup_field: str | None, source_name: str
) -> None:
    """Raise :class:`InputFileError` listing every way ``columns`` do not fit ``schema`` (any case matches)."""
    known = {name.lower() for name in schema.fields}
    present = {column.lower() for column in columns}
    problems = []
    unknown = [column for column in columns if column.lower() not in known]
    if unknown:
        listed = ", ".join(_with_hint(column, schema.fields) for column in unknown)
        problems.append(f"unknown column(s), not fields of {schema.described}: {listed}")
    searchable = {name.lower() for name in schema.lookup_fields}
    if lookup_field is not None and searchable and lookup_field.lower() not in searchable:
        problems.append(
            f"lookup_field={_with_hint(lookup_field, schema.lookup_fields)} is not a searchable field "
            f"of {schema.described}; Marketo allows: {', '.join(sorted(schema.lookup_fields))}"
        )
    missing = [name for name in schema.dedupe_fields if name.lower() not in present]
    if missing:
        problems.append(
            f"the header lacks the dedupe field(s) {', '.join(map(repr, missing))} of {schema.described} "
            "(Marketo would fail every row with missing.dedupe.fields)"
        )
    if problems:
        listed = "".join(f"\n  - {problem}" for problem in problems)
        raise InputFileError(
            f"The header of {source_name} does not match {schema.described} in Marketo "
            f"(checked with the Describe endpoints before any upload):{listed}\n"
            f"Fix the header, or {TURN_OFF}."
        )
