"""Turn a Marketo HTTP response into its result or into the right :class:`MarketoError`.

Shared by the sync (requests) and async (httpx) hooks: the functions take the status code, the
``Content-Type`` and the body bytes only. The HTTP reason phrase is never looked at.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Protocol

import pendulum

from airflow_provider_marketo.exceptions import (
    RETRYABLE_CODES,
    TOKEN_CODES,
    MarketoAuthError,
    MarketoBatchNotFoundError,
    MarketoConcurrencyError,
    MarketoError,
    MarketoFileTooLargeError,
    MarketoListBusyError,
    MarketoQueueFullError,
    MarketoQuotaError,
    MarketoRateLimitError,
    MarketoRequestError,
    MarketoRetryableError,
    MarketoTokenError,
)
from airflow_provider_marketo.limits import MAX_REQUEST_MB

_EXCERPT_CHARS = 160
_HEAD = re.compile(r"<head\b.*?</head>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<(script|style)\b.*?</\1>|<[^>]*>", re.IGNORECASE | re.DOTALL)
_SECRET_IN_QUERY = re.compile(r"(client_secret=)[^&\s'\"]*", re.IGNORECASE)

_BY_CODE: dict[str, type[MarketoError]] = {
    **dict.fromkeys(TOKEN_CODES, MarketoTokenError),
    **dict.fromkeys(RETRYABLE_CODES, MarketoRetryableError),
    "606": MarketoRateLimitError,
    "615": MarketoConcurrencyError,
    "1016": MarketoQueueFullError,
    "1019": MarketoListBusyError,
}


class HttpResponse(Protocol):
    """What both ``requests.Response`` and ``httpx.Response`` offer."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Any: ...

    @property
    def content(self) -> bytes: ...


def redact(text: str) -> str:
    """Hide a ``client_secret=`` query value (identity URLs end up in some library messages)."""
    return _SECRET_IN_QUERY.sub(r"\1***", text)


def transport_error(exc: Exception, what: str) -> MarketoRetryableError:
    """A retryable error for a connection failure or timeout (secret-free, no chained cause)."""
    inner = exc.args[0] if exc.args else None
    detail = redact(str(getattr(inner, "reason", None) or exc)) or "no detail"  # urllib3: skip the URL
    if len(detail) > 300:
        detail = detail[:297] + "..."
    return MarketoRetryableError(f"Could not reach Marketo for {what}: {type(exc).__name__}: {detail}")


def excerpt(body: bytes | str) -> str:
    """A short, tag-free, one-line excerpt of a (possibly HTML) body."""
    raw = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = _visible_text(_HEAD.sub(" ", raw)) or _visible_text(raw)  # the <title> only if nothing else
    if not text:
        return "empty body"
    return text if len(text) <= _EXCERPT_CHARS else text[: _EXCERPT_CHARS - 3] + "..."


def _visible_text(html: str) -> str:
    return " ".join(_TAG.sub(" ", html).split())


def is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def quota_reset(now: pendulum.DateTime | None = None) -> pendulum.DateTime:
    """When Marketo's daily quota resets next: 00:00 US Central (America/Chicago)."""
    central = (now or pendulum.now()).in_timezone("America/Chicago")
    return central.add(days=1).start_of("day")


def quota_reset_text(now: pendulum.DateTime | None = None) -> str:
    """When the daily quota resets: the next 00:00 US Central, also in UTC."""
    reset = quota_reset(now)
    utc = reset.in_timezone("UTC")
    return f"it resets at 00:00 US Central ({reset.format('YYYY-MM-DD HH:mm zz')}, {utc:%Y-%m-%d %H:%M} UTC)"


def error_for_code(
    code: str,
    message: str,
    *,
    conn_id: str,
    request_id: str | None = None,
    status_call: bool = False,
    now: pendulum.DateTime | None = None,
) -> MarketoError:
    """The exception for one Marketo error code, with an actionable message."""
    kwargs: dict[str, Any] = {"code": code, "request_id": request_id}
    if code == "603":
        return MarketoAuthError(
            f"{message}. The API user of connection {conn_id!r} lacks permission (role of its "
            "LaunchPoint service) or the IP is not allow-listed.",
            **kwargs,
        )
    if code == "607":
        return MarketoQuotaError(
            f"{message}. The daily API call quota of the Marketo instance is used up; {quota_reset_text(now)}.",
            **kwargs,
        )
    if code == "1013" and status_call:
        return MarketoBatchNotFoundError(
            f"{message}. The batch id is unknown or expired (batch ids live 7 days).", **kwargs
        )
    return _BY_CODE.get(code, MarketoRequestError)(message, **kwargs)


def error_from_envelope(
    envelope: dict[str, Any], *, conn_id: str, status_call: bool = False, http_status: int | None = None
) -> MarketoError:
    """The exception for a ``success: false`` envelope (classified by its first error)."""
    errors = envelope.get("errors") or [{}]
    first = errors[0] if isinstance(errors[0], dict) else {}
    code = str(first.get("code", "")) or None
    message = str(first.get("message") or "no error message")
    request_id = envelope.get("requestId")
    if code is None:
        return MarketoError(f"Marketo call failed: {message}", request_id=request_id, http_status=http_status)
    return error_for_code(code, message, conn_id=conn_id, request_id=request_id, status_call=status_call)


def error_for_status(status: int, content_type: str | None, body: bytes, *, conn_id: str) -> MarketoError:
    """The exception for a non-200 HTTP answer."""
    if status == 401:
        return MarketoAuthError(
            f"Marketo rejected the credentials ({_identity_reason(body)}): check the client id/secret "
            f"of connection {conn_id!r}.",
            http_status=status,
        )
    if status == 413:
        return MarketoFileTooLargeError(
            f"The request body was over Marketo's {MAX_REQUEST_MB} MB limit for one bulk request "
            "(the multipart envelope counts); send smaller parts.",
            http_status=status,
        )
    detail = excerpt(body)
    if status >= 500 or status in (408, 429):
        return MarketoRetryableError(f"Marketo (or its gateway) failed: {detail}", http_status=status)
    if status == 403:
        return MarketoAuthError(
            f"Marketo answered HTTP 403 ({detail}): the API user of connection {conn_id!r} lacks "
            "permission or the IP is not allow-listed.",
            http_status=status,
        )
    return MarketoRequestError(f"Marketo refused the request: {detail}", http_status=status)


def parse_envelope(
    status: int, content_type: str | None, body: bytes, *, conn_id: str, status_call: bool = False
) -> list[dict[str, Any]]:
    """Return ``result`` of a successful envelope, or raise the matching :class:`MarketoError`."""
    if status != 200:
        raise _from_error_body(status, content_type, body, conn_id=conn_id, status_call=status_call)
    envelope = _load_json(body)
    if envelope is None:
        raise MarketoRetryableError(
            f"Marketo answered HTTP 200 without a JSON envelope: {excerpt(body)}", http_status=status
        )
    if not envelope.get("success"):
        raise error_from_envelope(envelope, conn_id=conn_id, status_call=status_call)
    result = envelope.get("result") or []
    return [item for item in result if isinstance(item, dict)]


def parse_response(
    response: HttpResponse, *, conn_id: str, status_call: bool = False
) -> list[dict[str, Any]]:
    """:func:`parse_envelope` of a requests or httpx response."""
    return parse_envelope(
        response.status_code,
        response.headers.get("Content-Type"),
        response.content,
        conn_id=conn_id,
        status_call=status_call,
    )


def parse_token(response: HttpResponse, *, conn_id: str) -> tuple[str, float]:
    """Return ``(access_token, expires_in)`` of an Identity answer, or raise."""
    status, content_type, body = response.status_code, response.headers.get("Content-Type"), response.content
    if status != 200:
        raise _from_error_body(status, content_type, body, conn_id=conn_id)
    payload = _load_json(body)
    if payload is None:
        raise MarketoRetryableError(f"Identity answered without JSON: {excerpt(body)}", http_status=status)
    if payload.get("success") is False:
        raise error_from_envelope(payload, conn_id=conn_id)
    token = payload.get("access_token")
    if not isinstance(token, str) or not token:
        raise MarketoAuthError(
            f"Identity gave no access token for connection {conn_id!r} ({_identity_reason(body)}).",
            http_status=status,
        )
    return token, float(payload.get("expires_in") or 0)


def check_file_response(
    status: int, content_type: str | None, body_reader: Callable[[], bytes], *, conn_id: str
) -> bool:
    """Decide what a failures/warnings download answered.

    ``False``: 404, no such file. ``True``: the body is the file. Raises for an error, including a JSON
    envelope (even ``success: true``: a file is never JSON). ``body_reader`` is called only on errors.
    """
    if status == 404:
        return False
    if status == 200 and not is_json(content_type):
        return True
    body = body_reader()
    if status == 200:
        envelope = _load_json(body) or {}
        if envelope.get("success") is False:
            raise error_from_envelope(envelope, conn_id=conn_id, status_call=True)
        raise MarketoRequestError(
            f"Marketo answered JSON instead of a file: {excerpt(body)}", http_status=status
        )
    raise _from_error_body(status, content_type, body, conn_id=conn_id, status_call=True)


def _from_error_body(
    status: int, content_type: str | None, body: bytes, *, conn_id: str, status_call: bool = False
) -> MarketoError:
    envelope = _load_json(body) if status < 500 and status not in (401, 413) else None
    if envelope is not None and envelope.get("success") is False:
        return error_from_envelope(envelope, conn_id=conn_id, status_call=status_call, http_status=status)
    return error_for_status(status, content_type, body, conn_id=conn_id)


def _identity_reason(body: bytes) -> str:
    payload = _load_json(body) or {}
    parts = [str(payload[k]) for k in ("error", "error_description") if payload.get(k)]
    return redact(": ".join(parts)) if parts else excerpt(body)


def _load_json(body: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None
