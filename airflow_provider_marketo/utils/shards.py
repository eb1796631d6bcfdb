"""The shards of a warehouse export normalised, in one streaming pass, into one delimited UTF-8 file.

Warehouses unload a table as many files ("shards"), often compressed, each with its own header
(Snowflake ``COPY INTO``, Redshift ``UNLOAD``, BigQuery ``EXPORT DATA``). :func:`stage_shards` reads
them in the order given and writes one file: the first shard's header once, then every data row of
every shard. On the way it

- decompresses with fsspec's codecs (``fsspec.compression``: gzip, bz2, xz, zstd when installed),
  streaming, so memory stays flat;
- checks each shard's header against the first one's (same names, same order) and drops it;
- skips empty and header-only shards (logged), and Excel's ``sep=,`` first line;
- with ``column_names``, writes those as the header and reads every shard as data;
- on the **byte path** (UTF-8 input in a Marketo format) copies the records as they are, validated by
  the same scanner as a single file (UTF-8, quotes, record sizes; errors name the shard);
- on the **rewrite path** (``delimiter``, a non-UTF-8 ``encoding`` or ``null_values``) parses fields
  with the ``csv`` module and writes them again as Marketo CSV/TSV/SSV, exact NULL markers emptied.

Errors are :class:`~airflow_provider_marketo.utils.formats.InputFileError` naming the shard. This
module does not import Airflow.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol, cast

from fsspec.compression import compr

from airflow_provider_marketo.utils.formats import (
    FORMATS,
    MAX_HEADER_BYTES,
    InputFileError,
    check_format,
    describe_content,
    is_excel_sep_line,
    validate_header,
)
from airflow_provider_marketo.utils.parts import PartPlan, PlanningWriter
from airflow_provider_marketo.utils.reading import _parse_header, _read_header_line, _Source
from airflow_provider_marketo.utils.rows import RowWriter
from airflow_provider_marketo.utils.scanner import Splitter, feed_all

#: Bytes read from a shard's (decompressing) stream at a time.
_PIECE = 1 << 16
#: Rows handed to the writer at a time on the rewrite path.
_ROW_BATCH = 2000


class Log(Protocol):
    def info(self, msg: str, /, *args: Any) -> Any: ...


@dataclass(frozen=True)
class Shard:
    """One stored file of an export: ``open()`` gives its stored (maybe compressed) bytes."""

    name: str  #: how messages name it (its URL)
    open: Callable[[], BinaryIO]
    compression: str | None = None  #: fsspec's name for its codec (``gzip``, ``bz2``, ``xz``, ...)


@dataclass(frozen=True)
class ShardOptions:
    """How to read the shards and what to write."""

    file_format: str  #: the output's Marketo format (and the input's, on the byte path)
    max_part_bytes: int  #: records larger than a part are refused (naming the shard)
    column_names: tuple[str, ...] | None = None  #: the header, for shards written without one
    delimiter: str | None = None  #: the input's delimiter (rewrite path)
    encoding: str | None = None  #: the input's encoding (rewrite path unless UTF-8)
    null_values: tuple[str, ...] = ()  #: exact field values written as empty fields (rewrite path)
    lookup_field: str | None = None
    required: tuple[str, ...] = ()
    chunk_size: int = 1 << 20

    @property
    def rewrites(self) -> bool:
        """Whether fields are parsed and written again (slower than copying the bytes)."""
        return self.delimiter is not None or bool(self.null_values) or not is_utf8(self.encoding)


def is_utf8(encoding: str | None) -> bool:
    """Whether ``encoding`` (None: UTF-8) reads UTF-8 bytes as they are (a BOM aside)."""
    return encoding is None or codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")


@dataclass
class Staged:
    """What :func:`stage_shards` wrote."""

    columns: list[str]
    rows: int = 0  #: data rows written
    shard_rows: list[tuple[str, int]] = field(default_factory=list)  #: rows of each shard that had any
    skipped: list[tuple[str, str]] = field(default_factory=list)  #: (shard, why) of shards skipped
    #: The part plan of the staged file, made as it was written (``plan_parts`` of it, without the read).
    plan: PartPlan | None = None


class _Shard(io.RawIOBase):
    """A shard's bytes, decompressed as read; the bytes already read (``head``) are replayed first.

    A decompression or read error becomes an :class:`InputFileError` naming the shard and the offset
    reached (bytes of data, and of the stored file when it can tell).
    """

    def __init__(self, shard: Shard) -> None:
        super().__init__()
        self.shard = shard
        self.raw = shard.open()
        self.stream: BinaryIO = (
            cast("BinaryIO", compr[shard.compression](self.raw, mode="rb")) if shard.compression else self.raw
        )
        self.data_read = 0
        self.head = self._read(64)
        self._replay = memoryview(self.head)

    def readable(self) -> bool:
        return True

    def drop_bom(self) -> None:
        """Skip a UTF-8 byte order mark at the start (before anything is read)."""
        if self.head.startswith(codecs.BOM_UTF8):
            self._replay = self._replay[len(codecs.BOM_UTF8) :]

    def readinto(self, buffer: Any) -> int:
        if self._replay:
            size = min(len(buffer), len(self._replay))
            buffer[:size] = self._replay[:size]
            self._replay = self._replay[size:]
            return size
        data = self._read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _read(self, size: int) -> bytes:
        """Up to ``size`` bytes, read in pieces so that an error's offset is within one piece."""
        pieces: list[bytes] = []
        while size > 0:
            try:
                piece = self.stream.read(min(size, _PIECE))
            except Exception as err:  # any codec's or filesystem's error: name the shard and where
                raise self._error(err) from None
            if not piece:
                break
            pieces.append(piece)
            self.data_read += len(piece)
            size -= len(piece)
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def _error(self, err: Exception) -> InputFileError:
        what = f"decompressed ({self.shard.compression})" if self.shard.compression else "read"
        try:
            stored = f", byte {self.raw.tell()} of the stored file"
        except Exception:
            stored = ""
        return InputFileError(
            f"Shard {self.shard.name} could not be {what} after {self.data_read} bytes of data{stored}: "
            f"{type(err).__name__}: {err}. Is the file complete (a corrupt or cut-off upload)?"
        )

    def close(self) -> None:
        try:
            if self.stream is not self.raw:
                self.stream.close()
        finally:
            self.raw.close()
            super().close()


def stage_shards(
    shards: Sequence[Shard], out: BinaryIO, options: ShardOptions, log: Log, *, name: str = "<staged>"
) -> Staged:
    """Write the shards, in the order given, to ``out`` as one delimited UTF-8 file; see the module.

    The staged file's part plan (parts of at most ``options.max_part_bytes``) is made on the way
    (:class:`~airflow_provider_marketo.utils.parts.PlanningWriter`; ``name`` names the file in it).
    """
    planner = PlanningWriter(
        out, file_format=options.file_format, max_part_bytes=options.max_part_bytes, source_name=name
    )
    writer = _Writer(cast("BinaryIO", planner), check_format(options.file_format), options)
    staged = Staged(columns=[])
    for number, shard in enumerate(shards, start=1):
        with _Shard(shard) as stream:
            rows = writer.shard(stream, number) if stream.head else None
        if rows:
            staged.rows += rows
            staged.shard_rows.append((shard.name, rows))
            log.info("Shard %d of %d, %s: %d data rows.", number, len(shards), shard.name, rows)
            continue
        why = "it is empty" if rows is None else "it has a header but no data rows"
        log.info("Skipping shard %d of %d, %s: %s.", number, len(shards), shard.name, why)
        staged.skipped.append((shard.name, why))
    staged.columns = writer.columns
    if not staged.rows:
        raise InputFileError(
            f"The {len(shards)} file(s) of the export hold no data rows (empty or header-only): "
            "nothing to import."
        )
    staged.plan = planner.plan()
    return staged


class _RowReader:
    """Rewrite path: a shard's records as lists of fields (``csv`` module), NULL markers emptied."""

    def __init__(self, stream: _Shard, name: str, options: ShardOptions) -> None:
        self.name = name
        self.encoding = options.encoding or "utf-8-sig"
        self.delimiter = options.delimiter or FORMATS[check_format(options.file_format)]
        self.text = io.TextIOWrapper(io.BufferedReader(stream), encoding=self.encoding, newline="")
        self.rows = csv.reader(self.text, delimiter=self.delimiter, strict=True)
        self.nulls = frozenset(options.null_values)

    def header(self) -> list[str] | None:
        """The header row (after Excel's ``sep=`` line), or None when the shard has no record."""
        row = next(self._records(), None)
        if row is not None and is_excel_sep_line(self.delimiter.join(row).encode()):
            row = next(self._records(), None)
        return row

    def batches(self) -> Iterator[list[list[str]]]:
        batch: list[list[str]] = []
        nulls = self.nulls
        for row in self._records():
            batch.append([("" if value in nulls else value) for value in row] if nulls else row)
            if len(batch) >= _ROW_BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

    def _records(self) -> Iterator[list[str]]:
        try:
            for row in self.rows:
                if row:  # a blank line is no record
                    yield row
        except UnicodeDecodeError as err:
            raise InputFileError(
                f"Shard {self.name} is not valid {self.encoding} (after line {self.rows.line_num}): "
                f"{err.reason} at a byte 0x{err.object[err.start]:02X}. Pass the encoding it was "
                "written in (encoding=...)."
            ) from None
        except csv.Error as err:
            raise InputFileError(f"Shard {self.name}, line {self.rows.line_num}: {err}.") from None


class _Writer:
    """Writes the staged file: one header, then the data of each shard (byte or rewrite path)."""

    def __init__(self, out: BinaryIO, file_format: str, options: ShardOptions) -> None:
        self.out = out
        self.format = file_format
        self.options = options
        self.columns: list[str] = []
        self.header_bytes = b""
        self.first = ""  #: the shard whose header is the file's
        self.rows: RowWriter | None = None

    def shard(self, stream: _Shard, number: int) -> int:
        """Write one shard's data rows (its header checked and dropped); return how many."""
        name, options = stream.shard.name, self.options
        what = None if not is_utf8(options.encoding) else describe_content(stream.head)
        if what is not None:
            suffix = " (its name has no compression suffix)" if what.startswith("compressed") else ""
            raise InputFileError(f"Shard {name} is {what}{suffix}, not {self.format.upper()} text.")
        reader = _RowReader(stream, name, options) if options.rewrites else None
        source = _Source(cast("BinaryIO", stream), options.chunk_size)
        columns = list(options.column_names) if options.column_names else None
        if columns is not None and reader is None:
            stream.drop_bom()  # the header reader drops it otherwise
        rest = b""
        if columns is None and reader is not None:
            columns = reader.header()
        elif columns is None:
            line, ending, rest = self._header_line(source, name)
            columns = _parse_header(line, self.format, name)
            self.header_bytes = self.header_bytes or line + ending
        if columns is None:  # rewrite path, no record at all
            return 0
        if not self.columns:
            validate_header(
                columns,
                file_format=self.format,
                lookup_field=options.lookup_field,
                required=options.required,
                source_name=name,
            )
            self._start(columns, name)
            self.first = name
        elif columns != self.columns:
            raise InputFileError(_header_difference(name, columns, self.first, self.columns, number))
        if reader is not None:
            return self._rewrite(reader, name)
        return self._copy(source, rest, name)

    def _header_line(self, source: _Source, name: str) -> tuple[bytes, bytes, bytes]:
        limit = min(MAX_HEADER_BYTES, self.options.max_part_bytes)
        line, ending, rest = _read_header_line(source, name, limit)
        if is_excel_sep_line(line):  # Excel's delimiter hint: the header is the next line
            source = _Source(cast("BinaryIO", io.BytesIO(rest)), max(len(rest), 1))
            line, ending, more = _read_header_line(source, name, limit)
            return line, ending, more
        return line, ending, rest

    def _start(self, columns: list[str], name: str) -> None:
        self.columns = columns
        if self.options.rewrites or not self.header_bytes:
            self.rows = RowWriter(self.out, columns, file_format=self.format, source_name=name)
            buffer = io.BytesIO()
            RowWriter(buffer, columns, file_format=self.format)
            self.header_bytes = buffer.getvalue()
        else:
            self.out.write(self.header_bytes)

    def _rewrite(self, reader: _RowReader, name: str) -> int:
        assert self.rows is not None
        self.rows.source_name = name
        before = self.rows.rows
        for batch in reader.batches():
            self.rows.write_rows(batch)
        return self.rows.rows - before

    def _copy(self, source: _Source, rest: bytes, name: str) -> int:
        """Byte path: the records after the header, validated by the scanner, copied as they are."""
        splitter = Splitter(
            self.header_bytes,
            max_part_bytes=self.options.max_part_bytes,
            sink=_Copy(self.out),
            source_name=name,
            offset=source.offset - len(rest),
            file_format=self.format,
        )
        feed_all(splitter, source, rest, name)
        if not splitter.rows and not splitter.carry.strip(b"\r\n"):
            return 0
        splitter.finish()
        return splitter.rows


class _Copy:
    """A part sink that appends every record to one stream (the header is written once, apart)."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out

    def open(self, index: int, header: bytes) -> None:
        pass

    def write(self, data: bytes) -> None:
        self.out.write(data)

    def close(self) -> None:
        pass


def _header_difference(name: str, columns: list[str], first: str, expected: list[str], number: int) -> str:
    missing = [c for c in expected if c not in columns]
    extra = [c for c in columns if c not in expected]
    if missing or extra:
        what = "; ".join(
            text
            for text in (
                f"missing {', '.join(map(repr, missing))}" if missing else "",
                f"not in the first shard: {', '.join(map(repr, extra))}" if extra else "",
            )
            if text
        )
    else:
        moved = [
            f"column {i} is {got!r}, not {want!r}"
            for i, (got, want) in enumerate(zip(columns, expected, strict=True), 1)
            if got != want
        ]
        what = "same names in another order: " + "; ".join(moved[:5])
    return (
        f"The header of shard {number}, {name}, differs from the first shard's ({first}): {what}. "
        "Every shard of an export must have the same columns in the same order."
    )
