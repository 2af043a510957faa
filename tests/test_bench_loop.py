"""bench/loop.py's host steal figure: read from /proc/stat, as a share of the machine's CPU time."""
from __future__ import annotations

import time

from bench.loop import cpu_ticks, steal_pct


def test_steal_is_a_share_of_all_cpu_time_between_two_readings():
    assert steal_pct((1000, 10), (3000, 30)) == 1.0
    assert steal_pct((1000, 10), (1000, 10)) is None  # no time passed: no figure, not 0 %


def test_the_machine_counters_move_forward():
    before = cpu_ticks()
    time.sleep(0.05)
    after = cpu_ticks()
    assert after[0] > before[0] > 0 and after[1] >= before[1] >= 0
    assert 0.0 <= steal_pct(before, after) <= 100.0
