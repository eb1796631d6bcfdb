"""The committed state: versions, the pointer, the owner check, the lock and a race of two runs."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_marketo.sync import state as state_module
from airflow_provider_marketo.sync.state import KEEP_VERSIONS, LOCK_NAME, StateStore, SyncStateError

OWNER = {"dag_id": "d", "task_id": "t", "map_index": -1, "target": {"kind": "leads"}}
DESCRIBE = {
    "key": ["email"],
    "columns": ["email"],
    "field_mapping": None,
    "fingerprint": "md5-lp-v1",
    "owner": OWNER,
}


def _store(tmp_path: Path) -> StateStore:
    return StateStore(ObjectStoragePath("file://" + str(tmp_path / "state")))


def _writer(rows: int = 1) -> Any:
    def write(path: ObjectStoragePath) -> int:
        path.write_bytes(b"snapshot")
        return rows

    return write


def test_versions_pointer_and_pruning(tmp_path: Path) -> None:
    store = _store(tmp_path)
    assert store.current() is None
    for version in range(1, 6):
        current = store.commit(
            base_version=version - 1, run_id=f"r{version}", write_snapshot=_writer(), describe=DESCRIBE
        )
        assert current.version == version
    on_disk = json.loads((tmp_path / "state" / "CURRENT.json").read_text())
    assert on_disk["version"] == 5 and on_disk["snapshot"] == "snapshots/v000005.parquet"
    assert on_disk["fingerprint"] == "md5-lp-v1" and on_disk["run_id"] == "r5"
    kept = sorted(p.name for p in (tmp_path / "state" / "snapshots").iterdir())
    assert kept == [f"v{v:06d}.parquet" for v in range(6 - KEEP_VERSIONS, 6)]
    assert not (tmp_path / "state" / LOCK_NAME).exists()


def test_stale_base_is_refused_and_state_kept(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.commit(base_version=0, run_id="a", write_snapshot=_writer(), describe=DESCRIBE)
    store.commit(base_version=1, run_id="b", write_snapshot=_writer(), describe=DESCRIBE)
    with pytest.raises(SyncStateError, match=r"started from state version 1 .* version 2 is now current"):
        store.commit(base_version=1, run_id="c", write_snapshot=_writer(), describe=DESCRIBE)
    current = store.current()
    assert current is not None and (current.version, current.run_id) == (2, "b")


def test_another_sync_owner_is_an_error(tmp_path: Path) -> None:
    store = _store(tmp_path)
    current = store.commit(base_version=0, run_id="a", write_snapshot=_writer(), describe=DESCRIBE)
    with pytest.raises(SyncStateError, match="state of another sync"):
        store.check_owner(current, {**OWNER, "task_id": "other"})
    with pytest.raises(SyncStateError, match="state of another sync"):
        store.commit(
            base_version=1,
            run_id="b",
            write_snapshot=_writer(),
            describe={**DESCRIBE, "owner": {**OWNER, "task_id": "x"}},
        )


def test_race_of_two_runs_from_one_version(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.commit(base_version=0, run_id="first", write_snapshot=_writer(), describe=DESCRIBE)
    inside = threading.Event()
    release = threading.Event()
    results: dict[str, Any] = {}

    def slow_writer(path: ObjectStoragePath) -> int:
        inside.set()
        release.wait(5)
        path.write_bytes(b"slow")
        return 1

    def run(name: str, writer: Any) -> None:
        try:
            results[name] = _store(tmp_path).commit(
                base_version=1, run_id=name, write_snapshot=writer, describe=DESCRIBE
            )
        except SyncStateError as err:
            results[name] = err

    slow = threading.Thread(target=run, args=("slow", slow_writer))
    slow.start()
    assert inside.wait(5)
    fast = threading.Thread(target=run, args=("fast", _writer()))
    fast.start()  # waits for the lock held by "slow"
    release.set()
    slow.join(10)
    fast.join(10)
    assert results["slow"].version == 2
    assert isinstance(results["fast"], SyncStateError) and "version 2 is now current" in str(results["fast"])
    assert store.current().run_id == "slow"  # type: ignore[union-attr]


def test_expired_lock_is_taken_over_and_live_lock_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _store(tmp_path)
    (tmp_path / "state").mkdir()
    lock = tmp_path / "state" / LOCK_NAME
    lock.write_text(json.dumps({"run_id": "crashed", "token": "t", "expires_at": 0}))
    assert store.commit(base_version=0, run_id="a", write_snapshot=_writer(), describe=DESCRIBE).version == 1
    lock.write_text(json.dumps({"run_id": "busy", "token": "t", "expires_at": 1e12}))
    monkeypatch.setattr(state_module, "LOCK_WAIT_SECONDS", 0.3)
    with pytest.raises(SyncStateError, match="Another run \\('busy'\\) is committing"):
        store.commit(base_version=1, run_id="b", write_snapshot=_writer(), describe=DESCRIBE)
    assert store.current().version == 1  # type: ignore[union-attr]
