"""Marketo's delimited formats and the checks of a file's header (no Airflow import).

Marketo takes CSV, TSV or SSV files whose first line is a header of field names. :func:`check_format`
and :func:`infer_format` name the format; :func:`validate_header` checks parsed column names, and
:class:`InputFileError` is the error every input check raises (which file, where, what to fix).
"""

from __future__ import annotations

import codecs
import difflib
from collections.abc import Iterable, Sequence
from pathlib import PurePosixPath

from fsspec.utils import infer_compression

#: Marketo's ``format`` values and their delimiters.
FORMATS: dict[str, str] = {"csv": ",", "tsv": "\t", "ssv": ";"}
#: Longest header line accepted (Marketo field names are short; longer means a broken file).
MAX_HEADER_BYTES = 1 << 20
_FORMAT_NAMES = {"csv": "CSV", "tsv": "TSV", "ssv": "SSV"}
_DELIMITER_NAMES = {",": "commas", "\t": "tabs", ";": "semicolons"}


class InputFileError(ValueError):
    """The input file cannot be imported as it is; the message says which file, where, and what to fix."""


def check_format(value: object) -> str:
    """Return the Marketo format name for ``value`` (``csv``, ``tsv`` or ``ssv``, any case)."""
    fmt = value.lower() if isinstance(value, str) else value
    if fmt not in FORMATS:
        raise InputFileError(f"Unknown file format {value!r}; expected one of: {', '.join(FORMATS)}.")
    return str(fmt)


def compression_of(name: str) -> str | None:
    """The compression fsspec infers from a file name (``gzip``, ``bz2``, ``xz``, ``zstd`` when its
    package is installed, ...), or None."""
    compression: str | None = infer_compression(name)
    return compression


def infer_format(name: str) -> str:
    """Tell the format from a file name's extension (``.csv``, ``.tsv``, ``.ssv``, any case), before
    a compression suffix (``leads.csv.gz`` is csv)."""
    path = PurePosixPath(name)
    if compression_of(name) is not None:
        path = path.with_suffix("")
    suffix = path.suffix.lower().lstrip(".")
    if suffix in FORMATS:
        return suffix
    raise InputFileError(
        f"Cannot tell the format of {name!r} from its extension (known: .csv, .tsv, .ssv, also before "
        f"a compression suffix such as .csv.gz); pass format='csv', 'tsv' or 'ssv'."
    )


#: Leading bytes of content that is not delimited UTF-8 text, and what to call it.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "compressed (gzip)"),
    (b"BZh", "compressed (bz2)"),
    (b"\xfd7zXZ\x00", "compressed (xz)"),
    (b"\x28\xb5\x2f\xfd", "compressed (zstd)"),
    (b"PK\x03\x04", "a zip archive (an Excel .xlsx workbook is one)"),
    (codecs.BOM_UTF32_LE, "UTF-32 (pass encoding='utf-32')"),
    (codecs.BOM_UTF32_BE, "UTF-32 (pass encoding='utf-32')"),
    (codecs.BOM_UTF16_LE, "UTF-16 (pass encoding='utf-16')"),
    (codecs.BOM_UTF16_BE, "UTF-16 (pass encoding='utf-16')"),
)


def describe_content(head: bytes) -> str | None:
    """What the first bytes of a file say it is when it is not delimited 8-bit text, else None.

    Compressed data (gzip, bz2, xz, zstd), a zip archive, UTF-16/32 with a byte order mark, and
    UTF-16 without one (every other byte NUL, as in ASCII text saved as "Unicode Text").
    """
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    sample = head[:64]
    if len(sample) >= 8 and not sample[1::2].strip(b"\x00"):
        return "UTF-16 little-endian without a byte order mark (pass encoding='utf-16-le')"
    if len(sample) >= 8 and not sample[0::2].strip(b"\x00"):
        return "UTF-16 big-endian without a byte order mark (pass encoding='utf-16-be')"
    return None


def is_excel_sep_line(line: bytes) -> bool:
    """Whether ``line`` (the first line, no line end) is Excel's ``sep=,`` delimiter hint."""
    return len(line) == 5 and line.lower().startswith(b"sep=")


def _names(columns: Iterable[str], limit: int = 20) -> str:
    shown = [repr(c) for c in columns]
    more = f", ... ({len(shown) - limit} more)" if len(shown) > limit else ""
    return ", ".join(shown[:limit]) + more


def _missing_column_error(column: str, columns: Sequence[str], source_name: str, why: str) -> InputFileError:
    near = difflib.get_close_matches(column.lower(), [c.lower() for c in columns], n=1, cutoff=0.6)
    hint = f" (did you mean {columns[[c.lower() for c in columns].index(near[0])]!r}?)" if near else ""
    return InputFileError(
        f"{why}, but the header of {source_name} has no {column!r} column (in any case){hint}. "
        f"Its columns are: {_names(columns)}."
    )


def validate_header(
    columns: Sequence[str],
    *,
    file_format: str,
    lookup_field: str | None = None,
    required: Sequence[str] = (),
    source_name: str = "<input>",
) -> None:
    """Check a parsed header line; raise :class:`InputFileError` saying what is wrong and how to fix it.

    Names match in any case, as Marketo matches them (``email`` and ``Email`` are the same column);
    a name with leading or trailing whitespace is refused, since Marketo does not trim names.
    """
    fmt = check_format(file_format)
    if len(columns) == 1:
        counts = {other: columns[0].count(FORMATS[other]) for other in FORMATS if other != fmt}
        guess = max(counts, key=counts.__getitem__)
        if counts[guess]:
            raise InputFileError(
                f"The header of {source_name} is a single column {columns[0][:80]!r} that contains "
                f"{_DELIMITER_NAMES[FORMATS[guess]]}: the file looks like {_FORMAT_NAMES[guess]}, not "
                f"{_FORMAT_NAMES[fmt]}; pass format={guess!r}."
            )
    for position, name in enumerate(columns, start=1):
        if not name.strip():
            trailing = " (a delimiter at the end of the header line?)" if position == len(columns) else ""
            raise InputFileError(
                f"Column {position} of {len(columns)} in the header of {source_name} has no name"
                f"{trailing}; every column needs a Marketo field name."
            )
        if name != name.strip():
            raise InputFileError(
                f"Column {position} of {len(columns)} in the header of {source_name}, {name!r}, has "
                f"leading or trailing whitespace. Marketo does not trim field names: it would match no "
                f"field (a custom object then fails every row). Rename it {name.strip()!r}."
            )
    positions: dict[str, list[int]] = {}
    for position, name in enumerate(columns, start=1):
        positions.setdefault(name.lower(), []).append(position)
    duplicates = {
        " / ".join(dict.fromkeys(repr(columns[p - 1]) for p in where)): where
        for where in positions.values()
        if len(where) > 1
    }
    if duplicates:
        listed = "; ".join(
            f"{names} (columns {', '.join(map(str, where))})" for names, where in duplicates.items()
        )
        raise InputFileError(
            f"The header of {source_name} repeats column names (Marketo matches names in any case): {listed}."
        )
    if lookup_field is not None and lookup_field.lower() not in positions:
        why = (
            "lookup_field='id' updates existing records by their Marketo id"
            if lookup_field.lower() == "id"
            else f"lookup_field={lookup_field!r} is the field Marketo deduplicates on"
        )
        raise _missing_column_error(lookup_field, columns, source_name, why)
    for column in required:
        if column.lower() not in positions:
            raise _missing_column_error(column, columns, source_name, "This import needs it in every row")
