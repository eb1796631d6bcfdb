"""Connection settings of a Marketo instance: parsed and validated once per hook."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_marketo.exceptions import MarketoConfigError
from airflow_provider_marketo.limits import CONNECTION_EXTRAS, KNOWN_EXTRAS, ConnectionExtra

if TYPE_CHECKING:
    from airflow.sdk import Connection

log = logging.getLogger(__name__)

_MUNCHKIN_ID = re.compile(r"^[0-9]{3}-[A-Za-z0-9]{3}-[0-9]{3}$")
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class MarketoSettings:
    """Everything the hooks need to talk to one Marketo instance (``client_secret`` is never shown)."""

    conn_id: str
    base_url: str
    identity_url: str
    client_id: str
    client_secret: str = field(repr=False)
    #: The numeric extras (defaults and bounds: :data:`~airflow_provider_marketo.limits.CONNECTION_EXTRAS`).
    timeout: float
    max_attempts: int
    max_retry_seconds: float
    calls_per_window: int
    window_seconds: float
    max_concurrent_calls: int

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
        unknown = sorted(set(extras) - KNOWN_EXTRAS)
        if unknown:
            log.warning("Connection %r: ignoring unknown extra fields %s.", conn_id, unknown)
        base_url = normalize_base_url(str(conn.host), conn_id, port=conn.port, suffix="/rest")
        identity = extras.get("identity_url")
        identity_url = (
            normalize_base_url(str(identity), conn_id, field_name="identity_url", suffix="/identity")
            if identity
            else base_url
        )
        numbers = {extra.name: _number(extras, extra, conn_id) for extra in CONNECTION_EXTRAS}
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


def _number(extras: Mapping[str, Any], extra: ConnectionExtra, conn_id: str) -> Any:
    name = extra.name
    raw = extras.get(name)
    if raw is None or raw == "":
        return extra.parse_default()
    kind = "an integer" if extra.integer else "a number"
    try:
        if isinstance(raw, bool):
            raise ValueError
        value: float = float(raw)
    except (TypeError, ValueError):
        raise MarketoConfigError(
            f"Connection {conn_id!r}: extra {name!r} must be {kind}, got {raw!r}."
        ) from None
    if extra.integer and not value.is_integer():
        raise MarketoConfigError(f"Connection {conn_id!r}: extra {name!r} must be {kind}, got {raw!r}.")
    if not extra.accepts(value):
        raise MarketoConfigError(
            f"Connection {conn_id!r}: extra {name!r} must be {extra.bounds_text()}, got {raw!r}."
        )
    return int(value) if extra.integer else value
