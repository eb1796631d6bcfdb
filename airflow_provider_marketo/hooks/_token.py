"""Access tokens of Marketo's Identity service, cached once per process for sync and async hooks.

Marketo answers a token request made before expiry with the *same* token and its remaining
lifetime, so a token is kept until ``expires_in`` runs out and renewed only then or after error
601/602. The identity URL carries the client secret in its query: it is never logged.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from dataclasses import dataclass

import httpx
import requests

from airflow_provider_marketo._compat import amask_secret, mask_secret
from airflow_provider_marketo.hooks._errors import parse_token, redact, transport_error
from airflow_provider_marketo.hooks._loops import loop_local
from airflow_provider_marketo.hooks._settings import MarketoSettings

log = logging.getLogger(__name__)

TOKEN_PATH = "/identity/oauth/token"  # noqa: S105 (a URL path)
TokenKey = tuple[str, str, str]


class _RedactSecretsFilter(logging.Filter):
    """Blank ``client_secret=`` in request lines logged by urllib3 (debug) and httpx (info)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "client_secret=" in message.lower():
            record.msg, record.args = redact(message), None
        return True


for _name in ("urllib3.connectionpool", "httpx"):
    logging.getLogger(_name).addFilter(_RedactSecretsFilter())


@dataclass(frozen=True)
class _Token:
    value: str
    expires_at: float


class TokenCache:
    """Tokens by (identity URL, client id), valid until their ``expires_in`` ran out."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[TokenKey, _Token] = {}
        self._fetch_locks: dict[TokenKey, threading.Lock] = {}

    def get(self, key: TokenKey) -> str | None:
        with self._lock:
            token = self._tokens.get(key)
            if token is None or token.expires_at <= time.monotonic():
                return None
            return token.value

    def put(self, key: TokenKey, value: str, expires_in: float) -> None:
        with self._lock:
            self._tokens[key] = _Token(value, time.monotonic() + expires_in)

    def discard(self, key: TokenKey, value: str) -> None:
        """Forget ``value`` if it is still the cached token (another caller may have renewed it)."""
        with self._lock:
            token = self._tokens.get(key)
            if token is not None and token.value == value:
                del self._tokens[key]

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()

    def thread_lock(self, key: TokenKey) -> threading.Lock:
        """Serialises token fetches of threads for one key."""
        with self._lock:
            return self._fetch_locks.setdefault(key, threading.Lock())


TOKENS = TokenCache()


def _reset_after_fork() -> None:
    global TOKENS
    TOKENS = TokenCache()


os.register_at_fork(after_in_child=_reset_after_fork)


def _identity_request(settings: MarketoSettings) -> tuple[str, dict[str, str]]:
    params = {
        "grant_type": "client_credentials",
        "client_id": settings.client_id,
        "client_secret": settings.client_secret,
    }
    return settings.identity_url + TOKEN_PATH, params


def _store(settings: MarketoSettings, value: str, expires_in: float) -> None:
    TOKENS.put(settings.token_key, value, expires_in)
    log.info("Got a Marketo access token for connection %r (valid %d s more).", settings.conn_id, expires_in)


def get_token(session: requests.Session, settings: MarketoSettings) -> str:
    """The cached token, or a new one fetched with ``session`` (one fetch at a time per key)."""
    key = settings.token_key
    cached = TOKENS.get(key)
    if cached:
        return cached
    with TOKENS.thread_lock(key):
        cached = TOKENS.get(key)
        if cached:
            return cached
        url, params = _identity_request(settings)
        try:
            response = session.get(url, params=params, timeout=settings.timeout)
        except requests.RequestException as exc:
            raise transport_error(exc, "the access token") from None
        with response:
            value, expires_in = parse_token(response, conn_id=settings.conn_id)
        mask_secret(value)
        _store(settings, value, expires_in)
        return value


async def aget_token(client: httpx.AsyncClient, settings: MarketoSettings) -> str:
    """Async :func:`get_token`: concurrent coroutines of one loop share a single fetch."""
    key = settings.token_key
    cached = TOKENS.get(key)
    if cached:
        return cached
    async with loop_local(("token-lock", key), asyncio.Lock):
        cached = TOKENS.get(key)
        if cached:
            return cached
        url, params = _identity_request(settings)
        try:
            response = await client.get(url, params=params, timeout=settings.timeout)
        except httpx.HTTPError as exc:
            raise transport_error(exc, "the access token") from None
        value, expires_in = parse_token(response, conn_id=settings.conn_id)
        await amask_secret(value)
        _store(settings, value, expires_in)
        return value
