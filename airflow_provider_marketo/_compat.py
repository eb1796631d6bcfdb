"""Every difference between the supported Airflow minors (3.1, 3.2, 3.3), in one place.

The package imports these names from here, never from where one minor keeps them:

- ``conf`` and the task exceptions: the Task SDK has them from 3.2 (``airflow.sdk.configuration``,
  ``airflow.sdk.exceptions``); 3.1 keeps them in ``airflow.configuration`` / ``airflow.exceptions``,
  and those are the classes its task runner catches.
- ``amask_secret`` (``airflow.sdk.log``, 3.3+): before 3.3 the sync ``mask_secret`` runs through
  ``sync_to_async``, so its round trip to the supervisor does not block the event loop.
- The task state store (``context["task_state_store"]``, 3.3+): :func:`task_state_store` returns
  ``None`` before 3.3 and logs that the retry manifest falls back to object storage.
- The connection form: 3.2+ reads it from the provider info (``ui-field-behaviour``,
  ``conn-fields``) and then never calls the hook's methods; 3.1 only calls the hook's
  ``get_ui_field_behaviour`` / ``get_connection_form_widgets``, which return
  :func:`legacy_field_behaviour` / :func:`legacy_form_widgets`, made from that same provider info.
- ``ObjectStoragePath``: 3.1 has no ``conn_id`` attribute and keeps ``conn_id@`` in ``bucket`` and
  ``namespace``; :func:`storage_conn_id` and :func:`storage_namespace` give the 3.2+ answers.
- ``dag.test()`` on 3.2 (scripts and tests only): the in-process Execution API object is dropped
  after its transport is built, its lifespan then exits and removes the services registry from the
  app, and every task fails (``KeyError: 'svcs_registry'``); :func:`keep_in_process_api_alive`
  keeps a reference (3.1 and 3.3 need nothing).
- ``DagBag`` (scripts and tests only): ``airflow.dag_processing.dagbag`` from 3.2,
  ``airflow.models.dagbag`` in 3.1.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from airflow import __version__ as AIRFLOW_VERSION_STRING
from airflow.sdk.log import mask_secret
from packaging.version import Version

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath
    from pydantic import JsonValue

log = logging.getLogger(__name__)

#: The running Airflow's version without pre/post/dev parts (``3.2.2``).
AIRFLOW_VERSION = Version(Version(AIRFLOW_VERSION_STRING).base_version)
AIRFLOW_V_3_2_PLUS = Version("3.2.0") <= AIRFLOW_VERSION
AIRFLOW_V_3_3_PLUS = Version("3.3.0") <= AIRFLOW_VERSION

# mypy checks against the newest minor (TYPE_CHECKING); the other branches run on the older ones.
if TYPE_CHECKING or AIRFLOW_V_3_2_PLUS:
    from airflow.sdk import exceptions as _exceptions
    from airflow.sdk.configuration import conf
else:
    from airflow import exceptions as _exceptions
    from airflow.configuration import conf
# Task exceptions: ``airflow.sdk.exceptions`` from 3.2, ``airflow.exceptions`` in 3.1.
AirflowException = _exceptions.AirflowException
AirflowFailException = _exceptions.AirflowFailException
AirflowSensorTimeout = _exceptions.AirflowSensorTimeout
AirflowSkipException = _exceptions.AirflowSkipException
AirflowTaskTimeout = _exceptions.AirflowTaskTimeout
TaskDeferralError = _exceptions.TaskDeferralError
TaskDeferralTimeout = _exceptions.TaskDeferralTimeout
TaskDeferred = _exceptions.TaskDeferred


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


def storage_conn_id(path: ObjectStoragePath) -> str | None:
    """The Airflow connection id of an object storage path (``s3://aws_test@bucket/...``: aws_test)."""
    if AIRFLOW_V_3_2_PLUS:
        conn_id: str | None = path.conn_id
        return conn_id
    return cast("str | None", path.storage_options.get("conn_id"))


def storage_namespace(path: ObjectStoragePath) -> str:
    """``scheme://bucket`` (or the scheme alone) of a path, without the connection id, as on 3.2+."""
    namespace: str = path.namespace
    scheme, sep, rest = namespace.partition("://")
    return f"{scheme}{sep}{rest.rpartition('@')[2]}" if sep else namespace


def _connection_type(conn_type: str) -> dict[str, Any]:
    from airflow_provider_marketo.get_provider_info import get_provider_info

    for entry in get_provider_info()["connection-types"]:
        if entry["connection-type"] == conn_type:
            return dict(entry)
    raise KeyError(f"no connection type {conn_type!r} in the provider info")


def legacy_field_behaviour(conn_type: str) -> dict[str, Any]:
    """The provider info's ``ui-field-behaviour`` in the shape of ``get_ui_field_behaviour`` (3.1)."""
    behaviour = _connection_type(conn_type)["ui-field-behaviour"]
    return {key.replace("-", "_"): value for key, value in behaviour.items()}


def legacy_form_widgets(conn_type: str) -> dict[str, Any]:
    """The provider info's ``conn-fields`` as the wtforms fields of ``get_connection_form_widgets`` (3.1).

    Imports wtforms and Flask-AppBuilder, as Airflow 3.1 expects (its API server mocks them).
    """
    from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import IntegerField, StringField
    from wtforms.validators import Optional

    widgets: dict[str, Any] = {}
    for name, field in _connection_type(conn_type)["conn-fields"].items():
        types = field["schema"]["type"]
        field_class = IntegerField if "integer" in types else StringField
        widgets[name] = field_class(
            lazy_gettext(field["label"]),
            widget=BS3TextFieldWidget(),
            description=field.get("description", ""),
            validators=[Optional()],
        )
    return widgets


_IN_PROCESS_APIS: list[Any] = []


def keep_in_process_api_alive() -> None:
    """Work around Airflow 3.2's ``dag.test()`` losing its in-process Execution API (see above)."""
    if not AIRFLOW_V_3_2_PLUS or AIRFLOW_V_3_3_PLUS:
        return
    from airflow.sdk.execution_time import supervisor

    create = supervisor.in_process_api_server
    if getattr(create, "_marketo_keeps_alive", False):
        return

    def in_process_api_server() -> Any:
        api = create()
        _IN_PROCESS_APIS.append(api)
        return api

    in_process_api_server._marketo_keeps_alive = True  # type: ignore[attr-defined]
    supervisor.in_process_api_server = in_process_api_server  # type: ignore[assignment]


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
    "AirflowTaskTimeout",
    "TaskDeferralError",
    "TaskDeferralTimeout",
    "TaskDeferred",
    "amask_secret",
    "conf",
    "dag_bag",
    "keep_in_process_api_alive",
    "legacy_field_behaviour",
    "legacy_form_widgets",
    "mask_secret",
    "storage_conn_id",
    "storage_namespace",
    "task_state_store",
]
