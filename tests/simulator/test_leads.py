"""Lead imports: parsing, upsert rules, row failures and warnings, result files, batch expiry."""

from __future__ import annotations

import csv
import io

import pytest

from airflow_provider_marketo.testing import MarketoSimulator
from tests._support.api import Api, error_code


def _lead(sim: MarketoSimulator, email: str) -> dict[str, object]:
    return next(lead for lead in sim.leads if lead.get("email") == email)


@pytest.mark.parametrize(
    ("file_format", "content"),
    [
        ("csv", 'email,company,title\na@example.com,"Acme, Inc.","He said ""hi"""\n'),
        ("csv", '\ufeffemail,company,title\r\na@example.com,"Acme, Inc.","He said ""hi"""\r\n'),
        ("tsv", 'email\tcompany\ttitle\na@example.com\tAcme, Inc.\t"He said ""hi"""\n'),
        ("ssv", 'email;company;title\na@example.com;"Acme, Inc.";"He said ""hi"""\n'),
    ],
)
def test_quoting_bom_and_formats(
    api: Api, marketo_simulator: MarketoSimulator, file_format: str, content: str
) -> None:
    batch_id = api.import_leads(content, format=file_format)
    status = api.wait_lead_job(batch_id)
    assert (status["numOfLeadsProcessed"], status["numOfRowsFailed"]) == (1, 0), status
    lead = _lead(marketo_simulator, "a@example.com")
    assert lead["company"] == "Acme, Inc."
    assert lead["title"] == 'He said "hi"'


def test_quoted_newline_and_blank_lines(api: Api, marketo_simulator: MarketoSimulator) -> None:
    content = 'email,title\n\na@example.com,"line one\nline two"\n\n\nb@example.com,Boss\n\n'
    batch_id = api.import_leads(content)
    status = api.wait_lead_job(batch_id)
    assert status["numOfLeadsProcessed"] == 2
    assert status["numOfRowsFailed"] == 0
    assert _lead(marketo_simulator, "a@example.com")["title"] == "line one\nline two"
    assert marketo_simulator.jobs[0]["rows"] == 2


def test_upsert_by_email_updates_existing_leads(api: Api, marketo_simulator: MarketoSimulator) -> None:
    api.wait_lead_job(api.import_leads("email,firstName\na@example.com,Ann\nb@example.com,Bob\n"))
    api.wait_lead_job(api.import_leads("email,lastName\nA@Example.com,Smith\nc@example.com,Cole\n"))
    leads = marketo_simulator.leads
    assert len(leads) == 3
    ann = _lead(marketo_simulator, "a@example.com")
    assert (ann["firstName"], ann["lastName"]) == ("Ann", "Smith")


def test_lookup_by_custom_field(api: Api, marketo_simulator: MarketoSimulator) -> None:
    api.wait_lead_job(api.import_leads("email,customerTier\na@example.com,gold\n"))
    api.wait_lead_job(api.import_leads("customerTier,firstName\ngold,Ann\n", lookupField="customerTier"))
    assert len(marketo_simulator.leads) == 1
    assert marketo_simulator.leads[0]["firstName"] == "Ann"


def test_lookup_by_id_is_update_only(api: Api, marketo_simulator: MarketoSimulator) -> None:
    api.wait_lead_job(api.import_leads("email\na@example.com\n"))
    lead_id = marketo_simulator.leads[0]["id"]
    batch_id = api.import_leads(f"id,firstName\n{lead_id},Ann\n999,Ghost\n", lookupField="id")
    status = api.wait_lead_job(batch_id)
    assert (status["numOfLeadsProcessed"], status["numOfRowsFailed"]) == (1, 1)
    assert len(marketo_simulator.leads) == 1
    assert marketo_simulator.leads[0]["firstName"] == "Ann"
    failures = api.get(f"/bulk/v1/leads/batch/{batch_id}/failures.json").text
    assert list(csv.reader(io.StringIO(failures))) == [
        ["id", "firstName", "Import Failure Reason"],
        ["999", "Ghost", "1004 Lead not found"],
    ]


def test_row_failures_warnings_and_result_files(api: Api, marketo_simulator: MarketoSimulator) -> None:
    content = (
        "email,firstName,leadScore,dateOfBirth,unsubscribed\n"
        "a@example.com,Ann,10,1990-01-31,true\n"
        'b@example.com,"Bob, Jr.",ten,,\n'
        ",NoEmail,1,,\n"
        "c@example.com,Cat,1,1990-02-31,\n"
        "d@example.com,Dan\n"
        "not-an-email,Eve,3,,no\n"
    )
    batch_id = api.import_leads(content, format="csv")
    status = api.wait_lead_job(batch_id)
    assert status["status"] == "Complete"
    assert status["numOfLeadsProcessed"] == 2
    assert status["numOfRowsFailed"] == 4
    assert status["numOfRowsWithWarning"] == 1
    assert status["message"] == (
        "Import completed with errors, 2 records imported (2 members), 4 failed, 1 warning."
    )
    failures = api.get(f"/bulk/v1/leads/batch/{batch_id}/failures.json")
    assert failures.status_code == 200
    assert failures.headers["content-type"] == "text/csv;charset=UTF-8"
    rows = list(csv.reader(io.StringIO(failures.text)))
    assert rows[0] == [
        "email",
        "firstName",
        "leadScore",
        "dateOfBirth",
        "unsubscribed",
        "Import Failure Reason",
    ]
    reasons = {row[1]: row[-1] for row in rows[1:]}
    assert reasons == {
        "Bob, Jr.": "Invalid data type in field Lead Score",
        "NoEmail": "Value for lookup field 'email' not found",
        "Cat": "Invalid data type in field Date of Birth",
        "Dan": "Invalid number of columns: expected 5",
    }
    warnings = list(csv.reader(io.StringIO(api.get(f"/bulk/v1/leads/batch/{batch_id}/warnings.json").text)))
    assert warnings[1:] == [["not-an-email", "Eve", "3", "", "no", "Invalid email address"]]
    assert _lead(marketo_simulator, "not-an-email")["unsubscribed"] is False
    assert _lead(marketo_simulator, "a@example.com")["leadScore"] == 10


def test_result_files_use_the_job_delimiter(api: Api) -> None:
    batch_id = api.import_leads("email\tcompany\n\tAcme\tTabs\n", format="tsv")
    api.wait_lead_job(batch_id)
    text = api.get(f"/bulk/v1/leads/batch/{batch_id}/failures.json").text
    assert text.splitlines()[0] == "email\tcompany\tImport Failure Reason"


def test_no_failures_is_404_and_unfinished_is_404(api: Api) -> None:
    batch_id = api.import_leads("email\na@example.com\n")
    assert api.get(f"/bulk/v1/leads/batch/{batch_id}/failures.json").status_code == 404
    status = api.wait_lead_job(batch_id)
    assert status["message"] == "Import succeeded, 1 records imported (1 members)"
    assert api.get(f"/bulk/v1/leads/batch/{batch_id}/failures.json").status_code == 404
    assert api.get(f"/bulk/v1/leads/batch/{batch_id}/warnings.json").status_code == 404
    unknown = api.get("/bulk/v1/leads/batch/77/failures.json")
    assert error_code(unknown) == "1013"


@pytest.mark.marketo_simulator(rows_per_second=1.0)
def test_file_of_an_importing_job_is_404(api: Api) -> None:
    batch_id = api.import_leads("email\nbad\nbad2\n")
    assert api.lead_status(batch_id)["status"] == "Importing"
    assert api.get(f"/bulk/v1/leads/batch/{batch_id}/warnings.json").status_code == 404


def test_list_partition_and_link_fields(api: Api, marketo_simulator: MarketoSimulator) -> None:
    content = "email,externalCompanyId,externalSalesPersonId\na@example.com,acme-1,rep-7\nb@example.com,,\n"
    api.wait_lead_job(api.import_leads(content, listId=1002, partitionName="EMEA"))
    ids = [lead["id"] for lead in marketo_simulator.leads]
    assert marketo_simulator.list_members(1002) == ids
    assert marketo_simulator.list_members(1001) == []
    lead = _lead(marketo_simulator, "a@example.com")
    assert (lead["externalCompanyId"], lead["externalSalesPersonId"]) == ("acme-1", "rep-7")
    assert {lead["partitionName"] for lead in marketo_simulator.leads} == {"EMEA"}


def test_batch_ids_expire_after_seven_days(api: Api, marketo_simulator: MarketoSimulator) -> None:
    batch_id = api.import_leads("email\nbad\n")
    api.wait_lead_job(batch_id)
    marketo_simulator.advance_clock(6 * 86400)
    assert api.lead_status(batch_id)["status"] == "Complete"
    marketo_simulator.advance_clock(86400 + 1)
    response = api.get(f"/bulk/v1/leads/batch/{batch_id}.json")
    assert error_code(response) == "1013"
    assert response.json()["errors"][0]["message"] == f"Import batch {batch_id} not found"
    assert error_code(api.get(f"/bulk/v1/leads/batch/{batch_id}/warnings.json")) == "1013"
