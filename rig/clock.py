"""Time, injected: the monotonic clock for real runs, a virtual clock for lockstep tests.

Nothing in the rig reads time from a global; it is handed a Clock.
"""
from __future__ import annotations

import time
from typing import Callable, Protocol


class Clock(Protocol):
    def now(self) -> float: ...
    def sleep_until(self, deadline_s: float) -> None: ...


class MonotonicClock:
    """Real time: time.monotonic and sleep until the deadline."""

    def now(self) -> float:
        return time.monotonic()

    def sleep_until(self, deadline_s: float) -> None:
        delay = deadline_s - time.monotonic()
        if delay > 0:
            time.sleep(delay)


class VirtualClock:
    """Time that moves only when the loop sleeps; `on_advance(t0, t1)` steps the world with it."""

    def __init__(self, start_s: float = 0.0, on_advance: Callable[[float, float], None] | None = None):
        self.t = start_s
        self.on_advance = on_advance

    def now(self) -> float:
        return self.t

    def sleep_until(self, deadline_s: float) -> None:
        if deadline_s > self.t:
            previous, self.t = self.t, deadline_s
            if self.on_advance:
                self.on_advance(previous, deadline_s)

    def advance(self, dt_s: float) -> None:
        self.sleep_until(self.t + dt_s)
