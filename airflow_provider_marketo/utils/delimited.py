"""Delimited input files for Marketo bulk imports: formats, header checks and a streaming scanner.

Marketo takes CSV, TSV or SSV files whose first line is a header of field names, in requests under
10 MB. :func:`scan_delimited` reads a file once, sequentially, and cuts it into parts that each
repeat the header and stay under a byte limit, cutting only between records. It validates the whole
input on the way (header, UTF-8, quotes, record sizes), so a bad file is rejected before anything is
sent to Marketo. The parts go to a :class:`PartSink`: :func:`split_delimited` writes them to files,
:mod:`airflow_provider_marketo.utils.parts` only records where they lie.

Quotes follow the csv module's rules (see :class:`Splitter`); fields are never parsed in Python.
Where quote parity agrees with those rules (checked with C-speed ``bytes`` methods), a newline ends a
record exactly when the number of quotes before it is even. Memory stays bounded by one chunk plus
one record, whatever the file size. This module does not import Airflow.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import difflib
import hashlib
import io
import re
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Protocol

#: Marketo's ``format`` values and their delimiters.
FORMATS: dict[str, str] = {"csv": ",", "tsv": "\t", "ssv": ";"}
#: A part size that leaves room for the multipart envelope under Marketo's 10 MB request limit.
MAX_PART_BYTES = 10_000_000 - 64 * 1024
#: Longest header line accepted (Marketo field names are short; longer means a broken file).
MAX_HEADER_BYTES = 1 << 20

_QUOTE = b'"'
_NL = b"\n"
_BOM = codecs.BOM_UTF8
_FORMAT_NAMES = {"csv": "CSV", "tsv": "TSV", "ssv": "SSV"}
_DELIMITER_NAMES = {",": "commas", "\t": "tabs", ";": "semicolons"}
#: ``bytes.translate`` deletes these: what is left of a buffer is its quotes and newlines, in order.
_NOT_QUOTE_OR_NL = bytes(b for b in range(256) if b not in b'"\n')
#: A newline followed by an empty line (LF or CRLF): the start of a blank record, if outside quotes.
_BEFORE_BLANK = re.compile(rb"\n(?=\r?\n)")
#: Bytes decoded at a time when checking UTF-8.
_UTF8_PIECE = 1 << 14


class InputFileError(ValueError):
    """The input file cannot be imported as it is; the message says which file, where, and what to fix."""


def check_format(value: object) -> str:
    """Return the Marketo format name for ``value`` (``csv``, ``tsv`` or ``ssv``, any case)."""
    fmt = value.lower() if isinstance(value, str) else value
    if fmt not in FORMATS:
        raise InputFileError(f"Unknown file format {value!r}; expected one of: {', '.join(FORMATS)}.")
    return str(fmt)


def infer_format(name: str) -> str:
    """Tell the format from a file name's extension (``.csv``, ``.tsv``, ``.ssv``, any case)."""
    suffix = PurePosixPath(name).suffix.lower().lstrip(".")
    if suffix in FORMATS:
        return suffix
    raise InputFileError(
        f"Cannot tell the format of {name!r} from its extension (known: .csv, .tsv, .ssv); "
        "pass format='csv', 'tsv' or 'ssv'."
    )


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


class _BadUtf8(Exception):
    """Internal: undecodable bytes at ``offset`` (in the source), ``position`` in the current chunk."""

    def __init__(self, offset: int, position: int, chunk: bytes, error: UnicodeDecodeError) -> None:
        super().__init__(error.reason)
        self.offset = offset
        self.position = position
        self.chunk = chunk
        self.byte = error.object[error.start]
        self.reason = error.reason

    def to_error(self, source_name: str, lines_before: int) -> InputFileError:
        line = lines_before + self.chunk.count(_NL, 0, max(self.position, 0)) + 1
        return InputFileError(
            f"{source_name} is not valid UTF-8: byte 0x{self.byte:02X} at byte offset {self.offset} (line {line}) cannot "
            f"be decoded ({self.reason}). Save the file as UTF-8."
        )


class _Source:
    """Reads a binary stream in chunks, checking that the bytes are UTF-8 as they go by.

    An ASCII chunk is valid as it is. Other chunks are decoded in pieces of ``_UTF8_PIECE`` bytes,
    whose text stays in the CPU cache (decoding 1 MiB at once is about twice as slow); a sequence
    cut by the end of a chunk is carried to the next one.
    """

    def __init__(self, stream: BinaryIO, chunk_size: int) -> None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be positive, got {chunk_size}")
        self._read = stream.read
        self._chunk_size = chunk_size
        self._pending = b""  # the start of a UTF-8 sequence cut by the end of the last chunk
        self.offset = 0

    def read(self) -> bytes:
        """Return the next chunk, ``b""`` at the end; raise :class:`_BadUtf8` on undecodable bytes."""
        chunk = self._read(self._chunk_size) or b""
        start = self.offset
        self.offset += len(chunk)
        if self._pending or not chunk.isascii():
            self._check_utf8(chunk, start)
        return chunk

    def _check_utf8(self, chunk: bytes, start: int) -> None:
        pending = self._pending
        data = memoryview(pending + chunk if pending else chunk)
        pos, end = 0, len(data)
        while True:
            last = pos + _UTF8_PIECE >= end
            try:
                _, used = codecs.utf_8_decode(data[pos : pos + _UTF8_PIECE], "strict", last and not chunk)
            except UnicodeDecodeError as error:
                at = pos + error.start - len(pending)
                raise _BadUtf8(start + at, at, chunk, error) from None
            pos += used
            if last:
                break
        self._pending = bytes(data[pos:])


def _read_header_line(source: _Source, source_name: str, limit: int) -> tuple[bytes, bytes, bytes]:
    """Read up to the end of the header record.

    Return the header (no BOM, no line end), its line end (``\\n`` if it had none) and the bytes read after it.
    """
    buf = bytearray()
    end, scanned, odd = -1, 0, False
    while end < 0:
        try:
            chunk = source.read()
        except _BadUtf8 as bad:
            raise bad.to_error(source_name, buf.count(_NL)) from None
        if not chunk:
            break
        buf += chunk
        end = _first_boundary(buf, scanned, len(buf), odd)
        odd ^= bool(buf.count(_QUOTE, scanned) & 1)
        scanned = len(buf)
        if end < 0 and len(buf) > limit:
            break
    start = len(_BOM) if buf.startswith(_BOM) else 0
    line = bytes(buf[start : end if end >= 0 else len(buf)]).removesuffix(_NL).removesuffix(b"\r")
    if not buf[start:]:
        raise InputFileError(f"{source_name} is empty; it needs a header line and at least one data row.")
    if b"\r" in line:
        raise InputFileError(
            f"The first line of {source_name} contains a carriage return: the file seems to use "
            "old Mac (CR-only) line endings. Convert it to LF or CRLF line endings."
        )
    if end < 0 and odd:
        raise InputFileError(
            f"The header of {source_name} opens a quoted field that is never closed (unbalanced quote)."
        )
    if end < 0 and len(buf) > limit:
        raise InputFileError(f"The header line of {source_name} is longer than {limit} bytes.")
    if not line:
        raise InputFileError(
            f"The first line of {source_name} is empty; it must be the header (Marketo field names)."
        )
    if end < 0:
        return line, b"\n", b""
    return line, b"\r\n" if buf.endswith(b"\r\n", 0, end) else b"\n", bytes(buf[end:])


def _parse_header(line: bytes, file_format: str, source_name: str) -> list[str]:
    text = line.decode("utf-8")
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=FORMATS[file_format], strict=True))
    except csv.Error as error:
        raise InputFileError(
            f"The header of {source_name} is not valid {_FORMAT_NAMES[file_format]}: {error}."
        ) from None
    return rows[0] if rows else []


def read_header(
    stream: BinaryIO,
    *,
    file_format: str,
    lookup_field: str | None = None,
    required: Sequence[str] = (),
    source_name: str = "<input>",
    chunk_size: int = 1 << 16,
) -> list[str]:
    """Read and validate the header of a delimited file; return its column names.

    Reads only as far as the end of the header (plus at most one chunk). A UTF-8 BOM is ignored.
    """
    fmt = check_format(file_format)
    line, _, _ = _read_header_line(_Source(stream, chunk_size), source_name, MAX_HEADER_BYTES)
    columns = _parse_header(line, fmt, source_name)
    validate_header(
        columns, file_format=fmt, lookup_field=lookup_field, required=required, source_name=source_name
    )
    return columns


@dataclass(frozen=True)
class Part:
    """One part file: the header line followed by a run of the source's records."""

    index: int  #: 0-based, in file order
    path: Path  #: the part file in ``workdir``
    data_rows: int  #: records in this part (blank lines are not records)
    size: int  #: bytes of the part file
    sha256: str  #: hex digest of the part file
    first_row: int  #: 1-based data-row number, in the source, of the part's first record


@dataclass(frozen=True)
class SplitResult:
    """The parts of a split file and what was read."""

    header: list[str]  #: column names
    header_bytes: bytes  #: the header line as repeated at the top of each part (no BOM)
    parts: list[Part]
    total_rows: int  #: data rows in all parts
    total_bytes: int  #: bytes read from the source (BOM and header included)


class _PartFiles:
    """Writes part files, in order, on one background thread that also hashes them.

    File writes and SHA-256 release the GIL, so they overlap with scanning the next chunk. At most
    ``_QUEUED`` jobs wait at a time, which bounds the memory their buffers hold.
    """

    _QUEUED = 2

    def __init__(self, workdir: Path, file_format: str) -> None:
        self._workdir = workdir
        self._suffix = file_format
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="marketo-part-writer")
        self._queue: deque[Future[None]] = deque()
        self._file: BinaryIO | None = None
        self._hash = hashlib.sha256()
        self.paths: list[Path] = []
        self.digests: list[str] = []

    def open(self, index: int, header: bytes) -> None:
        path = self._workdir / f"part-{index:05d}.{self._suffix}"
        self.paths.append(path)
        self._submit(self._open, path, header)

    def write(self, data: bytes) -> None:
        self._submit(self._write, data)

    def close(self) -> None:
        self._submit(self._close)

    def wait(self) -> None:
        """Wait for every queued job; raise the first error of one."""
        while self._queue:
            self._queue.popleft().result()

    def shutdown(self, *, delete: bool) -> None:
        """Stop the thread after its queued jobs; with ``delete``, remove every file it wrote."""
        for job in self._queue:
            job.cancel()
        self._pool.shutdown(wait=True)
        self._queue.clear()
        if self._file is not None:
            self._file.close()
        if delete:
            for path in self.paths:
                with contextlib.suppress(OSError):  # not ours to delete (e.g. a directory in the way)
                    path.unlink(missing_ok=True)

    def _submit(self, job: Callable[..., None], *args: object) -> None:
        if len(self._queue) >= self._QUEUED:
            self._queue.popleft().result()
        self._queue.append(self._pool.submit(job, *args))

    def _open(self, path: Path, header: bytes) -> None:
        self._file = path.open("wb")
        self._hash = hashlib.sha256()
        self._write(header)

    def _write(self, data: bytes) -> None:
        assert self._file is not None
        self._file.write(data)
        self._hash.update(data)

    def _close(self) -> None:
        assert self._file is not None
        self._file.close()
        self._file = None
        self.digests.append(self._hash.hexdigest())


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


@dataclass(frozen=True)
class Scan:
    """What one pass over a delimited file found: its header and where its parts lie."""

    header: list[str]  #: column names
    header_bytes: bytes  #: the header line as repeated at the top of each part (no BOM)
    parts: list[PartInfo]
    total_rows: int  #: data rows in all parts
    total_bytes: int  #: bytes read from the source (BOM and header included)


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
) -> Scan:
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
    chunk = rest
    while True:
        if chunk:
            splitter.feed(chunk)
        try:
            chunk = source.read()
        except _BadUtf8 as bad:
            raise bad.to_error(source_name, splitter.lines) from None
        if not chunk:
            break
    splitter.finish()
    return Scan(columns, header_bytes, splitter.done, splitter.rows, source.offset)


def split_delimited(
    stream: BinaryIO,
    *,
    file_format: str,
    max_part_bytes: int,
    workdir: Path,
    lookup_field: str | None = None,
    required: Sequence[str] = (),
    chunk_size: int = 1 << 20,
    source_name: str = "<input>",
) -> SplitResult:
    """Split a delimited file into part files of at most ``max_part_bytes`` each, header included.

    Reads ``stream`` once, sequentially (it need not be seekable), and writes ``part-NNNNN.<format>``
    files to ``workdir``: each is the header line (without BOM) followed by whole records, cut only
    between records, and ends with a line end. Blank lines are dropped. The whole input is validated
    before this returns (see :func:`scan_delimited`); on :class:`InputFileError` no part file is left
    behind. The operators plan parts without writing them (:mod:`airflow_provider_marketo.utils.parts`).
    """
    fmt = check_format(file_format)
    workdir.mkdir(parents=True, exist_ok=True)
    files = _PartFiles(workdir, fmt)
    try:
        scan = scan_delimited(
            stream,
            file_format=fmt,
            max_part_bytes=max_part_bytes,
            sink=files,
            lookup_field=lookup_field,
            required=required,
            chunk_size=chunk_size,
            source_name=source_name,
        )
        files.wait()
    except BaseException:
        files.shutdown(delete=True)
        raise
    files.shutdown(delete=False)
    parts = [
        Part(index, path, info.rows, info.size, digest, info.first_row)
        for index, (info, path, digest) in enumerate(zip(scan.parts, files.paths, files.digests, strict=True))
    ]
    return SplitResult(
        header=scan.header,
        header_bytes=scan.header_bytes,
        parts=parts,
        total_rows=scan.total_rows,
        total_bytes=scan.total_bytes,
    )
