"""The committed state of a sync: versioned Parquet snapshots and the ``CURRENT.json`` pointer.

Layout under ``sync_state_path``::

    CURRENT.json                  the committed version, its snapshot, key, columns, mapping,
                                  fingerprint algorithm, owner (dag/task/map index/target), run id
    snapshots/v000124.parquet     key fields + fingerprint + failed + run_id, one row per key
    LOCK.json                     only while a commit runs: run id, token, expiry

A commit writes the new snapshot under a new name, then replaces ``CURRENT.json``, but only when it
still names the version the run started from. The check and the write happen under ``LOCK.json``,
created with an exclusive create (``xb``: local files, ``memory://``, S3 with ``If-None-Match``) and
read back, so a store without exclusive create still lets only one holder pass; a lock older than
its expiry is taken over. The last :data:`KEEP_VERSIONS` snapshots are kept.

The state holds key values (emails, dedupe fields) and fingerprints, no other field values: it is as
sensitive as the keys of the export.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_marketo._compat import AirflowException

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

CURRENT_NAME = "CURRENT.json"
LOCK_NAME = "LOCK.json"
SNAPSHOTS = "snapshots"
#: Snapshot versions kept (the current one and the two before it).
KEEP_VERSIONS = 3
#: How long a commit may hold the lock before another run may take it over.
LOCK_EXPIRY_SECONDS = 600.0
#: How long a commit waits for another run's lock.
LOCK_WAIT_SECONDS = 60.0


class SyncStateError(AirflowException):
    """The state cannot be used or updated by this run (another sync's state, a newer version)."""


@dataclass(frozen=True)
class Current:
    """The content of ``CURRENT.json``."""

    version: int
    snapshot: str
    key: list[str]
    columns: list[str]
    field_mapping: dict[str, str] | None
    fingerprint: str
    owner: dict[str, Any]
    run_id: str
    committed_at: str
    rows: int
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Current:
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        return cls(**{k: data[k] for k in known}, extra={k: v for k, v in data.items() if k not in known})

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(data.pop("extra"))
        return data


def snapshot_name(version: int) -> str:
    return f"{SNAPSHOTS}/v{version:06d}.parquet"


def describe_owner(owner: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in owner.items())


class StateStore:
    """The state folder of one sync."""

    def __init__(self, root: ObjectStoragePath, *, clock: Callable[[], float] = time.time) -> None:
        self.root = root
        self.clock = clock

    def current(self) -> Current | None:
        path = self.root / CURRENT_NAME
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        return Current.from_dict(json.loads(text))

    def snapshot(self, current: Current) -> ObjectStoragePath:
        return self.root / current.snapshot

    def check_owner(self, current: Current | None, owner: Mapping[str, Any]) -> None:
        """Fail when the state belongs to another sync (two syncs must not share a state folder)."""
        if current is not None and current.owner != dict(owner):
            raise SyncStateError(
                f"sync_state_path {self.root} holds the state of another sync ({describe_owner(current.owner)}),"
                f" not of this one ({describe_owner(owner)}). Two syncs must not share a state folder: "
                "give each its own sync_state_path."
            )

    def commit(
        self,
        *,
        base_version: int,
        run_id: str,
        write_snapshot: Callable[[ObjectStoragePath], int],
        describe: Mapping[str, Any],
    ) -> Current:
        """Write snapshot ``base_version + 1`` (``write_snapshot(path)`` returns its rows) and point
        ``CURRENT.json`` at it, if ``CURRENT.json`` still names ``base_version`` (0: no state yet).

        ``describe``: key, columns, field_mapping, fingerprint, owner of the new version.
        """
        token = self._lock(run_id)
        try:
            current = self.current()
            now_version = 0 if current is None else current.version
            if now_version != base_version:
                assert current is not None
                raise SyncStateError(
                    f"This run started from state version {base_version} of {self.root}, but version "
                    f"{now_version} is now current (committed by run {current.run_id!r} at "
                    f"{current.committed_at}). Not overwriting the newer state: the rows this run sent "
                    "are not recorded and the next run sends them again if they still differ."
                )
            if current is not None:
                self.check_owner(current, describe["owner"])
            version = base_version + 1
            name = snapshot_name(version)
            path = self.root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            rows = write_snapshot(path)
            new = Current(
                version=version,
                snapshot=name,
                key=list(describe["key"]),
                columns=list(describe["columns"]),
                field_mapping=None if describe["field_mapping"] is None else dict(describe["field_mapping"]),
                fingerprint=str(describe["fingerprint"]),
                owner=dict(describe["owner"]),
                run_id=run_id,
                committed_at=datetime.now(UTC).isoformat(timespec="seconds"),
                rows=rows,
            )
            self._check_lock(token)
            (self.root / CURRENT_NAME).write_text(json.dumps(new.to_dict(), indent=1))
        finally:
            self._unlock(token)
        self._prune(version)
        return new

    def _prune(self, version: int) -> None:
        for old in range(max(1, version - KEEP_VERSIONS - 10), version - KEEP_VERSIONS + 1):
            (self.root / snapshot_name(old)).unlink(missing_ok=True)

    # The lock.

    def _lock(self, run_id: str) -> str:
        path = self.root / LOCK_NAME
        token = uuid.uuid4().hex
        body = json.dumps(
            {"run_id": run_id, "token": token, "expires_at": self.clock() + LOCK_EXPIRY_SECONDS}
        )
        deadline = self.clock() + LOCK_WAIT_SECONDS
        self.root.mkdir(parents=True, exist_ok=True)
        while True:
            try:
                with path.open("x") as out:  # type: ignore[no-untyped-call]
                    out.write(body)
            except FileExistsError:
                held = self._read_lock()
                if held is not None and held.get("expires_at", 0) < self.clock():
                    path.unlink(missing_ok=True)  # expired: a crashed commit
                    continue
                if self.clock() > deadline:
                    who = "unknown" if held is None else repr(held.get("run_id"))
                    raise SyncStateError(
                        f"Another run ({who}) is committing the state in {self.root}; gave up waiting "
                        f"after {LOCK_WAIT_SECONDS:.0f} s. Nothing was committed by this run."
                    ) from None
                time.sleep(0.2)
                continue
            held = self._read_lock()
            if held is not None and held.get("token") == token:
                return token
            raise SyncStateError(f"Another run took the commit lock of {self.root} at the same moment.")

    def _read_lock(self) -> dict[str, Any] | None:
        try:
            data = json.loads((self.root / LOCK_NAME).read_text())
        except (FileNotFoundError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _check_lock(self, token: str) -> None:
        held = self._read_lock()
        if held is None or held.get("token") != token:
            raise SyncStateError(
                f"The commit lock of {self.root} expired and was taken over by another run; "
                "not overwriting its state."
            )

    def _unlock(self, token: str) -> None:
        held = self._read_lock()
        if held is not None and held.get("token") == token:
            (self.root / LOCK_NAME).unlink(missing_ok=True)
