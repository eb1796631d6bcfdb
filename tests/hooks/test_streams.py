"""Upload bodies and download sinks that survive retries."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from requests_toolbelt import MultipartEncoder

from airflow_provider_marketo.exceptions import MarketoFileTooLargeError
from airflow_provider_marketo.hooks._streams import MAX_REQUEST_BYTES, DownloadSink, UploadBody
from tests._support.files import NonSeekable


def encode(body: UploadBody) -> bytes:
    encoder = MultipartEncoder(fields={"format": "csv", "file": ("a.csv", body, "text/csv")})
    data: bytes = encoder.read()
    assert len(data) == encoder.len  # the declared Content-Length is right
    return data


def test_upload_starts_at_the_callers_position_on_every_attempt() -> None:
    file = io.BytesIO(b"skip me|email\na@example.com\n")
    file.seek(len(b"skip me|"))
    body = UploadBody(file)
    assert (body.size, body.len) == (len(b"email\na@example.com\n"), body.size)
    first = encode(body)
    assert b"email\na@example.com\n" in first
    assert b"skip me" not in first
    body.rewind()
    second = encode(body)
    assert len(second) == len(first)
    assert b"\r\n\r\nemail\na@example.com\n\r\n" in second
    assert not file.closed


def test_upload_of_a_real_file(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(b"email\nb@example.com\n")
    with path.open("rb") as file:
        body = UploadBody(file)
        assert b"b@example.com" in encode(body)
        body.rewind()
        assert b"b@example.com" in encode(body)


def test_non_seekable_upload_is_buffered_once() -> None:
    body = UploadBody(NonSeekable(b"email\nc@example.com\n"))  # type: ignore[arg-type]
    assert body.size == len(b"email\nc@example.com\n")
    assert b"c@example.com" in encode(body)
    body.rewind()
    assert b"c@example.com" in encode(body)


def test_non_seekable_upload_over_the_limit_is_refused() -> None:
    with pytest.raises(MarketoFileTooLargeError, match="10 MB"):
        UploadBody(NonSeekable(b"x" * (MAX_REQUEST_BYTES + 1)))  # type: ignore[arg-type]


def test_sink_undoes_a_partial_write_before_a_retry() -> None:
    dest = io.BytesIO(b"kept|")
    dest.seek(0, io.SEEK_END)
    sink = DownloadSink(dest)
    sink.write(b"partial")
    assert sink.can_retry()
    sink.reset()
    sink.write(b"whole file")
    assert dest.getvalue() == b"kept|whole file"


def test_sink_on_a_non_seekable_dest_forbids_a_retry_after_writing() -> None:
    class WriteOnly(io.RawIOBase):
        def __init__(self) -> None:
            self.data = b""

        def writable(self) -> bool:
            return True

        def write(self, chunk: object) -> int:
            assert isinstance(chunk, bytes)
            self.data += chunk
            return len(chunk)

    dest = WriteOnly()
    sink = DownloadSink(dest)  # type: ignore[arg-type]
    assert sink.can_retry()
    sink.write(b"abc")
    assert not sink.can_retry()
