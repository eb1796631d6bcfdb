"""Fixtures of the reliability suite: a fast connection, the secrets guard and the summary table.

Every test describes its row of the summary table through the ``summary_row`` fixture; at the end of
a run that included reliability tests, ``pytest_terminal_summary`` prints ``fault / expected outcome /
seen`` (a failing test shows as FAILED in its row). The autouse ``secrets_guard`` checks after each
test that neither the client secret nor any token the simulator issued shows up in logs, output,
request URLs, XComs, trigger kwargs or exception texts.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterator
from typing import Any

import pytest

from airflow_provider_marketo.hooks._token import TOKENS
from airflow_provider_marketo.testing import MarketoSimulator
from tests._support.guard import SECTIONS, Row, SecretsGuard, SummaryRow, find_leaks
from tests._support.pipeline import EVIDENCE
from tests._support.sim import set_connection

#: Simulator overrides matching :data:`FAST_EXTRAS` (retry backoff starts at window_seconds / 20).
SIM_FAST: dict[str, Any] = {"rows_per_second": 0.0, "window_seconds": 1.0}
FAST_EXTRAS: dict[str, Any] = {"window_seconds": 1, "max_retry_seconds": 30, "timeout": 10}
COLUMN_WIDTHS = (50, 46, 130)

_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()
_ROWS = pytest.StashKey[list["Row"]]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    item.stash.setdefault(_REPORTS, {})[report.when] = report


@pytest.fixture(autouse=True)
def summary_row(request: pytest.FixtureRequest) -> Iterator[SummaryRow]:
    """The test's row of the summary table (recorded only if the test described it)."""
    row = SummaryRow()
    yield row
    if row.row is None:
        return
    reports = request.node.stash.get(_REPORTS, {})
    for when in ("setup", "call"):
        report = reports.get(when)
        if report is not None and report.failed:
            row.row.seen = f"FAILED: {_excerpt(report)}"
        elif report is not None and report.skipped:
            row.row.seen = "SKIPPED"
    request.config.stash.setdefault(_ROWS, []).append(row.row)


def _excerpt(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    text = str(crash.message) if crash is not None else str(report.longrepr)
    return " ".join(text.split())


@pytest.fixture(autouse=True)
def secrets_guard(
    request: pytest.FixtureRequest,
    summary_row: SummaryRow,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[SecretsGuard]:
    """Fail the test if the client secret or an issued token shows up anywhere a user could see it."""
    caplog.set_level(logging.DEBUG)
    TOKENS.reset()  # each test starts without a cached token
    EVIDENCE.reset()
    guard = SecretsGuard(capsys)
    yield guard
    sim: MarketoSimulator | None = request.node.funcargs.get("marketo_simulator")
    if sim is None:
        return
    leaks = find_leaks(sim, caplog, guard.output(), EVIDENCE.texts)
    # The token is requested with POST and a form body: no request carries the secret in its URL.
    carriers = {r["path"] for r in sim.requests_log if r["secret_in_url"]}
    assert not carriers, carriers
    if leaks:
        if summary_row.row is not None:
            summary_row.seen = f"FAILED: secret leaked into {', '.join(leaks)}"
        pytest.fail(f"A secret leaked into: {', '.join(leaks)}")


@pytest.fixture
def conn_id(marketo_simulator: MarketoSimulator, monkeypatch: pytest.MonkeyPatch) -> str:
    """``marketo_default`` pointing at the simulator, with short timeouts and retry waits."""
    return set_connection(monkeypatch, marketo_simulator, extra=FAST_EXTRAS)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """The ``fault / expected outcome / seen`` table of the reliability tests that ran."""
    rows = config.stash.get(_ROWS, [])
    if not rows:
        return
    terminalreporter.section("Marketo reliability: fault matrix and bad input")
    for section in SECTIONS:
        selected = [row for row in rows if row.section == section]
        if not selected:
            continue
        terminalreporter.write_line(f"[{section}]")
        terminalreporter.write_line(_table_line(("fault", "expected outcome", "seen")))
        terminalreporter.write_line(_table_line(tuple("-" * width for width in COLUMN_WIDTHS)))
        for row in selected:
            terminalreporter.write_line(_table_line((row.fault, row.expected, row.seen)))
        terminalreporter.write_line("")


def _table_line(cells: tuple[str, ...]) -> str:
    shown = []
    for cell, width in zip(cells, COLUMN_WIDTHS, strict=True):
        text = cell if len(cell) <= width else cell[: width - 3] + "..."
        shown.append(text.ljust(width))
    return " | ".join(shown).rstrip()
