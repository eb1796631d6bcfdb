"""A 10 MB / 50,000-row file goes through at rows_per_second=0."""

from __future__ import annotations

from airflow_provider_marketo.testing import MarketoSimulator
from tests._support.api import Api


def test_ten_megabyte_upload_completes(api: Api, marketo_simulator: MarketoSimulator) -> None:
    header = "email,firstName,lastName,company,title,leadScore\n"
    rows = [
        f"lead{i:05d}@example.com,First{i},Last{i},Company {i % 977},Title {'x' * 120},{i % 100}\n"
        for i in range(50_000)
    ]
    content = (header + "".join(rows)).encode()
    assert 9_000_000 < len(content) < 10 * 1024 * 1024 - 2_000  # room for the multipart envelope
    batch_id = api.import_leads(content)
    status = api.wait_lead_job(batch_id)
    assert status["status"] == "Complete"
    assert status["numOfLeadsProcessed"] == 50_000
    assert status["numOfRowsFailed"] == 0
    assert len(marketo_simulator.leads) == 50_000
    assert marketo_simulator.jobs[0]["received_bytes"] == len(content)
