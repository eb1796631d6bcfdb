"""Every difference between the supported Airflow minors (3.1, 3.2, 3.3), in one place.

The package imports these names from here, never from where one minor keeps them:

- ``conf`` and the task exceptions: the Task SDK has them from 3.2 (``airflow.sdk.configuration``,
  ``airflow.sdk.exceptions``); 3.1 keeps them in ``airflow.configuration`` / ``airflow.exceptions``,
  and those are the classes its task runner catches.
- ``amask_secret`` (``airflow.sdk.log``, 3.3+): before 3.3 the sync ``mask_secret`` runs through
  ``sync_to_async``, so its round trip to the supervisor does not block the event loop.
- The task state store (``context["task_state_store"]``, 3.3+). Before 3.3 :func:`task_state_store`
  returns a :class:`VariableTaskStore`: the same JSON key/value calls, kept in Airflow Variables
  through the task's supervisor (the Execution API, so the metadata database every worker shares);
  ``None`` only outside Airflow's task runner (no supervisor), where the manifest falls back to a
  file (see ``docs/state.md``).
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
- Asking whether an asset exists (:func:`asset_exists`): the Execution API's by-uri lookup sees only
  active assets, so an asset that Airflow created on an alias event (inactive until a DAG declares
  it) is found through its events; 3.1's events lookup takes no ``limit``.
- ``DagBag`` (scripts and tests only): ``airflow.dag_processing.dagbag`` from 3.2,
  ``airflow.models.dagbag`` in 3.1.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import zlib
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


#: Longest key of an Airflow Variable (the ``variable.key`` column, ``ID_LEN``).
VARIABLE_KEY_LIMIT = 250
#: Documents longer than this (compact JSON) are stored zlib-compressed (base64) in the Variable.
VARIABLE_COMPRESS_ABOVE = 64 * 1024
_COMPRESSED = "marketo_zlib_b64"


def _supervisor_comms() -> Any:
    """The running task's channel to its supervisor, or None outside Airflow's task runner."""
    from airflow.sdk.execution_time import task_runner

    return getattr(task_runner, "SUPERVISOR_COMMS", None)


def _not_found(error: Any) -> bool:
    """Whether a supervisor's ``ErrorResponse`` says the Variable does not exist."""
    return getattr(getattr(error, "error", None), "name", None) == "VARIABLE_NOT_FOUND"


class VariableTaskStore:
    """A task state store kept in Airflow Variables, for Airflow 3.1/3.2 (no task state store).

    The calls go through the task's supervisor to the Execution API (``GetVariable`` /
    ``PutVariable`` / ``DeleteVariable``), so the value is in the metadata database that every
    worker reads, whatever machine runs the next try or resume. Secrets backends are not asked (they
    cannot hold it) and a failed write raises (``Variable.set`` would only log it). Values are JSON;
    one over :data:`VARIABLE_COMPRESS_ABOVE` bytes is stored compressed. Airflow never deletes a
    Variable: the caller deletes its key once the task instance succeeded (:attr:`delete_on_success`).
    """

    delete_on_success = True

    def __init__(self, comms: Any, description: str | None = None) -> None:
        self._comms = comms
        self._description = description or (
            "airflow-provider-marketo task state; deleted when its task instance succeeds"
        )

    @staticmethod
    def variable_key(key: str) -> str:
        """``key``, or its first characters and a digest of it when longer than a Variable key may be."""
        if len(key) <= VARIABLE_KEY_LIMIT:
            return key
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        return f"{key[: VARIABLE_KEY_LIMIT - len(digest) - 1]}.{digest}"

    def describe(self, key: str) -> str:
        return f"the Airflow Variable {self.variable_key(key)!r}"

    def get(self, key: str, default: Any = None) -> Any:
        from airflow.sdk.execution_time.comms import ErrorResponse, GetVariable, VariableResult

        try:
            answer = self._comms.send(GetVariable(key=self.variable_key(key)))
        except Exception as err:  # an error frame: AirflowRuntimeError carrying an ErrorResponse
            if _not_found(getattr(err, "error", None)):
                return default
            raise
        if isinstance(answer, ErrorResponse):
            if _not_found(answer):
                return default
            raise RuntimeError(f"{answer.error.name}: {answer.detail}")
        if not isinstance(answer, VariableResult):
            raise RuntimeError(f"unexpected answer {type(answer).__name__}")
        if answer.value is None:
            return default
        value = json.loads(answer.value)
        if isinstance(value, dict) and set(value) == {_COMPRESSED}:
            value = json.loads(zlib.decompress(base64.b64decode(value[_COMPRESSED])))
        return value

    def set(self, key: str, value: Any) -> None:
        from airflow.sdk.execution_time.comms import PutVariable

        text = json.dumps(value, separators=(",", ":"))
        if len(text) > VARIABLE_COMPRESS_ABOVE:
            packed = base64.b64encode(zlib.compress(text.encode(), 6)).decode("ascii")
            text = json.dumps({_COMPRESSED: packed})
        self._comms.send(PutVariable(key=self.variable_key(key), value=text, description=self._description))

    def delete(self, key: str) -> None:
        from airflow.sdk.execution_time.comms import DeleteVariable

        self._comms.send(DeleteVariable(key=self.variable_key(key)))


def task_state_store(context: Mapping[str, object]) -> object | None:
    """Task-instance data every worker shares: the task state store (3.3+), Airflow Variables before
    3.3 (:class:`VariableTaskStore`); ``None`` outside Airflow's task runner (logged)."""
    store = context.get("task_state_store")
    if store is not None or AIRFLOW_V_3_3_PLUS:
        return store
    comms = _supervisor_comms()
    if comms is not None:
        return VariableTaskStore(comms)
    log.info(
        "Airflow %s has no task state store and this task runs outside Airflow's task runner "
        "(no supervisor for Variables): the retry manifest is kept in object storage instead.",
        AIRFLOW_VERSION_STRING,
    )
    return None


def shared_variables(description: str) -> VariableTaskStore | None:
    """Airflow Variables (JSON values) through the running task's supervisor, on every minor; ``None``
    outside Airflow's task runner."""
    comms = _supervisor_comms()
    return None if comms is None else VariableTaskStore(comms, description)


def asset_exists(uri: str) -> bool | None:
    """Whether Airflow's metadata database has the asset ``name=uri, uri=uri``: one that has events
    (an asset created on an alias event stays inactive), or an active one (declared by a DAG). ``None``
    outside Airflow's task runner or when the supervisor gives another answer."""
    comms = _supervisor_comms()
    if comms is None:
        return None
    from airflow.sdk.execution_time.comms import (
        AssetEventsResult,
        AssetResult,
        GetAssetByUri,
        GetAssetEventByAsset,
    )

    limit: dict[str, Any] = {"limit": 1} if AIRFLOW_V_3_2_PLUS else {}
    try:
        events = comms.send(GetAssetEventByAsset(name=uri, uri=uri, **limit))
        if isinstance(events, AssetEventsResult) and events.asset_events:
            return True
        answer = comms.send(GetAssetByUri(uri=uri))
    except Exception as err:  # an error frame: AirflowRuntimeError carrying an ErrorResponse
        answer = getattr(err, "error", None)
    if isinstance(answer, AssetResult):
        return True
    if getattr(getattr(answer, "error", None), "name", None) == "ASSET_NOT_FOUND":
        return False
    log.debug("No answer on whether asset %s exists: %r", uri, answer)
    return None


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
    "VariableTaskStore",
    "amask_secret",
    "asset_exists",
    "conf",
    "dag_bag",
    "keep_in_process_api_alive",
    "legacy_field_behaviour",
    "legacy_form_widgets",
    "mask_secret",
    "shared_variables",
    "storage_conn_id",
    "storage_namespace",
    "task_state_store",
]
