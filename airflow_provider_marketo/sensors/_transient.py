"""The count of consecutive pokes that ended in a transient error, kept across reschedules.

In ``mode="reschedule"`` every poke runs in a new process with a new sensor instance, so a count on
the instance starts at 0 each time and its limit is never reached. There the count lives in Airflow's
task state store (``context["task_state_store"]``, Airflow 3.3+), keyed by the try number so that a
new try starts again at 0. A runtime without the store keeps the count on the instance, and says once
per poke that the limit then only holds within one process.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, cast

log = logging.getLogger(__name__)

#: Key of the count in the task state store.
STATE_KEY = "marketo_sensor_transient_errors"


class TransientErrorCount:
    """Consecutive transient errors of one sensor try; ``rescheduled`` says whether pokes share a process."""

    def __init__(self, *, rescheduled: bool) -> None:
        self.rescheduled = rescheduled
        self._local = 0

    def _store(self, context: Mapping[str, Any]) -> Any:
        return context.get("task_state_store") if self.rescheduled else None

    @staticmethod
    def _try_number(context: Mapping[str, Any]) -> int:
        return int(getattr(context.get("ti"), "try_number", 0) or 0)

    def current(self, context: Mapping[str, Any]) -> int:
        store = self._store(context)
        if store is None:
            return self._local
        saved = store.get(STATE_KEY)
        if isinstance(saved, dict) and saved.get("try_number") == self._try_number(context):
            return int(saved.get("count", 0))
        return 0

    def _save(self, context: Mapping[str, Any], count: int) -> None:
        self._local = count
        store = self._store(context)
        if store is not None:
            store.set(STATE_KEY, {"try_number": self._try_number(context), "count": count})
        elif self.rescheduled and count:
            log.warning(
                "This Airflow has no task state store: in reschedule mode the transient-error limit "
                "cannot be counted across pokes; the sensor's timeout still bounds the wait."
            )

    def add(self, context: Any) -> int:
        """Count one more transient error; return the new count."""
        mapping = cast("Mapping[str, Any]", context)
        count = self.current(mapping) + 1
        self._save(mapping, count)
        return count

    def reset(self, context: Any) -> None:
        """A poke read every status: start again at 0 (writes only when the count was not 0)."""
        mapping = cast("Mapping[str, Any]", context)
        if self.current(mapping):
            self._save(mapping, 0)
