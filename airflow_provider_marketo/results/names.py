"""The names of the files one task instance writes under ``results_path``.

Several task instances of a run may share one ``results_path``: the instances of a mapped import, or
an import of leads and one of a custom object pointed at the same run folder. The merged files and
the report therefore carry the task id and, for a mapped task, the map index:
``<task_id>.failures.<ext>``, ``<task_id>.warnings.<ext>``, ``<task_id>.report.json``; mapped:
``<task_id>.map_index=<n>.failures.<ext>`` and so on. An Airflow task id is made of letters, digits,
``_``, ``-`` and ``.`` only, so the ``=`` keeps a mapped name from ever equalling another task's.
Marketo's per-batch files keep their ``<batch_id>_<which>.<ext>`` names: batch ids are unique.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_provider_marketo.objects import FileKind


@dataclass(frozen=True)
class ResultNames:
    """One task instance's file names under ``results_path``."""

    task_id: str
    map_index: int = -1

    @classmethod
    def of(cls, ti: Any) -> ResultNames:
        """The names of the task instance ``ti`` (``context["ti"]``); -1 or None: not mapped."""
        map_index = getattr(ti, "map_index", None)
        return cls(str(ti.task_id), -1 if map_index is None else int(map_index))

    @property
    def prefix(self) -> str:
        """``<task_id>``, or ``<task_id>.map_index=<n>`` for an instance of a mapped task."""
        return self.task_id if self.map_index < 0 else f"{self.task_id}.map_index={self.map_index}"

    def merged(self, which: FileKind, extension: str) -> str:
        """The merged failures or warnings file: ``<prefix>.<which><extension>``."""
        return f"{self.prefix}.{which}{extension}"

    @property
    def report(self) -> str:
        """The report: ``<prefix>.report.json``."""
        return f"{self.prefix}.report.json"
