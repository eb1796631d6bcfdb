"""Staged export benchmark: bytes read and wall time to stage and plan a 12-shard gzip export.

    .venv/bin/python -m benchmarks.bench_staging [--megabytes 200]

A warehouse export of 12 gzip shards (``--megabytes`` uncompressed in all, lead rows) is staged
into one file and planned into parts under 10 MB, in one run, two ways:

- **before** (the baseline): ``stage_shards`` writes the staged copy, then a separate ``plan_parts``
  pass reads the whole copy again to plan it (what the operator did before issue 23);
- **after** (ours): ``stage_shards`` returns the plan it made while writing
  (``utils/parts.PlanningWriter``); planning reads nothing.

Bytes read are counted at the file streams (compressed bytes of the shards, bytes of the staged
copy); the upload's ``read_part`` of each range is the same for both and is not part of either. Each
way runs twice, alternating, and the faster run is kept (the page cache is warm for both).
"""

from __future__ import annotations

import argparse
import gzip
import io
import logging
import tempfile
import time
from pathlib import Path
from typing import Any, BinaryIO, cast

from benchmarks.harness import LEAD_HEADER, Row, lead_line, prepare_environment, row
from benchmarks.table import print_table

BENCH = "staged export"
SHARDS = 12
#: Marketo's request limit less room for the envelope (the operators' default part size).
PART_BYTES = 10_000_000 - 64 * 1024
LOG = logging.getLogger("bench_staging")


class CountingReader(io.RawIOBase):
    """A file opened for reading whose reads add to ``counter[0]``."""

    def __init__(self, path: Path, counter: list[int]) -> None:
        super().__init__()
        self.file = path.open("rb")
        self.counter = counter

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self.file.seek(offset, whence)

    def tell(self) -> int:
        return self.file.tell()

    def readinto(self, buffer: Any) -> int:
        size = self.file.readinto(buffer)
        self.counter[0] += size
        return size

    def close(self) -> None:
        self.file.close()
        super().close()


def write_export(folder: Path, megabytes: int) -> list[Path]:
    """``SHARDS`` gzip shards of lead rows, each with the header, ``megabytes`` MB of text in all."""
    per_shard = megabytes * 1_000_000 // SHARDS
    paths, first = [], 0
    for number in range(SHARDS):
        path = folder / f"data_0_{number}_0.csv.gz"
        with gzip.open(path, "wt", encoding="ascii", newline="", compresslevel=1) as out:
            out.write(LEAD_HEADER)
            size, lines = len(LEAD_HEADER), []
            while size < per_shard:
                line = lead_line(first)
                first += 1
                size += len(line)
                lines.append(line)
                if len(lines) == 10_000:
                    out.write("".join(lines))
                    lines.clear()
            out.write("".join(lines))
        paths.append(path)
    return paths


def stage_and_plan(paths: list[Path], staged: Path, *, one_pass: bool) -> dict[str, Any]:
    """Stage ``paths`` into ``staged`` and plan it; the bytes read from shards and from the copy."""
    from airflow_provider_marketo.utils.parts import plan_parts
    from airflow_provider_marketo.utils.shards import Shard, ShardOptions, stage_shards

    shard_bytes, copy_bytes = [0], [0]
    shards = [
        Shard(str(p), lambda p=p: cast("BinaryIO", CountingReader(p, shard_bytes)), "gzip")  # type: ignore[misc]
        for p in paths
    ]
    options = ShardOptions(file_format="csv", max_part_bytes=PART_BYTES, lookup_field="email")
    start = time.perf_counter()
    with staged.open("wb") as out:
        result = stage_shards(shards, out, options, LOG, name=str(staged))
    plan = result.plan
    if not one_pass:
        with io.BufferedReader(CountingReader(staged, copy_bytes), 1 << 20) as stream:
            plan = plan_parts(
                cast("BinaryIO", stream), file_format="csv", max_part_bytes=PART_BYTES, lookup_field="email"
            )
    seconds = time.perf_counter() - start
    assert plan is not None and plan.total_rows == result.rows
    return {
        "seconds": seconds,
        "shard_bytes": shard_bytes[0],
        "copy_bytes": copy_bytes[0],
        "staged_bytes": staged.stat().st_size,
        "parts": len(plan.parts),
        "plan": plan,
    }


def run(megabytes: int = 200, repeats: int = 2) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="bench-staging-") as tmp:
        folder = Path(tmp)
        paths = write_export(folder, megabytes)
        runs: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
        for _ in range(repeats):
            for one_pass in (False, True):
                runs[one_pass].append(stage_and_plan(paths, folder / "staged.csv", one_pass=one_pass))
    before = min(runs[False], key=lambda r: r["seconds"])
    after = min(runs[True], key=lambda r: r["seconds"])
    same_plan = before["plan"] == after["plan"]
    mb = 1_000_000
    label = f"{SHARDS} gzip shards, {megabytes} MB"
    note = (
        f"{label}; staged copy {after['staged_bytes'] / mb:.0f} MB, {after['parts']} parts; "
        f"plans {'equal' if same_plan else 'DIFFER'}"
    )
    read_before = before["shard_bytes"] + before["copy_bytes"]
    read_after = after["shard_bytes"] + after["copy_bytes"]
    return [
        row(
            BENCH,
            "bytes read: staging + planning",
            read_after / mb,
            read_before / mb,
            unit="MB",
            target="the shards once; the staged copy not read to plan",
            met=same_plan and after["copy_bytes"] == 0 and after["shard_bytes"] == before["shard_bytes"],
            note=note,
        ),
        row(
            BENCH,
            "staged copy read to plan",
            after["copy_bytes"] / mb,
            before["copy_bytes"] / mb,
            unit="MB",
            target="0 (whatever the size)",
            met=after["copy_bytes"] == 0,
            note=label,
        ),
        row(
            BENCH,
            "wall time: staging + planning",
            after["seconds"],
            before["seconds"],
            unit="s",
            target="ratio < 1",
            met=after["seconds"] < before["seconds"],
            note=f"{label}; best of {repeats} each, alternating",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megabytes", type=int, default=200)
    args = parser.parse_args()
    prepare_environment()
    print_table(run(args.megabytes))


if __name__ == "__main__":
    main()
