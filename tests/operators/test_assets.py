"""Asset events of finished imports (operators/_assets.py): the marketo:// URIs, the alias each operator
declares, and the events recorded through it (run on Airflow 3.1, 3.2 and 3.3)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG, Asset, AssetAlias
from airflow.sdk.execution_time.context import OutletEventAccessors

from airflow_provider_marketo.objects import BulkTarget
from airflow_provider_marketo.operators._assets import (
    CLAIM_PREFIX,
    CLAIM_SETTLE,
    CREATION_POLL,
    CREATION_WAIT,
    asset_uris,
    instance_of,
    one_creator_at_a_time,
)
from airflow_provider_marketo.operators.bulk_import import (
    BulkCustomObjectImportOperator,
    BulkLeadImportOperator,
    BulkProgramMemberImportOperator,
)
from airflow_provider_marketo.results import ImportResultError
from airflow_provider_marketo.sensors.bulk_import import BulkImportSensor
from tests._support.files import write_rows
from tests._support.tasks import make_context


def test_uris_name_the_instance_and_the_object() -> None:
    base = "https://123-abc-456.mktorest.com"
    assert instance_of(base) == "123-ABC-456"
    assert instance_of("http://127.0.0.1:8123") == "127.0.0.1:8123"  # not a Munchkin endpoint: host:port
    assert asset_uris(base, BulkTarget("leads"), list_id=1001) == [
        "marketo://123-ABC-456/leads",
        "marketo://123-ABC-456/lists/1001",
    ]
    assert asset_uris(base, BulkTarget("custom_objects", api_name="car_c")) == [
        "marketo://123-ABC-456/customobjects/car_c"
    ]
    assert asset_uris(base, BulkTarget("program_members", program_id=7)) == [
        "marketo://123-ABC-456/programs/7/members"
    ]
    for uri in asset_uris(base, BulkTarget("leads"), list_id=1001):
        assert Asset(uri=uri, name=uri).uri == uri  # Airflow accepts the scheme and keeps the URI as is


def test_each_operator_declares_its_alias_once() -> None:
    with DAG("d", schedule=None):
        lead = BulkLeadImportOperator(task_id="leads", source="/x.csv")
        custom = BulkCustomObjectImportOperator(
            task_id="cars", source="/x.csv", api_name="car_c", outlets=[AssetAlias(name="marketo:mine")]
        )
    alone = BulkProgramMemberImportOperator(
        task_id="members", source="/x.csv", program_id=1, program_member_status="Member"
    )
    assert [o.name for o in lead.outlets] == ["marketo:d.leads"]
    assert [o.name for o in custom.outlets] == ["marketo:mine"]  # a Marketo alias given is used as is
    assert [o.name for o in alone.outlets] == ["marketo:members"]


def _csv(tmp_path: Path, rows: list[list[str]]) -> Path:
    return write_rows(tmp_path / "leads.csv", rows)


def test_finished_import_records_an_event_per_object_with_counts_and_batch_ids(
    tmp_path: Path, marketo_simulator: Any, marketo_conn_id: str
) -> None:
    rows = [["email", "firstName"], *[[f"a{i}@example.com", f"A{i}"] for i in range(100)], ["bad", "B"]]
    with DAG("d", schedule=None):
        op = BulkLeadImportOperator(
            task_id="leads",
            source=str(_csv(tmp_path, rows)),
            marketo_conn_id=marketo_conn_id,
            list_id=1001,
            wait_for_completion=True,
            poll_interval=0.05,
            part_size=1024,
        )
    context = make_context()
    context["outlet_events"] = OutletEventAccessors()
    summary = op.execute(context)
    assert isinstance(summary, dict)
    events = context["outlet_events"][op.outlets[0]].asset_alias_events
    instance = marketo_simulator.base_url.split("://", 1)[1]
    assert [e.dest_asset_key.uri for e in events] == [
        f"marketo://{instance}/leads",
        f"marketo://{instance}/lists/1001",
    ]
    batch_ids = sorted(int(b["batch_id"]) for b in summary["batches"])
    assert len(batch_ids) > 1
    for event in events:
        assert event.source_alias_name == "marketo:d.leads"
        assert event.extra == {
            "status": "success",
            "rows_sent": 101,
            "rows_processed": 101,
            "rows_failed": 0,
            "rows_with_warning": 1,  # Marketo imports a lead with an invalid email, with a warning
            "rows_accounted": True,
            "batch_ids": batch_ids,
        }


def test_no_event_when_the_import_fails_its_checks_or_does_not_wait(
    tmp_path: Path, marketo_simulator: Any, marketo_conn_id: str
) -> None:
    rows = [["email", "firstName"], ["bad", "B"], ["a@example.com", "A"]]
    op = BulkLeadImportOperator(
        task_id="leads",
        source=str(_csv(tmp_path, rows)),
        marketo_conn_id=marketo_conn_id,
        wait_for_completion=True,
        poll_interval=0.05,
        fail_on_warnings=True,
    )
    context = make_context()
    context["outlet_events"] = OutletEventAccessors()
    with pytest.raises(ImportResultError):
        op.execute(context)
    assert context["outlet_events"][op.outlets[0]].asset_alias_events == []
    op = BulkLeadImportOperator(
        task_id="leads2", source=str(tmp_path / "leads.csv"), marketo_conn_id=marketo_conn_id
    )
    context = make_context()
    context["outlet_events"] = OutletEventAccessors()
    op.execute(context)  # returns the output without result: the jobs are not finished, nothing recorded
    assert context["outlet_events"][op.outlets[0]].asset_alias_events == []


def test_sensor_records_the_event_of_the_jobs_it_finished(
    tmp_path: Path, marketo_simulator: Any, marketo_conn_id: str
) -> None:
    rows = [["email", "firstName"], *[[f"s{i}@example.com", f"S{i}"] for i in range(10)]]
    op = BulkLeadImportOperator(
        task_id="leads", source=str(_csv(tmp_path, rows)), marketo_conn_id=marketo_conn_id, list_id=1001
    )
    output = op.execute(make_context())
    assert output["result"] is None
    batch_ids = [batch["batch_id"] for batch in output["batches"]]
    with DAG("d", schedule=None):
        wait = BulkImportSensor(  # the sensor takes the import's output whole
            task_id="wait", batch_ids=output, marketo_conn_id=marketo_conn_id, poll_interval=0.05
        )
    assert [o.name for o in wait.outlets] == ["marketo:d.wait"]
    context = make_context()
    context["outlet_events"] = OutletEventAccessors()
    wait.execute(context)
    (event,) = context["outlet_events"][wait.outlets[0]].asset_alias_events
    # The object only: the sensor does not know the import's list_id.
    assert event.dest_asset_key.uri == f"marketo://{marketo_simulator.base_url.split('://', 1)[1]}/leads"
    assert event.extra["batch_ids"] == batch_ids and event.extra["rows_processed"] == 10


class _Variables:
    """Airflow Variables shared by the tasks of a test: last writer wins, as in the metadata database."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.writes: list[str] = []

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.writes.append(key)
        self.values[key] = value

    def delete(self, key: str) -> None:
        self.values.pop(key, None)


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def __call__(self) -> float:
        return self.now


URI = "marketo://123-ABC-456/leads"


def test_an_asset_that_exists_needs_no_claim() -> None:
    variables, clock = _Variables(), _Clock()
    one_creator_at_a_time(
        [URI],
        log=logging.getLogger("t"),
        exists=lambda uri: True,
        claims=variables,
        sleep=clock.sleep,
        clock=clock,
    )
    assert variables.writes == [] and clock.now == 0


def test_outside_a_task_runner_nothing_is_asked() -> None:
    variables = _Variables()
    one_creator_at_a_time([URI], log=logging.getLogger("t"), exists=lambda uri: None, claims=variables)
    assert variables.writes == []


def test_the_last_claim_creates_a_new_asset_and_deletes_its_claim(caplog: pytest.LogCaptureFixture) -> None:
    variables, clock = _Variables(), _Clock()
    with caplog.at_level(logging.INFO):
        one_creator_at_a_time(
            [URI],
            log=logging.getLogger("t"),
            exists=lambda uri: False,
            claims=variables,
            sleep=clock.sleep,
            clock=clock,
        )
    assert variables.writes == [CLAIM_PREFIX + URI] and variables.values == {}
    assert clock.now == CLAIM_SETTLE
    assert f"Asset {URI} is new: this task creates it." in caplog.text


def _claim_while_another_task_finishes(
    holder: str, exists: Callable[[str], bool]
) -> tuple[_Variables, _Clock]:
    """Run the claim of this task while another task (``holder``) writes its claim after ours."""
    variables, clock = _Variables(), _Clock()

    def other_task_claims(seconds: float) -> None:
        clock.sleep(seconds)
        if seconds == CLAIM_SETTLE:
            variables.set(CLAIM_PREFIX + URI, holder)

    one_creator_at_a_time(
        [URI],
        log=logging.getLogger("t"),
        exists=exists,
        claims=variables,
        sleep=other_task_claims,
        clock=clock,
    )
    return variables, clock


def test_a_task_whose_claim_was_overwritten_waits_until_the_asset_exists() -> None:
    """Two tasks finish together: the other wrote its claim after ours, so it creates the asset (when its
    success is stored) and this one adds its event only once the asset is there."""
    answers = iter([False, False, False, True])
    variables, clock = _claim_while_another_task_finishes("the other task", lambda uri: next(answers))
    assert variables.values == {CLAIM_PREFIX + URI: "the other task"}  # the creator deletes its own claim
    assert clock.now == CLAIM_SETTLE + 2 * CREATION_POLL


def test_a_creator_that_never_creates_leaves_the_waiting_task_to_do_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, clock = _claim_while_another_task_finishes("a task that died", lambda uri: False)
    assert CLAIM_SETTLE + CREATION_WAIT <= clock.now < CLAIM_SETTLE + CREATION_WAIT + 1
    assert "was claimed by another task but not created in 60 s" in caplog.text


def test_a_claim_that_cannot_be_written_does_not_fail_the_import(caplog: pytest.LogCaptureFixture) -> None:
    class Refusing(_Variables):
        def set(self, key: str, value: Any) -> None:
            raise RuntimeError("403: this API user may not write Variables")

    one_creator_at_a_time([URI], log=logging.getLogger("t"), exists=lambda uri: False, claims=Refusing())
    assert "Could not claim the creation of asset" in caplog.text and "403" in caplog.text
