"""Finishing Marketo import jobs: failure/warning files, merged report, checks and the summary."""

from airflow_provider_marketo.results.batches import check_rows_sent
from airflow_provider_marketo.results.checks import ResultChecks
from airflow_provider_marketo.results.finish import ImportResultError, finish_batches
from airflow_provider_marketo.results.names import ResultNames

__all__ = ["ImportResultError", "ResultChecks", "ResultNames", "check_rows_sent", "finish_batches"]
