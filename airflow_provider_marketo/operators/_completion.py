"""``wait_for_completion`` of the import operators: wait for the task's own jobs, then finish them
exactly as :class:`~airflow_provider_marketo.sensors.bulk_import.BulkImportSensor` does.

Deferrable, the task waits on :class:`BulkImportTrigger` and :func:`statuses_of_event` reads its
event on the worker; otherwise :func:`wait_on_worker` polls with the same backoff and the same
transient-error bound. Either way :func:`airflow_provider_marketo.results.finish_batches` finishes.

Every wait has a deadline: the operator's ``timeout`` (default :data:`DEFAULT_WAIT_TIMEOUT`, 7 days,
as dbt Cloud's operator), or less when ``execution_timeout`` leaves less (:func:`wait_deadline`).
Past it the task fails naming the batches still unfinished.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from airflow_provider_marketo._compat import AirflowException, AirflowTaskTimeout
from airflow_provider_marketo.backoff import poll_delays
from airflow_provider_marketo.hooks.marketo import MarketoHook
from airflow_provider_marketo.objects import BulkTarget, ImportStatus
from airflow_provider_marketo.operators._state import TaskLog
from airflow_provider_marketo.triggers.bulk_import import (
    error_of_event,
    pending_ids,
    poll_statuses,
    read_event,
)

#: How long the operators wait for their jobs by default (``timeout``).
DEFAULT_WAIT_TIMEOUT = timedelta(days=7)


def wait_deadline(timeout: float, remaining: float | None, now: float | None = None) -> tuple[float, str]:
    """The wall-clock deadline (epoch seconds) of a wait and what set it: ``timeout`` seconds from
    now, or the ``remaining`` seconds ``execution_timeout`` leaves the try when that is sooner."""
    start = time.time() if now is None else now
    if remaining is not None and remaining < timeout:
        return start + remaining, f"execution_timeout (the {remaining:.0f} s this try had left)"
    return start + timeout, f"timeout={timeout:g} s"


def wait_on_worker(
    hook: MarketoHook,
    target: BulkTarget,
    batch_ids: Sequence[int],
    *,
    poll_interval: float,
    max_poll_interval: float,
    max_transient_errors: int,
    log: TaskLog,
    deadline: float | None = None,
    bound: str = "the deadline",
) -> list[ImportStatus]:
    """Poll until every job is ``Complete`` or ``Failed``; return their statuses in ``batch_ids`` order.

    A status call that still fails after the hook's own retries counts as a transient round; more
    than ``max_transient_errors`` rounds in a row, or any other Marketo error, fail the task. Past
    ``deadline`` (epoch seconds; ``bound`` says what set it) the task fails with
    ``AirflowTaskTimeout`` naming the batches still queued or importing.
    """
    started = time.time()
    known: dict[int, ImportStatus] = {}
    delays = poll_delays(poll_interval, max_poll_interval)
    transient_rounds = 0
    while True:
        transient = poll_statuses(hook, target, pending_ids(batch_ids, known), known)
        if transient is None:
            transient_rounds = 0
        else:
            transient_rounds += 1
            if transient_rounds > max_transient_errors:
                raise AirflowException(
                    f"Gave up after {transient_rounds} consecutive rounds of transient errors; "
                    f"last: {transient}"
                )
            log.warning("Transient error (%d/%d): %s", transient_rounds, max_transient_errors, transient)
        pending = pending_ids(batch_ids, known)
        if not pending:
            return [known[batch_id] for batch_id in batch_ids]
        delay = next(delays)
        if deadline is not None:
            left = deadline - time.time()
            if left <= 0:
                raise AirflowTaskTimeout(
                    f"Batches {pending} ({len(pending)} of {len(batch_ids)}) are still queued or importing "
                    f"after waiting {time.time() - started:.0f} s: {bound} passed. Marketo keeps importing "
                    "them; a retry of this task waits for them again without submitting them again."
                )
            delay = min(delay, left)
        log.info("Waiting for batches %s (queued or importing).", pending)
        time.sleep(delay)


def statuses_of_event(event: Any, batch_ids: Sequence[int]) -> list[ImportStatus]:
    """The finished statuses a :class:`BulkImportTrigger` event reports; an error or a timeout fails."""
    status, message, statuses = read_event(event, batch_ids)
    if status == "error":
        raise error_of_event(event, f"Waiting for this task's Marketo jobs failed: {message}")
    if status == "timeout":
        raise AirflowTaskTimeout(f"This task's Marketo jobs did not finish in time: {message}")
    return statuses
