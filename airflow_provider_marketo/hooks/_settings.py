"""Connection settings of a Marketo instance: parsed and validated once per hook."""

from __future__ import annotations

import hashlib
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_marketo.exceptions import MarketoConfigError

if TYPE_CHECKING:
    from airflow.sdk import Connection

log = logging.getLogger(__name__)

_MUNCHKIN_ID = re.compile(r"^[0-9]{3}-[A-Za-z0-9]{3}-[0-9]{3}$")
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class _Limit:
    default: float
    minimum: float
    maximum: float = math.inf
    integer: bool = False
    strict_minimum: bool = False


#: Numeric extras of the connection: default, bounds, integer or not.
_NUMERIC_EXTRAS: dict[str, _Limit] = {
    "timeout": _Limit(60, 0, strict_minimum=True),
    "max_attempts": _Limit(6, 1, integer=True),
    "max_retry_seconds": _Limit(300, 0),
    "calls_per_window": _Limit(50, 1, 100, integer=True),
    "window_seconds": _Limit(20, 0, strict_minimum=True),
    "max_concurrent_calls": _Limit(5, 1, 10, integer=True),
}
_KNOWN_EXTRAS = frozenset({"identity_url", *_NUMERIC_EXTRAS})


@dataclass(frozen=True)
class MarketoSettings:
    """Everything the hooks need to talk to one Marketo instance (``client_secret`` is never shown)."""

    conn_id: str
    base_url: str
    identity_url: str
    client_id: str
    client_secret: str = field(repr=False)
    timeout: float = 60
    max_attempts: int = 6
    max_retry_seconds: float = 300
    calls_per_window: int = 50
    window_seconds: float = 20
    max_concurrent_calls: int = 5

    @property
    def token_key(self) -> tuple[str, str, str]:
        """Key of the process-wide token cache: identity URL, client id and a digest of the secret.

        The digest keeps a wrong secret from being "validated" by a token cached for the right one.
        """
        digest = hashlib.sha256(self.client_secret.encode()).hexdigest()[:16]
        return (self.identity_url, self.client_id, digest)

    @classmethod
    def from_connection(cls, conn: Connection) -> MarketoSettings:
        """Validate a ``marketo`` connection; raise :class:`MarketoConfigError` naming what is wrong."""
        conn_id = conn.conn_id
        for attr, label in (("host", "host (REST API base URL)"), ("login", "login (Client ID)")):
            if not (getattr(conn, attr) or "").strip():
                raise MarketoConfigError(f"Connection {conn_id!r} has no {label}.")
        if not conn.password:
            raise MarketoConfigError(f"Connection {conn_id!r} has no password (Client Secret).")
        extras = conn.extra_dejson
        if not isinstance(extras, Mapping):
            raise MarketoConfigError(f"The extra of connection {conn_id!r} must be a JSON object.")
        unknown = sorted(set(extras) - _KNOWN_EXTRAS)
        if unknown:
            log.warning("Connection %r: ignoring unknown extra fields %s.", conn_id, unknown)
        base_url = normalize_base_url(str(conn.host), conn_id, port=conn.port, suffix="/rest")
        identity = extras.get("identity_url")
        identity_url = (
            normalize_base_url(str(identity), conn_id, field_name="identity_url", suffix="/identity")
            if identity
            else base_url
        )
        numbers = {name: _number(extras, name, limit, conn_id) for name, limit in _NUMERIC_EXTRAS.items()}
        return cls(
            conn_id=conn_id,
            base_url=base_url,
            identity_url=identity_url,
            client_id=str(conn.login).strip(),
            client_secret=str(conn.password),
            **numbers,
        )


def normalize_base_url(
    value: str,
    conn_id: str,
    *,
    field_name: str = "host",
    port: int | None = None,
    suffix: str = "",
) -> str:
    """Turn a host, URL or bare Munchkin id into ``scheme://host[:port]`` (https unless given)."""
    value = value.strip()
    if _MUNCHKIN_ID.match(value.rstrip("/")):
        return f"https://{value.rstrip('/').upper()}.mktorest.com"
    if "://" not in value:
        value = f"https://{value}"
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MarketoConfigError(
            f"Connection {conn_id!r}: {field_name} {value!r} is not an http(s) URL, a host name "
            "or a Munchkin id like 123-ABC-456."
        )
    if parts.query or parts.fragment:
        raise MarketoConfigError(f"Connection {conn_id!r}: {field_name} must not have a query or fragment.")
    path = parts.path.rstrip("/")
    if suffix and path.lower() == suffix:
        path = ""  # Marketo's admin page shows the endpoint as https://<munchkin>.mktorest.com/rest
    netloc = parts.netloc
    if port and parts.port is None:
        netloc = f"{netloc}:{port}"
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
        log.warning("Connection %r uses plain http for %s: credentials travel unencrypted.", conn_id, netloc)
    return f"{parts.scheme}://{netloc}{path}"


def _number(extras: Mapping[str, Any], name: str, limit: _Limit, conn_id: str) -> Any:
    raw = extras.get(name)
    if raw is None or raw == "":
        return int(limit.default) if limit.integer else float(limit.default)
    kind = "an integer" if limit.integer else "a number"
    try:
        if isinstance(raw, bool):
            raise ValueError
        value: float = float(raw)
    except (TypeError, ValueError):
        raise MarketoConfigError(
            f"Connection {conn_id!r}: extra {name!r} must be {kind}, got {raw!r}."
        ) from None
    if limit.integer and not value.is_integer():
        raise MarketoConfigError(f"Connection {conn_id!r}: extra {name!r} must be {kind}, got {raw!r}.")
    too_small = value <= limit.minimum if limit.strict_minimum else value < limit.minimum
    if too_small or value > limit.maximum or not math.isfinite(value):
        low = f"> {limit.minimum:g}" if limit.strict_minimum else f">= {limit.minimum:g}"
        high = f" and <= {limit.maximum:g}" if math.isfinite(limit.maximum) else ""
        raise MarketoConfigError(f"Connection {conn_id!r}: extra {name!r} must be {low}{high}, got {raw!r}.")
    return int(value) if limit.integer else value
