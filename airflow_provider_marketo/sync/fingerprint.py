"""A row's fingerprint: a stable hash of the Marketo field names and values that are sent.

Algorithm ``md5-lp-v1``: the fields sorted by Marketo name (code point order), each written as
``<n>:<name><m>:<value>`` where ``n`` and ``m`` are the UTF-8 byte lengths of name and value (an empty
field and a missing value are both the empty string); the MD5 of the UTF-8 bytes of that text, as 32
lower-case hex digits. Length prefixes make the encoding unambiguous without escaping. It does not
use DuckDB's ``hash()``, whose values may change between versions: the Python and SQL forms below are
held equal by a test. Change the algorithm, and :data:`FINGERPRINT` changes with it (the state names
it, so a new name means one full resend, never silent drift).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

#: The algorithm's name, recorded in the state.
FINGERPRINT = "md5-lp-v1"


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def fingerprint(fields: Mapping[str, str | None]) -> str:
    """The fingerprint of one row: ``{Marketo name: value}``."""
    text = "".join(
        f"{len(name.encode())}:{name}{len((value or '').encode())}:{value or ''}"
        for name, value in sorted(fields.items())
    )
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def fingerprint_sql(fields: Iterable[tuple[str, str]]) -> str:
    """The same as :func:`fingerprint`, as a DuckDB expression: ``fields`` are (Marketo name, SQL
    expression of its value)."""
    parts = []
    for name, expression in sorted(fields):
        value = f"coalesce({expression}, '')"
        parts.append(_sql_literal(f"{len(name.encode())}:{name}"))
        parts.append(f"CAST(strlen({value}) AS VARCHAR)")
        parts.append("':'")
        parts.append(value)
    return f"md5(concat({', '.join(parts) or chr(39) * 2}))"
