"""Upload benchmark: one part just under the part limit through ``MarketoHook.create_import`` vs ``curl -F``.

    .venv/bin/python -m benchmarks.bench_upload [--runs 5]

Both post the same generated file to the same simulator endpoint (the simulator runs in its own
process), interleaved, median of ``runs`` each. Our upload runs in a child process that warms up
(token, connection) and then times ``create_import`` alone; curl's time is its own ``time_total``
(transfer only, token fetched beforehand). The child also measures the upload's own memory: its peak
RSS during the upload minus its RSS just before. The memory baseline is ``requests.post(files=...)``,
which builds the whole multipart body in memory.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    Row,
    SimulatorProcess,
    emit,
    peak_rss_kb,
    prepare_environment,
    reset_peak_rss,
    row,
    rss_kb,
    run_child,
    skipped,
    write_leads,
)
from benchmarks.table import print_table

BENCH = "upload 10 MB part"
#: Largest upload time of ours relative to curl.
TARGET_RATIO = 1.2
#: Largest memory growth of one upload (streaming: far below the part size).
TARGET_GROWTH_MB = 2.0


def child(path: str, mode: str) -> dict[str, Any]:
    """Upload ``path`` once (``ours``: the hook; ``requests-files``: the in-memory baseline)."""
    import requests

    from airflow_provider_marketo.hooks.marketo import MarketoHook
    from airflow_provider_marketo.objects import BulkTarget

    hook = MarketoHook()
    ok, message = hook.test_connection()  # token, connection and lazy imports, outside the measurement
    if not ok:
        raise RuntimeError(message)
    settings = hook.settings
    if mode == "requests-files":
        from airflow_provider_marketo.hooks._token import get_token

        headers = {"Authorization": f"Bearer {get_token(hook.session, settings)}"}  # cached by the test call
    before = rss_kb()
    exact = reset_peak_rss()
    with open(path, "rb") as file:
        start = time.perf_counter()
        if mode == "ours":
            hook.create_import(BulkTarget("leads"), file, file_format="csv", filename="part.csv")
        else:
            response = requests.post(
                settings.base_url + "/bulk/v1/leads.json",
                data={"format": "csv"},
                files={"file": ("part.csv", file, "text/csv")},
                headers=headers,
                timeout=60,
            )
            if not response.json().get("success"):
                raise RuntimeError(f"The baseline upload failed: {response.text[:300]}")
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "growth_kb": peak_rss_kb() - before, "exact_peak": exact}


def curl_upload(sim: SimulatorProcess, path: Path) -> float:
    """``curl -F file=@path`` to the create endpoint; curl's own ``time_total`` in seconds."""
    config = f'header = "Authorization: Bearer {sim.access_token()}"\n'  # on stdin: never in argv
    done = subprocess.run(
        [
            "curl",
            "-sS",
            "--config",
            "-",
            "-F",
            f"file=@{path};type=text/csv",
            "-F",
            "format=csv",
            "-w",
            "\n%{time_total}",
            f"{sim.base_url}/bulk/v1/leads.json",
        ],
        input=config,
        capture_output=True,
        text=True,
        check=True,
    )
    body, _, seconds = done.stdout.rpartition("\n")
    if not json.loads(body).get("success"):
        raise RuntimeError(f"The curl upload failed: {body[:300]}")
    return float(seconds)


def run(runs: int = 5, part_bytes: int | None = None) -> list[Row]:
    """Median upload time of ours vs curl, and our upload's memory growth vs ``requests`` files=."""
    if part_bytes is None:
        from airflow_provider_marketo.operators.bulk_import import DEFAULT_PART_SIZE

        part_bytes = DEFAULT_PART_SIZE
    curl = shutil.which("curl")
    ours: list[float] = []
    theirs: list[float] = []
    growth: list[float] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-upload-") as tmp,
        SimulatorProcess(rows_per_second=0) as sim,
    ):
        path = Path(tmp) / "part.csv"
        write_leads(path, part_bytes)
        size_mb = path.stat().st_size / 1e6
        env = sim.conn_env()

        def run_ours() -> None:
            sim.reset()
            result = run_child("bench_upload", str(path), "ours", env=env)
            ours.append(result["seconds"])
            growth.append(result["growth_kb"] / 1024)

        def run_curl() -> None:
            sim.reset()
            theirs.append(curl_upload(sim, path))

        for i in range(runs):
            steps = [run_ours, run_curl] if i % 2 == 0 else [run_curl, run_ours]
            for step in steps:
                if step is run_curl and curl is None:
                    continue
                step()
        sim.reset()
        in_memory = run_child("bench_upload", str(path), "requests-files", env=env)
    name = f"{BENCH} ({size_mb:.1f} MB)"
    rows: list[Row] = []
    median = statistics.median(ours)
    if curl is None:
        rows.append(skipped(name, "wall time vs curl -F", "curl is not installed: `apt-get install -y curl`"))
    else:
        baseline = statistics.median(theirs)
        rows.append(
            row(
                name,
                f"wall time, median of {runs}",
                median,
                baseline,
                unit="s",
                target=f"<= {TARGET_RATIO}x curl",
                met=median <= TARGET_RATIO * baseline,
                note="curl: its own time_total; ours: create_import after a warm-up (token cached)",
            )
        )
    worst = max(growth)
    rows.append(
        row(
            name,
            "memory growth during the upload (worst run)",
            worst,
            in_memory["growth_kb"] / 1024,
            unit="MB",
            target=f"< {TARGET_GROWTH_MB:g} MB (streamed)",
            met=worst < TARGET_GROWTH_MB,
            note="baseline: requests.post(files=...) builds the body in memory",
        )
    )
    return rows


def main() -> None:
    prepare_environment()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--child", nargs=2, metavar=("PATH", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        emit(child(*args.child))
        return
    print_table(run(args.runs))


if __name__ == "__main__":
    main()
