"""The client-side call budget: sliding window (injected clock) and the calls-in-flight gate."""

from __future__ import annotations

import asyncio
import threading

from airflow_provider_marketo.hooks._ratelimit import CallGate, SlidingWindow, limiter_for
from tests._support.internals import waiting


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_window_lets_the_budget_through_then_books_the_next_free_slot() -> None:
    clock = FakeClock()
    window = SlidingWindow(3, 20, clock=clock)
    assert [window.reserve() for _ in range(3)] == [0, 0, 0]
    # The 4th call may start when the 1st leaves the window, the 5th and 6th likewise.
    assert [window.reserve() for _ in range(3)] == [20, 20, 20]
    assert window.reserve() == 40


def test_window_slides_with_the_clock() -> None:
    clock = FakeClock()
    window = SlidingWindow(2, 10, clock=clock)
    assert window.reserve() == 0
    clock.now += 4
    assert window.reserve() == 0
    clock.now += 1
    assert window.reserve() == 5  # first booking (t=0) leaves the window at t=10, now is t=5
    clock.now += 100
    assert [window.reserve(), window.reserve(), window.reserve()] == [0, 0, 10]


def test_any_window_holds_at_most_the_budget() -> None:
    clock = FakeClock()
    window = SlidingWindow(5, 2, clock=clock)
    starts = []
    for step in range(40):
        clock.now = 1000 + step * 0.1
        starts.append(clock.now + window.reserve())
    starts.sort()
    for i, start in enumerate(starts):
        in_window = [s for s in starts[i:] if s < start + 2]
        assert len(in_window) <= 5


def test_reconfigure_applies_the_new_budget() -> None:
    clock = FakeClock()
    window = SlidingWindow(1, 10, clock=clock)
    assert window.reserve() == 0
    assert window.reserve() == 10
    window.configure(5, 10)
    assert window.reserve() == 0


def test_gate_blocks_threads_beyond_the_limit_and_hands_over_fifo() -> None:
    gate = CallGate(2)
    gate.acquire()
    gate.acquire()
    got: list[str] = []

    def worker(name: str) -> None:
        gate.acquire()
        got.append(name)

    first = threading.Thread(target=worker, args=("first",))
    first.start()
    _wait_until(lambda: waiting(gate) == 1)
    second = threading.Thread(target=worker, args=("second",))
    second.start()
    _wait_until(lambda: waiting(gate) == 2)
    assert got == []
    gate.release()
    first.join(5)
    assert got == ["first"]
    assert gate.in_flight == 2
    gate.release()
    second.join(5)
    assert got == ["first", "second"]
    gate.release()
    gate.release()
    assert gate.in_flight == 0


async def test_gate_is_shared_by_coroutines_without_blocking_the_loop() -> None:
    gate = CallGate(1)
    await gate.aacquire()
    order: list[int] = []

    async def worker(i: int) -> None:
        await gate.aacquire()
        order.append(i)

    tasks = [asyncio.create_task(worker(i)) for i in range(3)]
    await asyncio.sleep(0)
    assert waiting(gate) == 3  # the loop kept running: all three are queued
    for expected in ([0], [0, 1], [0, 1, 2]):
        gate.release()
        await _settle()
        assert order == expected
    await asyncio.gather(*tasks)
    gate.release()
    assert gate.in_flight == 0


async def test_cancelled_waiter_gives_its_slot_back() -> None:
    gate = CallGate(1)
    await gate.aacquire()
    waiter = asyncio.create_task(gate.aacquire())
    await asyncio.sleep(0)
    gate.release()  # handed to the waiter ...
    waiter.cancel()  # ... which is cancelled before it runs
    await asyncio.gather(waiter, return_exceptions=True)
    assert gate.in_flight == 0
    assert waiting(gate) == 0
    await gate.aacquire()
    assert gate.in_flight == 1


async def test_thread_release_wakes_a_coroutine() -> None:
    gate = CallGate(1)
    gate.acquire()
    waiter = asyncio.create_task(gate.aacquire())
    await asyncio.sleep(0)
    assert not waiter.done()
    releaser = threading.Thread(target=gate.release)
    releaser.start()
    await asyncio.wait_for(waiter, 5)
    releaser.join()
    assert gate.in_flight == 1


def test_limiters_are_shared_per_instance() -> None:
    a = limiter_for("http://127.0.0.1:1", 50, 20, 5)
    b = limiter_for("http://127.0.0.1:1", 10, 20, 3)
    c = limiter_for("http://127.0.0.1:2", 50, 20, 5)
    assert a is b
    assert a is not c
    assert (a.window.calls, a.gate.limit) == (10, 3)


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def _wait_until(condition: object) -> None:
    event = threading.Event()
    for _ in range(500):
        if callable(condition) and condition():
            return
        event.wait(0.01)
    raise AssertionError("condition not reached")
