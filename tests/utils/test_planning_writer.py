"""PlanningWriter and stage_shards: the part plan made while a file is written equals plan_parts of it."""

from __future__ import annotations

import gzip
import io
import logging
import random

import pytest

from airflow_provider_marketo.utils.formats import InputFileError
from airflow_provider_marketo.utils.parts import PlanningWriter, plan_parts, read_part
from airflow_provider_marketo.utils.shards import Shard, ShardOptions, stage_shards
from tests._support.hostile import random_rows, render

LOG = logging.getLogger("test_planning_writer")


def _written(data: bytes, rng: random.Random, **kwargs: object) -> tuple[bytes, object]:
    out = io.BytesIO()
    writer = PlanningWriter(out, source_name="staged.csv", **kwargs)  # type: ignore[arg-type]
    at = 0
    while at < len(data):  # writes of any size, cutting records, line ends and UTF-8 anywhere
        size = rng.choice([1, 2, 7, 64, 4096, 70_000])
        writer.write(data[at : at + size])
        at += size
    return out.getvalue(), writer.plan()


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("file_format", ["csv", "tsv", "ssv"])
def test_the_plan_made_while_writing_is_the_plan_of_the_file(seed: int, file_format: str) -> None:
    rng = random.Random(seed)
    rows = random_rows(rng, 600, 4)
    data = render(
        ["email", "a", "b", "c"], rows, file_format=file_format, line_end=rng.choice(["\n", "\r\n"]), rng=rng
    )
    part_size = rng.choice([2_000, 9_000, 50_000])
    written, plan = _written(data, rng, file_format=file_format, max_part_bytes=part_size)
    assert written == data
    assert plan == plan_parts(io.BytesIO(data), file_format=file_format, max_part_bytes=part_size)
    assert len(plan.parts) > 1 or part_size == 50_000  # type: ignore[attr-defined]


def test_a_record_larger_than_a_part_is_refused_while_writing() -> None:
    data = b"email,note\n" + b"a@x.com," + b"x" * 5000 + b"\n"
    with pytest.raises(InputFileError, match="too large for a part of 2048 bytes"):
        _written(data, random.Random(1), file_format="csv", max_part_bytes=2048)


@pytest.mark.parametrize("rewrite", [False, True])
def test_stage_shards_returns_the_plan_of_the_staged_copy(rewrite: bool) -> None:
    """The staging pass plans the parts (byte path and rewrite path): planning never reads it back."""
    rng = random.Random(5)
    header = ["email", "note", "city"]
    pieces = [random_rows(rng, 300, 3) for _ in range(4)]
    fmt = "tsv" if rewrite else "csv"
    blobs = [gzip.compress(render(header, rows, file_format=fmt)) for rows in pieces]
    shards = [Shard(f"s{n}.{fmt}.gz", lambda d=blob: io.BytesIO(d), "gzip") for n, blob in enumerate(blobs)]
    options = ShardOptions(file_format="csv", max_part_bytes=8_000, delimiter="\t" if rewrite else None)
    out = io.BytesIO()
    staged = stage_shards(shards, out, options, LOG, name="staged.csv")
    data = out.getvalue()
    assert staged.plan == plan_parts(io.BytesIO(data), file_format="csv", max_part_bytes=8_000)
    assert staged.plan is not None and staged.plan.total_rows == staged.rows == 1200
    stream = io.BytesIO(data)
    assert sum(read_part(stream, staged.plan, p).count(b"\n") for p in staged.plan.parts) >= 1200
