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
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from airflow.sdk import Asset, AssetAlias

from airflow_provider_marketo.hooks.marketo import MarketoHook
from airflow_provider_marketo.objects import BulkTarget

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator, Context


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
EXTRA_KEYS = ("status", "rows_sent", "rows_processed", "rows_failed", "rows_with_warning", "rows_accounted")
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


def record_import_events(
    context: Context,
    outlets: Iterable[Any],
    uris: Sequence[str],
    extra: dict[str, Any],
) -> list[str]:
    """Add an event for each URI through the operator's alias; return the URIs recorded (none when the
    operator has no Marketo alias, e.g. one removed from its outlets, or the context no outlet events)."""
    alias = declared_alias(outlets)
    accessors = context.get("outlet_events")
    if alias is None or accessors is None:  # no alias, or called outside a task runner
        return []
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

    Called by the import operators (``wait_for_completion``) and by ``BulkImportSensor``, which does not
    know the import's ``list_id`` and records the object's event only."""
    if not batch_ids:  # no job ran: nothing was written
        return []
    base_url = MarketoHook(operator.marketo_conn_id).settings.base_url
    list_id = params.get("listId")
    uris = asset_uris(base_url, target, list_id=None if list_id is None else int(list_id))
    recorded = record_import_events(context, operator.outlets, uris, event_extra(summary, batch_ids))
    if recorded:
        operator.log.info("Asset events recorded for %s.", ", ".join(recorded))
    return recorded
