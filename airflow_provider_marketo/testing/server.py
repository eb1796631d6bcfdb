"""``MarketoSimulator``: the simulated Marketo served by uvicorn in a background thread on 127.0.0.1."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import Counter
from types import TracebackType
from typing import Any

import uvicorn

from airflow_provider_marketo.testing.app import create_app
from airflow_provider_marketo.testing.client import SimulatorClient
from airflow_provider_marketo.testing.config import SimulatorConfig
from airflow_provider_marketo.testing.faults import DropConnection, Fault
from airflow_provider_marketo.testing.state import SimulatorState


class _HideDroppedConnections(logging.Filter):
    """uvicorn logs the exception a ``drop`` fault raises on purpose; keep that out of the logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], DropConnection))


_DROP_FILTER = _HideDroppedConnections()


class MarketoSimulator(SimulatorClient):
    """A running Marketo simulator; use as a context manager, or call ``start()`` and ``stop()``.

    Keyword arguments override :class:`SimulatorConfig` fields, e.g. ``MarketoSimulator(rows_per_second=0)``.
    """

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        **overrides: Any,
    ) -> None:
        self.config = SimulatorConfig.from_overrides(config, **overrides)
        self.state = SimulatorState(self.config)
        self.host = host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> MarketoSimulator:
        """Bind the socket and serve in a daemon thread; returns once the server accepts requests."""
        if self._server is not None:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        logging.getLogger("uvicorn.error").addFilter(_DROP_FILTER)
        config = uvicorn.Config(
            create_app(self.state),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="marketo-simulator", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("The Marketo simulator did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Shut the server down and wait for its thread."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> MarketoSimulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- where and who -----------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """REST and Identity base URL, ``http://127.0.0.1:<port>``."""
        return f"http://{self.host}:{self.port}"

    @property
    def client_id(self) -> str:
        return next(iter(self.config.clients))

    @property
    def client_secret(self) -> str:
        return self.config.clients[self.client_id]

    # -- control -----------------------------------------------------------------------------
    def inject(
        self,
        fault: str,
        *,
        count: int = 1,
        path: str | None = None,
        code: str | None = None,
        message: str | None = None,
        status: int = 502,
        delay: float = 0.0,
    ) -> None:
        """Make the next ``count`` requests matching ``path`` (regex; None = every API path but
        identity) fail: ``http_error``, ``slow``, ``drop`` or ``error_code``."""
        self.state.add_fault(Fault(fault, count, path, code, message, status, delay))

    def fail_next_jobs(self, count: int = 1, message: str = "Import failed") -> None:
        """The next ``count`` created jobs end with status Failed and this message."""
        self.state.fail_next_jobs(count, message)

    def occupy_queue(self, jobs: int, seconds: float) -> None:
        """Another integration's ``jobs`` imports take queue slots for ``seconds`` of simulator time."""
        self.state.occupy_queue(jobs, seconds)

    def expire_tokens(self) -> None:
        """Every token issued so far expires now (next use 602, later uses 601)."""
        self.state.expire_tokens()

    def advance_clock(self, seconds: float) -> None:
        """Move the simulator clock forward (tokens, jobs, batch expiry, daily quota)."""
        self.state.advance_clock(seconds)

    def reset(self) -> None:
        """Back to a fresh instance with the same config."""
        self.state.reset()

    # -- inspection --------------------------------------------------------------------------
    @property
    def counters(self) -> dict[str, Any]:
        return self.state.counters()

    def api_calls(self) -> Counter[str]:
        """API calls served so far (identity calls excluded), by method and path template."""
        return Counter(self.state.counters()["calls"])

    @property
    def requests_log(self) -> list[dict[str, Any]]:
        return self.state.requests()

    @property
    def leads(self) -> list[dict[str, Any]]:
        return self.state.leads()

    def list_members(self, list_id: int) -> list[int]:
        return self.state.list_members(list_id)

    def add_list_members(
        self, list_id: int, *, ids: list[int] | None = None, emails: list[str] | None = None
    ) -> list[int]:
        """Add existing leads (by id or email) to a static list by hand; returns their ids."""
        return self.state.add_list_members(list_id, list(ids or []), list(emails or []))

    def program_members(self, program_id: int) -> list[dict[str, Any]]:
        return self.state.program_members(program_id)

    def custom_objects(self, api_name: str) -> list[dict[str, Any]]:
        return self.state.custom_objects(api_name)

    @property
    def jobs(self) -> list[dict[str, Any]]:
        return self.state.jobs()

    def job_file(self, batch_id: int) -> bytes:
        """The file of a job as it was received."""
        return self.state.job_file(batch_id)

    def result_rows(self, batch_id: int, which: str = "failures") -> list[list[str]]:
        """The rows a job failed (``failures``) or warned about (``warnings``), reason last."""
        return self.state.result_rows(batch_id, which)

    @property
    def pending_faults(self) -> list[dict[str, Any]]:
        """Injected faults not used up yet, with the count each has left."""
        return self.state.pending_faults()

    @property
    def issued_tokens(self) -> list[str]:
        """Every access token issued so far (for tests asserting that no token leaks)."""
        return self.state.issued_tokens()
