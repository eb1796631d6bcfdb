"""The one backoff policy of every wait: ``poll_interval``, then x1.5 after each check, capped at
``max_poll_interval`` (30 s by default, never below ``poll_interval``).

Used by the polling of a job set (``BulkImportTrigger``, the operators' ``wait_on_worker``) and by
the operators' wait for queue room after Marketo answers 1016 / 1019 (``operators/_submission``).
No Airflow import.
"""

from __future__ import annotations

from collections.abc import Iterator

#: Each wait is this much longer than the one before, up to the cap.
BACKOFF_FACTOR = 1.5
#: Default longest wait between two checks, in seconds.
MAX_POLL_INTERVAL = 30.0


def backoff_delay(poll_interval: float, attempt: int, max_poll_interval: float = MAX_POLL_INTERVAL) -> float:
    """The wait before check ``attempt + 1`` (``attempt`` 0: ``poll_interval``)."""
    return min(poll_interval * BACKOFF_FACTOR**attempt, max(poll_interval, max_poll_interval))


def poll_delays(poll_interval: float, max_poll_interval: float = MAX_POLL_INTERVAL) -> Iterator[float]:
    """The waits between checks, in order: ``poll_interval``, then x1.5 each time, capped."""
    cap = max(poll_interval, max_poll_interval)
    delay = poll_interval
    while True:
        yield delay
        delay = min(delay * BACKOFF_FACTOR, cap)
