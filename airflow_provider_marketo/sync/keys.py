"""How a row's key is compared: the one rule used by the diff, the failure matching and the mirror.

Marketo stores a lead's email without surrounding white space and matches it without regard to case
(the simulator does the same: ``testing/store.py``). So an email key is compared with surrounding
white space removed and ASCII letters lower-cased; any other key field with surrounding white space
removed only. The rule is written twice on purpose, once for Python and once as a DuckDB SQL
expression, and a test holds them equal on generated text: both use exact character tables (no
locale, no Unicode case folding), so they cannot drift apart.
"""

from __future__ import annotations

import string

#: The white space removed around a key value.
KEY_WHITESPACE = " \t\r\n\f\v"
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def is_email_field(field: str, field_type: str | None = None) -> bool:
    """Whether a key field compares as an email (Marketo type ``email``, or the field ``email``)."""
    return (field_type or "").lower() == "email" or field.lower() == "email"


def normalize_key(value: str, *, email: bool) -> str:
    """The comparable form of one key value (empty: the row has no key)."""
    stripped = value.strip(KEY_WHITESPACE)
    return stripped.translate(_ASCII_LOWER) if email else stripped


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def normalize_key_sql(expression: str, *, email: bool) -> str:
    """The same rule as :func:`normalize_key`, as a DuckDB expression over ``expression``.

    ASCII lower-casing: ``lower()`` on a value whose bytes are all ASCII (``strlen`` = ``length``),
    else an exact ``translate`` of A-Z (``translate`` alone is four times slower on every row)."""
    trimmed = f"trim(coalesce({expression}, ''), {_sql_literal(KEY_WHITESPACE)})"
    if not email:
        return trimmed
    return (
        f"CASE WHEN strlen({trimmed}) = length({trimmed}) THEN lower({trimmed}) ELSE translate({trimmed}, "
        f"{_sql_literal(string.ascii_uppercase)}, {_sql_literal(string.ascii_lowercase)}) END"
    )
