"""Rendered operator arguments made safe to use: positive integers and object storage paths."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from airflow.sdk import ObjectStoragePath

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


def to_object_storage_path(source: str | os.PathLike[str] | ObjectStoragePath) -> ObjectStoragePath:
    """The source as an ``ObjectStoragePath``: URLs as given, local paths as ``file://`` URLs."""
    if isinstance(source, ObjectStoragePath):
        return source
    text = os.fspath(source)
    if "://" in text:
        return ObjectStoragePath(text)
    return ObjectStoragePath(Path(text).expanduser().absolute().as_uri())
