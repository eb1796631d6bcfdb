"""Adobe's example files for the three kinds of import, through operator and sensor in dag.test().

The files are those of Adobe's pages (``tests/_support/adobe_examples.py``): the seed page's
``FirstName,LastName,Email,Company`` leads, the program member page's Lannister file and the custom
object page's cars. A second DAG holds two files the schema check must stop before any upload.
No request the simulator received may carry the client secret or a token in its URL.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests._support import adobe_examples as ex
from tests._support.processes import run_dag

pytestmark = pytest.mark.e2e

DAG_FILE = """
import os

import pendulum
from airflow.sdk import dag

from airflow_provider_marketo.operators.bulk_import import (
    BulkCustomObjectImportOperator,
    BulkLeadImportOperator,
    BulkProgramMemberImportOperator,
)
from airflow_provider_marketo.sensors.bulk_import import BulkImportSensor

FILES = os.environ["ADOBE_EXAMPLE_FILES"]
RESULTS = "file://" + FILES + "/results/{{ run_id }}/"
START = pendulum.datetime(2026, 1, 1, tz="UTC")


@dag(dag_id="adobe_examples", schedule=None, start_date=START, catchup=False)
def adobe_examples():
    leads = BulkLeadImportOperator(task_id="import_leads", source=FILES + "/leads.csv", deferrable=True)
    BulkImportSensor(
        task_id="wait_leads", batch_ids=leads.output, results_path=RESULTS + "leads/", timeout=600,
    )
    cars = BulkCustomObjectImportOperator(
        task_id="import_cars", source=FILES + "/custom_object_import.csv", api_name="car_c", deferrable=True
    )
    BulkImportSensor(
        task_id="wait_cars", batch_ids=cars.output, results_path=RESULTS + "cars/", timeout=600,
    )
    members = BulkProgramMemberImportOperator(
        task_id="import_members", source=FILES + "/Lead-House-Lannister.csv", program_id=1001,
        program_member_status="On List", deferrable=True,
    )
    BulkImportSensor(
        task_id="wait_members", batch_ids=members.output, results_path=RESULTS + "members/", timeout=600,
    )


@dag(dag_id="adobe_bad_headers", schedule=None, start_date=START, catchup=False)
def adobe_bad_headers():
    BulkCustomObjectImportOperator(
        task_id="cars_without_vin", source=FILES + "/cars_without_vin.csv", api_name="car_c"
    )
    BulkLeadImportOperator(task_id="leads_with_a_typo", source=FILES + "/leads_typo.csv")


@dag(dag_id="adobe_nothing_imported", schedule=None, start_date=START, catchup=False)
def adobe_nothing_imported():
    leads = BulkLeadImportOperator(task_id="import_leads", source=FILES + "/no_emails.csv", deferrable=True)
    BulkImportSensor(
        task_id="wait_leads", batch_ids=leads.output, results_path=RESULTS + "two_tasks/", timeout=600, deferrable=True,
    )
    BulkLeadImportOperator(
        task_id="import_and_wait", source=FILES + "/no_emails.csv", deferrable=True,
        wait_for_completion=True, results_path=RESULTS + "one_task/",
    )


adobe_examples()
adobe_bad_headers()
adobe_nothing_imported()
"""


@pytest.fixture
def example_env(dag_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    files = tmp_path / "files"
    files.mkdir()
    (files / "leads.csv").write_text(ex.LEAD_FILE)
    (files / "custom_object_import.csv").write_text(ex.CAR_FILE)
    (files / "Lead-House-Lannister.csv").write_text(ex.LANNISTER_FILE)
    (files / "cars_without_vin.csv").write_text("color,make,model\nred,bmw,2002\n")
    (files / "leads_typo.csv").write_text("Email,FristName\nann@example.com,Ann\n")
    (files / "no_emails.csv").write_text("Email,FirstName\n,Ann\n,Bob\n,Cy\n")
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "adobe_example_dags.py").write_text(textwrap.dedent(DAG_FILE))
    return {**dag_env, "AIRFLOW__CORE__DAGS_FOLDER": str(dags), "ADOBE_EXAMPLE_FILES": str(files)}


def _no_secret_in_any_url(sim: Any) -> None:
    log = sim.requests_log
    assert log, "the simulator saw no request"
    assert [entry for entry in log if entry["secret_in_url"]] == []
    assert all(entry["method"] == "POST" for entry in log if entry["path"] == "/identity/oauth/token")


def test_adobe_example_files_import_through_operator_and_sensor(
    example_env: dict[str, str], marketo_simulator: Any, tmp_path: Path
) -> None:
    result = run_dag(example_env, "adobe_examples", tmp_path)
    assert result["state"] == "success", result["log"][-5000:]
    expected = {"wait_leads": 3, "wait_cars": 3, "wait_members": 8}
    for task_id, rows in expected.items():
        summary = result["xcoms"][task_id]["return_value"]
        assert (summary["rows_processed"], summary["rows_failed"]) == (rows, 0), summary
    leads = {lead["email"]: lead for lead in marketo_simulator.leads}
    assert leads["ablebaker@marketo.com"]["firstName"] == "Able"  # FirstName matched firstName
    assert {record["vin"] for record in marketo_simulator.custom_objects("car_c")} == {
        "WBA4R7C55HK895912",
        "WBA4R7C30HK896061",
        "WBS3U9C52HP970604",
    }
    members = marketo_simulator.program_members(1001)
    assert len(members) == 8
    assert {member["status"] for member in members} == {"On List"}
    calls = marketo_simulator.counters["calls"]
    assert calls["GET /rest/v1/leads/describe2.json"] == 2  # leads, program members
    assert calls["GET /rest/v1/customobjects/{apiName}/describe.json"] == 1
    assert calls["GET /rest/v1/programs/members/describe.json"] == 1
    _no_secret_in_any_url(marketo_simulator)


def test_bad_headers_fail_before_any_upload(
    example_env: dict[str, str], marketo_simulator: Any, tmp_path: Path
) -> None:
    result = run_dag(example_env, "adobe_bad_headers", tmp_path)
    assert result["state"] == "failed"
    assert result["tasks"] == {"cars_without_vin": "failed", "leads_with_a_typo": "failed"}
    log = result["log"]
    assert "lacks the dedupe field(s) 'vin' of custom object 'car_c'" in log
    assert "'FristName' (did you mean 'firstName'?)" in log
    assert not any(key.startswith("POST /bulk/") for key in marketo_simulator.counters["calls"])
    _no_secret_in_any_url(marketo_simulator)


def test_a_file_whose_every_row_fails_ends_the_run_failed(
    example_env: dict[str, str], marketo_simulator: Any, tmp_path: Path
) -> None:
    """Marketo answers Complete with 0 processed and every row failed (Bulk Lead Import, "Failures":
    the lookup field's value is empty): the sensor, and the import with wait_for_completion, fail the
    run after storing the failures file and pushing the summary."""
    result = run_dag(example_env, "adobe_nothing_imported", tmp_path)
    assert result["state"] == "failed"
    assert result["tasks"] == {"import_leads": "success", "wait_leads": "failed", "import_and_wait": "failed"}
    output = result["xcoms"]["import_and_wait"]["return_value"]  # ImportOutput, the summary its result
    assert output["rows_sent"] == 3 and output["target"]["kind"] == "leads"
    for summary in (result["xcoms"]["wait_leads"]["return_value"], output["result"]):
        assert (summary["status"], summary["rows_processed"], summary["rows_failed"]) == ("failed", 0, 3)
        assert "imported nothing: all 3 rows failed" in summary["message"]
        failures = Path(summary["failures_path"].removeprefix("file://")).read_text().splitlines()
        assert len(failures) == 4 and failures[0].startswith("batch_id,")
    assert [job["status"] for job in marketo_simulator.jobs] == ["Complete", "Complete"]
