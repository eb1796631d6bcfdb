"""How an import task ends on an error no retry can change, and how it waits out the daily quota.

Marketo's daily API quota (607) resets at 00:00 US Central. A deferrable task defers on a
``DateTimeTrigger`` until a little after the reset and starts again from its manifest (the parts
Marketo accepted are not submitted again); without ``deferrable`` the task fails without using its
retries, its message saying when the quota resets. Other errors go through
:func:`~airflow_provider_marketo.exceptions.failing_without_retry`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pendulum

from airflow_provider_marketo.exceptions import MarketoQuotaError, failing_without_retry
from airflow_provider_marketo.hooks._errors import quota_reset
from airflow_provider_marketo.operators._state import TaskLog

#: Time after 00:00 US Central before the task tries again (clocks differ by a little).
QUOTA_RESET_MARGIN = timedelta(minutes=5)
#: The method a task resumes into after the quota reset.
AFTER_QUOTA_METHOD = "resume_after_quota"


def quota_trigger(now: pendulum.DateTime | None = None) -> Any:
    """A trigger that fires :data:`QUOTA_RESET_MARGIN` after the next quota reset."""
    from airflow.providers.standard.triggers.temporal import DateTimeTrigger

    return DateTimeTrigger(moment=quota_reset(now) + QUOTA_RESET_MARGIN)


@contextmanager
def errors_of_a_try(*, deferrable: bool, defer: Callable[..., Any], log: TaskLog) -> Iterator[None]:
    """The errors of a task's execute path: a quota error defers until the reset when
    ``deferrable``; an error no retry can change fails the task at once; others are raised as they are."""
    with failing_without_retry():
        try:
            yield
        except MarketoQuotaError as err:
            if not deferrable:
                raise
            trigger = quota_trigger()
            log.warning(
                "Marketo's daily API quota is used up (%s). Deferring until %s, after its reset; the "
                "parts already accepted are not submitted again.",
                err.marketo_message,
                trigger.moment,
            )
            defer(trigger=trigger, method_name=AFTER_QUOTA_METHOD)
