"""Command line: ``python -m airflow_provider_marketo.testing serve [options]``.

``--config '{"max_queue": 2000}'`` sets any :class:`SimulatorConfig` field (the benchmarks use it).
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from pathlib import Path
from typing import Any

from airflow_provider_marketo.testing.config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m airflow_provider_marketo.testing")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run a Marketo simulator until SIGINT or SIGTERM")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="0 picks a free port")
    serve.add_argument("--rows-per-second", type=float, help="import speed; 0 = jobs finish on the next call")
    serve.add_argument("--token-ttl", type=int, help="access token lifetime in seconds")
    serve.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    serve.add_argument("--client-secret", default=DEFAULT_CLIENT_SECRET)
    serve.add_argument("--url-file", type=Path, help="also write the base URL to this file")
    serve.add_argument(
        "--config", type=json.loads, default={}, help="any SimulatorConfig overrides, as a JSON object"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from airflow_provider_marketo.testing.server import MarketoSimulator

    overrides: dict[str, Any] = {"clients": {args.client_id: args.client_secret}}
    if args.rows_per_second is not None:
        overrides["rows_per_second"] = args.rows_per_second
    if args.token_ttl is not None:
        overrides["token_ttl"] = args.token_ttl
    overrides.update(args.config)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with MarketoSimulator(host=args.host, port=args.port, **overrides) as sim:
        if args.url_file is not None:
            args.url_file.write_text(sim.base_url + "\n")
        print(f"Marketo simulator listening on {sim.base_url}", flush=True)
        print(f"export AIRFLOW_CONN_MARKETO_DEFAULT='{sim.connection_json()}'", flush=True)
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
