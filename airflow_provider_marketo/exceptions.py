"""Exceptions raised by the Marketo provider.

Every error from Marketo is a :class:`MarketoError` carrying Marketo's ``code``, ``message`` and
``request_id``. Subclasses say what the caller should do: retry (:class:`MarketoRetryableError`),
wait for queue room (:class:`MarketoQueueFullError`, :class:`MarketoListBusyError`), or stop.
Exception texts never contain a token or a client secret.
"""

from __future__ import annotations

from airflow_provider_marketo._compat import AirflowException

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
