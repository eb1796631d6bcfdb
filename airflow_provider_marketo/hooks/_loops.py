"""Objects that live once per running event loop (httpx clients, asyncio locks).

After ``fork`` the registry is emptied in place: a child never reuses its parent's clients.
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_per_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Hashable, Any]] = (
    weakref.WeakKeyDictionary()
)


def loop_local(key: Hashable, factory: Callable[[], T]) -> T:
    """The object under ``key`` for the running loop, made by ``factory`` on first use."""
    loop = asyncio.get_running_loop()
    with _lock:
        objects = _per_loop.setdefault(loop, {})
        if key not in objects:
            objects[key] = factory()
        value: T = objects[key]
        return value


def loop_objects() -> list[Any]:
    """Everything registered for the running loop (e.g. to close clients before the loop ends)."""
    with _lock:
        return list(_per_loop.get(asyncio.get_running_loop(), {}).values())


def _reset_after_fork() -> None:
    global _lock
    _lock = threading.Lock()  # the parent may have held it while forking
    _per_loop.clear()


os.register_at_fork(after_in_child=_reset_after_fork)
