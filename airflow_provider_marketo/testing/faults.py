"""Injected faults: what a gateway or an unhealthy Marketo does to the next matching requests."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from airflow_provider_marketo.testing.envelope import error_body

FAULT_KINDS = ("http_error", "slow", "drop", "error_code")
IDENTITY_PREFIX = "/identity"


class DropConnection(Exception):
    """Raised after the response started so that the server closes the connection mid-response."""


@dataclass
class Fault:
    """One injected fault, used by the next ``count`` requests whose path matches ``path``."""

    kind: str
    count: int = 1
    path: str | None = None
    code: str | None = None
    message: str | None = None
    status: int = 502
    delay: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"Unknown fault {self.kind!r}; expected one of {FAULT_KINDS}")
        if self.count < 1:
            raise ValueError("count must be at least 1")
        if self.path is not None:
            re.compile(self.path)
        self.status = int(self.status)
        self.code = str(self.code) if self.code is not None else None

    def applies_to(self, path: str) -> bool:
        """``path`` is a regex searched in the request path; None means every API path but identity."""
        if self.path is None:
            return not path.startswith(IDENTITY_PREFIX)
        return re.search(self.path, path) is not None

    def response(self) -> tuple[int, str, bytes]:
        """Status, content type and body of an ``http_error`` or ``error_code`` fault."""
        if self.kind == "error_code":
            body: Any = error_body(self.code or "611", self.message)
            return 200, "application/json;charset=UTF-8", json.dumps(body).encode()
        phrase = HTTPStatus(self.status).phrase if self.status in HTTPStatus._value2member_map_ else "Error"
        title = f"{self.status} {phrase}"
        html = (
            f"<html><head><title>{title}</title></head><body><center><h1>{title}</h1></center></body></html>"
        )
        return self.status, "text/html", html.encode()
