"""The provider is discovered by Airflow and imports without side effects."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from airflow_provider_marketo.get_provider_info import get_provider_info


def test_provider_info_is_valid_for_airflow() -> None:
    import jsonschema
    from airflow.providers_manager import ProvidersManager

    info = get_provider_info()
    assert info["package-name"] == "airflow-provider-marketo"
    schema_path = os.path.join(
        os.path.dirname(sys.modules["airflow"].__file__ or ""), "provider_info.schema.json"
    )
    with open(schema_path) as f:
        jsonschema.validate(info, json.load(f))
    manager = ProvidersManager()
    assert manager.providers["airflow-provider-marketo"].version == info["versions"][0]


def test_connection_type_and_form_are_registered() -> None:
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    manager = ProvidersManager()
    hooks = ProvidersManagerTaskRuntime().hooks
    assert "marketo" in hooks
    hook_info = hooks["marketo"]
    assert hook_info is not None
    assert hook_info.hook_class_name == "airflow_provider_marketo.hooks.marketo.MarketoHook"
    behaviour = manager.field_behaviours["marketo"]
    assert set(behaviour["hidden_fields"]) == {"schema", "port"}
    assert behaviour["relabeling"] == {
        "host": "REST API base URL",
        "login": "Client ID",
        "password": "Client Secret",
    }


@pytest.mark.parametrize("kind", ["hooks", "operators", "sensors", "triggers"])
def test_listed_modules_import(kind: str) -> None:
    import importlib

    for entry in get_provider_info()[kind]:
        for module in entry["python-modules"]:
            importlib.import_module(module)


def test_cli_lists_the_provider() -> None:
    airflow = os.path.join(os.path.dirname(sys.executable), "airflow")
    out = subprocess.run(
        [airflow, "providers", "list", "--output", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    names = {p["package_name"] for p in json.loads(out.stdout[out.stdout.index("[") :])}
    assert "airflow-provider-marketo" in names


def test_package_import_has_no_side_effects() -> None:
    code = (
        "import sys, socket\n"
        "def deny(*a, **k): raise AssertionError('network used at import')\n"
        "socket.socket.connect = deny\n"
        "import airflow_provider_marketo, airflow_provider_marketo.get_provider_info\n"
        "import airflow_provider_marketo.hooks.marketo, airflow_provider_marketo.operators.bulk_import\n"
        "import airflow_provider_marketo.sensors.bulk_import, airflow_provider_marketo.triggers.bulk_import\n"
        "import airflow_provider_marketo.testing\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=os.environ
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")
