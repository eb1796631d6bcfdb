"""Quote parity: where records end in a buffer of delimited bytes, read with C-speed ``bytes`` methods.

Quotes follow the csv module's rules (see :class:`~airflow_provider_marketo.utils.scanner.Splitter`).
Where quote parity agrees with those rules (:func:`_parity_reading` checks it), a newline ends a record
exactly when the number of quotes before it is even. Fields are never parsed in Python.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from airflow_provider_marketo.utils.formats import FORMATS

_QUOTE = b'"'
_NL = b"\n"
#: ``bytes.translate`` deletes these: what is left of a buffer is its quotes and newlines, in order.
_NOT_QUOTE_OR_NL = bytes(b for b in range(256) if b not in b'"\n')
#: A newline followed by an empty line (LF or CRLF): the start of a blank record, if outside quotes.
_BEFORE_BLANK = re.compile(rb"\n(?=\r?\n)")


def _first_boundary(buf: bytes | bytearray, lo: int, hi: int, odd: bool = False) -> int:
    """End (after the newline) of the first record ending in ``buf[lo:hi]``, or -1.

    ``odd`` is the quote parity at ``lo``: true when ``lo`` is inside a quoted field.
    """
    while (newline := buf.find(_NL, lo, hi)) >= 0:
        odd ^= bool(buf.count(_QUOTE, lo, newline) & 1)
        if not odd:
            return newline + 1
        lo = newline + 1
    return -1


def _last_boundary(buf: bytes, lo: int, hi: int, odd: bool) -> int:
    """End (after the newline) of the last record ending in ``buf[lo:hi]``, or -1.

    ``odd`` is the quote parity at ``hi``, counted from the start of a record.
    """
    while (newline := buf.rfind(_NL, lo, hi)) >= 0:
        odd ^= bool(buf.count(_QUOTE, newline, hi) & 1)
        if not odd:
            return newline + 1
        hi = newline
    return -1


def _unquoted_newlines(marks: bytes, odd: bool = False) -> int:
    """Count the newlines outside quotes in ``marks`` (a buffer's quotes and newlines only).

    ``odd`` is the parity at its start. Adjacent quotes enclose no newline, so removing them
    keeps every newline's parity; what remains splits into pieces outside and inside quotes.
    """
    marks = (_QUOTE + marks if odd else marks).replace(b'""', b"")
    if _QUOTE not in marks:
        return len(marks)
    return sum(map(len, marks.split(_QUOTE)[::2]))


def _count_records(shadow: bytes) -> int:
    """Records ending in ``shadow``, which starts at a record start (blank lines included)."""
    return _unquoted_newlines(shadow.translate(None, _NOT_QUOTE_OR_NL))


def _drop_blank_records(data: bytes, shadow: bytes) -> tuple[bytes, int]:
    """Remove empty records (an LF or CRLF alone, outside quotes) from record-aligned ``data``."""
    spans: list[tuple[int, int]] = []
    if shadow.startswith((b"\n", b"\r\n")):
        spans.append((0, shadow.index(_NL) + 1))
    odd, counted = False, 0
    for match in _BEFORE_BLANK.finditer(shadow):
        odd ^= bool(shadow.count(_QUOTE, counted, match.start()) & 1)
        counted = match.start()
        if not odd:
            start = match.end()
            spans.append((start, shadow.index(_NL, start) + 1))
    if not spans:
        return data, 0
    keep, previous = [], 0
    for start, end in spans:
        keep.append(data[previous:start])
        previous = end
    keep.append(data[previous:])
    return b"".join(keep), len(spans)


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit // 2] + "..." + text[-limit // 2 :]


def _class_table(delimiter: str) -> bytes:
    """``bytes.translate`` table to the classes the quote check needs: quote, delimiter (as ``,``),
    LF, CR, and everything else as ``a``."""
    table = bytearray(b"a" * 256)
    for byte, cls in ((b'"', b'"'), (delimiter.encode(), b","), (b"\n", b"\n"), (b"\r", b"\r")):
        table[byte[0]] = cls[0]
    return bytes(table)


_CLASS_TABLES = {fmt: _class_table(delimiter) for fmt, delimiter in FORMATS.items()}
#: What a quote that must be read as a literal character is replaced with in a shadow buffer.
_LITERAL = ord("'")


#: Bytes read at a time by :func:`_parity_reading` (the pieces of a split stay in the CPU cache).
_BLOCK = 1 << 14


@dataclass
class _Reading:
    """What quote parity finds in a buffer that starts at a record start."""

    records: int  #: line ends outside quotes (records ended, blank ones included)
    odd: bool  #: the buffer ends inside a quoted field
    blanks: bool  #: it may hold a blank record


def _parity_reading(shadow: bytes, table: bytes) -> _Reading | None:
    """Read ``shadow`` with quote parity; ``None`` when parity would misread it.

    Parity reads every quote as opening or closing a quoted field. It agrees with the csv module
    exactly when each opening quote starts a field and each closing quote is followed by a delimiter,
    a line end or a quote (``""``). The check: map bytes to classes with ``table`` (quote, ``,`` for
    the delimiter, LF, CR, ``a`` for the rest) the pieces outside quoted fields, joined with ``"``:
    no ``"`` may then touch an ``a`` (or follow a CR). A CR outside quotes must be
    followed by LF. The buffer is read in blocks that end after an LF, so no check spans two blocks.
    """
    records, odd, blanks = 0, False, False
    size, lo = len(shadow), 0
    while lo < size:
        hi = shadow.find(_NL, lo + _BLOCK) + 1 or size
        block = shadow[lo:hi]
        if _QUOTE in block:
            pieces = block.split(_QUOTE)
            outside = _QUOTE.join(pieces[odd::2]).translate(table)
            if odd:  # starts inside a quoted field: check the closing quote's right neighbour too
                outside = _QUOTE + outside
            odd ^= not len(pieces) & 1
            if odd:  # ends inside a quoted field: check its opening quote's left neighbour too
                outside += _QUOTE
            if b'a"' in outside or b'"a' in outside or (b"\r" in outside and b'\r"' in outside):
                return None
        elif odd:
            lo = hi
            continue
        else:
            outside = block
        if b"\r" in outside and outside.count(b"\r") - outside.count(b"\r\n") - (
            hi == size and outside.endswith(b"\r")
        ):
            return None
        records += outside.count(_NL)
        blanks = blanks or b"\n\n" in outside or b"\n\r\n" in outside or outside.startswith((b"\n", b"\r\n"))
        lo = hi
    return _Reading(records, odd, blanks)
