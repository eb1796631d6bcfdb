"""Provider metadata read by Airflow's ProvidersManager through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from airflow_provider_marketo import __version__

INTEGRATION = "Marketo"


def _modules(*names: str) -> list[dict[str, Any]]:
    return [{"integration-name": INTEGRATION, "python-modules": list(names)}]


def get_provider_info() -> dict[str, Any]:
    """Describe the provider, its modules and the ``marketo`` connection form."""
    return {
        "package-name": "airflow-provider-marketo",
        "name": "Marketo",
        "description": "Bulk imports into Adobe Marketo Engage: leads, custom objects and program members.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": INTEGRATION,
                "external-doc-url": "https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/bulk-import/bulk-lead-import",
                "tags": ["service"],
            }
        ],
        "hooks": _modules("airflow_provider_marketo.hooks.marketo"),
        "operators": _modules("airflow_provider_marketo.operators.bulk_import"),
        "sensors": _modules("airflow_provider_marketo.sensors.bulk_import"),
        "triggers": _modules("airflow_provider_marketo.triggers.bulk_import"),
        "transfers": [
            {
                "source-integration-name": "Common SQL",
                "target-integration-name": INTEGRATION,
                "python-module": "airflow_provider_marketo.transfers.sql_to_marketo",
            }
        ],
        "connection-types": [
            {
                "connection-type": "marketo",
                "hook-class-name": "airflow_provider_marketo.hooks.marketo.MarketoHook",
                "hook-name": "Marketo",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port"],
                    "relabeling": {
                        "host": "REST API base URL",
                        "login": "Client ID",
                        "password": "Client Secret",
                    },
                    "placeholders": {
                        "host": "https://123-ABC-456.mktorest.com (or the Munchkin id 123-ABC-456)",
                        "login": "client id of the LaunchPoint API service",
                        "password": "client secret of the LaunchPoint API service",
                    },
                },
                "conn-fields": {
                    "identity_url": {
                        "label": "Identity base URL",
                        "description": "Only if the Identity service is not on the REST host.",
                        "schema": {"type": ["string", "null"], "format": "url"},
                    },
                    "timeout": {
                        "label": "Request timeout (s)",
                        "description": "Seconds to wait for one HTTP response. Default 60.",
                        "schema": {"type": ["number", "null"], "minimum": 1},
                    },
                    "max_attempts": {
                        "label": "Max attempts per call",
                        "description": "Attempts for a retryable error (5xx, 604, 606, 615, ...). Default 6.",
                        "schema": {"type": ["integer", "null"], "minimum": 1},
                    },
                    "max_retry_seconds": {
                        "label": "Max retry time (s)",
                        "description": "Give up retrying one call after this many seconds. Default 300.",
                        "schema": {"type": ["number", "null"], "minimum": 0},
                    },
                    "calls_per_window": {
                        "label": "Call budget per window",
                        "description": "Client-side limit of calls per window, shared by the process. Default 50.",
                        "schema": {"type": ["integer", "null"], "minimum": 1, "maximum": 100},
                    },
                    "window_seconds": {
                        "label": "Budget window (s)",
                        "description": "Length of the sliding window of the call budget. Default 20.",
                        "schema": {"type": ["number", "null"], "minimum": 1},
                    },
                    "max_concurrent_calls": {
                        "label": "Max calls in flight",
                        "description": "Calls in flight at once per process. Default 5 (Marketo allows 10).",
                        "schema": {"type": ["integer", "null"], "minimum": 1, "maximum": 10},
                    },
                },
            }
        ],
    }
