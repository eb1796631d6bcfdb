"""Test helpers: import jobs created on the simulator over plain HTTP (not through the hook), trigger runs."""

from __future__ import annotations

import json
from typing import Any

import requests
from airflow.triggers.base import BaseTrigger

from airflow_provider_marketo.testing.config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

HEADER = "email,firstName,leadScore"


def access_token(base_url: str) -> str:
    response = requests.get(
        f"{base_url}/identity/oauth/token",
        params={
            "grant_type": "client_credentials",
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
        },
        timeout=10,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def create_lead_job(base_url: str, rows: list[str], *, header: str = HEADER, file_format: str = "csv") -> int:
    """POST a lead import of ``header`` + ``rows`` and return its batch id."""
    delimiter = {"csv": ",", "tsv": "\t", "ssv": ";"}[file_format]
    body = "\n".join([header.replace(",", delimiter), *(r.replace(",", delimiter) for r in rows)]) + "\n"
    response = requests.post(
        f"{base_url}/bulk/v1/leads.json",
        params={"format": file_format},
        files={"file": (f"leads.{file_format}", body.encode(), "text/csv")},
        headers={"Authorization": f"Bearer {access_token(base_url)}"},
        timeout=10,
    )
    response.raise_for_status()
    payload = response.json()
    assert payload["success"], payload
    return int(payload["result"][0]["batchId"])


def good_rows(count: int, prefix: str = "lead") -> list[str]:
    return [f"{prefix}{i}@example.com,Name{i},{i}" for i in range(count)]


def mixed_rows() -> list[str]:
    """3 good rows, 2 failures (bad lead score, no email) and 2 warnings (invalid email)."""
    return [
        *good_rows(3),
        "bad1@example.com,Bad,abc",
        ",NoEmail,5",
        "not-an-email,Warn,7",
        "also-bad,Warn2,8",
    ]


def conn_uri(base_url: str, *, secret: str = DEFAULT_CLIENT_SECRET, **extra: Any) -> str:
    """An ``AIRFLOW_CONN_*`` JSON value for the simulator."""
    return json.dumps(
        {
            "conn_type": "marketo",
            "host": base_url,
            "login": DEFAULT_CLIENT_ID,
            "password": secret,
            "extra": extra,
        }
    )


async def first_event(trigger: BaseTrigger) -> dict[str, Any]:
    """Run a trigger to its end and return the payload of its one and only event."""
    events = [event async for event in trigger.run()]
    assert len(events) == 1, events
    payload = events[0].payload
    assert isinstance(payload, dict)
    return payload
