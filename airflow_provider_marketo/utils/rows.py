"""Database rows as Marketo delimited text: one text rule per value type, quoting by the ``csv`` module.

:class:`RowWriter` writes a header and rows to a binary stream as UTF-8 CSV, TSV or SSV. Values:

- ``None`` (SQL NULL) is an empty field;
- ``str`` as is, ``int`` in decimal;
- ``bool`` is ``true`` / ``false``;
- ``datetime.date``, ``datetime.datetime`` and ``datetime.time`` are ISO 8601 (``isoformat()``: an
  aware datetime keeps its offset, a naive one is written without);
- ``decimal.Decimal`` is its exact digits, never an exponent (``Decimal("1E+3")`` is ``1000``,
  ``Decimal("1.50")`` keeps ``1.50``);
- ``float`` is Python's shortest text that reads back as the same float (``repr``), written without
  an exponent (``1e+16`` is ``10000000000000000``, ``1e-07`` is ``0.0000001``);
- ``uuid.UUID`` is its canonical text.

NaN and infinities, ``bytes`` and every other type raise :class:`RowValueError` naming the row and the
column. Fields holding the delimiter, a quote, CR or LF are quoted (records end with CRLF, so a lone CR
inside a value is quoted too). This module does not import Airflow.
"""

from __future__ import annotations

import csv
import io
import math
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, BinaryIO

from airflow_provider_marketo.utils.formats import FORMATS, InputFileError, check_format

#: Types written exactly as the csv module writes them (``None`` as an empty field).
_AS_IS: frozenset[type] = frozenset({str, int, type(None)})
_LINE_END = "\r\n"


class RowValueError(InputFileError):
    """A value of the query's result cannot be written as Marketo text; the message names its column."""


class _Unwritable(Exception):
    """A value has no text form; the writer adds the row and column."""


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _iso(value: date | time) -> str:
    return value.isoformat()


def _decimal(value: Decimal) -> str:
    if not value.is_finite():
        raise _Unwritable(f"{value} is not a number Marketo can store")
    return format(value, "f")


def _float(value: float) -> str:
    if not math.isfinite(value):
        raise _Unwritable(f"{value} is not a number Marketo can store")
    text = repr(value)
    return format(Decimal(text), "f") if "e" in text else text


def _uuid(value: uuid.UUID) -> str:
    return str(value)


#: Text rule of each writable type; subclasses (pendulum's DateTime, IntEnum, ...) use their base's rule.
_RULES: dict[type, Callable[[Any], str]] = {
    bool: _bool,
    datetime: _iso,
    date: _iso,
    time: _iso,
    Decimal: _decimal,
    float: _float,
    uuid.UUID: _uuid,
}


def _rule_for(kind: type) -> Callable[[Any], str] | None:
    for base in kind.__mro__:
        if base in _RULES:
            return _RULES[base]
        if base in (str, int):
            return str
    return None


def _cell(value: object) -> str | int | None:
    """``value`` as the csv module should write it; raises ``_Unwritable`` when it has no text form."""
    kind = type(value)
    if kind in _AS_IS:
        return value  # type: ignore[return-value]
    rule = _RULES.get(kind) or _rule_for(kind)
    if rule is None:
        what = "binary data" if isinstance(value, bytes | bytearray | memoryview) else f"a {kind.__name__}"
        raise _Unwritable(f"it is {what}, which has no text form for Marketo; CAST it to text in the SQL")
    return rule(value)


def _header_problem(name: str, delimiter: str) -> str | None:
    if any(char in name for char in (delimiter, '"', "\r", "\n")):
        return "holds a delimiter, a quote or a line break"
    return None


def check_writable_header(columns: Sequence[str], *, file_format: str, source_name: str) -> None:
    """Refuse a column name that would need quotes in the header (a delimiter, quote or line break)."""
    delimiter = FORMATS[check_format(file_format)]
    for name in columns:
        problem = _header_problem(name, delimiter)
        if problem:
            raise InputFileError(
                f"Column {name!r} of {source_name} {problem}; Marketo field names have none "
                "(give the column an alias: ... AS fieldName)."
            )


class RowWriter:
    """Write a header and rows of values as delimited UTF-8 text to a binary stream, batch by batch.

    :param stream: where the text goes (e.g. an ``ObjectStoragePath`` opened ``"wb"``).
    :param columns: the header (Marketo field names); checked by the caller, refused here only if a name
        would need quotes.
    :param file_format: ``csv``, ``tsv`` or ``ssv``.
    :param source_name: how error messages name the rows (e.g. the query's connection).
    """

    def __init__(
        self,
        stream: BinaryIO,
        columns: Sequence[str],
        *,
        file_format: str,
        source_name: str = "<rows>",
    ) -> None:
        delimiter = FORMATS[check_format(file_format)]
        check_writable_header(columns, file_format=file_format, source_name=source_name)
        self.columns = list(columns)
        self.source_name = source_name
        self.rows = 0
        self.bytes = 0
        self._stream = stream
        self._buffer = io.StringIO(newline="")
        self._csv = csv.writer(self._buffer, delimiter=delimiter, lineterminator=_LINE_END)
        self._csv.writerow(self.columns)
        self._flush([])

    def write_rows(self, rows: Iterable[Sequence[object]]) -> int:
        """Write ``rows`` (sequences aligned with the columns); return how many were written."""
        batch = rows if isinstance(rows, list) else list(rows)
        width = len(self.columns)
        for offset, row in enumerate(batch):
            if len(row) != width:
                raise RowValueError(
                    f"Row {self.rows + offset + 1} of {self.source_name} has {len(row)} values "
                    f"for {width} columns."
                )
        try:
            self._csv.writerows([[v if type(v) in _AS_IS else _cell(v) for v in row] for row in batch])
        except _Unwritable:
            raise self._value_error(batch) from None
        self._flush(batch)
        self.rows += len(batch)
        return len(batch)

    def _value_error(self, batch: Sequence[Sequence[object]]) -> RowValueError:
        """The error for the first value of ``batch`` that has no text form, naming its row and column."""
        for offset, row in enumerate(batch):
            for position, value in enumerate(row):
                try:
                    _cell(value)
                except _Unwritable as err:
                    return RowValueError(
                        f"Row {self.rows + offset + 1} of {self.source_name}, column "
                        f"{self.columns[position]!r}: cannot write {_shown(value)}: {err}."
                    )
        raise AssertionError("no unwritable value in the batch")

    def _flush(self, batch: Sequence[Sequence[object]]) -> None:
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:
            raise self._encoding_error(batch) from None
        self._stream.write(data)
        self.bytes += len(data)

    def _encoding_error(self, batch: Sequence[Sequence[object]]) -> RowValueError:
        for offset, row in enumerate(batch):
            for position, value in enumerate(row):
                if isinstance(value, str):
                    try:
                        value.encode("utf-8")
                    except UnicodeEncodeError as err:
                        return RowValueError(
                            f"Row {self.rows + offset + 1} of {self.source_name}, column "
                            f"{self.columns[position]!r}: the text has a character that is not valid "
                            f"Unicode ({err.reason} at character {err.start}); it cannot be sent as UTF-8."
                        )
        return RowValueError(f"A column name of {self.source_name} cannot be written as UTF-8.")


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
