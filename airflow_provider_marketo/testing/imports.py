"""Validation of a create-import request, as Marketo does it before queueing the job."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_marketo.testing.config import SimulatorConfig
from airflow_provider_marketo.testing.delimited import (
    DELIMITERS,
    DelimitedFile,
    DelimitedFileError,
    parse_file,
)
from airflow_provider_marketo.testing.envelope import ApiError
from airflow_provider_marketo.testing.store import ImportSpec, resolve_columns


@dataclass(frozen=True)
class PreparedImport:
    """A validated import: how to apply its rows, the parsed file and the parameters as received."""

    spec: ImportSpec
    file: DelimitedFile
    file_format: str
    params: dict[str, Any]


def prepare_import(
    config: SimulatorConfig, kind: str, target: Mapping[str, str], data: bytes, params: Mapping[str, str]
) -> PreparedImport:
    """Check the target, the parameters and the file header; raise ApiError like Marketo would."""
    recorded: dict[str, Any] = {name: value for name, value in params.items() if value != ""}
    recorded.update(target)
    if "format" in recorded:
        recorded["format"] = str(recorded["format"]).lower()
    if kind == "custom_objects" and target["apiName"] not in config.custom_objects:
        raise ApiError("1013", f"Custom object '{target['apiName']}' not found")
    program_id = _program_id(config, target) if kind == "program_members" else None
    requested = params.get("format") or "csv"  # Adobe's reference: CSV, TSV or SSV, default CSV
    file_format = requested.lower()
    if file_format not in DELIMITERS:
        raise ApiError("1003", f"Invalid format '{requested}', must be one of CSV, TSV, SSV")
    try:
        parsed = parse_file(data, file_format)
    except DelimitedFileError as err:
        raise ApiError("1003", str(err)) from None
    duplicates = [name for name, n in Counter(c.lower() for c in parsed.header).items() if n > 1]
    if duplicates:
        raise ApiError("1003", f"Duplicate column(s) in header: {', '.join(duplicates)}")
    if kind == "custom_objects":
        spec = _custom_object_spec(config, target["apiName"], parsed.header)
    else:
        spec = _lead_spec(config, kind, parsed.header, params, program_id)
    if spec.list_id is not None:
        recorded["listId"] = spec.list_id
    if program_id is not None:
        recorded["programId"] = program_id
    return PreparedImport(spec=spec, file=parsed, file_format=file_format, params=recorded)


def _program_id(config: SimulatorConfig, target: Mapping[str, str]) -> int:
    raw = target["programId"]
    if not raw.isdigit() or int(raw) not in config.programs:
        raise ApiError("1013", f"Program {raw} not found")
    return int(raw)


def _known_columns(header: list[str], known: Mapping[str, Any]) -> list[str]:
    columns, unknown = resolve_columns(header, known)
    if unknown:
        raise ApiError("1006", f"Field(s) not found: {', '.join(unknown)}")
    return columns


def _custom_object_spec(config: SimulatorConfig, api_name: str, header: list[str]) -> ImportSpec:
    # Adobe's custom object example: a header cell " vin" is accepted at create; the job completes
    # with every row failed (missing.dedupe.fields). Unknown columns are not imported.
    columns, _ = resolve_columns(header, config.custom_objects[api_name]["fields"])
    return ImportSpec(kind="custom_objects", columns=columns, api_name=api_name, lookup_field="")


def _lead_spec(
    config: SimulatorConfig, kind: str, header: list[str], params: Mapping[str, str], program_id: int | None
) -> ImportSpec:
    columns = _known_columns(header, config.lead_fields)
    member_status = None
    if kind == "program_members":
        assert program_id is not None
        member_status = params.get("programMemberStatus", "")
        if member_status not in config.programs[program_id]:
            raise ApiError("1003", f"Invalid or missing programMemberStatus '{member_status}'")
        lookup = "email"
    else:
        requested = params.get("lookupField") or "email"
        lookup = {name.lower(): name for name in config.lookup_fields()}.get(requested.lower(), "")
        if not lookup:
            raise ApiError("1003", f"Invalid lookup field '{requested}'")
    if lookup not in columns:
        raise ApiError("1003", f"Lookup field '{lookup}' is not a column of the file")
    list_id = _list_id(config, params.get("listId", ""))
    partition = params.get("partitionName") or None
    if partition is not None and partition not in config.partitions:
        raise ApiError("1003", f"Partition '{partition}' not found")
    return ImportSpec(
        kind=kind,
        columns=columns,
        lookup_field=lookup,
        list_id=list_id,
        partition=partition,
        program_id=program_id,
        member_status=member_status,
    )


def _list_id(config: SimulatorConfig, raw: str) -> int | None:
    if not raw:
        return None
    if not raw.isdigit() or int(raw) not in config.lists:
        raise ApiError("1013", f"Static list {raw} not found")
    return int(raw)
