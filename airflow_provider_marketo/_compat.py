"""Every difference between the supported Airflow minors (3.1, 3.2, 3.3), in one place.

The package imports these names from here, never from where one minor keeps them:

- ``conf`` and the task exceptions: the Task SDK has them from 3.2 (``airflow.sdk.configuration``,
  ``airflow.sdk.exceptions``); 3.1 keeps them in ``airflow.configuration`` / ``airflow.exceptions``,
  and those are the classes its task runner catches.
- ``amask_secret`` (``airflow.sdk.log``, 3.3+): before 3.3 the sync ``mask_secret`` runs through
  ``sync_to_async``, so its round trip to the supervisor does not block the event loop.
- The task state store (``context["task_state_store"]``, 3.3+): :func:`task_state_store` returns
  ``None`` before 3.3 and logs that the retry manifest falls back to object storage.
- ``DagBag`` (scripts and tests only): ``airflow.dag_processing.dagbag`` from 3.2,
  ``airflow.models.dagbag`` in 3.1.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow import __version__ as AIRFLOW_VERSION_STRING
from airflow.sdk.log import mask_secret
from packaging.version import Version

if TYPE_CHECKING:
    from pydantic import JsonValue

log = logging.getLogger(__name__)

#: The running Airflow's version without pre/post/dev parts (``3.2.2``).
AIRFLOW_VERSION = Version(Version(AIRFLOW_VERSION_STRING).base_version)
AIRFLOW_V_3_2_PLUS = Version("3.2.0") <= AIRFLOW_VERSION
AIRFLOW_V_3_3_PLUS = Version("3.3.0") <= AIRFLOW_VERSION

# mypy checks against the newest minor (TYPE_CHECKING); the other branches run on the older ones.
if TYPE_CHECKING or AIRFLOW_V_3_2_PLUS:
    from airflow.sdk.configuration import conf
    from airflow.sdk.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowSensorTimeout,
        AirflowSkipException,
        TaskDeferred,
    )
else:
    from airflow.configuration import conf
    from airflow.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowSensorTimeout,
        AirflowSkipException,
        TaskDeferred,
    )


async def _amask_secret_in_thread(secret: JsonValue, name: str | None = None) -> None:
    """``mask_secret`` from a coroutine: in a worker thread, its supervisor call on the loop."""
    from asgiref.sync import sync_to_async

    await sync_to_async(mask_secret)(secret, name)


if TYPE_CHECKING or AIRFLOW_V_3_3_PLUS:
    from airflow.sdk.log import amask_secret
else:
    amask_secret = _amask_secret_in_thread


def task_state_store(context: Mapping[str, object]) -> object | None:
    """The task's state store, or ``None`` where the runtime has none (logged before Airflow 3.3)."""
    store = context.get("task_state_store")
    if store is None and not AIRFLOW_V_3_3_PLUS:
        log.info(
            "Airflow %s has no task state store (new in Airflow 3.3): "
            "the retry manifest is kept in object storage instead.",
            AIRFLOW_VERSION_STRING,
        )
    return store


def dag_bag(dag_folder: str) -> Any:
    """Airflow's ``DagBag`` of ``dag_folder`` (for scripts and tests; imports Airflow's core)."""
    if TYPE_CHECKING or AIRFLOW_V_3_2_PLUS:
        from airflow.dag_processing.dagbag import DagBag
    else:
        from airflow.models.dagbag import DagBag
    return DagBag(dag_folder=dag_folder)


__all__ = [
    "AIRFLOW_VERSION",
    "AIRFLOW_V_3_2_PLUS",
    "AIRFLOW_V_3_3_PLUS",
    "AirflowException",
    "AirflowFailException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "TaskDeferred",
    "amask_secret",
    "conf",
    "dag_bag",
    "mask_secret",
    "task_state_store",
]
