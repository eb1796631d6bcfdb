"""Access tokens of Marketo's Identity service, cached once per process for sync and async hooks.

Marketo answers a token request made before expiry with the *same* token and its remaining
lifetime, so a token is kept until ``expires_in`` runs out and renewed only then or after error
601/602. A token with less than :data:`MIN_TOKEN_SECONDS` left (Identity has answered
``expires_in: 0``) is not used: the request is repeated once it has run out. The token is
requested with ``POST`` and a form body, so the client secret never appears in a URL.

The cache is process state: after ``fork`` it is emptied in place (one object for every module
that imported it), so a forked task process never sends its parent's tokens.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import threading
import time
from dataclasses import dataclass

import httpx
import requests

from airflow_provider_marketo._compat import amask_secret, mask_secret
from airflow_provider_marketo.exceptions import MarketoRetryableError, MarketoTokenError
from airflow_provider_marketo.hooks._errors import parse_token, redact, transport_error
from airflow_provider_marketo.hooks._loops import loop_local
from airflow_provider_marketo.hooks._settings import MarketoSettings

log = logging.getLogger(__name__)

TOKEN_PATH = "/identity/oauth/token"  # noqa: S105 (a URL path)
TokenKey = tuple[str, str, str]
#: A token with less lifetime left than this is not used (nor kept in the cache).
MIN_TOKEN_SECONDS = 5.0
#: Waited past a short token's expiry before asking Identity again.
EXPIRY_MARGIN_SECONDS = 0.5
#: Token requests in a row that may answer with a token about to expire.
MAX_TOKEN_REQUESTS = 3
#: Fresh tokens one call may try after 601/602 before the error is raised.
MAX_TOKEN_RENEWALS = 2


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
    """Tokens by (identity URL, client id), used while more than ``MIN_TOKEN_SECONDS`` of them are left."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget every token and lock, in place (after ``fork``: the parent's locks may be held)."""
        self._lock = threading.Lock()
        self._tokens: dict[TokenKey, _Token] = {}
        self._fetch_locks: dict[TokenKey, threading.Lock] = {}

    def get(self, key: TokenKey) -> str | None:
        with self._lock:
            token = self._tokens.get(key)
            if token is None or token.expires_at - MIN_TOKEN_SECONDS <= time.monotonic():
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

    def thread_lock(self, key: TokenKey) -> threading.Lock:
        """Serialises token fetches of threads for one key."""
        with self._lock:
            return self._fetch_locks.setdefault(key, threading.Lock())


#: The one token cache of the process (reset in place after fork, never rebound).
TOKENS = TokenCache()

os.register_at_fork(after_in_child=TOKENS.reset)


def _identity_request(settings: MarketoSettings) -> tuple[str, dict[str, str]]:
    """The identity URL (no secret in it) and the form body of the token request."""
    form = {
        "grant_type": "client_credentials",
        "client_id": settings.client_id,
        "client_secret": settings.client_secret,
    }
    return settings.identity_url + TOKEN_PATH, form


def _expiring_wait(settings: MarketoSettings, expires_in: float, asked: int) -> float | None:
    """Seconds to wait before asking again for a token that is about to expire; None to use it."""
    if expires_in >= MIN_TOKEN_SECONDS:
        return None
    if asked >= MAX_TOKEN_REQUESTS:
        raise MarketoRetryableError(
            f"Identity gave connection {settings.conn_id!r} a token that expires in {expires_in:g} s, "
            f"{asked} times in a row; not using it."
        )
    log.info(
        "Identity gave connection %r a token that expires in %g s; asking again once it has run out.",
        settings.conn_id,
        expires_in,
    )
    return max(expires_in, 0.0) + EXPIRY_MARGIN_SECONDS


def _received(settings: MarketoSettings, value: str, expires_in: float, asked: int) -> float | None:
    """Keep a token Identity gave (``None``) or say how long to wait before asking again."""
    wait = _expiring_wait(settings, expires_in, asked)
    if wait is None:
        TOKENS.put(settings.token_key, value, expires_in)
        log.info(
            "Got a Marketo access token for connection %r (valid %d s more).", settings.conn_id, expires_in
        )
    return wait


def get_token(session: requests.Session, settings: MarketoSettings) -> str:
    """The cached token, or a new one fetched with ``session`` (one fetch at a time per key)."""
    if cached := TOKENS.get(settings.token_key):
        return cached
    with TOKENS.thread_lock(settings.token_key):
        if cached := TOKENS.get(settings.token_key):
            return cached
        url, form = _identity_request(settings)
        for asked in itertools.count(1):
            try:
                response = session.post(url, data=form, timeout=settings.timeout)
            except requests.RequestException as exc:
                raise transport_error(exc, "the access token") from None
            with response:
                value, expires_in = parse_token(response, conn_id=settings.conn_id)
            mask_secret(value)
            if (wait := _received(settings, value, expires_in, asked)) is None:
                return value
            time.sleep(wait)
        raise AssertionError("unreachable: itertools.count never ends")


async def aget_token(client: httpx.AsyncClient, settings: MarketoSettings) -> str:
    """Async :func:`get_token`: concurrent coroutines of one loop share a single fetch."""
    if cached := TOKENS.get(settings.token_key):
        return cached
    async with loop_local(("token-lock", settings.token_key), asyncio.Lock):
        if cached := TOKENS.get(settings.token_key):
            return cached
        url, form = _identity_request(settings)
        for asked in itertools.count(1):
            try:
                response = await client.post(url, data=form, timeout=settings.timeout)
            except httpx.HTTPError as exc:
                raise transport_error(exc, "the access token") from None
            value, expires_in = parse_token(response, conn_id=settings.conn_id)
            await amask_secret(value)
            if (wait := _received(settings, value, expires_in, asked)) is None:
                return value
            await asyncio.sleep(wait)
        raise AssertionError("unreachable: itertools.count never ends")


class TokenRenewals:
    """The renew-and-retry rule of one call after 601/602, shared by the sync and async hooks.

    Each renewal drops the rejected token from the cache so that the next :func:`get_token` asks
    Identity for a fresh one; after :data:`MAX_TOKEN_RENEWALS` the token error is raised.
    """

    def __init__(self, settings: MarketoSettings, what: str) -> None:
        self.settings = settings
        self.what = what
        self.used = 0

    def renew(self, exc: MarketoTokenError, token: str) -> None:
        """Drop ``token`` for a retry with a fresh one, or re-raise ``exc`` when the bound is reached."""
        if self.used >= MAX_TOKEN_RENEWALS:
            raise exc
        self.used += 1
        log.info(
            "Marketo %s: error %s; renewing the access token and retrying (renewal %d of %d).",
            self.what,
            exc.code,
            self.used,
            MAX_TOKEN_RENEWALS,
        )
        TOKENS.discard(self.settings.token_key, token)
