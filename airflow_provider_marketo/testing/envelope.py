"""Marketo's JSON response envelope and the error messages the simulator answers with."""

from __future__ import annotations

import secrets
from typing import Any

MESSAGES = {
    "601": "Access token invalid",
    "602": "Access token expired",
    "603": "Access denied",
    "604": "Request timed out",
    "606": "Max rate limit exceeded",
    "607": "Daily quota reached",
    "608": "API Temporarily Unavailable",
    "611": "System error",
    "612": "Invalid Content Type",
    "613": "Invalid Multipart Request",
    "615": "Concurrent access limit reached",
    "1016": "Too many imports",
    "1019": "Import in progress",
}


class ApiError(Exception):
    """An error Marketo reports inside an HTTP 200 envelope."""

    def __init__(self, code: str, message: str | None = None) -> None:
        self.code = code
        self.message = message or MESSAGES.get(code, "Error")
        super().__init__(f"{code}: {self.message}")


def request_id() -> str:
    """A Marketo-style request id such as ``e42b#14272d07d78``."""
    return f"{secrets.token_hex(2)}#{secrets.token_hex(6)[:11]}"


def error_body(code: str, message: str | None = None) -> dict[str, Any]:
    error = ApiError(code, message)
    return {"requestId": request_id(), "success": False, "errors": [{"code": code, "message": error.message}]}


def success_body(result: list[dict[str, Any]]) -> dict[str, Any]:
    return {"requestId": request_id(), "success": True, "result": result, "errors": [], "warnings": []}
