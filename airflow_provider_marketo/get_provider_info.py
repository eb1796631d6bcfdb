"""Provider metadata read by Airflow's ProvidersManager through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from airflow_provider_marketo import __version__
from airflow_provider_marketo.limits import conn_fields

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
                "conn-fields": conn_fields(),
            }
        ],
    }
