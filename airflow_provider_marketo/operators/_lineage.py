"""OpenLineage of an import: the source as input, the Marketo object as output (schema, statistics)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow.sdk import ObjectStoragePath

from airflow_provider_marketo._compat import storage_namespace
from airflow_provider_marketo.objects import BulkTarget

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage


def lineage_name(target: BulkTarget) -> str:
    """The output dataset's name: ``leads``, ``customobjects/<api name>`` or ``program/<id>/members``."""
    if target.kind == "custom_objects":
        return f"customobjects/{target.api_name}"
    if target.kind == "program_members":
        return f"program/{target.program_id}/members"
    return "leads"


def import_lineage(
    source: ObjectStoragePath | None,
    base_url: str,
    target: BulkTarget,
    *,
    header: Sequence[str] | None,
    rows: int | None,
    size: int | None,
) -> OperatorLineage[Any, Any]:
    """The lineage of importing ``source`` (None: no input named) into ``target`` on the instance at ``base_url``; the header
    becomes the output's schema facet, ``rows`` and ``size`` its output statistics (when known)."""
    from airflow.providers.common.compat.openlineage.facet import (
        Dataset,
        OutputDataset,
        OutputStatisticsOutputDatasetFacet,
        SchemaDatasetFacet,
        SchemaDatasetFacetFields,
    )
    from airflow.providers.openlineage.extractors import OperatorLineage

    facets: dict[str, Any] = {}
    if header:
        facets["schema"] = SchemaDatasetFacet(fields=[SchemaDatasetFacetFields(name=name) for name in header])
    output_facets: dict[str, Any] = {}
    if rows is not None:
        output_facets["outputStatistics"] = OutputStatisticsOutputDatasetFacet(rowCount=rows, size=size)
    return OperatorLineage(
        inputs=[]
        if source is None
        else [
            Dataset(namespace=storage_namespace(source), name=source.key if source.bucket else source.path)
        ],
        outputs=[
            OutputDataset(
                namespace=f"marketo://{urlsplit(base_url).netloc}",
                name=lineage_name(target),
                facets=facets,
                outputFacets=output_facets,
            )
        ],
    )
