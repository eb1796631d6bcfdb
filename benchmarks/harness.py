"""What the benchmarks share: result rows, a simulator in its own process, child processes, memory, data.

Importing this module changes nothing; :func:`prepare_environment` (called first by every ``main()``)
points Airflow at a throw-away ``AIRFLOW_HOME`` and keeps loopback traffic away from proxies, and
:func:`bench_env` gives every child the same.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests

from airflow_provider_marketo.limits import EXTRAS_BY_NAME
from airflow_provider_marketo.testing.client import SimulatorAt

ROOT = Path(__file__).resolve().parents[1]
RESULT_MARK = "BENCH-RESULT "
#: Keys of every result row, in table order.
ROW_KEYS = ("benchmark", "metric", "unit", "ours", "baseline", "ratio", "target", "met", "note")


Row = dict[str, Any]
#: Connection extras that lift our client call budget (100 calls per millisecond: no waiting).
LIFTED_BUDGET: dict[str, Any] = {"calls_per_window": 100, "window_seconds": 0.001}
#: Our default client call budget (connection extras): calls per window, window in seconds.
DEFAULT_BUDGET = (
    int(EXTRAS_BY_NAME["calls_per_window"].default),
    float(EXTRAS_BY_NAME["window_seconds"].default),
)


def budget_floor(calls: int, budget: tuple[int, float] = DEFAULT_BUDGET) -> float:
    """Least seconds ``calls`` calls take under a budget: a window's worth may start at once, the next
    window's worth one window later."""
    per_window, window = budget
    return max(math.ceil(calls / per_window) - 1, 0) * window


def row(
    benchmark: str,
    metric: str,
    ours: float | None,
    baseline: float | None = None,
    *,
    unit: str = "",
    target: str = "",
    met: bool | None = None,
    note: str = "",
) -> Row:
    """One line of the results table; ``ratio`` is always ``ours / baseline``."""
    ratio = ours / baseline if ours is not None and baseline else None
    return {
        "benchmark": benchmark,
        "metric": metric,
        "unit": unit,
        "ours": ours,
        "baseline": baseline,
        "ratio": ratio,
        "target": target,
        "met": "" if met is None else ("yes" if met else "no"),
        "note": note,
    }


def skipped(benchmark: str, metric: str, note: str) -> Row:
    """A row for a measurement that could not be made here (``met`` says ``skipped``)."""
    return {**row(benchmark, metric, None, note=note), "met": "skipped"}


# -- memory and CPU of this process ----------------------------------------------------------------


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def rss_kb() -> int:
    """Resident memory of this process now, in KiB."""
    return _status_kb("VmRSS")


def peak_rss_kb() -> int:
    """Peak resident memory of this process (since start or :func:`reset_peak_rss`), in KiB."""
    return _status_kb("VmHWM")


def reset_peak_rss() -> bool:
    """Restart the peak-RSS count from the current RSS (Linux ``clear_refs``); False if unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return peak_rss_kb() <= rss_kb() + 64


def cpu_seconds() -> float:
    """CPU time (user + system, all threads) of this process."""
    return time.process_time()


# -- generated data ---------------------------------------------------------------------------------

LEAD_HEADER = "email,firstName,lastName,company\n"


def lead_line(i: int) -> str:
    return f"lead{i}@example.com,First{i},Last{i},Company {i % 97}\n"


def write_leads(path: Path, max_bytes: int, *, start: int = 0) -> int:
    """Write a lead CSV of at most ``max_bytes`` (header included, whole rows); return its data rows."""
    size = len(LEAD_HEADER)
    rows = 0
    with path.open("w", encoding="ascii", newline="") as out:
        out.write(LEAD_HEADER)
        chunk: list[str] = []
        while True:
            line = lead_line(start + rows)
            if size + len(line) > max_bytes:
                break
            chunk.append(line)
            size += len(line)
            rows += 1
            if len(chunk) == 10_000:
                out.write("".join(chunk))
                chunk.clear()
        out.write("".join(chunk))
    return rows


def write_rows(path: Path, rows: int, *, start: int = 0) -> None:
    """Write a lead CSV with exactly ``rows`` data rows."""
    with path.open("w", encoding="ascii", newline="") as out:
        out.write(LEAD_HEADER)
        out.writelines(lead_line(i) for i in range(start, start + rows))


# -- child processes --------------------------------------------------------------------------------


def _environment_defaults() -> dict[str, str]:
    return {
        "AIRFLOW_HOME": str(Path(tempfile.gettempdir()) / "marketo-benchmarks-airflow-home"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }


def prepare_environment() -> None:
    """Point Airflow at a throw-away ``AIRFLOW_HOME`` and keep loopback traffic away from proxies (what
    the caller set wins). Every ``main()`` calls it first, before anything imports Airflow."""
    for name, value in _environment_defaults().items():
        os.environ.setdefault(name, value)


def bench_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a child process: the defaults of :func:`prepare_environment`, ours, with the
    project importable."""
    env = {
        **_environment_defaults(),
        **os.environ,
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        **(extra or {}),
    }
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def emit(result: Mapping[str, Any]) -> None:
    """Hand a child's result to its parent (the last marked line of stdout)."""
    print(RESULT_MARK + json.dumps(dict(result)), flush=True)


class ChildProcess:
    """``python -m benchmarks.<module> --child <args>`` running in the background."""

    def __init__(self, module: str, *args: str, env: Mapping[str, str] | None = None) -> None:
        self.module = module
        self.process = subprocess.Popen(
            [sys.executable, "-m", f"benchmarks.{module}", "--child", *args],
            cwd=ROOT,
            env=bench_env(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def result(self, timeout: float = 900) -> dict[str, Any]:
        """Wait for the child and return what it emitted (raise with its stderr if it failed)."""
        try:
            stdout, stderr = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
            raise RuntimeError(f"benchmarks.{self.module} child ran over {timeout:g} s") from None
        marked = [line for line in stdout.splitlines() if line.startswith(RESULT_MARK)]
        if self.process.returncode != 0 or not marked:
            raise RuntimeError(
                f"benchmarks.{self.module} child failed (exit {self.process.returncode}):\n{stderr[-3000:]}"
            )
        result: dict[str, Any] = json.loads(marked[-1][len(RESULT_MARK) :])
        return result


def run_child(module: str, *args: str, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Run a child to its end and return its result."""
    return ChildProcess(module, *args, env=env).result()


# -- a simulator in its own process ------------------------------------------------------------------


class SimulatorProcess(SimulatorAt):
    """A Marketo simulator (``MarketoSimulator(**config)``) in its own process, controlled over HTTP: the
    simulator's command line (``python -m airflow_provider_marketo.testing serve --config ...``).

    Its CPU and memory are not counted as ours. ``/_sim`` control paths are not rate limited.
    """

    def __init__(self, **config: Any) -> None:
        super().__init__()
        self.config = config
        self._process: subprocess.Popen[bytes] | None = None
        self.http = requests.Session()

    def __enter__(self) -> SimulatorProcess:
        with tempfile.TemporaryDirectory(prefix="bench-sim-") as tmp:
            url_file = Path(tmp) / "url"
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "airflow_provider_marketo.testing",
                    "serve",
                    "--config",
                    json.dumps(self.config),
                    "--url-file",
                    str(url_file),
                ],
                cwd=ROOT,
                env=bench_env(),
                stdout=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + 60
            while not (url_file.exists() and url_file.read_text().strip()):
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self.__exit__(None, None, None)
                    raise RuntimeError("The simulator process did not start")
                time.sleep(0.05)
            self._base_url = url_file.read_text().strip()
        return self

    def __exit__(self, *_: object) -> None:
        self.http.close()
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def _control(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        if body is None:
            response = self.http.get(f"{self.base_url}/_sim/{path}", timeout=30)
        else:
            response = self.http.post(f"{self.base_url}/_sim/{path}", json=dict(body), timeout=30)
        response.raise_for_status()
        return response.json()

    def counters(self) -> dict[str, Any]:
        counters: dict[str, Any] = self._control("counters")
        return counters

    def advance_clock(self, seconds: float) -> None:
        self._control("clock", {"advance": seconds})

    def reset(self) -> None:
        self._control("reset", {})


def status_calls(counters: Mapping[str, Any]) -> int:
    """Lead status calls in the simulator's counters."""
    return sum(n for key, n in counters["calls"].items() if key.startswith("GET /bulk/v1/leads/batch/"))


def errors(counters: Mapping[str, Any], code: str) -> int:
    return int(counters["errors"].get(code, 0))
