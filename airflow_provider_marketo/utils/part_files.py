"""Part files: the scanner's parts written to a folder, hashed on a background thread.

:func:`split_delimited` splits a delimited file into ``part-NNNNN.<format>`` files. The operators plan
parts without writing them (:mod:`airflow_provider_marketo.utils.parts`); this sink serves the tests,
the benchmarks and callers that want files. No Airflow import.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from airflow_provider_marketo.utils.formats import check_format
from airflow_provider_marketo.utils.scanner import Scan, scan_delimited


@dataclass(frozen=True)
class Part:
    """One part file: the header line followed by a run of the source's records."""

    index: int  #: 0-based, in file order
    path: Path  #: the part file in ``workdir``
    data_rows: int  #: records in this part (blank lines are not records)
    size: int  #: bytes of the part file
    sha256: str  #: hex digest of the part file
    first_row: int  #: 1-based data-row number, in the source, of the part's first record


#: The parts of a split file (part files) and what was read.
SplitResult = Scan[Part]


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
    return scan.with_parts(parts)
