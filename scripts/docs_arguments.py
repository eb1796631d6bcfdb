"""The argument reference of the documentation site, generated from the docstrings (a MkDocs hook).

A page line ``<!-- arguments: airflow_provider_marketo.sensors.bulk_import.BulkImportSensor -->`` is
replaced by the list of the arguments that class's own ``__init__`` takes (name, type, default and
the ``:param name:`` text of its docstring, or of the first class in its MRO that documents it). An
argument without a ``:param:`` text fails the build naming it. ``tests/test_docs.py`` checks with the
same functions that every argument of every public class is documented and rendered on a page.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import textwrap
from collections.abc import Iterator
from typing import Any

#: The public operator/sensor classes whose every argument must be on a page.
PUBLIC_CLASSES = (
    "airflow_provider_marketo.operators.bulk_import.BulkLeadImportOperator",
    "airflow_provider_marketo.operators.bulk_import.BulkCustomObjectImportOperator",
    "airflow_provider_marketo.operators.bulk_import.BulkProgramMemberImportOperator",
    "airflow_provider_marketo.transfers.sql_to_marketo.SqlToMarketoOperator",
    "airflow_provider_marketo.sensors.bulk_import.BulkImportSensor",
)
#: The hooks and the trigger: their arguments are on a page too.
OTHER_PUBLIC_CLASSES = (
    "airflow_provider_marketo.hooks.marketo.MarketoHook",
    "airflow_provider_marketo.hooks.marketo.AsyncMarketoHook",
    "airflow_provider_marketo.triggers.bulk_import.BulkImportTrigger",
)
#: Where the classes of this package end: Airflow's own arguments (task_id, retries, ...) are not ours.
PACKAGE = "airflow_provider_marketo."

MARKER = re.compile(r"^<!-- arguments: (?P<path>[\w.]+) -->$", re.MULTILINE)
_PARAM = re.compile(r"^(?P<indent>[ \t]*):param (?P<name>\w+):[ \t]*(?P<text>.*)$")
_ROLE = re.compile(r":(?:class|func|meth|attr|mod|data|exc|obj):`~?(?P<target>[^`]+)`")


class UndocumentedArgument(Exception):
    """An argument of a public class has no ``:param:`` text."""


def load(path: str) -> type:
    """The class at a dotted path."""
    module, _, name = path.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    if not inspect.isclass(cls):
        raise TypeError(f"{path} is not a class.")
    return cls


def own_arguments(cls: type) -> list[inspect.Parameter]:
    """The named arguments of ``cls``'s own ``__init__`` (none when it does not define one)."""
    init = cls.__dict__.get("__init__")
    if init is None:
        return []
    return [
        p
        for p in inspect.signature(init).parameters.values()
        if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


def package_classes(cls: type) -> Iterator[type]:
    """``cls`` and its bases from this package, in MRO order."""
    return (c for c in cls.__mro__ if c.__module__.startswith(PACKAGE))


def all_arguments(cls: type) -> dict[str, type]:
    """Every argument ``cls`` takes from this package's ``__init__``\\ s: name -> the class defining it."""
    found: dict[str, type] = {}
    for owner in package_classes(cls):
        for param in own_arguments(owner):
            found.setdefault(param.name, owner)
    return found


def docstring_params(doc: str | None) -> dict[str, str]:
    """``:param name: text`` entries of a Sphinx-style docstring, continuation lines joined."""
    params: dict[str, str] = {}
    lines = inspect.cleandoc(doc or "").splitlines()
    i = 0
    while i < len(lines):
        match = _PARAM.match(lines[i])
        i += 1
        if not match:
            continue
        text = [match["text"].strip()]
        indent = len(match["indent"])
        while i < len(lines) and lines[i].strip() and len(lines[i]) - len(lines[i].lstrip()) > indent:
            text.append(lines[i].strip())
            i += 1
        params[match["name"]] = " ".join(t for t in text if t)
    return params


def description(cls: type, name: str) -> str | None:
    """The ``:param name:`` text of ``cls``, else of the first class of its MRO (this package) with one."""
    for owner in package_classes(cls):
        text = docstring_params(owner.__doc__).get(name)
        if text:
            return text
    return None


def undocumented(cls: type) -> list[str]:
    """The arguments of ``cls`` (its own and inherited from this package) without a ``:param:`` text."""
    return [name for name in all_arguments(cls) if description(cls, name) is None]


def to_markdown(rst: str) -> str:
    """Docstring inline markup as Markdown: ````x```` and ``:class:`~a.B``` become code spans."""
    text = _ROLE.sub(lambda m: f"``{m['target'].rsplit('.', 1)[-1] if '~' in m[0] else m['target']}``", rst)
    return re.sub(r"``(.+?)``", r"`\1`", text)


def _default_sources(cls: type) -> dict[str, str]:
    """The source text of defaults computed when the module is imported (a call, e.g. a config read)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls.__dict__["__init__"])))
    except (OSError, TypeError, KeyError):
        return {}
    (function,) = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    args = function.args
    pairs = list(zip(args.kwonlyargs, args.kw_defaults, strict=True))
    positional = args.posonlyargs + args.args
    pairs += list(zip(positional[len(positional) - len(args.defaults) :], args.defaults, strict=True))
    return {a.arg: ast.unparse(d) for a, d in pairs if isinstance(d, ast.Call)}


def render(cls: type) -> str:
    """The Markdown list of ``cls``'s own arguments; raises :class:`UndocumentedArgument`."""
    missing = [p.name for p in own_arguments(cls) if description(cls, p.name) is None]
    if missing:
        raise UndocumentedArgument(
            f"{cls.__name__}: no ':param {missing[0]}:' text in the docstring of {cls.__module__}."
            f"{cls.__qualname__} or of a base class (undocumented: {', '.join(missing)})."
        )
    computed = _default_sources(cls)
    items = []
    for param in own_arguments(cls):
        annotation = "" if param.annotation is param.empty else f"`{param.annotation}`"
        if param.default is param.empty:
            default = "required"
        elif param.name in computed:
            default = f"default `{computed[param.name]}`"
        else:
            default = f"default `{param.default!r}`"
        kind = ", ".join(part for part in (annotation, default) if part)
        text = to_markdown(description(cls, param.name) or "")
        items.append(f"- **`{param.name}`** ({kind}): {text}")
    return "\n".join(items) + "\n"


def expand(markdown: str) -> str:
    """``markdown`` with every arguments marker replaced by its list."""
    return MARKER.sub(lambda m: render(load(m["path"])), markdown)


def on_page_markdown(markdown: str, **_: Any) -> str:
    """MkDocs hook: expand the markers (an undocumented argument fails the build)."""
    from mkdocs.exceptions import PluginError

    try:
        return expand(markdown)
    except (UndocumentedArgument, ImportError, AttributeError, TypeError) as error:
        raise PluginError(f"argument reference: {error}") from error
