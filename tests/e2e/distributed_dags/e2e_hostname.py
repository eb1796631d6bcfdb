"""``[core] hostname_callable`` of the distributed e2e test: each process reports the name it was
started with (``E2E_HOSTNAME``), so that the test can tell which worker or triggerer holds a task."""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    return os.environ.get("E2E_HOSTNAME") or socket.getfqdn()
