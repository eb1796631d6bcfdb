"""Classification of Marketo answers into results and exceptions (no HTTP)."""

from __future__ import annotations

import json
from typing import Any

import pendulum
import pytest

from airflow_provider_marketo.exceptions import (
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
from airflow_provider_marketo.hooks._errors import (
    check_file_response,
    excerpt,
    parse_envelope,
    quota_reset_text,
    redact,
    transport_error,
)

JSON = "application/json;charset=UTF-8"


def envelope(code: str, message: str = "boom") -> bytes:
    return json.dumps(
        {"requestId": "e42b#1", "success": False, "errors": [{"code": code, "message": message}]}
    ).encode()


def fail(
    body: bytes, *, status: int = 200, content_type: str = JSON, status_call: bool = False
) -> MarketoError:
    with pytest.raises(MarketoError) as info:
        parse_envelope(status, content_type, body, conn_id="mkto", status_call=status_call)
    return info.value


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("601", MarketoTokenError),
        ("602", MarketoTokenError),
        ("603", MarketoAuthError),
        ("604", MarketoRetryableError),
        ("606", MarketoRateLimitError),
        ("607", MarketoQuotaError),
        ("608", MarketoRetryableError),
        ("609", MarketoRequestError),
        ("610", MarketoRequestError),
        ("611", MarketoRetryableError),
        ("612", MarketoRequestError),
        ("613", MarketoRequestError),
        ("614", MarketoRetryableError),
        ("615", MarketoConcurrencyError),
        ("713", MarketoRetryableError),
        ("719", MarketoRetryableError),
        ("1003", MarketoRequestError),
        ("1006", MarketoRequestError),
        ("1008", MarketoRequestError),
        ("1013", MarketoRequestError),
        ("1016", MarketoQueueFullError),
        ("1019", MarketoListBusyError),
        ("9999", MarketoRequestError),
    ],
)
def test_envelope_codes(code: str, cls: type[MarketoError]) -> None:
    error = fail(envelope(code))
    assert type(error) is cls
    assert (error.code, error.request_id) == (code, "e42b#1")
    assert f"Marketo error {code}: boom" in str(error)


def test_fatal_codes_are_not_retryable_and_transient_ones_are() -> None:
    for code in ("603", "607", "609", "610", "612", "613", "1003", "1006", "1008", "1013", "1016", "1019"):
        assert not isinstance(fail(envelope(code)), MarketoRetryableError), code
    for code in ("604", "606", "608", "611", "614", "615", "713", "719"):
        assert isinstance(fail(envelope(code)), MarketoRetryableError), code


def test_1013_on_a_status_call_is_batch_not_found() -> None:
    error = fail(envelope("1013", "Object not found"), status_call=True)
    assert isinstance(error, MarketoBatchNotFoundError)
    assert "7 days" in str(error)


def test_success_returns_result() -> None:
    body = json.dumps({"requestId": "x", "success": True, "result": [{"batchId": 7, "status": "Queued"}]})
    assert parse_envelope(200, JSON, body.encode(), conn_id="mkto") == [{"batchId": 7, "status": "Queued"}]


def test_603_and_401_say_what_to_check() -> None:
    denied = fail(envelope("603", "Access denied"))
    assert "'mkto'" in str(denied)
    assert "lacks permission" in str(denied)
    assert "allow-listed" in str(denied)
    body = json.dumps({"error": "invalid_client", "error_description": "Bad client credentials"}).encode()
    rejected = fail(body, status=401)
    assert isinstance(rejected, MarketoAuthError)
    assert "check the client id/secret of connection 'mkto'" in str(rejected)
    assert "invalid_client" in str(rejected)


def test_607_names_the_reset_in_central_and_utc() -> None:
    error = fail(envelope("607", "Daily quota reached"))
    assert "daily API call quota" in str(error)
    assert "00:00 US Central" in str(error)
    assert "UTC" in str(error)
    # 2026-11-29 23:30 UTC is 17:30 CST: the reset is at 2026-11-30 00:00 CST = 06:00 UTC.
    text = quota_reset_text(pendulum.datetime(2026, 11, 29, 23, 30, tz="UTC"))
    assert "2026-11-30 00:00" in text
    assert "2026-11-30 06:00 UTC" in text
    # In summer (CDT, UTC-5) midnight is 05:00 UTC.
    assert "2026-07-02 05:00 UTC" in quota_reset_text(pendulum.datetime(2026, 7, 1, 12, tz="UTC"))


def test_413_names_the_limit() -> None:
    error = fail(b"<html><body>Request Entity Too Large</body></html>", status=413, content_type="text/html")
    assert isinstance(error, MarketoFileTooLargeError)
    assert "10 MB" in str(error)
    assert error.http_status == 413


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_html_is_retryable_with_a_short_excerpt(status: int) -> None:
    html = (
        "<html><head><title>502 Bad Gateway</title><style>body{color:red}</style></head>"
        + "<body>"
        + "<p>upstream is down</p>" * 500
        + "</body></html>"
    ).encode()
    error = fail(html, status=status, content_type="text/html")
    assert type(error) is MarketoRetryableError
    assert "upstream is down" in str(error)
    assert f"(HTTP {status})" in str(error)
    assert "<" not in str(error)
    assert "color:red" not in str(error)
    assert len(str(error)) < 300


def test_a_page_with_only_a_title_shows_the_title() -> None:
    page = b"<html><head><title>504 Gateway Time-out</title></head><body></body></html>"
    assert "504 Gateway Time-out" in str(fail(page, status=504, content_type="text/html"))


def test_5xx_with_empty_body_and_200_without_json() -> None:
    assert "empty body" in str(fail(b"", status=503, content_type=""))
    assert isinstance(fail(b"<html>maintenance</html>", content_type="text/html"), MarketoRetryableError)


def test_other_4xx_is_a_request_error() -> None:
    error = fail(b"Not Found", status=404, content_type="text/plain")
    assert type(error) is MarketoRequestError
    assert error.code is None
    assert error.http_status == 404


def test_reason_phrase_is_not_used() -> None:
    # Only status, content type and body are inputs: the same body gives the same error for any phrase.
    assert type(fail(envelope("606"), status=200)) is MarketoRateLimitError


def test_file_answers() -> None:
    def unread() -> bytes:
        raise AssertionError("a file body must not be read here")

    assert check_file_response(404, JSON, lambda: envelope("1013"), conn_id="mkto") is False
    assert check_file_response(200, "text/csv;charset=UTF-8", unread, conn_id="mkto") is True
    with pytest.raises(MarketoBatchNotFoundError):
        check_file_response(200, JSON, lambda: envelope("1013"), conn_id="mkto")
    with pytest.raises(MarketoRequestError, match="JSON instead of a file"):
        check_file_response(200, JSON, lambda: b'{"success": true, "result": []}', conn_id="mkto")
    with pytest.raises(MarketoRetryableError):
        check_file_response(502, "text/html", lambda: b"<html>bad gateway</html>", conn_id="mkto")


def test_secrets_are_redacted_from_transport_errors() -> None:
    url = "http://127.0.0.1:1/identity/oauth/token?grant_type=client_credentials&client_id=abc&client_secret=s3cr3t"
    assert "s3cr3t" not in redact(url)
    error = transport_error(ConnectionError(f"Max retries exceeded with url: {url}"), "the access token")
    assert isinstance(error, MarketoRetryableError)
    assert "s3cr3t" not in str(error)


def test_excerpt_truncates() -> None:
    text: Any = excerpt("x" * 1000)
    assert len(text) == 160
    assert text.endswith("...")
