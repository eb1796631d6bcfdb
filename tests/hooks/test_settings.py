"""Parsing and validation of the ``marketo`` connection."""

from __future__ import annotations

import json
from typing import Any

import pytest
from airflow.sdk import Connection

from airflow_provider_marketo.exceptions import MarketoConfigError
from airflow_provider_marketo.hooks._settings import MarketoSettings


def settings(host: str | None = "https://123-ABC-456.mktorest.com", **overrides: Any) -> MarketoSettings:
    extra = overrides.pop("extra", None)
    fields: dict[str, Any] = {"login": "client-id", "password": "client-secret-value", **overrides}
    conn = Connection(
        conn_id="mkto",
        conn_type="marketo",
        host=host,
        extra=json.dumps(extra) if extra is not None else None,
        **fields,
    )
    return MarketoSettings.from_connection(conn)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("https://123-ABC-456.mktorest.com", "https://123-ABC-456.mktorest.com"),
        ("https://123-ABC-456.mktorest.com/", "https://123-ABC-456.mktorest.com"),
        ("https://123-ABC-456.mktorest.com/rest", "https://123-ABC-456.mktorest.com"),
        ("123-abc-456", "https://123-ABC-456.mktorest.com"),
        (" 123-ABC-456 ", "https://123-ABC-456.mktorest.com"),
        ("123-ABC-456.mktorest.com", "https://123-ABC-456.mktorest.com"),
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765"),
    ],
)
def test_host_forms(host: str, expected: str) -> None:
    parsed = settings(host)
    assert parsed.base_url == expected
    assert parsed.identity_url == expected


def test_port_field_is_added_to_a_host_without_port() -> None:
    assert settings("http://127.0.0.1", port=9000).base_url == "http://127.0.0.1:9000"


def test_defaults_and_credentials() -> None:
    parsed = settings()
    assert (parsed.client_id, parsed.client_secret) == ("client-id", "client-secret-value")
    assert (parsed.timeout, parsed.max_attempts, parsed.max_retry_seconds) == (60, 6, 300)
    assert (parsed.calls_per_window, parsed.window_seconds, parsed.max_concurrent_calls) == (50, 20, 5)
    assert parsed.token_key[:2] == ("https://123-ABC-456.mktorest.com", "client-id")
    assert parsed.token_key != settings(password="another-secret").token_key
    assert "client-secret-value" not in str(parsed.token_key)
    assert "client-secret-value" not in repr(parsed)


def test_extras_are_parsed_including_strings_from_the_ui() -> None:
    parsed = settings(
        extra={
            "identity_url": "https://123-ABC-456.mktorest.com/identity",
            "timeout": "5",
            "max_attempts": 2,
            "max_retry_seconds": 0,
            "calls_per_window": 100,
            "window_seconds": 0.5,
            "max_concurrent_calls": "10",
        }
    )
    assert parsed.identity_url == "https://123-ABC-456.mktorest.com"
    assert (parsed.timeout, parsed.max_attempts, parsed.max_retry_seconds) == (5.0, 2, 0.0)
    assert (parsed.calls_per_window, parsed.window_seconds, parsed.max_concurrent_calls) == (100, 0.5, 10)
    assert isinstance(parsed.max_attempts, int)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("calls_per_window", 101),
        ("calls_per_window", 0),
        ("calls_per_window", 2.5),
        ("max_concurrent_calls", 11),
        ("max_attempts", 0),
        ("max_attempts", True),
        ("timeout", 0),
        ("timeout", "soon"),
        ("window_seconds", -1),
        ("max_retry_seconds", -0.5),
        ("max_retry_seconds", "nan"),
    ],
)
def test_bad_extras_name_the_key(key: str, value: Any) -> None:
    with pytest.raises(MarketoConfigError, match=rf"'mkto'.*extra '{key}'"):
        settings(extra={key: value})


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"host": None}, "host"),
        ({"host": "  "}, "host"),
        ({"login": None}, "login"),
        ({"password": ""}, "password"),
    ],
)
def test_missing_fields_name_field_and_connection(overrides: dict[str, Any], field: str) -> None:
    host = overrides.pop("host", "123-ABC-456")
    with pytest.raises(MarketoConfigError, match=rf"'mkto' has no {field}"):
        settings(host, **overrides)


@pytest.mark.parametrize("host", ["ftp://example.com", "https://", "https://x.mktorest.com/?a=1"])
def test_bad_hosts(host: str) -> None:
    with pytest.raises(MarketoConfigError, match="'mkto'"):
        settings(host)
