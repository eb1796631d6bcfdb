"""The streaming scanner: one sequential pass that validates a delimited file and cuts it into parts.

:func:`scan_delimited` reads a file once and cuts it into parts that each repeat the header and stay
under a byte limit, cutting only between records. It validates the whole input on the way (header,
UTF-8, quotes, record sizes), so a bad file is rejected before anything is sent to Marketo. The parts
go to a :class:`PartSink`: :func:`~airflow_provider_marketo.utils.part_files.split_delimited` writes
them to files, :mod:`airflow_provider_marketo.utils.parts` only records where they lie.

Memory stays bounded by one chunk plus one record, whatever the file size. No Airflow import.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import BinaryIO, Generic, Protocol, TypeVar

from airflow_provider_marketo.utils.formats import (
    FORMATS,
    MAX_HEADER_BYTES,
    InputFileError,
    check_format,
    validate_header,
)
from airflow_provider_marketo.utils.quotes import (
    _CLASS_TABLES,
    _LITERAL,
    _NL,
    _QUOTE,
    _clip,
    _count_records,
    _drop_blank_records,
    _first_boundary,
    _last_boundary,
    _parity_reading,
)
from airflow_provider_marketo.utils.reading import _BadUtf8, _parse_header, _read_header_line, _Source


class PartSink(Protocol):
    """Receives the parts the scanner cuts: ``open``, then ``write`` of whole records, then ``close``."""

    def open(self, index: int, header: bytes) -> None: ...
    def write(self, data: bytes) -> None: ...
    def close(self) -> None: ...


@dataclass
class PartInfo:
    """Where a part lies in the source and what it holds (``start``/``end``: source byte offsets)."""

    first_row: int
    start: int
    end: int = 0
    size: int = 0
    rows: int = 0


class Splitter:
    """Cuts the records after the header into parts, handed to a :class:`PartSink`.

    Quotes follow the csv module's rules: a ``"`` opens a quoted field only at the start of a field,
    a ``"`` inside an unquoted field is a literal character, ``""`` inside a quoted field is one
    quote, and a closing quote must be followed by the delimiter, a line end or the end of the file.
    Anything else is rejected (the csv module would silently glue the text). A CR outside quotes
    must be followed by LF.

    Each chunk is joined to the incomplete record carried from the last one; the buffer is read
    with quote parity (C-speed ``bytes`` methods) when :func:`_outside_text` shows that parity and
    the csv rules agree on it, which they do unless a quote is literal or misplaced. Otherwise a
    per-quote pass (:meth:`_exact_shadow`) finds the literal quotes, rejects misplaced ones, and
    returns a *shadow* copy with literal quotes blanked out, which parity then reads exactly; parts
    are cut from the original bytes at the offsets found in the shadow.

    ``offset`` is the source offset of the first byte fed (just after the header line).
    """

    #: A record may grow this far past the part limit while its end is looked for (bounds memory).
    SLACK = 4 << 20

    def __init__(
        self,
        header_bytes: bytes,
        *,
        max_part_bytes: int,
        sink: PartSink,
        source_name: str,
        offset: int,
        file_format: str = "csv",
        lines_before: int | None = None,
        rows_before: int = 0,
    ) -> None:
        self.header = header_bytes
        self.ending = b"\r\n" if header_bytes.endswith(b"\r\n") else b"\n"
        self.max_part_bytes = max_part_bytes
        self.max_record = max_part_bytes - len(header_bytes)
        self.source_name = source_name
        self.sink = sink
        self.delimiter = FORMATS[file_format].encode()
        self.table = _CLASS_TABLES[file_format]
        self.fed = offset  # source offset just past the bytes fed so far
        self.done: list[PartInfo] = []
        self.part: PartInfo | None = None  # the part being written
        self.rows = rows_before  # records written to parts (and before the bytes fed, if given)
        self.lines = header_bytes.count(_NL) if lines_before is None else lines_before  # newlines so far
        # The record being read: its bytes so far, their shadow (None: the same) and its first line.
        self.carry = b""
        self.carry_shadow: bytes | None = None
        self.carry_line = self.lines + 1

    @property
    def carry_len(self) -> int:
        return len(self.carry)

    def feed(self, chunk: bytes) -> None:
        """Take the next chunk of the source."""
        self.fed += len(chunk)
        self.lines += chunk.count(_NL)
        buf = self.carry + chunk if self.carry else chunk
        shadow = buf if self.carry_shadow is None else self.carry_shadow + chunk
        reading = _parity_reading(shadow, self.table)
        if reading is None:
            shadow = self._exact_shadow(buf)
            reading = _parity_reading(shadow, self.table)
            assert reading is not None, "the exact pass leaves only quotes that parity reads right"
        records, blanks = reading.records, reading.blanks
        if not records:
            self._carry(buf, shadow)
            return
        cut = _last_boundary(shadow, 0, len(shadow), reading.odd)
        region_line = self.carry_line
        region_offset = self.fed - len(buf)
        whole = cut == len(buf)
        region, region_shadow = (buf, shadow) if whole else (buf[:cut], shadow[:cut])
        self._carry(b"" if whole else buf[cut:], b"" if whole else shadow[cut:])
        self.carry_line = self.lines - self.carry.count(_NL) + 1
        self._emit(region, region_shadow, records, region_line, blanks, region_offset)

    def _carry(self, tail: bytes, shadow: bytes) -> None:
        """Keep ``tail`` (the start of a record) for the next chunk."""
        if len(tail) > self.max_record + self.SLACK:
            raise InputFileError(
                f"Row {self.rows + 1} of {self.source_name} (starting on line {self.carry_line}) is more than "
                f"{len(tail)} bytes: too large for a part of {self.max_part_bytes} bytes. If the row is not "
                "meant to be that long, look for an unbalanced quote in it."
            )
        self.carry = tail
        self.carry_shadow = None if shadow is tail or shadow == tail else shadow

    def finish(self) -> None:
        """Flush the last record (adding a line end if it has none) and close the last part."""
        last, shadow = self.carry, self.carry_shadow or self.carry
        if shadow.count(_QUOTE) & 1:
            raise InputFileError(
                f"{self.source_name} ends inside a quoted field: row {self.rows + 1} (line {self.carry_line}) "
                "opens a quote that is never closed (unbalanced quote)."
            )
        if last and last != b"\r":
            end = b"\n" if last.endswith(b"\r") else self.ending
            self._emit(last + end, shadow + end, 1, self.carry_line, False, self.fed - len(last), len(last))
        self._close()
        if not self.rows:
            raise InputFileError(f"{self.source_name} has a header but no data rows.")

    def _exact_shadow(self, buf: bytes) -> bytes:
        """Read ``buf`` (from a record start) quote by quote with the csv module's rules.

        Returns ``buf`` with each literal quote (one inside an unquoted field) replaced, so that quote
        parity reads the copy exactly. Raises :class:`InputFileError` for a closing quote followed by
        anything but a delimiter, a line end or a quote, and for a CR outside quotes not followed by LF.
        """
        delimiter, size = self.delimiter[0], len(buf)
        literal: list[int] = []
        pos = 0
        while True:
            quote = buf.find(_QUOTE, pos)
            self._check_bare_cr(buf, pos, size if quote < 0 else quote)
            if quote < 0:
                break
            if quote and buf[quote - 1] not in (delimiter, 10):  # not at a field start: a literal quote
                literal.append(quote)
                pos = quote + 1
                continue
            pos = quote + 1
            while True:  # inside a quoted field
                close = buf.find(_QUOTE, pos)
                if close < 0:
                    pos = size
                    break
                after = buf[close + 1 : close + 2]
                if after == _QUOTE:
                    pos = close + 2
                    continue
                if after and after[0] not in (delimiter, 10, 13):
                    raise self._misplaced_quote(buf, quote, close)
                pos = close + 1
                break
            if pos >= size:
                break
        if not literal:
            return buf
        shadow = bytearray(buf)
        for at in literal:
            shadow[at] = _LITERAL
        return bytes(shadow)

    def _check_bare_cr(self, buf: bytes, lo: int, hi: int) -> None:
        """Reject a CR in ``buf[lo:hi]`` (outside quotes) that is not followed by LF."""
        cr = buf.find(b"\r", lo, hi)
        while cr >= 0:
            if cr + 1 < len(buf) and buf[cr + 1] != 10:
                row, line = self._where(buf, cr)
                raise InputFileError(
                    f"Row {row} of {self.source_name} (line {line}) has a carriage return that is not "
                    "followed by a line feed, outside quotes: CR-only line ends or a stray CR. Use LF "
                    "or CRLF line ends, and quote a field that contains a CR."
                )
            cr = buf.find(b"\r", cr + 1, hi)

    def _where(self, buf: bytes, at: int) -> tuple[int, int]:
        """Data-row and line number of byte ``at`` of ``buf`` (which is well formed before ``at``)."""
        head = self._exact_shadow(buf[:at])
        rows = _count_records(head) - _drop_blank_records(head, head)[1]
        return self.rows + rows + 1, self.carry_line + buf.count(_NL, 0, at)

    def _misplaced_quote(self, buf: bytes, opening: int, closing: int) -> InputFileError:
        row, line = self._where(buf, opening)
        field = buf[opening : closing + 1].decode("utf-8", "replace")
        after = buf[closing + 1 : closing + 5].decode("utf-8", "replace")[:1]  # the character after it
        return InputFileError(
            f"Row {row} of {self.source_name} (line {line + buf.count(_NL, opening, closing)}) has a quoted "
            f"field {_clip(field)!r} whose closing quote is followed by {after!r} instead of a "
            'delimiter or a line end. A quote inside a quoted field must be doubled (""); the csv '
            "module would silently glue this text together, so the file is rejected instead."
        )

    def _too_large(self, size: int, row: int | None = None, line: int | None = None) -> InputFileError:
        return InputFileError(
            f"Row {row or self.rows + 1} of {self.source_name} (starting on line {line or self.carry_line}) "
            f"is {size} bytes: too large for a part of {self.max_part_bytes} bytes with its "
            f"{len(self.header)}-byte header (a row may take {self.max_record} bytes with its line end). "
            "If the row is not meant to be that long, look for an unbalanced quote in it."
        )

    def _emit(
        self,
        region: bytes,
        shadow: bytes,
        records: int,
        region_line: int,
        blanks: bool,
        offset: int,
        source_len: int | None = None,
    ) -> None:
        """Write ``region`` (whole records, ``records`` of them counting blank ones) to parts.

        ``shadow`` is the region as quote parity reads it exactly. ``blanks`` says whether the region
        may hold blank records, to be dropped. ``offset`` is the region's source offset; ``source_len``
        its length in the source (less when a line end was added).
        """
        start, end = 0, len(region)
        region_end = offset + (end if source_len is None else source_len)
        while start < end:
            room = self.max_part_bytes - (self.part.size if self.part else len(self.header))
            if end - start <= room:
                if start:
                    region, shadow = region[start:], shadow[start:]
                self._write(region, shadow, records, blanks, offset + start, region_end)
                return
            stop = _last_boundary(
                shadow, start, start + room, bool(shadow.count(_QUOTE, start, start + room) & 1)
            )
            if stop < 0:
                if self.part is not None:
                    self._close()
                    continue
                record_end = min(_first_boundary(shadow, start, end), region_end - offset)
                line = region_line + region.count(_NL, 0, start)
                raise self._too_large(record_end - start, self.rows + 1, line)
            piece_shadow = shadow[start:stop]
            piece_records = _count_records(piece_shadow)
            self._write(
                region[start:stop], piece_shadow, piece_records, blanks, offset + start, offset + stop
            )
            self._close()
            records -= piece_records
            start = stop

    def _write(self, piece: bytes, shadow: bytes, records: int, blanks: bool, start: int, end: int) -> None:
        """Add ``piece`` (source bytes ``start:end``, a line end maybe added) to the current part."""
        if blanks:
            piece, dropped = _drop_blank_records(piece, shadow)
            records -= dropped
        if not records:
            return
        if self.part is None:
            self.part = PartInfo(first_row=self.rows + 1, start=start, size=len(self.header))
            self.sink.open(len(self.done), self.header)
        self.sink.write(piece)
        self.part.end = end
        self.part.size += len(piece)
        self.part.rows += records
        self.rows += records

    def _close(self) -> None:
        if self.part is not None:
            self.sink.close()
            self.done.append(self.part)
            self.part = None


def feed_all(splitter: Splitter, source: _Source, first: bytes, source_name: str) -> None:
    """Feed ``first`` (bytes already read), then the rest of ``source``, to ``splitter``."""
    chunk = first
    while True:
        if chunk:
            splitter.feed(chunk)
        try:
            chunk = source.read()
        except _BadUtf8 as bad:
            raise bad.to_error(source_name, splitter.lines) from None
        if not chunk:
            break


#: What a part is described by: ``PartInfo`` from the scan, or the part files written from it.
P = TypeVar("P")
Q = TypeVar("Q")


@dataclass(frozen=True)
class Scan(Generic[P]):
    """What one pass over a delimited file found: its header and its parts (``PartInfo``, where they
    lie in the source; or what a sink made of them, such as part files)."""

    header: list[str]  #: column names
    header_bytes: bytes  #: the header line as repeated at the top of each part (no BOM)
    parts: list[P]
    total_rows: int  #: data rows in all parts
    total_bytes: int  #: bytes read from the source (BOM and header included)

    def with_parts(self, parts: list[Q]) -> Scan[Q]:
        """The same scan with other part descriptions (one per part, in order)."""
        return replace(self, parts=parts)  # type: ignore[arg-type,return-value]


class NoSink:
    """A :class:`PartSink` that keeps nothing (planning only)."""

    def open(self, index: int, header: bytes) -> None:
        pass

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


def scan_delimited(
    stream: BinaryIO,
    *,
    file_format: str,
    max_part_bytes: int,
    sink: PartSink,
    lookup_field: str | None = None,
    required: Sequence[str] = (),
    check_header: Callable[[list[str]], None] | None = None,
    chunk_size: int = 1 << 20,
    source_name: str = "<input>",
) -> Scan[PartInfo]:
    """Read ``stream`` once, sequentially, validating everything, and hand its parts to ``sink``.

    Parts hold at most ``max_part_bytes`` each (header included) and are cut only between records;
    blank lines are dropped and a missing last line end is added. Raises :class:`InputFileError`.
    ``check_header(columns)`` runs right after the header is parsed, before any data is read.
    """
    fmt = check_format(file_format)
    source = _Source(stream, chunk_size)
    line, ending, rest = _read_header_line(source, source_name, min(MAX_HEADER_BYTES, max_part_bytes))
    columns = _parse_header(line, fmt, source_name)
    validate_header(
        columns, file_format=fmt, lookup_field=lookup_field, required=required, source_name=source_name
    )
    if check_header is not None:
        check_header(columns)
    header_bytes = line + ending
    if len(header_bytes) + 2 > max_part_bytes:
        raise InputFileError(
            f"The header of {source_name} is {len(header_bytes)} bytes: parts of max_part_bytes="
            f"{max_part_bytes} cannot hold it and a row."
        )
    splitter = Splitter(
        header_bytes,
        max_part_bytes=max_part_bytes,
        sink=sink,
        source_name=source_name,
        offset=source.offset - len(rest),
        file_format=fmt,
    )
    feed_all(splitter, source, rest, source_name)
    splitter.finish()
    return Scan(columns, header_bytes, splitter.done, splitter.rows, source.offset)
