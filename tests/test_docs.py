"""The documentation covers every argument of the public operators and the sensor.

The reference pages render the argument lists from the docstrings (``scripts/docs_arguments.py``, a
MkDocs hook); these tests fail, naming the class and the argument, when an argument has no
``:param:`` text or no page renders it. The build itself (links, anchors, snippets) runs in
``scripts/test`` as ``mkdocs build --strict``.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pkgutil
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def _load_hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_arguments", ROOT / "scripts" / "docs_arguments.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("docs_arguments", module)
    spec.loader.exec_module(module)
    return module


hook = _load_hook()


def _public_operator_classes() -> set[str]:
    """Every operator/sensor class defined in a public module of the package (not ``_*``, not testing)."""
    from airflow.sdk import BaseOperator

    import airflow_provider_marketo

    found = set()
    for info in pkgutil.walk_packages(airflow_provider_marketo.__path__, "airflow_provider_marketo."):
        parts = info.name.split(".")
        if info.ispkg or parts[1] == "testing" or any(p.startswith("_") for p in parts):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if (
                inspect.isclass(obj)
                and obj.__module__ == info.name
                and not name.startswith("_")
                and issubclass(obj, BaseOperator)
            ):
                found.add(f"{info.name}.{name}")
    return found


def test_every_public_operator_is_in_the_reference() -> None:
    """A new operator or sensor must join ``PUBLIC_CLASSES`` (and so get its arguments documented)."""
    missing = sorted(_public_operator_classes() - set(hook.PUBLIC_CLASSES))
    assert not missing, f"add to PUBLIC_CLASSES in scripts/docs_arguments.py and to a docs page: {missing}"


def _rendered_classes() -> dict[type, Path]:
    """The classes whose argument list some page renders, and the page."""
    found: dict[type, Path] = {}
    for page in sorted(DOCS.rglob("*.md")):
        for match in hook.MARKER.finditer(page.read_text(encoding="utf-8")):
            found[hook.load(match["path"])] = page
    return found


@pytest.mark.parametrize("path", hook.PUBLIC_CLASSES + hook.OTHER_PUBLIC_CLASSES)
def test_every_argument_has_a_docstring_text(path: str) -> None:
    cls = hook.load(path)
    missing = hook.undocumented(cls)
    where = {name: hook.all_arguments(cls)[name] for name in missing}
    assert not missing, (
        f"{cls.__name__}: arguments without a ':param name:' text in a docstring: "
        + ", ".join(
            f"{name} (add it to the docstring of {owner.__module__}.{owner.__qualname__})"
            for name, owner in where.items()
        )
    )


@pytest.mark.parametrize("path", hook.PUBLIC_CLASSES + hook.OTHER_PUBLIC_CLASSES)
def test_every_argument_is_rendered_on_a_page(path: str) -> None:
    cls = hook.load(path)
    rendered = _rendered_classes()
    missing = {name: owner for name, owner in hook.all_arguments(cls).items() if owner not in rendered}
    assert not missing, f"{cls.__name__}: arguments on no docs page: " + ", ".join(
        f"{name} (add '<!-- arguments: {owner.__module__}.{owner.__qualname__} -->' to a page)"
        for name, owner in missing.items()
    )


def test_the_reference_lists_every_argument_with_its_text() -> None:
    """What a page shows: every own argument of each rendered class, with its default and text."""
    for cls in _rendered_classes():
        text = hook.render(cls)
        for param in hook.own_arguments(cls):
            line = next((ln for ln in text.splitlines() if ln.startswith(f"- **`{param.name}`**")), None)
            assert line is not None, f"{cls.__name__}.{param.name} is not in the rendered list"
            assert hook.to_markdown(hook.description(cls, param.name)) in line


def _fake_operator(doc: str) -> type:
    class Base:
        """:param kept: from the base."""

        def __init__(self, *, kept: int = 1) -> None:
            self.kept = kept

    class Operator(Base):
        def __init__(self, *, source: str, timeout: float = 3.0, **kwargs: object) -> None:
            super().__init__()

    Operator.__doc__ = doc
    for cls in (Base, Operator):
        cls.__module__ = "airflow_provider_marketo.fake"
    return Operator


def test_an_undocumented_argument_is_named() -> None:
    operator = _fake_operator(
        """Import something.

        :param source: the file, on
            two lines.
        """
    )
    assert hook.undocumented(operator) == ["timeout"]
    with pytest.raises(hook.UndocumentedArgument, match=r"Operator: no ':param timeout:' text"):
        hook.render(operator)


def test_texts_are_read_across_lines_and_inherited() -> None:
    operator = _fake_operator(
        """Import something.

        :param source: the file, on
            two lines (``s3://...``, :class:`~airflow.sdk.ObjectStoragePath`).
        :param timeout: seconds.
        """
    )
    assert hook.undocumented(operator) == []
    assert hook.description(operator, "kept") == "from the base."
    text = hook.render(operator)
    assert (
        "- **`source`** (`str`, required): the file, on two lines (`s3://...`, `ObjectStoragePath`)." in text
    )
    assert "- **`timeout`** (`float`, default `3.0`): seconds." in text
    assert "kept" not in text  # the base's own list renders it


def test_a_default_computed_at_import_is_shown_as_written() -> None:
    rendered = hook.render(hook.load("airflow_provider_marketo.sensors.bulk_import.BulkImportSensor"))
    assert re.search(r"\*\*`deferrable`\*\* \(`bool`, default `conf\.getboolean\(", rendered)


def test_the_readme_quickstart_parses_as_a_dag(tmp_path: Path) -> None:
    """The README's one DAG (pasted there, as GitHub shows no includes) imports and builds."""
    from airflow_provider_marketo._compat import dag_bag

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 150
    (code,) = re.findall(r"## Quickstart\n.*?```python\n(.*?)```", readme, re.DOTALL)
    (tmp_path / "quickstart.py").write_text(code, encoding="utf-8")
    bag = dag_bag(str(tmp_path))
    assert bag.import_errors == {}
    (dag,) = bag.dags.values()
    assert [task.task_type for task in dag.tasks] == ["BulkLeadImportOperator"]
