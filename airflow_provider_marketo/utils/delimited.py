"""Delimited input files for Marketo bulk imports: formats, header checks and a streaming splitter.

Marketo takes CSV, TSV or SSV files whose first line is a header of field names, in requests under
10 MB. :func:`split_delimited` reads a file once, sequentially, and writes parts that each repeat the
header and stay under a byte limit, cutting only between records (never inside a quoted field). It
validates the whole input on the way (header, UTF-8, quotes, record sizes), so a bad file is rejected
before anything is sent to Marketo.

The splitter never parses fields in Python: a newline ends a record exactly when the number of quote
characters before it is even, and that parity is found with C-speed ``bytes`` methods. Memory stays
bounded by one chunk plus one record, whatever the file size. This module does not import Airflow.
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
from typing import BinaryIO

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


def _count_records(data: bytes) -> int:
    """Records ending in ``data``, which starts at a record start (blank lines included)."""
    return _unquoted_newlines(data.translate(None, _NOT_QUOTE_OR_NL))


def _may_have_blank_records(region: bytes, marks: bytes) -> bool:
    """Whether record-aligned ``region`` may hold a blank record; ``marks`` are its quotes and newlines
    (those of the first record may be left out). Two newlines are only adjacent if adjacent in marks."""
    if region.startswith((b"\n", b"\r\n")):
        return True
    return b"\n\n" in marks and _BEFORE_BLANK.search(region) is not None


def _drop_blank_records(data: bytes) -> tuple[bytes, int]:
    """Remove empty records (an LF or CRLF alone, outside quotes) from record-aligned ``data``."""
    spans: list[tuple[int, int]] = []
    if data.startswith((b"\n", b"\r\n")):
        spans.append((0, data.index(_NL) + 1))
    odd, counted = False, 0
    for match in _BEFORE_BLANK.finditer(data):
        odd ^= bool(data.count(_QUOTE, counted, match.start()) & 1)
        counted = match.start()
        if not odd:
            start = match.end()
            spans.append((start, data.index(_NL, start) + 1))
    if not spans:
        return data, 0
    keep, previous = [], 0
    for start, end in spans:
        keep.append(data[previous:start])
        previous = end
    keep.append(data[previous:])
    return b"".join(keep), len(spans)


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

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="marketo-part-writer")
        self._queue: deque[Future[None]] = deque()
        self._file: BinaryIO | None = None
        self._hash = hashlib.sha256()
        self.paths: list[Path] = []
        self.digests: list[str] = []

    def open(self, path: Path, header: bytes) -> None:
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


@dataclass
class _PartInfo:
    path: Path
    first_row: int
    size: int = 0
    rows: int = 0


class _Splitter:
    """Cuts the records after the header into part files (the state of one :func:`split_delimited`)."""

    def __init__(
        self, header_bytes: bytes, *, file_format: str, max_part_bytes: int, workdir: Path, source_name: str
    ) -> None:
        self.header = header_bytes
        self.ending = b"\r\n" if header_bytes.endswith(b"\r\n") else b"\n"
        self.file_format = file_format
        self.max_part_bytes = max_part_bytes
        self.max_record = max_part_bytes - len(header_bytes)
        self.workdir = workdir
        self.source_name = source_name
        self.files = _PartFiles()
        self.done: list[_PartInfo] = []
        self.part: _PartInfo | None = None  # the part being written
        self.rows = 0  # records written to parts
        self.lines = header_bytes.count(_NL)  # newlines in the bytes fed so far
        # The record being read: its bytes so far, their length and quote parity, where it starts.
        self.carry: list[bytes] = []
        self.carry_len = 0
        self.carry_odd = False
        self.carry_line = self.lines + 1
        self.oversize = False  # the carried record is too large: only its length is still tracked

    def feed(self, chunk: bytes) -> None:
        """Take the next chunk of the source."""
        marks = chunk.translate(None, _NOT_QUOTE_OR_NL)
        quotes = marks.count(_QUOTE)
        self.lines += len(marks) - quotes
        odd_end = self.carry_odd ^ bool(quotes & 1)
        cut = _last_boundary(chunk, 0, len(chunk), odd_end)
        if cut < 0:
            self.carry_odd = odd_end
            self.carry_len += len(chunk)
            if not self.oversize:
                self.carry.append(chunk)
            self._check_carry()
            return
        if self.oversize:
            raise self._too_large(self.carry_len + _first_boundary(chunk, 0, cut, self.carry_odd))
        tail = chunk[cut:]
        tail_newlines = tail.count(_NL)
        head_marks = marks[: len(marks) - tail_newlines - tail.count(_QUOTE)]
        records = _unquoted_newlines(head_marks, self.carry_odd)
        if self.carry:  # one copy: the head is joined through a view
            region = b"".join([*self.carry, memoryview(chunk)[:cut]])
        else:
            region = chunk[:cut] if tail else chunk
        blanks = _may_have_blank_records(region, head_marks)
        region_line = self.carry_line
        self.carry = [tail] if tail else []
        self.carry_len = len(tail)
        self.carry_odd = odd_end
        self.carry_line = self.lines - tail_newlines + 1
        self._emit(region, records, region_line, blanks)
        self._check_carry()

    def finish(self) -> None:
        """Flush the last record (adding a line end if it has none) and close the last part."""
        if self.carry_odd:
            raise InputFileError(
                f"{self.source_name} ends inside a quoted field: row {self.rows + 1} (line {self.carry_line}) "
                "opens a quote that is never closed (unbalanced quote)."
            )
        if self.oversize:
            raise self._too_large(self.carry_len)
        last = b"".join(self.carry)
        if last and last != b"\r":
            region = last + (b"\n" if last.endswith(b"\r") else self.ending)
            self._emit(region, 1, self.carry_line, blanks=False)
        self._close()
        if not self.rows:
            raise InputFileError(f"{self.source_name} has a header but no data rows.")
        self.files.wait()

    def parts(self) -> list[Part]:
        """The parts written (after :meth:`finish`)."""
        return [
            Part(index, info.path, info.rows, info.size, digest, info.first_row)
            for index, (info, digest) in enumerate(zip(self.done, self.files.digests, strict=True))
        ]

    def _check_carry(self) -> None:
        if self.carry_len >= self.max_record and not self.oversize:
            self.oversize = True
            self.carry = []

    def _too_large(self, size: int, row: int | None = None, line: int | None = None) -> InputFileError:
        return InputFileError(
            f"Row {row or self.rows + 1} of {self.source_name} (starting on line {line or self.carry_line}) "
            f"is {size} bytes: too large for a part of {self.max_part_bytes} bytes with its "
            f"{len(self.header)}-byte header (a row may take {self.max_record} bytes with its line end). "
            "If the row is not meant to be that long, look for an unbalanced quote in it."
        )

    def _emit(self, region: bytes, records: int, region_line: int, blanks: bool) -> None:
        """Write ``region`` (whole records, ``records`` of them counting blank ones) to parts.

        ``blanks`` says whether the region may hold blank records, to be dropped.
        """
        start, end = 0, len(region)
        while start < end:
            room = self.max_part_bytes - (self.part.size if self.part else len(self.header))
            if end - start <= room:
                self._write(region if not start else region[start:], records, blanks)
                return
            stop = _last_boundary(
                region, start, start + room, bool(region.count(_QUOTE, start, start + room) & 1)
            )
            if stop < 0:
                if self.part is not None:
                    self._close()
                    continue
                record_end = _first_boundary(region, start, end)
                line = region_line + region.count(_NL, 0, start)
                raise self._too_large(record_end - start, self.rows + 1, line)
            piece = region[start:stop]
            piece_records = _count_records(piece)
            self._write(piece, piece_records, blanks)
            self._close()
            records -= piece_records
            start = stop

    def _write(self, piece: bytes, records: int, blanks: bool) -> None:
        if blanks:
            piece, dropped = _drop_blank_records(piece)
            records -= dropped
        if not records:
            return
        if self.part is None:
            path = self.workdir / f"part-{len(self.done):05d}.{self.file_format}"
            self.part = _PartInfo(path, first_row=self.rows + 1, size=len(self.header))
            self.files.open(path, self.header)
        self.files.write(piece)
        self.part.size += len(piece)
        self.part.rows += records
        self.rows += records

    def _close(self) -> None:
        if self.part is not None:
            self.files.close()
            self.done.append(self.part)
            self.part = None


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
    """Split a delimited file into parts of at most ``max_part_bytes`` each, header included.

    Reads ``stream`` once, sequentially (it need not be seekable), and writes ``part-NNNNN.<format>``
    files to ``workdir``: each is the header line (without BOM) followed by whole records, cut only
    between records, and ends with a line end. Blank lines are dropped. The whole input is validated
    before this returns (header, UTF-8, balanced quotes, no record too large for a part, at least one
    data row); on :class:`InputFileError` no part file is left behind.
    """
    fmt = check_format(file_format)
    source = _Source(stream, chunk_size)
    line, ending, rest = _read_header_line(source, source_name, min(MAX_HEADER_BYTES, max_part_bytes))
    columns = _parse_header(line, fmt, source_name)
    validate_header(
        columns, file_format=fmt, lookup_field=lookup_field, required=required, source_name=source_name
    )
    header_bytes = line + ending
    if len(header_bytes) + 2 > max_part_bytes:
        raise InputFileError(
            f"The header of {source_name} is {len(header_bytes)} bytes: parts of max_part_bytes="
            f"{max_part_bytes} cannot hold it and a row."
        )
    workdir.mkdir(parents=True, exist_ok=True)
    splitter = _Splitter(
        header_bytes, file_format=fmt, max_part_bytes=max_part_bytes, workdir=workdir, source_name=source_name
    )
    try:
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
    except BaseException:
        splitter.files.shutdown(delete=True)
        raise
    splitter.files.shutdown(delete=False)
    return SplitResult(
        header=columns,
        header_bytes=header_bytes,
        parts=splitter.parts(),
        total_rows=splitter.rows,
        total_bytes=source.offset,
    )
