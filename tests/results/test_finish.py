"""finish_batches, the one "finish" of the sensor and wait_for_completion, against the simulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_marketo._compat import AirflowException
from airflow_provider_marketo.hooks.marketo import MarketoHook
from airflow_provider_marketo.objects import BulkTarget
from airflow_provider_marketo.results import ImportResultError, ResultChecks, ResultNames, finish_batches
from tests._support.sim import create_lead_job, good_rows, mixed_rows

LEADS = BulkTarget("leads")
NAMES = ResultNames("load")


class Pushed:
    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


def finished(sim: Any, *rows: list[str]) -> tuple[MarketoHook, list[Any]]:
    hook = MarketoHook("marketo_default")
    statuses = [hook.get_import_status(LEADS, create_lead_job(sim, r)) for r in rows]
    assert all(s.is_terminal for s in statuses)
    return hook, statuses


def test_finish_takes_the_operators_rows_sent_xcom(
    marketo_simulator: Any, marketo_conn_id: str, tmp_path: Path
) -> None:
    hook, statuses = finished(marketo_simulator, good_rows(3), mixed_rows())
    rows_sent = {str(s.batch_id): s.rows_processed + s.rows_failed for s in statuses}
    ti = Pushed()
    summary = finish_batches(
        hook,
        LEADS,
        statuses,
        checks=ResultChecks(),
        ti=ti,
        names=ResultNames("load"),
        results_dir=ObjectStoragePath(tmp_path.as_uri()),
        rows_sent=rows_sent,
    )
    assert (summary["status"], summary["rows_sent"], summary["rows_accounted"]) == ("success", 10, True)
    assert summary["report_path"] == f"{tmp_path.as_uri()}/load.report.json"
    assert json.loads((tmp_path / "load.report.json").read_text()) == summary
    assert ti.xcom == {}


def test_finish_pushes_the_summary_then_raises(marketo_simulator: Any, marketo_conn_id: str) -> None:
    hook, statuses = finished(marketo_simulator, mixed_rows())
    ti = Pushed()
    with pytest.raises(ImportResultError, match="more than max_failed_rows=0") as raised:
        finish_batches(hook, LEADS, statuses, checks=ResultChecks(max_failed_rows=0), ti=ti, names=NAMES)
    assert ti.xcom["return_value"] == raised.value.summary
    assert raised.value.summary["status"] == "failed"


def test_finish_refuses_rows_sent_for_other_batches(marketo_simulator: Any, marketo_conn_id: str) -> None:
    hook, statuses = finished(marketo_simulator, good_rows(1))
    with pytest.raises(AirflowException, match="no entry for batch"):
        finish_batches(
            hook, LEADS, statuses, checks=ResultChecks(), ti=Pushed(), names=NAMES, rows_sent={"999": 1}
        )
