"""What a sync compares: the key fields of the target and the columns sent (after ``field_mapping``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from airflow_provider_marketo.utils.formats import InputFileError

#: Columns of a snapshot besides the key fields.
SNAPSHOT_COLUMNS = ("fingerprint", "failed", "run_id")


@dataclass(frozen=True)
class KeySpec:
    """The key of a row: Marketo field names (composite for custom objects) and, for each, whether it
    compares as an email (see :mod:`airflow_provider_marketo.sync.keys`)."""

    fields: tuple[str, ...]
    email: tuple[bool, ...]

    def __post_init__(self) -> None:
        if not self.fields or len(self.fields) != len(self.email):
            raise ValueError("A key needs at least one field, and an email flag for each.")
        clash = [f for f in self.fields if f.lower() in SNAPSHOT_COLUMNS]
        if clash:
            raise ValueError(f"A key field may not be named {', '.join(SNAPSHOT_COLUMNS)}: {clash}.")


@dataclass(frozen=True)
class Columns:
    """The columns sent: ``(source column, Marketo name)`` in file order."""

    pairs: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, header: Sequence[str], field_mapping: Mapping[str, str] | None, source_name: str) -> Columns:
        """Every column as it is, or only the mapped ones under their Marketo names."""
        if field_mapping is None:
            return cls(tuple((c, c) for c in header))
        missing = [c for c in field_mapping if c not in header]
        if missing:
            raise InputFileError(
                f"{source_name}: field_mapping names columns the header does not have: "
                f"{', '.join(missing)} (the header: {', '.join(header[:30])})"
            )
        return cls(tuple((c, field_mapping[c]) for c in header if c in field_mapping))

    @property
    def names(self) -> list[str]:
        """The Marketo names, in the order sent (the header of the file sent)."""
        return [name for _, name in self.pairs]

    def source_of(self, field: str, source_name: str) -> str:
        """The source column sent as Marketo field ``field`` (names match in any case, as in Marketo)."""
        for column, name in self.pairs:
            if name.lower() == field.lower():
                return column
        raise InputFileError(
            f"{source_name}: the key field {field!r} is not among the columns sent "
            f"({', '.join(self.names[:30])}); a change-only sync needs it in every row"
        )
