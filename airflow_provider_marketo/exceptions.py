"""Exceptions raised by the Marketo provider.

Every error from Marketo is a :class:`MarketoError` carrying Marketo's ``code``, ``message`` and
``request_id``. Subclasses say what the caller should do: retry (:class:`MarketoRetryableError`),
wait for queue room (:class:`MarketoQueueFullError`, :class:`MarketoListBusyError`), or stop.
Exception texts never contain a token or a client secret.

:func:`without_retry` is the one place that decides which errors fail a task at once, without using
its retries (:func:`failing_without_retry` applies it to a task's execute path).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from airflow_provider_marketo._compat import AirflowException, AirflowFailException
from airflow_provider_marketo.utils.formats import InputFileError
from airflow_provider_marketo.utils.parts import SourceChangedError

#: Marketo codes that are transient: retry with backoff (606 and 615 have their own classes).
RETRYABLE_CODES = frozenset({"502", "604", "608", "611", "614", "713", "719"})
#: Codes that mean the access token must be renewed.
TOKEN_CODES = frozenset({"601", "602"})


class MarketoError(AirflowException):
    """An error answered by Marketo (or by the HTTP layer in front of it)."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        request_id: str | None = None,
        http_status: int | None = None,
    ) -> None:
        self.code = code
        self.marketo_message = message
        self.request_id = request_id
        self.http_status = http_status
        parts = [f"Marketo error {code}: {message}" if code else message]
        if http_status is not None and not code:
            parts.append(f"(HTTP {http_status})")
        if request_id:
            parts.append(f"[requestId {request_id}]")
        super().__init__(" ".join(parts))


class MarketoConfigError(MarketoError):
    """The connection or an argument is invalid; nothing was sent to Marketo."""


class MarketoAuthError(MarketoError):
    """Bad client id/secret (HTTP 401) or access denied (603): fix the credentials or the API role."""


class MarketoTokenError(MarketoError):
    """The access token is invalid or expired (601/602): re-authenticate and retry once."""


class MarketoRetryableError(MarketoError):
    """A transient failure (5xx, 604, 608, 611, 614, 713, 719, connection error, timeout)."""


class MarketoRateLimitError(MarketoRetryableError):
    """606: more than 100 calls in 20 s on the instance; wait for the window to pass."""


class MarketoConcurrencyError(MarketoRetryableError):
    """615: more than 10 calls in flight on the instance."""


class MarketoQuotaError(MarketoError):
    """607: the daily API quota is used up; it resets at 00:00 US Central time."""


class MarketoQueueFullError(MarketoError):
    """1016: Marketo's import queue (10 jobs per instance) is full; submit later."""


class MarketoListBusyError(MarketoError):
    """1019: another import into the same static list is in progress; submit later."""


class MarketoFileTooLargeError(MarketoError):
    """HTTP 413: the request body was over Marketo's 10 MB limit."""


class MarketoRequestError(MarketoError):
    """A fatal error for this request or job (1003, 1006, 1008-1013, 609-613, ...)."""


class MarketoPagingTokenError(MarketoRequestError):
    """Marketo refused a ``nextPageToken`` (expired or unknown): read the result set again from the start."""


class MarketoJobFailedError(MarketoError):
    """A bulk import job ended with status ``Failed``."""


class MarketoBatchNotFoundError(MarketoRequestError):
    """The batch id is unknown or expired (batch ids are valid for 7 days)."""


def _reason(error: BaseException) -> str | None:
    """Why ``error`` fails the same way on every retry; None when a retry may succeed."""
    if isinstance(error, AirflowFailException | SourceChangedError):
        # Already final; or a file rewritten while it was read: a retry plans it again.
        return None
    if isinstance(error, InputFileError):
        return "the input is read again and fails the same way; fix it, then clear the task"
    if isinstance(error, MarketoQuotaError):
        return (
            "every call fails until the daily quota resets; clear the task after the reset named "
            "above (an import task with deferrable=True waits for the reset by itself)"
        )
    if isinstance(error, MarketoConfigError | MarketoAuthError):
        return "fix the connection, the API user's role or the argument, then clear the task"
    if isinstance(error, MarketoRequestError | MarketoFileTooLargeError):
        return "Marketo refuses this request as it is (an unknown list, program, object, field or value)"
    return None


_FAILING_CLASSES: dict[type[BaseException], type[AirflowFailException]] = {}


def _failing_class(cls: type[BaseException]) -> type[AirflowFailException]:
    """``cls`` that also is Airflow's fail-without-retry exception: ``except cls`` still catches it."""
    if issubclass(AirflowFailException, cls):  # AirflowException itself
        return AirflowFailException
    if cls not in _FAILING_CLASSES:
        namespace = {"__module__": cls.__module__, "__qualname__": cls.__qualname__, "__doc__": cls.__doc__}
        _FAILING_CLASSES[cls] = type(cls.__name__, (cls, AirflowFailException), namespace)
    return _FAILING_CLASSES[cls]


def without_retry(error: BaseException) -> AirflowFailException | None:
    """The error a task should raise instead of ``error`` when no retry can change its outcome.

    Input errors (:class:`InputFileError` and its subclasses but :class:`SourceChangedError`, so
    header and schema mismatches too), configuration and permission errors (603, 401/403), requests
    Marketo refuses (an unknown list, program or custom object: 1003, 1006, 1008-1013) and the daily
    quota (607) come back as an exception of the same class that is also Airflow's
    ``AirflowFailException``, its message saying why it is not retried. Others (transient errors, a
    timeout, anything unknown): None, the task keeps its retries.
    """
    reason = _reason(error)
    if reason is None and type(error) is AirflowException and error.__cause__ is not None:
        reason = _reason(error.__cause__)  # a message added to a Marketo error (polling a batch)
    if reason is None:
        return None
    failing = _failing_class(type(error))
    final = failing.__new__(failing, *error.args)
    final.__dict__.update(error.__dict__)
    final.args = (f"{error} [Not retried: {reason}.]",)
    return final.with_traceback(error.__traceback__)


@contextmanager
def failing_without_retry() -> Iterator[None]:
    """Raise what :func:`without_retry` makes of an error raised in the block (else the error)."""
    try:
        yield
    except Exception as error:
        final = without_retry(error)
        if final is None:
            raise
        raise final from error.__cause__
