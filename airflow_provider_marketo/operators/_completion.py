"""``wait_for_completion`` of the import operators: wait for the task's own jobs, then finish them
exactly as :class:`~airflow_provider_marketo.sensors.bulk_import.BulkImportSensor` does.

Deferrable, the task waits on :class:`BulkImportTrigger` and :func:`statuses_of_event` reads its
event on the worker; otherwise :func:`wait_on_worker` polls with the same backoff and the same
transient-error bound. Either way :func:`airflow_provider_marketo.results.finish_batches` finishes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from airflow_provider_marketo._compat import AirflowException, AirflowTaskTimeout
from airflow_provider_marketo.backoff import poll_delays
from airflow_provider_marketo.hooks.marketo import MarketoHook
from airflow_provider_marketo.objects import BulkTarget, ImportStatus
from airflow_provider_marketo.operators._state import TaskLog
from airflow_provider_marketo.triggers.bulk_import import (
    pending_ids,
    poll_statuses,
    read_event,
)


def wait_on_worker(
    hook: MarketoHook,
    target: BulkTarget,
    batch_ids: Sequence[int],
    *,
    poll_interval: float,
    max_poll_interval: float,
    max_transient_errors: int,
    log: TaskLog,
) -> list[ImportStatus]:
    """Poll until every job is ``Complete`` or ``Failed``; return their statuses in ``batch_ids`` order.

    A status call that still fails after the hook's own retries counts as a transient round; more
    than ``max_transient_errors`` rounds in a row, or any other Marketo error, fail the task.
    """
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
        log.info("Waiting for batches %s (queued or importing).", pending)
        time.sleep(next(delays))


def statuses_of_event(event: Any, batch_ids: Sequence[int]) -> list[ImportStatus]:
    """The finished statuses a :class:`BulkImportTrigger` event reports; an error or a timeout fails."""
    status, message, statuses = read_event(event, batch_ids)
    if status == "error":
        raise AirflowException(f"Waiting for this task's Marketo jobs failed: {message}")
    if status == "timeout":
        raise AirflowTaskTimeout(f"This task's Marketo jobs did not finish in time: {message}")
    return statuses
