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


def test_connection_type_is_registered() -> None:
    from airflow_provider_marketo._compat import AIRFLOW_V_3_2_PLUS

    if AIRFLOW_V_3_2_PLUS:
        from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

        hooks = ProvidersManagerTaskRuntime().hooks
    else:
        from airflow.providers_manager import ProvidersManager

        hooks = ProvidersManager().hooks
    hook_info = hooks["marketo"]
    assert hook_info is not None
    assert hook_info.hook_class_name == "airflow_provider_marketo.hooks.marketo.MarketoHook"


# What the API server sends the UI's connection form (Airflow 3.1 takes it from the hook's methods,
# 3.2+ from the provider info); in a fresh process, as the API server builds it once.
FORM_CODE = """
import json
from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService
(meta,) = [m for m in HookMetaService.hook_meta_data() if m.connection_type == "marketo"]
print("FORM=" + json.dumps(meta.model_dump(mode="json")))
"""


def test_connection_form_is_described() -> None:
    out = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", FORM_CODE],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    form = json.loads(out.stdout.split("FORM=", 1)[1])
    standard = form["standard_fields"]
    assert standard["url_schema"]["hidden"] and standard["port"]["hidden"]
    assert standard["host"]["title"] == "REST API base URL"
    assert standard["host"]["placeholder"].startswith("https://123-ABC-456.mktorest.com")
    assert standard["login"]["title"] == "Client ID"
    assert standard["password"]["title"] == "Client Secret"
    extra = form["extra_fields"]
    expected = get_provider_info()["connection-types"][0]["conn-fields"]
    assert set(extra) == set(expected)
    for name, field in expected.items():
        assert extra[name]["schema"]["title"] == field["label"]
        assert extra[name]["description"] == field["description"]
    assert extra["max_attempts"]["schema"]["type"] == ["integer", "null"]


def test_hook_form_methods_match_the_provider_info() -> None:
    """Airflow 3.1's shape: underscored keys; the same form as the provider info, not a second copy."""
    from airflow_provider_marketo.hooks.marketo import MarketoHook

    behaviour = get_provider_info()["connection-types"][0]["ui-field-behaviour"]
    assert MarketoHook.get_ui_field_behaviour() == {
        "hidden_fields": behaviour["hidden-fields"],
        "relabeling": behaviour["relabeling"],
        "placeholders": behaviour["placeholders"],
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
    providers = {p["package_name"]: p for p in json.loads(out.stdout[out.stdout.index("[") :])}
    ours = providers["airflow-provider-marketo"]
    assert ours["description"].rstrip(".") == get_provider_info()["description"].rstrip(".")
    assert ours["version"] == get_provider_info()["versions"][0]


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


def test_pytest_plugin_imports_without_the_simulator_dependencies() -> None:
    """The plugin loads in every pytest run: it must not need fastapi/uvicorn/multipart until used."""
    code = (
        "import sys\n"
        "for name in ('fastapi', 'uvicorn', 'multipart', 'python_multipart'):\n"
        "    sys.modules[name] = None  # importing it now raises ImportError\n"
        "import airflow_provider_marketo.testing.pytest_plugin, airflow_provider_marketo.testing\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=os.environ
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")
