"""Operators that import a delimited file into Marketo through the Bulk Import API.

One operator per kind of import (leads, custom objects, program members); the shared machinery is in
:class:`BaseBulkImportOperator` (``operators/_base.py``); each class names its kind
(:class:`~airflow_provider_marketo.operators._kinds.ImportKind`: target, create parameters, lookup
column, job limit, required columns). The operator reads the source through
``ObjectStoragePath``, validates the whole file and splits it into parts under Marketo's 10 MB
request limit, then submits the parts in order, keeping at most ``max_active_jobs`` of its own jobs
in Marketo's import queue and waiting (on the worker or, with ``deferrable=True``, in the triggerer)
when the queue is full (1016) or the list is busy (1019). It returns an
:class:`~airflow_provider_marketo.operators.output.ImportOutput` (target, batch ids, rows sent);
:class:`BulkImportSensor` waits for the jobs given that output alone, or, with
``wait_for_completion=True``, the task waits for them itself and finishes them as the sensor does
(files, report, checks), its summary becoming the output's ``result``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from airflow.sdk import ObjectStoragePath

from airflow_provider_marketo.operators._base import (
    DEFAULT_PART_SIZE,
    MIN_PART_SIZE,
    BaseBulkImportOperator,
    BaseImportOperator,
    rows_sent_of,
)
from airflow_provider_marketo.operators._kinds import ImportKind
from airflow_provider_marketo.operators._mirror import mirror_options

__all__ = [
    "DEFAULT_PART_SIZE",
    "MIN_PART_SIZE",
    "BaseBulkImportOperator",
    "BaseImportOperator",
    "BulkCustomObjectImportOperator",
    "BulkLeadImportOperator",
    "BulkProgramMemberImportOperator",
    "rows_sent_of",
]


class BulkLeadImportOperator(BaseBulkImportOperator):
    """
    Import (insert or update) leads from a delimited file.

    :param lookup_field: the dedupe field (Marketo's default: ``email``; ``id`` updates only). The
        header must hold it.
    :param list_id: also add the leads to this static list (jobs into one list run one at a time).
    :param partition_name: the lead partition to write into.
    :param list_membership: ``"add"`` (default): the imported leads join ``list_id``. ``"mirror"``
        (needs ``list_id`` and ``wait_for_completion=True``): once the jobs have finished, members of
        the list whose lookup value is not in this export are removed from it (never deleted from
        Marketo), so the list holds exactly the export's leads. See ``docs/mirror.md``.
    :param max_list_removals: the mirror's guard: refuse, before removing anything, to remove more
        than this count (int) or this fraction of the current members (float up to 1); None: no limit.

    See :class:`BaseBulkImportOperator` for the other parameters.
    """

    template_fields: Sequence[str] = (
        *BaseBulkImportOperator.template_fields,
        "lookup_field",
        "list_id",
        "partition_name",
    )

    def __init__(
        self,
        *,
        source: str | os.PathLike[str] | ObjectStoragePath,
        lookup_field: str | None = None,
        list_id: int | str | None = None,
        partition_name: str | None = None,
        list_membership: str = "add",
        max_list_removals: int | float | None = 0.5,
        **kwargs: Any,
    ) -> None:
        super().__init__(source=source, **kwargs)
        self.lookup_field = lookup_field
        self.list_id = list_id
        self.partition_name = partition_name
        # list mirror (issue 25)
        self.mirror = mirror_options(
            list_membership,
            max_list_removals,
            list_id=list_id,
            wait_for_completion=self.wait_for_completion,
        )

    def import_kind(self) -> ImportKind:
        return ImportKind.of("leads", self)


class BulkCustomObjectImportOperator(BaseBulkImportOperator):
    """
    Import (insert or update) custom object records from a delimited file.

    :param api_name: the custom object's API name, e.g. ``car_c``. Records are matched on the
        object's dedupe fields.

    See :class:`BaseBulkImportOperator` for the other parameters.
    """

    template_fields: Sequence[str] = (*BaseBulkImportOperator.template_fields, "api_name")

    def __init__(
        self, *, api_name: str, source: str | os.PathLike[str] | ObjectStoragePath, **kwargs: Any
    ) -> None:
        super().__init__(source=source, **kwargs)
        self.api_name = api_name

    def import_kind(self) -> ImportKind:
        return ImportKind.of("custom_objects", self)


class BulkProgramMemberImportOperator(BaseBulkImportOperator):
    """
    Import leads into a program as members with a status; every row needs ``email``.

    :param program_id: the program's id.
    :param program_member_status: the status the members get, e.g. ``Registered``.

    See :class:`BaseBulkImportOperator` for the other parameters.
    """

    template_fields: Sequence[str] = (
        *BaseBulkImportOperator.template_fields,
        "program_id",
        "program_member_status",
    )

    def __init__(
        self,
        *,
        program_id: int | str,
        program_member_status: str,
        source: str | os.PathLike[str] | ObjectStoragePath,
        **kwargs: Any,
    ) -> None:
        super().__init__(source=source, **kwargs)
        self.program_id = program_id
        self.program_member_status = program_member_status

    def import_kind(self) -> ImportKind:
        return ImportKind.of("program_members", self)
