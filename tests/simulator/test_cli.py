"""``python -m airflow_provider_marketo.testing serve`` in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import requests


def test_serve_prints_the_url_and_stops_on_sigterm(tmp_path: Path) -> None:
    url_file = tmp_path / "url.txt"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_marketo.testing",
            "serve",
            "--port",
            "0",
            "--rows-per-second",
            "0",
            "--client-id",
            "cli-id",
            "--client-secret",
            "cli-secret",
            "--url-file",
            str(url_file),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        prefix = "Marketo simulator listening on "
        assert line.startswith(prefix + "http://127.0.0.1:"), line
        base_url = line[len(prefix) :]
        assert url_file.read_text().strip() == base_url
        params = {"grant_type": "client_credentials", "client_id": "cli-id", "client_secret": "cli-secret"}
        token = requests.get(f"{base_url}/identity/oauth/token", params=params, timeout=10).json()[
            "access_token"
        ]
        headers = {"Authorization": f"Bearer {token}"}
        created = requests.post(
            f"{base_url}/bulk/v1/leads.json",
            params={"format": "csv"},
            files={"file": ("a.csv", b"email\na@example.com\n")},
            headers=headers,
            timeout=10,
        ).json()
        batch_id = created["result"][0]["batchId"]
        status = requests.get(f"{base_url}/bulk/v1/leads/batch/{batch_id}.json", headers=headers, timeout=10)
        assert status.json()["result"][0]["status"] == "Complete"
    finally:
        process.terminate()
        assert process.wait(timeout=15) == 0
