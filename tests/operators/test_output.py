"""ImportOutput: the one return shape of the import tasks, and its runtime check against the TypedDict."""

from __future__ import annotations

import copy
from typing import Any, get_type_hints

import pytest

from airflow_provider_marketo.exceptions import MarketoConfigError
from airflow_provider_marketo.objects import BulkTarget
from airflow_provider_marketo.operators.output import (
    ImportOutput,
    ImportSummary,
    batch_ids_of,
    check_output,
    make_output,
    target_of,
)

SUMMARY: dict[str, Any] = {
    "status": "success",
    "message": "1 import jobs finished",
    "rows_processed": 3,
    "rows_failed": 1,
    "rows_with_warning": 0,
    "rows_sent": 4,
    "rows_accounted": True,
    "results_path": None,
    "report_path": None,
    "failures_path": None,
    "failure_reasons": {"Invalid data type": 1},
    "warnings_path": None,
    "warning_reasons": {},
    "batches": [
        {
            "batch_id": 7,
            "status": "Complete",
            "rows_processed": 3,
            "rows_failed": 1,
            "rows_with_warning": 0,
            "message": None,
            "failures_path": None,
            "failure_reasons": {"Invalid data type": 1},
            "warnings_path": None,
            "warning_reasons": {},
            "rows_sent": 4,
            "rows_accounted": True,
        }
    ],
}


def test_the_declared_fields() -> None:
    hints = get_type_hints(ImportOutput)
    assert list(hints) == ["target", "batches", "rows_sent", "result"]
    assert hints["result"] == ImportSummary | None
    assert ImportOutput.__required_keys__ == set(hints)  # every field present in both modes


def test_make_output_in_both_modes_is_one_type() -> None:
    target = BulkTarget("custom_objects", api_name="car_c")
    sent = make_output(target, [(7, 4), (8, 2)])
    done = make_output(target, [(7, 4), (8, 2)], SUMMARY)
    assert sent == {
        "target": {"kind": "custom_objects", "api_name": "car_c", "program_id": None},
        "batches": [{"batch_id": 7, "rows_sent": 4}, {"batch_id": 8, "rows_sent": 2}],
        "rows_sent": 6,
        "result": None,
    }
    assert done.keys() == sent.keys() and done["result"] == SUMMARY
    assert batch_ids_of(sent) == [7, 8]
    assert target_of(done) == target


def _broken(change: Any) -> dict[str, Any]:
    output: dict[str, Any] = copy.deepcopy(dict(make_output(BulkTarget("leads"), [(7, 4)], SUMMARY)))
    change(output)
    return output


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda o: o.pop("result"), r"import output is not a ImportOutput: missing \['result'\]"),
        (lambda o: o.update(extra=1), r"unknown \['extra'\]"),
        (lambda o: o["batches"][0].update(rows_sent=True), r"\['batches'\]\[0\]\['rows_sent'\] must be int"),
        (lambda o: o["batches"][0].update(batch_id="7"), r"\['batch_id'\] must be int; got '7'"),
        (lambda o: o.update(batches={"batch_id": 7}), r"\['batches'\] must be list"),
        (lambda o: o["target"].update(kind="opportunities"), r"\['target'\]\['kind'\] must be Literal"),
        (lambda o: o["target"].update(kind="custom_objects"), "need the object's api_name"),
        (lambda o: o.update(rows_sent=5), "rows_sent is not the sum of its batches' rows_sent"),
        (lambda o: o["result"].update(status="done"), r"\['result'\]\['status'\] must be Literal"),
        (lambda o: o["result"]["batches"][0].pop("status"), r"missing \['status'\]"),
        (lambda o: o["result"]["failure_reasons"].update(x="1"), r"\['failure_reasons'\]\['x'\] must be int"),
        (lambda o: o["result"].update(rows_sent="4"), r"\['result'\]\['rows_sent'\] must be int"),
    ],
)
def test_check_output_names_what_is_wrong(change: Any, match: str) -> None:
    with pytest.raises(MarketoConfigError, match=match):
        check_output(_broken(change))


def test_check_output_allows_what_the_summary_leaves_out() -> None:
    """A batch's rows_sent / rows_accounted are in the summary only when the rows sent are known."""
    summary = copy.deepcopy(SUMMARY)
    for key in ("rows_sent", "rows_accounted"):
        del summary["batches"][0][key]
    summary["rows_sent"] = summary["rows_accounted"] = None
    check_output(make_output(BulkTarget("leads"), [(7, 4)], summary))
    with pytest.raises(MarketoConfigError, match="import output must be ImportOutput; got"):
        check_output(["not", "a", "mapping"])
