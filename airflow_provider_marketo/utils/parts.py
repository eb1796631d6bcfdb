"""Part plans: where each part of a delimited file lies in the source, without writing any part file.

:func:`plan_parts` reads the source once, validates all of it and records each part as a byte range
of the source plus what it must hold (rows, size). :class:`PlanningWriter` makes the same plan of a
file while it is written (a staged copy), so that planning never reads it back. :func:`read_part` later reads one range again from
the source (seekable) and returns exactly the bytes to upload, after checking them against the plan.

Change detection: planning does not hash (hashing every byte costs as much as the scan itself), so
``PlannedPart.sha256`` is ``None``. :func:`read_part` checks the source size, the byte before the
range (a record end), that the range ends at a record end, and its record count and upload size,
re-validating UTF-8 and quotes on the way; a part whose ``sha256`` is set (the caller hashed the
bytes it uploaded first, e.g. into its manifest, and set it with :func:`dataclasses.replace`) must
also match that digest. Callers compare the source's size and modification time or ETag too.
This module does not import Airflow.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, BinaryIO

from airflow_provider_marketo.utils.formats import MAX_HEADER_BYTES, InputFileError, check_format
from airflow_provider_marketo.utils.reading import _BadUtf8, _parse_header, _read_header_line, _Source
from airflow_provider_marketo.utils.scanner import NoSink, PartInfo, Splitter, feed_all, scan_delimited


class SourceChangedError(InputFileError):
    """The source no longer holds the bytes a part was planned from."""


@dataclass(frozen=True)
class PlannedPart:
    """One part: a byte range of the source and what it holds once read for upload."""

    index: int  #: 0-based, in file order
    start: int  #: byte offset in the source of the part's first record
    end: int  #: byte offset just past its last record (exclusive)
    data_rows: int  #: records in the part (blank lines are not records)
    size: int  #: bytes of the part as uploaded (header + records + final line end)
    first_row: int  #: 1-based data-row number of the first record
    sha256: str | None  #: hex digest of the part as uploaded, or ``None`` when not hashed


@dataclass(frozen=True)
class PartPlan:
    """The parts of a source file, in order, and what was read to plan them."""

    file_format: str
    header: list[str]
    header_bytes: bytes  #: header line as repeated at the top of each part (no BOM)
    parts: list[PlannedPart]
    total_rows: int
    total_bytes: int  #: bytes of the source (BOM and header included)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form (``header_bytes`` as text); :meth:`from_dict` reads it back."""
        return {
            "file_format": self.file_format,
            "header": list(self.header),
            "header_bytes": self.header_bytes.decode("utf-8"),
            "parts": [asdict(part) for part in self.parts],
            "total_rows": self.total_rows,
            "total_bytes": self.total_bytes,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PartPlan:
        return cls(
            file_format=str(data["file_format"]),
            header=[str(name) for name in data["header"]],
            header_bytes=str(data["header_bytes"]).encode("utf-8"),
            parts=[PlannedPart(**part) for part in data["parts"]],
            total_rows=int(data["total_rows"]),
            total_bytes=int(data["total_bytes"]),
        )


def plan_parts(
    stream: BinaryIO,
    *,
    file_format: str,
    max_part_bytes: int,
    lookup_field: str | None = None,
    required: Sequence[str] = (),
    check_header: Callable[[list[str]], None] | None = None,
    chunk_size: int = 1 << 20,
    source_name: str = "<input>",
) -> PartPlan:
    """Plan the parts of a delimited file: at most ``max_part_bytes`` each, header included.

    Reads ``stream`` once, sequentially (it need not be seekable), validates everything (header,
    UTF-8, quotes, record sizes, at least one data row) and writes nothing. ``check_header(columns)``
    is called right after the header is parsed, before the data is read. Raises
    :class:`~airflow_provider_marketo.utils.formats.InputFileError`.
    """
    fmt = check_format(file_format)
    scan = scan_delimited(
        stream,
        file_format=fmt,
        max_part_bytes=max_part_bytes,
        sink=NoSink(),
        lookup_field=lookup_field,
        required=required,
        check_header=check_header,
        chunk_size=chunk_size,
        source_name=source_name,
    )
    return _plan_of(fmt, scan.header, scan.header_bytes, scan.parts, scan.total_rows, scan.total_bytes)


def _plan_of(
    fmt: str, header: list[str], header_bytes: bytes, infos: Sequence[PartInfo], rows: int, size: int
) -> PartPlan:
    parts = [
        PlannedPart(index, info.start, info.end, info.rows, info.size, info.first_row, None)
        for index, info in enumerate(infos)
    ]
    return PartPlan(fmt, header, header_bytes, parts, rows, size)


class PlanningWriter:
    """A binary stream that writes through to ``out`` and plans the parts of what was written.

    :meth:`plan` equals what :func:`plan_parts` makes reading the finished file back (the same
    scanner sees the same bytes), without that read. The writer of the staged copy has validated
    the header and the records already; the scan here only cuts the parts (and would still reject a
    record it cannot place). ``file_format`` is the written file's.
    """

    def __init__(self, out: BinaryIO, *, file_format: str, max_part_bytes: int, source_name: str) -> None:
        self.out = out
        self.format = check_format(file_format)
        self.max_part_bytes = max_part_bytes
        self.source_name = source_name
        self.written = 0
        self._head = bytearray()  #: the bytes written before the header line was complete
        self._header: tuple[list[str], bytes] | None = None
        self._splitter: Splitter | None = None

    def write(self, data: bytes) -> int:
        self.out.write(data)
        self.written += len(data)
        if self._splitter is not None:
            self._splitter.feed(bytes(data))
        else:
            self._head += data
            if b"\n" in data:
                self._start(bytes(self._head))
        return len(data)

    def _start(self, head: bytes) -> None:
        source = _Source(io.BytesIO(head), max(len(head), 1))
        limit = min(MAX_HEADER_BYTES, self.max_part_bytes)
        line, ending, rest = _read_header_line(source, self.source_name, limit)
        header_bytes = line + ending
        self._header = (_parse_header(line, self.format, self.source_name), header_bytes)
        self._splitter = Splitter(
            header_bytes,
            max_part_bytes=self.max_part_bytes,
            sink=NoSink(),
            source_name=self.source_name,
            offset=source.offset - len(rest),
            file_format=self.format,
        )
        feed_all(self._splitter, source, rest, self.source_name)

    def plan(self) -> PartPlan:
        """The plan of everything written (call once, after the last write)."""
        if self._splitter is None:
            self._start(bytes(self._head))
        assert self._splitter is not None and self._header is not None
        self._splitter.finish()
        columns, header_bytes = self._header
        splitter = self._splitter
        return _plan_of(self.format, columns, header_bytes, splitter.done, splitter.rows, self.written)


class _Collect:
    """A sink that keeps the records of one part in memory."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []
        self.opened = 0

    def open(self, index: int, header: bytes) -> None:
        self.opened += 1
        self.pieces.append(header)

    def write(self, data: bytes) -> None:
        self.pieces.append(data)

    def close(self) -> None:
        pass


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    buf = io.BytesIO()
    while buf.tell() < size:
        chunk = stream.read(size - buf.tell())
        if not chunk:
            break
        buf.write(chunk)
    return buf.getvalue()


def _source_size(stream: BinaryIO) -> int | None:
    try:
        return stream.seek(0, io.SEEK_END)
    except (OSError, ValueError, io.UnsupportedOperation):
        return None


def read_part(stream: BinaryIO, plan: PartPlan, part: PlannedPart, *, source_name: str = "<input>") -> bytes:
    """Read ``part`` again from ``stream`` (the source, seekable) and return the bytes to upload.

    The result is the header line, the part's records with blank lines dropped, and a final line
    end. Raises :class:`SourceChangedError` when the source no longer matches the plan.
    """

    def changed(what: str) -> SourceChangedError:
        return SourceChangedError(
            f"{source_name} changed since its parts were planned: part {part.index + 1} of "
            f"{len(plan.parts)} (rows {part.first_row}-{part.first_row + part.data_rows - 1}, bytes "
            f"{part.start}-{part.end}) {what}. Re-run the task to plan the file again."
        )

    size = _source_size(stream)
    if size is not None and size != plan.total_bytes:
        raise changed(f"cannot be read as planned: the source is now {size} bytes, not {plan.total_bytes}")
    before = 1 if part.index else 0  # the byte before a later part's first record ends a record
    stream.seek(part.start - before)
    data = _read_exactly(stream, part.end - part.start + before)
    if len(data) != part.end - part.start + before:
        raise changed("is cut short: the source ends early")
    if before and data[:1] != b"\n":
        raise changed("no longer starts after a line end")
    sink = _Collect()
    splitter = Splitter(
        plan.header_bytes,
        max_part_bytes=len(plan.header_bytes) + part.end - part.start + 2,  # blank lines not dropped yet
        sink=sink,
        source_name=source_name,
        offset=part.start,
        file_format=plan.file_format,
        rows_before=part.first_row - 1,
    )
    try:
        _Source(io.BytesIO(data), len(data) or 1).read()
        splitter.feed(data[before:])
        if part.end < plan.total_bytes and splitter.carry_len:
            raise changed("no longer ends at the end of a record")
        splitter.finish()
    except SourceChangedError:
        raise
    except InputFileError as error:
        raise changed(f"no longer reads as planned ({error})") from None
    except _BadUtf8 as bad:
        raise changed(
            f"is no longer valid UTF-8 ({bad.reason} at byte {part.start - before + bad.offset})"
        ) from None
    if sink.opened != 1 or splitter.rows - part.first_row + 1 != part.data_rows:
        raise changed(f"holds {splitter.rows - part.first_row + 1} rows, not {part.data_rows}")
    out = b"".join(sink.pieces)
    if len(out) != part.size:
        raise changed(f"is {len(out)} bytes once read, not {part.size}")
    if part.sha256 is not None and hashlib.sha256(out).hexdigest() != part.sha256:
        raise changed("has other bytes than were uploaded or planned (SHA-256 differs)")
    return out
