"""Trigger that waits in the triggerer until Marketo bulk import jobs leave the queue.

The trigger only reads job statuses: it creates nothing and downloads nothing, so it is safe to run
twice (after a triggerer restart, for instance). It yields exactly one event with the payload
``{"status": "success" | "failed" | "error" | "timeout", "message": str, "batches": [...]}``; an
``error`` event from a Marketo error also holds its ``code`` (:func:`error_of_event` on the worker).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, Literal, cast, get_args

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_marketo._compat import AirflowException
from airflow_provider_marketo.backoff import poll_delays
from airflow_provider_marketo.exceptions import (
    MarketoBatchNotFoundError,
    MarketoError,
    MarketoRetryableError,
)
from airflow_provider_marketo.hooks._errors import error_for_code
from airflow_provider_marketo.hooks.marketo import AsyncMarketoHook
from airflow_provider_marketo.objects import BulkTarget, ImportStatus

if TYPE_CHECKING:
    from airflow_provider_marketo.hooks.marketo import MarketoHook

EventStatus = Literal["success", "failed", "error", "timeout"]
EVENT_STATUSES: tuple[str, ...] = get_args(EventStatus)
DEFAULT_MAX_TRANSIENT_ERRORS = 10


def describe_error(batch_id: int, error: BaseException, target: BulkTarget) -> str:
    """One line about a status check that failed for good (never contains a token)."""
    if isinstance(error, MarketoBatchNotFoundError):
        return (
            f"Batch {batch_id} is unknown or expired (Marketo keeps batch ids for 7 days): {error}. "
            f"{not_found_hint(target)}"
        )
    if isinstance(error, MarketoError):
        return f"Status check of batch {batch_id} failed: {error}"
    return f"Status check of batch {batch_id} failed: {type(error).__name__}: {error}"


def not_found_hint(target: BulkTarget) -> str:
    """Marketo keeps one batch id space per kind: a batch looked up as the wrong kind is "not found"
    (only plain batch ids can be; an import task's output names its target)."""
    if target.kind == "custom_objects":
        looked_up = f"among imports of custom object {target.api_name!r} (object_type='custom_objects')"
    elif target.kind == "program_members":
        looked_up = "among program member imports (object_type='program_members')"
    else:
        looked_up = "among lead imports (object_type='leads', the default)"
    return (
        f"It was looked up {looked_up}. If it was created moments ago, the target given with plain "
        "batch ids differs from the import's: pass the import task's output as batch_ids, which "
        "names its target."
    )


def pending_ids(batch_ids: Sequence[int], known: dict[int, ImportStatus]) -> list[int]:
    """Batch ids not known to be ``Complete`` or ``Failed``."""
    return [b for b in batch_ids if b not in known or not known[b].is_terminal]


def poll_statuses(
    hook: MarketoHook, target: BulkTarget, batch_ids: Sequence[int], known: dict[int, ImportStatus]
) -> str | None:
    """The sync form of one polling round (the sensor's poke, ``wait_on_worker``): ask for each job's
    status into ``known``; return the description of a transient error that ended the round early,
    or None. Any other Marketo error is an ``AirflowException`` naming the batch."""
    for batch_id in batch_ids:
        try:
            known[batch_id] = hook.get_import_status(target, batch_id)
        except MarketoRetryableError as err:
            return describe_error(batch_id, err, target)
        except MarketoError as err:
            raise AirflowException(describe_error(batch_id, err, target)) from err
    return None


def error_of_event(event: Any, text: str) -> AirflowException:
    """The exception for an ``error`` event on the worker: of the class of the Marketo error the
    trigger met (its ``code``), so that the daily quota and errors no retry can change are handled as
    on the worker (:func:`~airflow_provider_marketo.exceptions.without_retry`)."""
    code = event.get("code") if isinstance(event, dict) else None
    if not isinstance(code, str) or not code:
        return AirflowException(text)
    return type(error_for_code(code, "", conn_id="", status_call=True))(text)


def read_event(event: Any, batch_ids: Sequence[int]) -> tuple[EventStatus, str, list[ImportStatus]]:
    """Validate the payload of a :class:`BulkImportTrigger` event (``max_pending=0``) on the worker.

    Returns ``(status, message, statuses)``; for ``success`` / ``failed`` the statuses are those of
    exactly ``batch_ids``, all finished. Anything malformed is an ``AirflowException`` saying what.
    """
    if not isinstance(event, dict):
        raise AirflowException(f"Malformed trigger event (expected a dict): {event!r:.200}")
    status, message, batches = event.get("status"), event.get("message"), event.get("batches")
    if status not in EVENT_STATUSES:
        raise AirflowException(f"Malformed trigger event: unknown status {status!r}.")
    if not isinstance(message, str) or not isinstance(batches, list):
        raise AirflowException("Malformed trigger event: 'message' must be a str and 'batches' a list.")
    try:
        statuses = [ImportStatus.from_dict(b) for b in batches]
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise AirflowException(f"Malformed trigger event: bad batch entry ({err!r}).") from None
    if status in ("success", "failed"):
        got = sorted(s.batch_id for s in statuses)
        if got != sorted(batch_ids) or not all(s.is_terminal for s in statuses):
            raise AirflowException(
                f"Malformed trigger event: expected finished statuses of batches {sorted(batch_ids)}, "
                f"got {[(s.batch_id, s.status) for s in statuses]}."
            )
    return cast("EventStatus", status), message, statuses


class BulkImportTrigger(BaseTrigger):
    """
    Poll the statuses of Marketo bulk import jobs until at most ``max_pending`` are unfinished.

    :param marketo_conn_id: Marketo connection id.
    :param target: ``BulkTarget.to_dict()`` of the jobs' object type.
    :param batch_ids: the jobs to wait for.
    :param poll_interval: first wait between polls in seconds; it grows x1.5 per poll
        (:mod:`airflow_provider_marketo.backoff`, the policy of every wait).
    :param max_poll_interval: longest wait between polls in seconds.
    :param deadline: wall-clock time (epoch seconds) after which a ``timeout`` event is sent.
    :param max_pending: stop once at most this many jobs are unfinished (0: wait for all).
    :param max_transient_errors: give up (``error`` event) after more consecutive failed rounds.
    """

    def __init__(
        self,
        *,
        marketo_conn_id: str,
        target: dict[str, Any],
        batch_ids: list[int],
        poll_interval: float = 5.0,
        max_poll_interval: float = 30.0,
        deadline: float | None = None,
        max_pending: int = 0,
        max_transient_errors: int = DEFAULT_MAX_TRANSIENT_ERRORS,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        if poll_interval <= 0:
            raise ValueError(f"poll_interval must be positive, got {poll_interval!r}.")
        if max_pending < 0 or max_transient_errors < 0:
            raise ValueError("max_pending and max_transient_errors must not be negative.")
        self.marketo_conn_id = marketo_conn_id
        self.bulk_target = BulkTarget.from_dict(target)
        self.batch_ids = [int(b) for b in batch_ids]
        self.poll_interval = float(poll_interval)
        self.max_poll_interval = float(max_poll_interval)
        self.deadline = None if deadline is None else float(deadline)
        self.max_pending = int(max_pending)
        self.max_transient_errors = int(max_transient_errors)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "marketo_conn_id": self.marketo_conn_id,
                "target": self.bulk_target.to_dict(),
                "batch_ids": list(self.batch_ids),
                "poll_interval": self.poll_interval,
                "max_poll_interval": self.max_poll_interval,
                "deadline": self.deadline,
                "max_pending": self.max_pending,
                "max_transient_errors": self.max_transient_errors,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        yield TriggerEvent(await self._wait())  # type: ignore[no-untyped-call]

    async def _sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def _wait(self) -> dict[str, Any]:
        """Poll until done, failed for good or past the deadline; return the event payload."""
        hook = AsyncMarketoHook(self.marketo_conn_id)
        known: dict[int, ImportStatus] = {}
        delays = poll_delays(self.poll_interval, self.max_poll_interval)
        transient_rounds = 0
        while True:
            pending = pending_ids(self.batch_ids, known)
            results = await asyncio.gather(
                *(hook.get_import_status(self.bulk_target, batch_id) for batch_id in pending),
                return_exceptions=True,
            )
            transient: list[str] = []
            for batch_id, result in zip(pending, results, strict=True):
                if isinstance(result, ImportStatus):
                    self._record(known, result)
                elif isinstance(result, MarketoRetryableError):
                    transient.append(describe_error(batch_id, result, self.bulk_target))
                elif isinstance(result, Exception):
                    if not isinstance(result, MarketoError):
                        self.log.error("Unexpected error polling batch %s", batch_id, exc_info=result)
                    payload = self._payload(
                        "error", describe_error(batch_id, result, self.bulk_target), known
                    )
                    if isinstance(result, MarketoError) and result.code:
                        payload["code"] = result.code  # the worker raises the same class
                    return payload
                else:
                    raise result
            if transient:
                transient_rounds += 1
                if transient_rounds > self.max_transient_errors:
                    message = (
                        f"Gave up after {transient_rounds} consecutive rounds of transient errors; "
                        f"last: {transient[-1]}"
                    )
                    return self._payload("error", message, known)
                self.log.warning(
                    "Transient error (%d/%d): %s", transient_rounds, self.max_transient_errors, transient[-1]
                )
            else:
                transient_rounds = 0
            if len(pending_ids(self.batch_ids, known)) <= self.max_pending:
                return self._outcome(known)
            if self.deadline is not None:
                remaining = self.deadline - time.time()
                if remaining <= 0:
                    return self._payload("timeout", self._timeout_message(known), known)
                await self._sleep(min(next(delays), remaining))
            else:
                await self._sleep(next(delays))

    def _record(self, known: dict[int, ImportStatus], status: ImportStatus) -> None:
        if known.get(status.batch_id) != status:
            self.log.info(
                "Batch %s is %s: %d processed, %d failed, %d with warning%s",
                status.batch_id,
                status.status,
                status.rows_processed,
                status.rows_failed,
                status.rows_with_warning,
                f" ({status.message})" if status.message else "",
            )
        known[status.batch_id] = status

    def _outcome(self, known: dict[int, ImportStatus]) -> dict[str, Any]:
        failed = [s for s in known.values() if s.status == "Failed"]
        if failed:
            message = "; ".join(f"Batch {s.batch_id} failed: {s.message or 'no message'}" for s in failed)
            return self._payload("failed", message, known)
        pending = len(pending_ids(self.batch_ids, known))
        done = len(self.batch_ids) - pending
        message = f"{done} of {len(self.batch_ids)} import jobs finished"
        if pending:
            message += f"; {pending} still queued or importing (max_pending={self.max_pending})"
        return self._payload("success", message, known)

    def _timeout_message(self, known: dict[int, ImportStatus]) -> str:
        pending = pending_ids(self.batch_ids, known)
        return (
            f"Deadline passed with {len(pending)} of {len(self.batch_ids)} import jobs unfinished "
            f"(batch ids {pending})"
        )

    def _payload(self, status: EventStatus, message: str, known: dict[int, ImportStatus]) -> dict[str, Any]:
        batches = [known[b].to_dict() for b in self.batch_ids if b in known]
        return {"status": status, "message": message, "batches": batches}
