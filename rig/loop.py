"""The fixed-period loop: sleep until each deadline on an injected clock, count what goes wrong.

`FixedRateLoop.run(tick, should_stop)` calls `tick(now_s, overrun_streak)` once per period.
Deadlines advance by whole periods; a tick that ends past the next deadline is an overrun and
the missed deadlines are skipped (never run in a burst). Statistics kept in a preallocated ring:
period error (|actual period - nominal|), overruns, longest overrun.

Not here: what a tick does (rig/supervisor.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from rig.clock import Clock

RING = 1 << 16


@dataclass(frozen=True)
class LoopStats:
    """Summary of a run, in milliseconds where named so."""

    ticks: int
    overruns: int
    longest_overrun_periods: int
    period_err_p50_ms: float
    period_err_p99_ms: float
    period_err_max_ms: float

    def as_dict(self) -> dict[str, float | int]:
        return dict(self.__dict__)


class FixedRateLoop:
    """Runs a tick at a fixed period; measures its own timing."""

    def __init__(self, rate_hz: float, clock: Clock):
        self.period_s = 1.0 / rate_hz
        self.clock = clock
        self.ticks = 0
        self.overruns = 0
        self.overrun_streak = 0
        self.longest_overrun_periods = 0
        self._errors = np.zeros(RING)
        self._count = 0
        self._last_start: float | None = None

    def run(self, tick: Callable[[float, int], None], should_stop: Callable[[], bool],
            after_tick: Callable[[float, float], None] | None = None) -> None:
        """Tick until should_stop(); after_tick(now_s, slack_s) gets each tick's spare time."""
        deadline = self.clock.now()
        while not should_stop():
            self.clock.sleep_until(deadline)
            start = self.clock.now()
            self._record_period(start)
            tick(start, self.overrun_streak)
            self.ticks += 1
            deadline = self._next_deadline(deadline + self.period_s)
            if after_tick is not None:
                now = self.clock.now()
                after_tick(now, deadline - now)

    def _record_period(self, start: float) -> None:
        if self._last_start is not None:
            self._errors[self._count % RING] = abs((start - self._last_start) - self.period_s)
            self._count += 1
        self._last_start = start

    def _next_deadline(self, deadline: float) -> float:
        now = self.clock.now()
        if now <= deadline:
            self.overrun_streak = 0
            return deadline
        missed = int((now - deadline) / self.period_s) + 1
        self.overruns += 1
        self.overrun_streak += 1
        self.longest_overrun_periods = max(self.longest_overrun_periods, missed)
        self._last_start = None  # the skipped periods are not period error, they are overruns
        return deadline + missed * self.period_s

    def stats(self) -> LoopStats:
        errors = self._errors[: min(self._count, RING)] * 1e3
        pct = (lambda q: float(np.percentile(errors, q))) if errors.size else (lambda q: 0.0)
        return LoopStats(
            ticks=self.ticks, overruns=self.overruns,
            longest_overrun_periods=self.longest_overrun_periods,
            period_err_p50_ms=pct(50), period_err_p99_ms=pct(99),
            period_err_max_ms=float(errors.max()) if errors.size else 0.0,
        )
