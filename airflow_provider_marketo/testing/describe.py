"""Describe Lead2, Describe Custom Object and Describe Program Member, built from the instance's schemas.

The shapes follow Adobe's examples ("Leads", "Custom Objects" and "Program Members" pages of the
Marketo developer documentation): one ``result`` element with ``fields`` (REST API ``name``,
``displayName``, ``dataType``, ``updateable``, ``length`` for strings) and ``searchableFields``
(lists of field names); custom objects and program members add ``dedupeFields``.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_marketo.testing.config import SimulatorConfig
from airflow_provider_marketo.testing.envelope import ApiError

_CREATED = "2024-01-01T00:00:00Z"
_CUSTOM_OBJECT_SYSTEM_FIELDS = {"createdAt": "datetime", "marketoGUID": "string", "updatedAt": "datetime"}


def _field(config: SimulatorConfig, name: str, data_type: str, *, updateable: bool) -> dict[str, Any]:
    field: dict[str, Any] = {"name": name, "displayName": config.display_name(name), "dataType": data_type}
    if data_type in ("string", "email"):
        field["length"] = 255
    field["updateable"] = updateable
    return field


def describe_leads(config: SimulatorConfig) -> dict[str, Any]:
    """Describe Lead2 (``GET /rest/v1/leads/describe2.json``): lookup fields are the searchable ones."""
    fields = [
        {**_field(config, name, kind, updateable=name != "id"), "crmManaged": False}
        for name, kind in config.lead_fields.items()
    ]
    return {
        "name": "API Lead",
        "searchableFields": [[name] for name in sorted(config.lookup_fields())],
        "fields": fields,
    }


def describe_custom_object(config: SimulatorConfig, api_name: str) -> dict[str, Any]:
    """Describe Custom Object (``GET /rest/v1/customobjects/{apiName}/describe.json``)."""
    schema = config.custom_objects.get(api_name)
    if schema is None:
        raise ApiError("1013", f"Custom object '{api_name}' not found")
    system = [
        _field(config, name, kind, updateable=False) for name, kind in _CUSTOM_OBJECT_SYSTEM_FIELDS.items()
    ]
    own = [_field(config, name, kind, updateable=True) for name, kind in schema["fields"].items()]
    dedupe = list(schema["dedupe"])
    return {
        "name": api_name,
        "displayName": config.display_name(api_name.removesuffix("_c")),
        "description": f"The {api_name} custom object of the simulator.",
        "createdAt": _CREATED,
        "updatedAt": _CREATED,
        "idField": "marketoGUID",
        "dedupeFields": dedupe,
        "searchableFields": [dedupe, ["marketoGUID"]],
        "fields": system + own,
    }


def describe_program_members(config: SimulatorConfig) -> dict[str, Any]:
    """Describe Program Member (``GET /rest/v1/programs/members/describe.json``); its fields are system fields."""
    fields = [
        {**_field(config, name, kind, updateable=False), "crmManaged": False}
        for name, kind in config.program_member_fields.items()
    ]
    return {
        "name": "API Program Membership",
        "description": "Map for API program membership fields",
        "createdAt": _CREATED,
        "updatedAt": _CREATED,
        "dedupeFields": ["leadId", "programId"],
        "searchableFields": [["leadId"], ["statusName"]],
        "fields": fields,
    }
