"""Serve a Marketo simulator with any ``SimulatorConfig`` overrides until SIGTERM or SIGINT.

    python -m benchmarks.simserver --config '{"max_queue": 2000}' --url-file F

The simulator's own command line takes only a few options; the benchmarks need others (queue size,
rate window, calls in flight).
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from pathlib import Path

from airflow_provider_marketo.testing import MarketoSimulator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="{}", help="SimulatorConfig overrides as a JSON object")
    parser.add_argument("--url-file", type=Path, required=True, help="write the base URL here when ready")
    args = parser.parse_args()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with MarketoSimulator(**json.loads(args.config)) as sim:
        args.url_file.write_text(sim.base_url + "\n")
        while not stop.wait(0.5):
            pass


if __name__ == "__main__":
    main()
