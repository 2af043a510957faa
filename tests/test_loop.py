"""The fixed-rate loop on a virtual clock: deadlines, overruns, skipped periods, statistics."""
from __future__ import annotations

import pytest

from rig.clock import VirtualClock
from rig.loop import FixedRateLoop


def run_ticks(loop: FixedRateLoop, n: int, work=lambda i, clock: None) -> list[float]:
    starts: list[float] = []

    def tick(now: float, streak: int) -> None:
        starts.append(now)
        work(len(starts) - 1, loop.clock)

    loop.run(tick, lambda: len(starts) >= n)
    return starts


def test_ticks_land_on_deadlines():
    clock = VirtualClock(start_s=10.0)
    loop = FixedRateLoop(200.0, clock)
    starts = run_ticks(loop, 5)
    assert starts == pytest.approx([10.0, 10.005, 10.010, 10.015, 10.020])
    stats = loop.stats()
    assert stats.overruns == 0 and stats.period_err_max_ms == pytest.approx(0.0, abs=1e-9)


def test_overrun_is_counted_and_missed_deadlines_skipped():
    clock = VirtualClock()
    loop = FixedRateLoop(100.0, clock)  # 10 ms period

    def slow_third_tick(i: int, c: VirtualClock) -> None:
        if i == 2:
            c.advance(0.025)  # 25 ms of work: misses the next two deadlines

    starts = run_ticks(loop, 5, slow_third_tick)
    assert starts[3] == pytest.approx(0.050)  # next deadline after 0.045, no burst of catch-up ticks
    assert loop.overruns == 1
    assert loop.longest_overrun_periods == 2  # deadlines 0.030 and 0.040 missed


def test_overrun_streak_is_reported_to_the_tick():
    clock = VirtualClock()
    loop = FixedRateLoop(100.0, clock)
    streaks: list[int] = []

    def tick(now: float, streak: int) -> None:
        streaks.append(streak)
        clock.advance(0.015 if len(streaks) <= 3 else 0.0)

    loop.run(tick, lambda: len(streaks) >= 6)
    assert streaks == [0, 1, 2, 3, 0, 0]


def test_period_error_statistics():
    clock = VirtualClock()
    loop = FixedRateLoop(100.0, clock)
    late = {4: 0.002, 8: 0.001}

    def tick(now: float, streak: int) -> None:
        pass

    original = clock.sleep_until
    count = {"n": 0}

    def jittery_sleep(deadline: float) -> None:
        original(deadline + late.get(count["n"], 0.0))
        count["n"] += 1

    clock.sleep_until = jittery_sleep  # type: ignore[method-assign]
    loop.run(tick, lambda: count["n"] >= 10)
    stats = loop.stats()
    assert stats.period_err_max_ms == pytest.approx(2.0)
    assert stats.period_err_p50_ms < 1.0
    assert stats.ticks == 10
