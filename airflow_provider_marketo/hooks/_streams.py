"""File objects of uploads and downloads, made safe to retry.

:class:`UploadBody` gives ``MultipartEncoder`` a body read straight from the caller's file, from the
position it had when the call began, again on every attempt. :class:`DownloadSink` writes a download
into the caller's file and undoes a partial write before a retry (or forbids the retry if it cannot).
Neither closes the caller's file.
"""

from __future__ import annotations

import io
from typing import BinaryIO

from airflow_provider_marketo.exceptions import MarketoFileTooLargeError
from airflow_provider_marketo.limits import MAX_REQUEST_BYTES, MAX_REQUEST_MB


def _start_position(file: BinaryIO) -> int | None:
    """The current position of a seekable file, else ``None``."""
    try:
        if not file.seekable():
            return None
        return file.tell()
    except (AttributeError, OSError, ValueError):
        return None


class UploadBody:
    """A re-readable upload body exposing ``len`` (bytes left), as ``MultipartEncoder`` expects.

    A non-seekable stream is read once into memory (at most Marketo's 10 MB request limit; more
    raises :class:`MarketoFileTooLargeError` before anything is sent) so that retries can resend it.
    """

    def __init__(self, file: BinaryIO) -> None:
        start = _start_position(file)
        if start is None:
            data = file.read(MAX_REQUEST_BYTES + 1)
            if len(data) > MAX_REQUEST_BYTES:
                raise MarketoFileTooLargeError(
                    f"The upload stream is over Marketo's {MAX_REQUEST_MB} MB request limit; send smaller parts."
                )
            file, start = io.BytesIO(data), 0
        self._file = file
        self._start = start
        self.size = file.seek(0, io.SEEK_END) - start
        self._sent = 0
        file.seek(start)

    @property
    def len(self) -> int:
        return self.size - self._sent

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0 or size > self.len:
            size = self.len
        chunk = self._file.read(size)
        self._sent += len(chunk)
        return chunk

    def rewind(self) -> None:
        """Go back to where the caller's file was when the call began."""
        self._file.seek(self._start)
        self._sent = 0


class DownloadSink:
    """Writes into ``dest``; before a retry, cuts ``dest`` back to its start position."""

    def __init__(self, dest: BinaryIO) -> None:
        self._dest = dest
        self._start = _start_position(dest)
        self.written = 0

    def write(self, chunk: bytes) -> None:
        self._dest.write(chunk)
        self.written += len(chunk)

    def can_retry(self) -> bool:
        """A retry is safe if nothing was written or the partial write can be undone."""
        return self.written == 0 or self._start is not None

    def reset(self) -> None:
        if self.written and self._start is not None:
            self._dest.seek(self._start)
            self._dest.truncate()
        self.written = 0
