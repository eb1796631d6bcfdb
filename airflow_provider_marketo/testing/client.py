"""What tests and benchmarks ask of a running simulator: a connection for given extras, a token, a job,
the calls it served.

:class:`SimulatorClient` needs only ``base_url``, ``client_id`` and ``client_secret``: the in-process
:class:`~airflow_provider_marketo.testing.server.MarketoSimulator` and a simulator in another process
share it. Requests go over plain HTTP (``requests``), the way any Marketo client makes them.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from typing import Any

import requests

from airflow_provider_marketo.testing.config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET


class SimulatorClient:
    """A connection, a token, lead jobs and the call counts of one simulator at ``base_url``."""

    @property
    def base_url(self) -> str:
        raise NotImplementedError

    @property
    def client_id(self) -> str:
        return DEFAULT_CLIENT_ID

    @property
    def client_secret(self) -> str:
        return DEFAULT_CLIENT_SECRET

    def connection(
        self, conn_type: str = "marketo", *, extra: Mapping[str, Any] | None = None, **fields: Any
    ) -> dict[str, Any]:
        """An Airflow connection to this simulator; ``fields`` override host, login, password, ..."""
        conn: dict[str, Any] = {
            "conn_type": conn_type,
            "host": self.base_url,
            "login": self.client_id,
            "password": self.client_secret,
        }
        if extra is not None:
            conn["extra"] = dict(extra)
        conn.update(fields)
        return conn

    def connection_json(
        self, conn_type: str = "marketo", *, extra: Mapping[str, Any] | None = None, **fields: Any
    ) -> str:
        """:meth:`connection` as JSON, for an ``AIRFLOW_CONN_<ID>`` environment variable."""
        return json.dumps(self.connection(conn_type, extra=extra, **fields))

    def conn_env(
        self, conn_id: str = "marketo_default", *, extra: Mapping[str, Any] | None = None, **fields: Any
    ) -> dict[str, str]:
        """``{"AIRFLOW_CONN_<ID>": connection_json(...)}``: the environment of a child process."""
        return {f"AIRFLOW_CONN_{conn_id.upper()}": self.connection_json(extra=extra, **fields)}

    def access_token(self) -> str:
        """A token, asked for the way the hooks ask (``POST`` with a form body: one identity call)."""
        response = requests.post(
            f"{self.base_url}/identity/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self.client_secret,
            },
            timeout=30,
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def create_lead_job(
        self, body: bytes | str, *, file_format: str = "csv", token: str | None = None
    ) -> int:
        """POST a lead import of ``body`` (header first) over plain HTTP; return its batch id."""
        data = body.encode() if isinstance(body, str) else body
        response = requests.post(
            f"{self.base_url}/bulk/v1/leads.json",
            data={"format": file_format},
            files={"file": (f"leads.{file_format}", data, "text/csv")},
            headers={"Authorization": f"Bearer {token or self.access_token()}"},
            timeout=60,
        )
        response.raise_for_status()
        payload = response.json()
        if not payload.get("success"):
            raise RuntimeError(f"The simulator refused an import: {payload.get('errors')}")
        return int(payload["result"][0]["batchId"])

    def list_members(self, list_id: int) -> list[int]:
        """The lead ids on a static list now (control API)."""
        response = requests.get(f"{self.base_url}/_sim/lists/{list_id}/members", timeout=30)
        response.raise_for_status()
        return [int(lead_id) for lead_id in response.json()]

    def add_list_members(
        self, list_id: int, *, ids: list[int] | None = None, emails: list[str] | None = None
    ) -> list[int]:
        """Add existing leads (by id or email) to a static list by hand (control API); their ids."""
        response = requests.post(
            f"{self.base_url}/_sim/lists/{list_id}/members",
            json={"ids": list(ids or []), "emails": list(emails or [])},
            timeout=30,
        )
        payload = response.json()
        if not payload.get("ok"):
            raise ValueError(f"The simulator refused the list members: {payload.get('error')}")
        return [int(lead_id) for lead_id in payload["ids"]]

    def api_calls(self) -> Counter[str]:
        """API calls served so far (identity calls excluded), by method and path template."""
        response = requests.get(f"{self.base_url}/_sim/counters", timeout=30)
        response.raise_for_status()
        return Counter(response.json()["calls"])


class SimulatorAt(SimulatorClient):
    """A simulator already running at ``base_url`` (e.g. in another process), default credentials."""

    def __init__(self, base_url: str = "") -> None:
        self._base_url = base_url

    @property
    def base_url(self) -> str:
        return self._base_url
