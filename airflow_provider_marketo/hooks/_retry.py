"""The retry policy of every Marketo call, for the sync (Retrying) and async (AsyncRetrying) hooks.

Retried: :class:`MarketoRetryableError` (5xx, 604/608/611/614/713/719, 615, 606, connection errors,
timeouts), within ``max_attempts`` and ``max_retry_seconds``. Backoff is exponential with jitter,
starting at ``window_seconds / 20`` (1 s by default); after 606 the whole rate window is waited out.
Everything else (auth, quota, queue full, bad request, ...) is raised at once.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential,
    wait_random,
)

from airflow_provider_marketo.exceptions import MarketoRateLimitError, MarketoRetryableError
from airflow_provider_marketo.hooks._settings import MarketoSettings

log = logging.getLogger(__name__)


def _always() -> bool:
    return True


def _policy(
    settings: MarketoSettings, what: str, can_retry: Callable[[], bool], max_attempts: int | None
) -> dict[str, Any]:
    attempts = max_attempts or settings.max_attempts
    base = settings.window_seconds / 20
    backoff = wait_exponential(multiplier=base, max=settings.window_seconds * 1.5) + wait_random(0, base)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, MarketoRateLimitError):
            return settings.window_seconds + random.uniform(0, base)
        return float(backoff(state))

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        reason = "waiting out the rate window" if isinstance(exc, MarketoRateLimitError) else "backing off"
        log.info(
            "Marketo %s failed on attempt %d of %d (%s); %s, retrying in %.1f s.",
            what,
            state.attempt_number,
            attempts,
            exc,
            reason,
            delay,
        )

    return {
        "stop": stop_after_attempt(attempts) | stop_before_delay(settings.max_retry_seconds),
        "wait": wait,
        "retry": retry_if_exception(lambda exc: isinstance(exc, MarketoRetryableError) and can_retry()),
        "before_sleep": before_sleep,
        "reraise": True,
    }


def retrying(
    settings: MarketoSettings,
    what: str,
    *,
    can_retry: Callable[[], bool] = _always,
    max_attempts: int | None = None,
) -> Retrying:
    """A ``Retrying`` for one sync call; ``can_retry`` can veto a retry (e.g. a consumed upload)."""
    return Retrying(**_policy(settings, what, can_retry, max_attempts))


def aretrying(settings: MarketoSettings, what: str, *, max_attempts: int | None = None) -> AsyncRetrying:
    """The same policy for a coroutine."""
    return AsyncRetrying(**_policy(settings, what, _always, max_attempts))
