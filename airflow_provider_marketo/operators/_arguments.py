"""Rendered operator arguments made safe to use."""

from __future__ import annotations

from typing import Any

from airflow_provider_marketo.exceptions import MarketoConfigError


def positive_int(value: Any, name: str) -> int:
    """``value`` (possibly a rendered template string) as a positive int, else a clear error."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if isinstance(value, bool) or number <= 0 or str(number) != str(value).strip():
        raise MarketoConfigError(f"{name} must be a positive integer, got {value!r}.")
    return number
