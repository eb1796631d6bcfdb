"""One merged failures (or warnings) file for all the batches of a task.

Every row of every batch's file, with a ``batch_id`` column first and the reason column last. Columns
are matched by name, so batches whose headers differ (several sources behind a mapped task) still
line up. Marketo leaves the empty lookup column out of a row that failed for it ("Value for lookup
field 'email' not found", see the reference's failure file notes); that column is put back empty.
Any other row with fewer fields than its header is padded with empty fields at the end, and fields
beyond its header are kept before the reason. Rows are streamed from the downloaded files: memory does not grow
with the number of rows. The per-batch files stay Marketo's bytes unchanged.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence

from airflow.sdk import ObjectStoragePath

from airflow_provider_marketo.objects import FileKind
from airflow_provider_marketo.results.files import (
    EXTENSIONS,
    REASON_COLUMNS,
    ResultFile,
    open_for_writing,
    read_rows,
)
from airflow_provider_marketo.results.names import ResultNames

BATCH_ID_COLUMN = "batch_id"
_MISSING_LOOKUP = re.compile(r"Value for lookup field '([^']+)' not found")


def data_columns(result: ResultFile) -> list[str]:
    """The file's header without its reason column."""
    header = result.scan.header
    return header[:-1] if header and header[-1] == REASON_COLUMNS[result.which] else header


def merged_columns(files: Sequence[ResultFile]) -> list[str]:
    """The data columns of all files, each once, in the order first seen."""
    return list(dict.fromkeys(column for result in files for column in data_columns(result)))


def restore_missing_lookup(values: list[str], columns: list[str], reason: str) -> list[str]:
    """Put back the empty lookup column Marketo leaves out of a row that failed for lacking it."""
    match = _MISSING_LOOKUP.fullmatch(reason)
    if match is None or len(values) != len(columns) - 1:
        return values
    names = [column.lower() for column in columns]
    lookup = match.group(1).lower()
    if lookup not in names:
        return values
    place = names.index(lookup)
    return [*values[:place], "", *values[place:]]


def align(values: list[str], places: list[int], width: int) -> list[str]:
    """Put ``values[i]`` at ``places[i]`` of ``width`` fields; values beyond ``places`` are appended."""
    if places == list(range(len(places))) and len(places) == width:
        return values + [""] * (width - len(values))
    out = [""] * width
    for place, value in zip(places, values, strict=False):
        out[place] = value
    return out + values[len(places) :]


def write_merged(
    files: Sequence[ResultFile], results_dir: ObjectStoragePath, which: FileKind, names: ResultNames
) -> str | None:
    """Write ``<results_dir>/<task_id>[.map_index=<n>].<which>.<ext>`` (:class:`ResultNames`) from the
    batches' downloaded files; None when there are none.

    The delimiter (and extension) is that of the first batch's file.
    """
    if not files:
        return None
    delimiter = files[0].scan.delimiter
    columns = merged_columns(files)
    index = {column: n for n, column in enumerate(columns)}
    dest = results_dir / names.merged(which, EXTENSIONS[delimiter])
    with open_for_writing(dest) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        writer = csv.writer(text, delimiter=delimiter)
        writer.writerow([BATCH_ID_COLUMN, *columns, REASON_COLUMNS[which]])
        for result in files:
            own = data_columns(result)
            places = [index[column] for column in own]
            with result.local.open("rb") as source:
                for row in read_rows(source, result.scan.delimiter):
                    values = restore_missing_lookup(row[:-1], own, row[-1])
                    writer.writerow([result.batch_id, *align(values, places, len(columns)), row[-1]])
        text.flush()
        text.detach()
    return str(dest)
