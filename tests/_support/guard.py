"""The reliability suite's secrets guard and summary rows (the fixtures are in its conftest)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pytest

from airflow_provider_marketo.testing import MarketoSimulator

SECTIONS = ("fault matrix", "bad input")


@dataclass
class Row:
    """One line of the summary table."""

    section: str
    fault: str
    expected: str
    seen: str = "(nothing recorded)"


class SummaryRow:
    """What a test says about its row: ``describe()`` first, ``seen`` once the outcome is known."""

    def __init__(self) -> None:
        self.row: Row | None = None

    def describe(self, fault: str, expected: str, *, section: str = "fault matrix") -> None:
        assert section in SECTIONS, section
        self.row = Row(section, fault, expected)

    @property
    def seen(self) -> str:
        return self.row.seen if self.row else ""

    @seen.setter
    def seen(self, value: str) -> None:
        assert self.row is not None, "describe() the row first"
        self.row.seen = " ".join(value.split())


@dataclass
class SecretsGuard:
    """Holds the test's output: tests read stdout through :meth:`output` so that the guard still sees it."""

    capsys: pytest.CaptureFixture[str]
    captured: str = ""

    def output(self) -> str:
        out, err = self.capsys.readouterr()
        self.captured += out + err
        return self.captured


def find_leaks(
    sim: MarketoSimulator, caplog: pytest.LogCaptureFixture, output: str, evidence: list[tuple[str, str]]
) -> list[str]:
    """Where the client secret or an issued token appears; checks the request log's shape too."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    records = [r for when in ("setup", "call") for r in caplog.get_records(when)]
    requests = sim.requests_log
    texts = [
        ("log records", "\n".join(formatter.format(r) for r in records)),
        ("stdout/stderr", output),
        ("request URLs", "\n".join(f"{r['path']}?{r['query']}" for r in requests)),
        *evidence,
    ]
    secrets = [sim.client_secret, *sim.issued_tokens]
    leaks = sorted({where for where, text in texts for secret in secrets if secret and secret in text})
    if any("access_token=" in r["query"] for r in requests):
        leaks.append("request URLs (access_token parameter)")
    # The identity call carries the secret by Marketo's contract, and it is the only one that does.
    if any("client_secret=" in r["query"] and not r["path"].endswith("/oauth/token") for r in requests):
        leaks.append("request URLs (client_secret outside the identity call)")
    return leaks
