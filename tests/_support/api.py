"""A tiny Marketo client made of plain ``requests`` calls, for the simulator's own tests."""

from __future__ import annotations

from typing import Any

import requests

from airflow_provider_marketo.testing import MarketoSimulator


class Api:
    """Calls the simulator the way Marketo is called: token from Identity, then Bearer header."""

    def __init__(self, sim: MarketoSimulator) -> None:
        self.sim = sim
        self.session = requests.Session()

    def url(self, path: str) -> str:
        return self.sim.base_url + path

    def token_response(
        self, client_id: str | None = None, client_secret: str | None = None
    ) -> requests.Response:
        params = {
            "grant_type": "client_credentials",
            "client_id": client_id or self.sim.client_id,
            "client_secret": client_secret or self.sim.client_secret,
        }
        return self.session.get(self.url("/identity/oauth/token"), params=params, timeout=10)

    def token(self) -> str:
        response = self.token_response()
        response.raise_for_status()
        return str(response.json()["access_token"])

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token()}"}

    def get(self, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        return self.session.get(self.url(path), headers=self.headers(token), timeout=30, **kwargs)

    def upload(
        self,
        path: str,
        content: bytes | str,
        token: str | None = None,
        filename: str = "leads.csv",
        **params: Any,
    ) -> requests.Response:
        """POST a multipart import; ``params`` go in the query string (``format`` defaults to csv)."""
        data = content.encode() if isinstance(content, str) else content
        params.setdefault("format", "csv")
        return self.session.post(
            self.url(path),
            params=params,
            files={"file": (filename, data, "text/csv")},
            headers=self.headers(token),
            timeout=60,
        )

    def import_leads(self, content: bytes | str, **params: Any) -> int:
        """Create a lead import job and return its batch id (fails the test on an error)."""
        body = self.upload("/bulk/v1/leads.json", content, **params).json()
        assert body["success"], body
        return int(body["result"][0]["batchId"])

    def lead_status(self, batch_id: int) -> dict[str, Any]:
        body = self.get(f"/bulk/v1/leads/batch/{batch_id}.json").json()
        assert body["success"], body
        return dict(body["result"][0])

    def wait_lead_job(self, batch_id: int, polls: int = 20) -> dict[str, Any]:
        """Poll a lead job (rows_per_second=0 finishes it on the next calls) until it is terminal."""
        for _ in range(polls):
            status = self.lead_status(batch_id)
            if status["status"] in ("Complete", "Failed"):
                return status
        raise AssertionError(f"job {batch_id} did not finish: {status}")


def error_code(response: requests.Response) -> str:
    """The Marketo error code of an HTTP 200 envelope with success=false."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is False, body
    return str(body["errors"][0]["code"])
