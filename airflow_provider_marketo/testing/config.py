"""Settings of the Marketo simulator: credentials, limits and the instance's schemas."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from airflow_provider_marketo import limits

FieldType = Literal["string", "email", "integer", "float", "date", "datetime", "boolean"]

DEFAULT_CLIENT_ID = "sim-client-id"
DEFAULT_CLIENT_SECRET = "sim-client-secret"  # noqa: S105 - a well-known test credential

#: Lookup fields Marketo allows besides ``id``, ``email`` and custom string/email/integer fields.
STANDARD_LOOKUP_FIELDS = (
    "cookies",
    "twitterId",
    "facebookId",
    "linkedInId",
    "sfdcAccountId",
    "sfdcContactId",
    "sfdcLeadId",
    "sfdcLeadOwnerId",
    "sfdcOpptyId",
)


def _lead_fields() -> dict[str, FieldType]:
    return {
        "id": "integer",
        "email": "email",
        "firstName": "string",
        "lastName": "string",
        "company": "string",
        "title": "string",
        "phone": "string",
        "leadScore": "integer",
        "dateOfBirth": "date",
        "unsubscribed": "boolean",
        "annualRevenue": "float",
        "externalCompanyId": "string",
        "externalSalesPersonId": "string",
        "cookies": "string",
        "sfdcLeadId": "string",
        "loyaltyPoints": "integer",
        "customerTier": "string",
    }


def _custom_objects() -> dict[str, dict[str, Any]]:
    return {
        "car_c": {
            "dedupe": ["vin"],
            # Adobe's "Car" example (color, make, model, vin; dedupe on vin) plus two typed fields.
            "fields": {
                "color": "string",
                "make": "string",
                "model": "string",
                "vin": "string",
                "year": "integer",
                "ownerEmail": "email",
            },
        }
    }


def _program_member_fields() -> dict[str, FieldType]:
    # The system fields of Adobe's Describe Program Member example; none can be imported.
    return {
        "leadId": "integer",
        "programId": "integer",
        "statusName": "string",
        "acquiredBy": "boolean",
        "reachedSuccess": "boolean",
        "membershipDate": "datetime",
    }


@dataclass
class SimulatorConfig:
    """Credentials, limits and schemas of one simulated Marketo instance (defaults are Marketo's)."""

    clients: dict[str, str] = field(default_factory=lambda: {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET})
    token_ttl: int = 3600
    #: Import speed on the simulator clock; 0 = a job completes on the next API call.
    rows_per_second: float = 1000.0
    max_importing: int = limits.MAX_PROCESSING_JOBS
    max_queue: int = limits.MAX_QUEUED_JOBS
    calls_per_window: int = limits.RATE_LIMIT_CALLS
    window_seconds: float = float(limits.RATE_LIMIT_WINDOW_SECONDS)
    max_in_flight: int = limits.MAX_CONCURRENT_CALLS
    daily_quota: int = limits.DAILY_QUOTA_CALLS
    max_body_bytes: int = limits.MAX_REQUEST_BYTES
    batch_ttl_days: int = limits.BATCH_ID_DAYS
    #: Seconds a ``nextPageToken`` of Get Leads by List ID stays usable on the simulator clock.
    paging_token_ttl: float = 3600.0
    lead_fields: dict[str, FieldType] = field(default_factory=_lead_fields)
    #: Display names used in failure reasons; other fields get one derived from the camelCase name.
    field_display_names: dict[str, str] = field(
        default_factory=lambda: {"id": "Id", "email": "Email Address", "dateOfBirth": "Date of Birth"}
    )
    #: Custom lead fields (allowed as lookupField when string, email or integer).
    custom_lead_fields: tuple[str, ...] = ("loyaltyPoints", "customerTier")
    lists: dict[int, str] = field(default_factory=lambda: {1001: "Newsletter", 1002: "Webinar attendees"})
    partitions: list[str] = field(default_factory=lambda: ["Default", "EMEA"])
    custom_objects: dict[str, dict[str, Any]] = field(default_factory=_custom_objects)
    #: Program member fields (Describe Program Member), reported as not updateable.
    program_member_fields: dict[str, FieldType] = field(default_factory=_program_member_fields)
    #: Programs and their member statuses ("On List" is the status of Adobe's import example).
    programs: dict[int, list[str]] = field(
        default_factory=lambda: {1001: ["On List", "Member", "Registered", "Attended"]}
    )

    @classmethod
    def from_overrides(cls, config: SimulatorConfig | None = None, **overrides: Any) -> SimulatorConfig:
        """A copy of ``config`` (or the defaults) with some fields replaced; unknown names raise TypeError."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise TypeError(f"Unknown SimulatorConfig field(s): {', '.join(unknown)}")
        base = {f.name: getattr(config, f.name) for f in fields(cls)} if config else {}
        return cls(**{**base, **overrides})

    def display_name(self, name: str) -> str:
        """The field's display name, e.g. ``leadScore`` -> ``Lead Score``."""
        if name in self.field_display_names:
            return self.field_display_names[name]
        words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).split(" ")
        return " ".join(w[:1].upper() + w[1:] for w in words)

    def lookup_fields(self) -> set[str]:
        """Fields allowed as ``lookupField`` of a lead import."""
        custom = {
            name
            for name in self.custom_lead_fields
            if self.lead_fields.get(name) in ("string", "email", "integer")
        }
        standard = {name for name in STANDARD_LOOKUP_FIELDS if name in self.lead_fields}
        return {"id", "email"} | standard | custom
