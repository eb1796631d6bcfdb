"""Custom objects and program members, with the same import machinery as leads.

``cars.csv`` goes into the custom object ``car_c`` (deduplicated on its own dedupe fields, no
lookup field); ``registrations.tsv`` adds leads to program 1001 with the status ``Registered``.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import pendulum
from airflow.sdk import ObjectStoragePath, Param, dag, task

from airflow_provider_marketo.operators.bulk_import import (
    BulkCustomObjectImportOperator,
    BulkProgramMemberImportOperator,
)
from airflow_provider_marketo.sensors.bulk_import import BulkImportSensor

# Settings, read at run time from Airflow Variables through templates (parsing never reads one), with
# defaults that work against the bundled simulator: marketo_example_conn_id, and
# marketo_example_storage (e.g. s3://aws_default@my-bucket/marketo; default: a folder in /tmp).
CONN_ID = "{{ var.value.get('marketo_example_conn_id', 'marketo_default') }}"
RUN_FOLDER = (
    "{{ var.value.get('marketo_example_storage', 'file:///tmp/marketo-examples') | trim('/') }}"
    "/{{ dag.dag_id }}/{{ run_id | replace(':', '_') | replace('+', '_') }}"
)


def _write(target: ObjectStoragePath, rows: list[list[str]], delimiter: str) -> str:
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as out:
        csv.writer(out, delimiter=delimiter).writerows(rows)
    return str(target)


@dag(
    dag_id="marketo_custom_objects_and_members",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["marketo", "example"],
    params={
        "program_id": Param(1001, type="integer", minimum=1),
        "program_member_status": Param("Registered", type="string"),
    },
    doc_md=__doc__,
)
def marketo_custom_objects_and_members() -> None:
    @task
    def export_cars(**context: Any) -> str:
        folder = ObjectStoragePath(context["task"].render_template(RUN_FOLDER, context))
        rows = [["vin", "model", "year", "ownerEmail"]]
        rows += [
            [f"VIN{i:05d}", "Model S; Long Range", str(2015 + i % 10), f"lead{i}@example.com"]
            for i in range(200)
        ]
        rows.append(["VIN99999", "Roadster", "nineteen", "lead0@example.com"])  # bad year: fails
        return _write(folder / "export" / "cars.csv", rows, ",")

    @task
    def export_registrations(**context: Any) -> str:
        folder = ObjectStoragePath(context["task"].render_template(RUN_FOLDER, context))
        rows = [["email", "firstName", "lastName"]]
        rows += [[f"attendee{i}@example.com", f"Attendee\t{i}", "Doe"] for i in range(150)]
        rows.append(["", "No", "Email"])  # program members need an email: fails
        return _write(folder / "export" / "registrations.tsv", rows, "\t")

    # --8<-- [start:custom_objects]
    cars = BulkCustomObjectImportOperator(
        task_id="import_cars",
        api_name="car_c",
        source=export_cars(),
        marketo_conn_id=CONN_ID,
        deferrable=True,
    )
    BulkImportSensor(
        task_id="wait_for_cars",
        batch_ids=cars.output,  # the import's output names the target (car_c) and the rows sent
        deferrable=True,  # wait in the triggerer (the default follows [operators] default_deferrable)
        results_path=RUN_FOLDER + "/results/cars/",
        marketo_conn_id=CONN_ID,
        timeout=3600,
    )
    # --8<-- [end:custom_objects]

    # --8<-- [start:program_members]
    members = BulkProgramMemberImportOperator(
        task_id="import_registrations",
        program_id="{{ params.program_id }}",
        program_member_status="{{ params.program_member_status }}",
        source=export_registrations(),
        marketo_conn_id=CONN_ID,
        deferrable=True,
    )
    BulkImportSensor(
        task_id="wait_for_registrations",
        batch_ids=members.output,  # program id and rows sent come with the output
        deferrable=True,  # wait in the triggerer (the default follows [operators] default_deferrable)
        results_path=RUN_FOLDER + "/results/registrations/",
        marketo_conn_id=CONN_ID,
        timeout=3600,
    )
    # --8<-- [end:program_members]


marketo_custom_objects_and_members()
