"""Marketo's documented limits and the ``marketo`` connection's extras: the one home of each number.

Marketo's limits are per instance and shared by every integration of the customer (Adobe's
developer docs: Bulk Import, error codes, limits). The connection extras (defaults, bounds) are read by
:class:`~airflow_provider_marketo.hooks._settings.MarketoSettings` and shown by the connection form,
whose ``conn-fields`` :func:`conn_fields` generates. No Airflow import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# -- Marketo's limits ---------------------------------------------------------------------------

#: One bulk import request: the whole body (multipart envelope included) under "10 MB" (HTTP 413
#: above). Adobe writes MB, not MiB: we read it as 10,000,000 bytes, the smaller of the two.
MAX_REQUEST_MB = 10
MAX_REQUEST_BYTES = MAX_REQUEST_MB * 1_000_000
#: Room left in a request for the multipart envelope (form fields, part headers, boundaries).
MULTIPART_ROOM_BYTES = 64 * 1024
#: The largest file part the provider uploads (and the default part size).
MAX_PART_BYTES = MAX_REQUEST_BYTES - MULTIPART_ROOM_BYTES
#: Rate limit: calls per rolling window (error 606 above).
RATE_LIMIT_CALLS = 100
RATE_LIMIT_WINDOW_SECONDS = 20
#: Calls in flight at once (error 615 above).
MAX_CONCURRENT_CALLS = 10
#: Daily call quota (usual value; error 607 above).
DAILY_QUOTA_CALLS = 50_000
#: Import queue: jobs processing at once, and jobs queued in all (processing ones included; 1016).
MAX_PROCESSING_JOBS = 2
MAX_QUEUED_JOBS = 10
#: A batch id is valid this many days.
BATCH_ID_DAYS = 7
#: List membership calls (Adobe's "List Membership (Static Lists)"): at most this many lead ids per
#: Add/Remove/Member-of call, and the largest (and default) ``batchSize`` of Get Leads by List ID.
LIST_IDS_PER_CALL = 300


# -- the connection's extras ----------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectionExtra:
    """One numeric extra of a ``marketo`` connection: its default, bounds and form text."""

    name: str
    label: str
    description: str
    default: float
    minimum: float
    maximum: float = math.inf
    integer: bool = False
    #: ``True``: the value must be above ``minimum``; ``False``: at least ``minimum``.
    exclusive_minimum: bool = False

    def parse_default(self) -> int | float:
        return int(self.default) if self.integer else float(self.default)

    def accepts(self, value: float) -> bool:
        low_ok = value > self.minimum if self.exclusive_minimum else value >= self.minimum
        return low_ok and value <= self.maximum and math.isfinite(value)

    def bounds_text(self) -> str:
        """``> 0``, ``>= 1 and <= 10``: the rule, as error messages state it."""
        low = f"> {self.minimum:g}" if self.exclusive_minimum else f">= {self.minimum:g}"
        high = f" and <= {self.maximum:g}" if math.isfinite(self.maximum) else ""
        return low + high

    def field(self) -> dict[str, Any]:
        """The ``conn-fields`` entry of the connection form (a JSON schema of the value)."""
        schema: dict[str, Any] = {"type": ["integer" if self.integer else "number", "null"]}
        schema["exclusiveMinimum" if self.exclusive_minimum else "minimum"] = self.minimum
        if math.isfinite(self.maximum):
            schema["maximum"] = self.maximum
        description = f"{self.description} Default {self.default:g}."
        return {"label": self.label, "description": description, "schema": schema}


#: The numeric extras, in form order.
CONNECTION_EXTRAS: tuple[ConnectionExtra, ...] = (
    ConnectionExtra(
        "timeout",
        "Request timeout (s)",
        "Seconds to wait for one HTTP response.",
        60,
        0,
        exclusive_minimum=True,
    ),
    ConnectionExtra(
        "max_attempts",
        "Max attempts per call",
        "Attempts for a retryable error (5xx, 604, 606, 615, ...).",
        6,
        1,
        integer=True,
    ),
    ConnectionExtra(
        "max_retry_seconds",
        "Max retry time (s)",
        "Give up retrying one call after this many seconds.",
        300,
        0,
    ),
    ConnectionExtra(
        "calls_per_window",
        "Call budget per window",
        f"Client-side limit of calls per window, shared by the process (Marketo allows {RATE_LIMIT_CALLS}).",
        50,
        1,
        maximum=RATE_LIMIT_CALLS,
        integer=True,
    ),
    ConnectionExtra(
        "window_seconds",
        "Budget window (s)",
        "Length of the sliding window of the call budget.",
        RATE_LIMIT_WINDOW_SECONDS,
        0,
        exclusive_minimum=True,
    ),
    ConnectionExtra(
        "max_concurrent_calls",
        "Max calls in flight",
        f"Calls in flight at once per process (Marketo allows {MAX_CONCURRENT_CALLS}).",
        5,
        1,
        maximum=MAX_CONCURRENT_CALLS,
        integer=True,
    ),
)
EXTRAS_BY_NAME = {extra.name: extra for extra in CONNECTION_EXTRAS}
#: The string extra besides the numeric ones.
IDENTITY_URL_FIELD: dict[str, Any] = {
    "label": "Identity base URL",
    "description": "Only if the Identity service is not on the REST host.",
    "schema": {"type": ["string", "null"], "format": "url"},
}
KNOWN_EXTRAS = frozenset({"identity_url", *EXTRAS_BY_NAME})


def conn_fields() -> dict[str, Any]:
    """The provider info's ``conn-fields``: the connection form's extra fields."""
    return {"identity_url": IDENTITY_URL_FIELD, **{extra.name: extra.field() for extra in CONNECTION_EXTRAS}}
