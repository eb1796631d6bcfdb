"""UTF-8 is checked piecewise; an error must name the same byte, offset and reason as Python's decoder."""

from __future__ import annotations

import io
import random
import re
from pathlib import Path

import pytest

from airflow_provider_marketo.utils.formats import InputFileError
from airflow_provider_marketo.utils.part_files import split_delimited

PIECE = 1 << 14  # the splitter's decoding piece; errors are placed around its multiples
BAD = [b"\x80", b"\xff", b"\xc3A", b"\xe0\x80\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xf0\x9f\x98"]
TEXT = ["ascii", "café", "Zoë", "東京", "🏙️", "Łódź"]


def expected_message(data: bytes) -> str:
    with pytest.raises(UnicodeDecodeError) as caught:
        data.decode("utf-8")
    error = caught.value
    line = data.count(b"\n", 0, error.start) + 1
    return (
        f"byte 0x{data[error.start]:02X} at byte offset {error.start} (line {line}) "
        f"cannot be decoded ({error.reason})"
    )


@pytest.mark.parametrize("seed", range(12))
def test_invalid_bytes_around_piece_and_chunk_boundaries(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    rows = [f"{i},{' '.join(rng.choices(TEXT, k=rng.randint(1, 6)))}\n" for i in range(4000)]
    data = ("id,note\n" + "".join(rows)).encode()
    at = rng.choice([1, 2, 3]) * PIECE + rng.randint(-4, 4)
    while data[at : at + 1] in (b"\n", b",") or 0x80 <= data[at] < 0xC0:
        at += 1  # inject between characters, inside a field
    data = data[:at] + rng.choice(BAD) + data[at:]
    if seed % 3 == 0:
        data = data[: at + 1]  # the bad sequence may also be cut by the end of the file
    chunk_size = rng.choice([1 << 20, PIECE + 3, 50_000, 4096])
    with pytest.raises(InputFileError, match=re.escape(expected_message(data))):
        split_delimited(
            io.BytesIO(data),
            file_format="csv",
            max_part_bytes=100_000,
            workdir=tmp_path,
            chunk_size=chunk_size,
        )
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("chunk_size", [1, 3, PIECE - 1, 1 << 20])
def test_valid_multibyte_text_across_pieces_is_accepted(tmp_path: Path, chunk_size: int) -> None:
    body = "".join(f"{i},{TEXT[i % len(TEXT)] * 7}\n" for i in range(3000)).encode()
    result = split_delimited(
        io.BytesIO(b"id,note\n" + body),
        file_format="csv",
        max_part_bytes=1 << 20,
        workdir=tmp_path,
        chunk_size=chunk_size,
    )
    assert result.total_rows == 3000
    assert result.parts[0].path.read_bytes() == b"id,note\n" + body
