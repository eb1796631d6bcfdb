"""Client-side call budget per Marketo instance, shared by every hook of the process.

Two limits, both usable from threads and from asyncio (an event loop is never blocked):

* :class:`SlidingWindow`: at most ``calls`` call starts in any ``window`` seconds. ``reserve()`` books
  the next free start time and returns how long to wait for it.
* :class:`CallGate`: at most ``limit`` calls in flight; a freed slot is handed to the oldest waiter,
  be it a thread or a coroutine on any loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


class SlidingWindow:
    """At most ``calls`` bookings in any interval of ``window`` seconds (thread-safe)."""

    def __init__(self, calls: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._booked: deque[float] = deque()
        self.configure(calls, window)

    def configure(self, calls: int, window: float) -> None:
        with self._lock:
            self.calls, self.window = calls, window

    def reserve(self) -> float:
        """Book the earliest allowed start time; return the seconds to wait until it (0 = now)."""
        with self._lock:
            now = self._clock()
            while self._booked and self._booked[0] <= now - self.window:
                self._booked.popleft()
            start = now
            if len(self._booked) >= self.calls:
                start = max(now, self._booked[-self.calls] + self.window)
            self._booked.append(start)
            return start - now


@dataclass(eq=False)
class _Waiter:
    loop: asyncio.AbstractEventLoop | None = None
    future: asyncio.Future[None] | None = None
    event: threading.Event = field(default_factory=threading.Event)
    granted: bool = False

    def wake(self) -> bool:
        """Hand the slot over; ``False`` if the waiter's loop is gone."""
        if self.loop is None:
            self.event.set()
            return True
        try:
            self.loop.call_soon_threadsafe(_resolve, self.future)
        except RuntimeError:  # loop closed
            return False
        return True


def _resolve(future: asyncio.Future[None] | None) -> None:
    if future is not None and not future.done():
        future.set_result(None)


class CallGate:
    """A FIFO semaphore shared by threads and coroutines of any event loop."""

    def __init__(self, limit: int) -> None:
        self._lock = threading.Lock()
        self.limit = limit
        self.in_flight = 0
        self._waiters: deque[_Waiter] = deque()

    def _take(self) -> bool:
        if self.in_flight < self.limit and not self._waiters:
            self.in_flight += 1
            return True
        return False

    def acquire(self) -> None:
        """Wait (blocking this thread) for a slot."""
        with self._lock:
            if self._take():
                return
            waiter = _Waiter()
            self._waiters.append(waiter)
        waiter.event.wait()

    async def aacquire(self) -> None:
        """Wait (without blocking the loop) for a slot."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._take():
                return
            future: asyncio.Future[None] = loop.create_future()
            waiter = _Waiter(loop=loop, future=future)
            self._waiters.append(waiter)
        try:
            await future
        except asyncio.CancelledError:
            with self._lock:
                if waiter.granted:
                    self._release()
                else:
                    self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        with self._lock:
            self._release()

    def _release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            waiter.granted = True
            if waiter.wake():
                return
        self.in_flight -= 1


class InstanceLimiter:
    """The call budget of one Marketo instance (rate window and calls in flight)."""

    def __init__(self, calls: int, window: float, concurrency: int) -> None:
        self.window = SlidingWindow(calls, window)
        self.gate = CallGate(concurrency)

    def configure(self, calls: int, window: float, concurrency: int) -> None:
        self.window.configure(calls, window)
        self.gate.limit = concurrency

    def _delay(self, what: str) -> float:
        delay = self.window.reserve()
        if delay > 0:
            level = logging.INFO if delay >= 0.5 else logging.DEBUG
            log.log(level, "Waiting %.2f s for the client-side call budget before %s.", delay, what)
        return delay

    @contextmanager
    def slot(self, what: str) -> Iterator[None]:
        """Hold a call slot in a thread: wait for room in flight, then for the rate window."""
        self.gate.acquire()
        try:
            delay = self._delay(what)
            if delay > 0:
                time.sleep(delay)
            yield
        finally:
            self.gate.release()

    @asynccontextmanager
    async def aslot(self, what: str) -> AsyncIterator[None]:
        """Hold a call slot in a coroutine (same budget as :meth:`slot`)."""
        await self.gate.aacquire()
        try:
            delay = self._delay(what)
            if delay > 0:
                await asyncio.sleep(delay)
            yield
        finally:
            self.gate.release()


_registry_lock = threading.Lock()
_limiters: dict[str, InstanceLimiter] = {}


def limiter_for(base_url: str, calls: int, window: float, concurrency: int) -> InstanceLimiter:
    """The process-wide limiter of the instance at ``base_url`` (the latest settings apply)."""
    with _registry_lock:
        limiter = _limiters.get(base_url)
        if limiter is None:
            limiter = _limiters[base_url] = InstanceLimiter(calls, window, concurrency)
        else:
            limiter.configure(calls, window, concurrency)
        return limiter


def _reset_after_fork() -> None:
    global _registry_lock
    _registry_lock = threading.Lock()
    _limiters.clear()


os.register_at_fork(after_in_child=_reset_after_fork)
