"""Benchmark the quote-aware splitter against GNU ``split -C`` and a naive csv-module splitter.

    .venv/bin/python benchmarks/bench_split.py [--sizes 100M,1G] [--workdir DIR]

For each size it generates a CSV with hostile quoting (quoted delimiters, doubled quotes, quoted LF
and CRLF newlines, multi-byte UTF-8), then runs each tool in its own subprocess so that peak RSS is
per run, and checks the parts with a streaming ``csv`` pass (header repeated, rows of all parts ==
rows of the input). ``split -C`` is the I/O baseline: it is not quote-aware and does not repeat the
header, so its output is not checked. Sizes use binary units (1M = 2**20 bytes).
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PART_BYTES = 10_000_000 - 64 * 1024
HEADER = ["id", "email", "firstName", "note", "city", "score"]
#: Fields that stress a splitter: delimiters, quotes, newlines inside quotes, multi-byte characters.
NOTES = [
    "plain note",
    "comma, inside",
    'she said "hello", then left',
    'only ""doubled"" quotes',
    "first line\nsecond line",
    "windows\r\nline end",
    "trailing newline\n",
    "semi;colon and\ttab",
    "",
]
NAMES = ["Anne", "José", "Zoë", "Łukasz", "François", "Søren", "Bob"]
CITIES = ["Zürich", "São Paulo", "東京", "Kraków", "Reykjavík", "Москва", "القاهرة", "🏙️ City"]
ID_MARK = b"@@@@@@"  # replaced by the block number (6 digits) in each copy of the block


def parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper()
    return int(float(text[:-1]) * units[text[-1]]) if text[-1] in units else int(text)


def make_block(rows: int = 30_000, seed: int = 1) -> bytes:
    """A few MB of hostile CSV records (no header); row ids contain ``ID_MARK``."""
    rng = random.Random(seed)
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    for i in range(rows):
        name = rng.choice(NAMES)
        note = " ".join(rng.choices(NOTES, k=rng.randint(1, 3)))
        writer.writerow(
            [
                f"{ID_MARK.decode()}-{i:06d}",
                f"{name.lower()}.{i}@example.com",
                name,
                note,
                rng.choice(CITIES),
                i % 997,
            ]
        )
    return out.getvalue().encode("utf-8")


def generate(path: Path, size: int) -> int:
    """Write a CSV of at least ``size`` bytes (whole records) with large writes; return its size."""
    block = make_block()
    written = 0
    with path.open("wb") as out:
        written += out.write((",".join(HEADER) + "\n").encode())
        for number in itertools.count():
            if written >= size:
                break
            written += out.write(block.replace(ID_MARK, b"%06d" % number))
    return written


def naive_split(source: Path, workdir: Path, max_part_bytes: int) -> int:
    """What one writes without thinking about speed: csv.reader -> csv.writer, part by part."""
    with source.open(newline="", encoding="utf-8") as text:
        reader = csv.reader(text)
        header = next(reader)
        line = io.StringIO()
        writer = csv.writer(line, lineterminator="\n")
        writer.writerow(header)
        header_bytes = line.getvalue().encode()
        index, size, out = 0, 0, None
        for row in reader:
            line.seek(0)
            line.truncate()
            writer.writerow(row)
            data = line.getvalue().encode()
            if out is None or size + len(data) > max_part_bytes:
                if out is not None:
                    out.close()
                    index += 1
                out = (workdir / f"part-{index:05d}.csv").open("wb")
                size = out.write(header_bytes)
            size += out.write(data)
        if out is not None:
            out.close()
            index += 1
    return index


def child(tool: str, source: Path, workdir: Path, max_part_bytes: int) -> dict[str, Any]:
    """Run one tool in this process (a fresh subprocess of the benchmark) and measure it."""
    workdir.mkdir(parents=True, exist_ok=True)
    if tool == "ours":
        sys.path.insert(0, str(ROOT))
        from airflow_provider_marketo.utils.delimited import split_delimited

        assert "airflow" not in sys.modules, "the splitter must not import Airflow"
    start = time.perf_counter()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_start = usage.ru_utime + usage.ru_stime
    if tool == "split -C":
        subprocess.run(["split", "-C", str(max_part_bytes), str(source), str(workdir / "part-")], check=True)
        seconds = time.perf_counter() - start
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu, peak_kb = usage.ru_utime + usage.ru_stime, usage.ru_maxrss
        parts = len(list(workdir.iterdir()))
    else:
        if tool == "naive csv":
            parts = naive_split(source, workdir, max_part_bytes)
        else:
            with source.open("rb") as stream:
                parts = len(
                    split_delimited(
                        stream, file_format="csv", max_part_bytes=max_part_bytes, workdir=workdir
                    ).parts
                )
        seconds = time.perf_counter() - start
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu = usage.ru_utime + usage.ru_stime - cpu_start
        status = Path("/proc/self/status").read_text()
        peak_kb = int(status.split("VmHWM:")[1].split()[0])
    return {"seconds": seconds, "cpu_seconds": cpu, "peak_rss_mb": peak_kb / 1024, "parts": parts}


def part_rows(parts: Sequence[Path], header: list[str], max_part_bytes: int) -> Iterator[list[str]]:
    for path in parts:
        assert path.stat().st_size <= max_part_bytes, f"{path.name} is over {max_part_bytes} bytes"
        with path.open(newline="", encoding="utf-8") as text:
            reader = csv.reader(text)
            assert next(reader) == header, f"{path.name} does not start with the header"
            yield from reader


def verify(source: Path, workdir: Path, max_part_bytes: int) -> bool:
    """Stream the input and the parts side by side: same rows, in order, every part headed and small."""
    parts = sorted(workdir.iterdir())
    with source.open(newline="", encoding="utf-8") as text:
        reader = csv.reader(text)
        header = next(reader)
        missing = object()
        try:
            pairs = itertools.zip_longest(reader, part_rows(parts, header, max_part_bytes), fillvalue=missing)
            return all(want == got for want, got in pairs)
        except AssertionError as error:
            print(f"  check failed: {error}", file=sys.stderr)
            return False


def measure(tool: str, source: Path, workdir: Path) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", tool, "--input", str(source), "--workdir", str(workdir)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return dict(json.loads(done.stdout))


def run(sizes: Sequence[str | int], workdir: Path | None = None, repeat: int = 1) -> list[dict[str, Any]]:
    """Benchmark each size; return one row per (size, tool), with the best of ``repeat`` runs.

    The machine may be shared: wall time is noisy, CPU time (``cpu_seconds``) less so.
    """
    results: list[dict[str, Any]] = []
    base = Path(tempfile.mkdtemp(prefix="bench-split-", dir=workdir))
    try:
        for size_spec in sizes:
            size = parse_size(str(size_spec))
            source = base / "input.csv"
            actual = generate(source, size)
            rows: dict[str, dict[str, Any]] = {}
            for tool in ("split -C", "ours", "naive csv"):
                out = base / "parts"
                runs = []
                for _ in range(repeat):
                    shutil.rmtree(out, ignore_errors=True)
                    runs.append(measure(tool, source, out))
                result = min(runs, key=lambda r: float(r["seconds"]))
                result["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
                result.update(
                    size=str(size_spec), tool=tool, bytes=actual, mb_s=actual / 1e6 / result["seconds"]
                )
                result["correct"] = None if tool == "split -C" else verify(source, out, PART_BYTES)
                shutil.rmtree(out)
                rows[tool] = result
            for result in rows.values():
                result["vs_split"] = rows["split -C"]["seconds"] / result["seconds"]
                result["vs_naive"] = rows["naive csv"]["seconds"] / result["seconds"]
            results.extend(rows.values())
            source.unlink()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return results


def print_table(results: Sequence[dict[str, Any]]) -> None:
    columns = [
        "size",
        "tool",
        "seconds",
        "CPU s",
        "MB/s",
        "vs split -C",
        "vs naive",
        "peak RSS MB",
        "parts",
        "correct",
    ]
    print(" | ".join(columns))
    print(" | ".join("---" for _ in columns))
    for r in results:
        correct = "n/a (not quote-aware)" if r["correct"] is None else ("ok" if r["correct"] else "FAILED")
        cells = [
            f"{r['size']} ({r['bytes'] / 1e6:.0f} MB)",
            r["tool"],
            f"{r['seconds']:.2f}",
            f"{r['cpu_seconds']:.2f}",
            f"{r['mb_s']:.0f}",
            f"{r['vs_split']:.2f}x",
            f"{r['vs_naive']:.1f}x",
            f"{r['peak_rss_mb']:.1f}",
            str(r["parts"]),
            correct,
        ]
        print(" | ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100M,1G", help="comma-separated sizes, e.g. 100M,1G")
    parser.add_argument("--workdir", type=Path, default=None, help="where to put data (default: a temp dir)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per tool; the fastest is reported")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.input, args.workdir, PART_BYTES)))
        return
    print_table(run(args.sizes.split(","), args.workdir, args.repeat))


if __name__ == "__main__":
    main()
