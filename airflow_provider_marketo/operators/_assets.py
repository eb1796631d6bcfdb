"""Airflow asset events for the Marketo objects an import wrote.

Each Marketo object is an asset with a ``marketo://`` URI naming the instance and the object:

- ``marketo://<munchkin id>/leads``
- ``marketo://<munchkin id>/customobjects/<api name>``
- ``marketo://<munchkin id>/programs/<program id>/members``
- ``marketo://<munchkin id>/lists/<list id>`` (a lead import with ``list_id`` also writes the list)

The Munchkin id comes from the connection's REST endpoint (``https://123-ABC-456.mktorest.com`` is
``123-ABC-456``); an endpoint of another form (a proxy, the simulator) is named by its host and port.

The URI is known only at run time (it needs the connection), so each import operator and
``BulkImportSensor`` declares an ``AssetAlias`` named ``marketo:<dag id>.<task id>`` among its outlets
when it is created; the task that finishes the import (the operator with ``wait_for_completion``, or the
sensor) adds an event for each object written through that alias, with the summary's counts and the
batch ids as the event's ``extra``. A DAG can be scheduled on the ``Asset`` with the URI (or
on the alias). Airflow 3.1, 3.2 and 3.3 create the asset on its first event if no DAG declared it.

Airflow creates that asset while it stores the task's success. Two tasks that do it for the same new
asset at the same moment (the imports of one DAG run, which start and finish together) collide on the
asset table's unique key, and the API server marks the later task failed, without a retry, although its
import succeeded. So before the first event of an asset that does not exist yet, the tasks agree on
one creator (:func:`one_creator_at_a_time`); once the asset exists this costs one lookup.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from airflow.sdk import Asset, AssetAlias

from airflow_provider_marketo import _compat
from airflow_provider_marketo.hooks.marketo import MarketoHook
from airflow_provider_marketo.objects import BulkTarget

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator, Context

_log = logging.getLogger(__name__)


class _ImportOperator(Protocol):
    marketo_conn_id: str
    outlets: list[Any]

    @property
    def log(self) -> Any: ...


#: The scheme of a Marketo object's asset URI.
SCHEME = "marketo"
#: Prefix of the alias each import operator declares among its outlets.
ALIAS_PREFIX = "marketo:"
#: Summary keys copied into the event's ``extra`` (counts; file paths and messages are left out).
EXTRA_KEYS = (
    "status",
    "rows_sent",
    "rows_processed",
    "rows_failed",
    "rows_with_warning",
    "rows_accounted",
    "list_added",
    "list_removed",
)
#: Seconds between writing a claim to create a new asset and reading it back: every task that finishes
#: within this time of another sees the last claim, and only its writer creates the asset.
CLAIM_SETTLE = 2.0
#: Seconds a task that did not win the claim waits for the asset to exist before it adds its event anyway.
CREATION_WAIT = 60.0
#: Seconds between two lookups of the asset while waiting.
CREATION_POLL = 0.5
#: Prefix of the Airflow Variable that holds a claim (deleted by the task that wins it).
CLAIM_PREFIX = "marketo_asset_claim:"
_MUNCHKIN = re.compile(r"^([0-9]{3}-[A-Za-z0-9]{3}-[0-9]{3})\.mktorest\.com$", re.IGNORECASE)


def instance_of(base_url: str) -> str:
    """The instance part of a URI: the Munchkin id (upper case) of a ``mktorest.com`` endpoint, else
    the endpoint's host and port."""
    netloc = urlsplit(base_url).netloc
    match = _MUNCHKIN.match(netloc.split(":")[0])
    return match.group(1).upper() if match else netloc.lower()


def object_path(target: BulkTarget) -> str:
    """The object part of a URI (after the instance)."""
    if target.kind == "custom_objects":
        return f"customobjects/{target.api_name}"
    if target.kind == "program_members":
        return f"programs/{target.program_id}/members"
    return "leads"


def asset_uris(base_url: str, target: BulkTarget, *, list_id: int | None = None) -> list[str]:
    """The URIs of what an import into ``target`` writes: the object, and the static list it adds to."""
    instance = f"{SCHEME}://{instance_of(base_url)}"
    uris = [f"{instance}/{object_path(target)}"]
    if list_id is not None:
        uris.append(f"{instance}/lists/{int(list_id)}")
    return uris


def alias_name(dag_id: str | None, task_id: str) -> str:
    """The alias an import operator declares: ``marketo:<dag id>.<task id>`` (``marketo:<task id>``
    when the operator is made outside a DAG)."""
    return f"{ALIAS_PREFIX}{dag_id}.{task_id}" if dag_id else f"{ALIAS_PREFIX}{task_id}"


def declare_alias(operator: BaseOperator) -> None:
    """Add the operator's Marketo alias to its outlets (called once, when it is created)."""
    if declared_alias(operator.outlets) is None:
        dag = operator.get_dag()
        dag_id = dag.dag_id if dag is not None else None
        operator.add_outlets([AssetAlias(name=alias_name(dag_id, operator.task_id))])


def declared_alias(outlets: Iterable[Any]) -> AssetAlias | None:
    """The operator's Marketo alias among ``outlets``, if any."""
    return next(
        (o for o in outlets if isinstance(o, AssetAlias) and o.name.startswith(ALIAS_PREFIX)),
        None,
    )


def event_extra(summary: Mapping[str, Any], batch_ids: Sequence[int]) -> dict[str, Any]:
    """The event's ``extra``: the summary's counts and the batch ids."""
    extra = {key: summary[key] for key in EXTRA_KEYS if key in summary}
    extra["batch_ids"] = [int(b) for b in batch_ids]
    return extra


class _Claims(Protocol):
    def get(self, key: str, default: Any = None) -> Any: ...
    def set(self, key: str, value: Any) -> None: ...
    def delete(self, key: str) -> None: ...


def one_creator_at_a_time(
    uris: Sequence[str],
    *,
    log: Any,
    exists: Callable[[str], bool | None] = _compat.asset_exists,
    claims: _Claims | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Return when this task may add the events of ``uris`` without creating an asset at the same moment
    as another task.

    A URI that exists (or whose existence cannot be asked: outside a task runner) needs nothing. For a
    new one the task writes a claim into an Airflow Variable, waits :data:`CLAIM_SETTLE` seconds and
    reads it back: the last writer (or a task that finds the claim gone) creates the asset and deletes
    the claim; the others wait until the asset exists, at most :data:`CREATION_WAIT` seconds (a creator
    that died leaves them to create it)."""
    new = [uri for uri in uris if exists(uri) is False]
    if not new:
        return
    if claims is None:
        claims = _compat.shared_variables("airflow-provider-marketo: a task is creating this Airflow asset")
        if claims is None:
            return
    me = uuid.uuid4().hex
    for uri in new:
        key = CLAIM_PREFIX + uri
        try:
            claims.set(key, me)
            sleep(CLAIM_SETTLE)
            won = claims.get(key) in (None, me)
            if won:
                claims.delete(key)
        except Exception as err:  # the import succeeded: a claim that cannot be kept must not fail it
            log.warning("Could not claim the creation of asset %s (%s); adding its event anyway.", uri, err)
            continue
        if won:
            log.info("Asset %s is new: this task creates it.", uri)
            continue
        deadline = clock() + CREATION_WAIT
        while not exists(uri):
            if clock() >= deadline:
                log.warning(
                    "Asset %s was claimed by another task but not created in %.0f s.", uri, CREATION_WAIT
                )
                break
            sleep(CREATION_POLL)


def record_import_events(
    context: Context,
    outlets: Iterable[Any],
    uris: Sequence[str],
    extra: dict[str, Any],
    *,
    log: Any = None,
) -> list[str]:
    """Add an event for each URI through the operator's alias; return the URIs recorded (none when the
    operator has no Marketo alias, e.g. one removed from its outlets, or the context no outlet events)."""
    alias = declared_alias(outlets)
    accessors = context.get("outlet_events")
    if alias is None or accessors is None:  # no alias, or called outside a task runner
        return []
    one_creator_at_a_time(uris, log=log or _log)
    events = accessors[alias]
    for uri in uris:
        events.add(Asset(uri=uri, name=uri), extra=extra)
    return list(uris)


def record_finished_import(
    operator: _ImportOperator,
    context: Context,
    target: BulkTarget,
    params: Mapping[str, Any],
    summary: Mapping[str, Any],
    batch_ids: Sequence[int],
) -> list[str]:
    """The events of a finished import (``params``: its create parameters, for ``listId``); logged.
    A list mirror that removed members without any import job records the list's event alone.

    Called by the import operators (``wait_for_completion``) and by ``BulkImportSensor``, which does not
    know the import's ``list_id`` and records the object's event only."""
    list_only = not batch_ids and summary.get("list_removed") and not summary.get("dry_run")
    if not batch_ids and not list_only:  # nothing was written
        return []
    list_id = summary["list_id"] if list_only else params.get("listId")
    base_url = MarketoHook(operator.marketo_conn_id).settings.base_url
    uris = asset_uris(base_url, target, list_id=None if list_id is None else int(list_id))
    if list_only:  # a list mirror without jobs wrote the list, not the object
        uris = uris[1:]
    recorded = record_import_events(
        context, operator.outlets, uris, event_extra(summary, batch_ids), log=operator.log
    )
    if recorded:
        operator.log.info("Asset events recorded for %s.", ", ".join(recorded))
    return recorded
