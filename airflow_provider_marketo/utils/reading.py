"""Reading a delimited source: chunks checked as UTF-8 on the way, and the header line.

:class:`_Source` reads a binary stream in chunks and checks that the bytes are UTF-8;
:func:`read_header` reads and validates only a file's header.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Sequence
from typing import BinaryIO

from airflow_provider_marketo.utils.formats import (
    _FORMAT_NAMES,
    FORMATS,
    MAX_HEADER_BYTES,
    InputFileError,
    check_format,
    describe_content,
    is_excel_sep_line,
    validate_header,
)
from airflow_provider_marketo.utils.quotes import _NL, _QUOTE, _first_boundary

_BOM = codecs.BOM_UTF8
#: Bytes decoded at a time when checking UTF-8.
_UTF8_PIECE = 1 << 14

#: What to do about content :func:`describe_content` names (UTF-16/32 names say it themselves).
_FIX = {"compressed": " Name it with its compression suffix (e.g. .csv.gz) so that it is decompressed."}


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
        what = describe_content(self.chunk) if self.offset - self.position == 0 else None
        if what is not None:  # the chunk is the start of the file, which says what it is
            return InputFileError(
                f"{source_name} is {what}, not UTF-8 delimited text (byte 0x{self.byte:02X} at byte "
                f"offset {self.offset}).{_FIX.get(what[:10], '')}"
            )
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
    what = describe_content(line) if b"\x00" in line else None
    if what is not None:
        raise InputFileError(f"{source_name} is {what}, not UTF-8 delimited text.{_FIX.get(what[:10], '')}")
    if is_excel_sep_line(line):
        raise InputFileError(
            f"The first line of {source_name} is Excel's {line.decode()!r} delimiter hint, not a header. "
            "Remove it, or pass delimiter= (the operator then rewrites the file and skips that line)."
        )
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
