"""The simulated patient held to DESIGN.md section 8, from the ground truth and true forces."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest

from rig.sim.world import World
from rig.sim.world_figures import gait_figures
from rig.sim.worldconfig import HarnessConfig, PatientConfig, WorldConfig

G = 9.81
BW = 80.0 * G
DT = 0.001
SETTLE_S = 6.0


@lru_cache(maxsize=None)
def walk(speed: float = 1.0, seconds: float = 60.0, preload_n: float = -1.0, paretic: str = "none"):
    """Walk at `speed`; preload < 0 = harness detached (unloaded GRF). Returns (rows, truth)."""
    cfg = WorldConfig(patient=PatientConfig(paretic_side=paretic),
                      harness=HarnessConfig(initial_line_force_n=max(preload_n, 0.0)))
    w = World(cfg)
    if preload_n < 0.0:
        w.schedule(0.0, "harness_detach")
    w.set_belt_drive(speed, True)
    rows = []
    for _ in range(int(seconds / DT)):
        w.step(DT)
        s = w.snapshot()
        rows.append((s.t_s, s.line_force_n, s.deck_fl_n, s.deck_fr_n, s.deck_rl_n, s.deck_rr_n,
                     s.belt_speed_mps, s.foot_left_n, s.foot_right_n, s.com_z_m))
    truth = [e for e in w.truth if e[0] > SETTLE_S and e[1] in ("heel_strike", "toe_off")]
    return np.array(rows), truth


def figures(speed=1.0, **kw) -> dict[str, float]:
    rows, truth = walk(speed, **kw)
    return gait_figures(rows[rows[:, 0] > SETTLE_S, :7], truth)


def per_step(rows, truth, column) -> list[np.ndarray]:
    strikes = sorted(t for t, e, _ in truth if e == "heel_strike")
    t = rows[:, 0]
    return [rows[np.searchsorted(t, a):np.searchsorted(t, b), column] for a, b in zip(strikes[:-1], strikes[1:])]


def test_cadence_at_1_mps_and_rising_with_speed():
    slow, normal, fast = (figures(v)["cadence_spm"] for v in (0.6, 1.0, 1.4))
    assert 95.0 <= normal <= 110.0
    assert slow < normal < fast


def test_stance_and_double_support_at_1_mps_and_stance_shorter_when_faster():
    f = figures(1.0)
    assert 0.57 <= f["stance_left"] <= 0.63 and 0.57 <= f["stance_right"] <= 0.63
    assert 0.08 <= f["double_support"] <= 0.12
    assert figures(1.4)["stance_left"] < f["stance_left"] - 0.01


def test_stride_time_variability_healthy():
    assert 0.02 <= figures(1.0)["stride_cv"] <= 0.03


def test_each_foot_has_the_double_hump_of_real_walking():
    rows, truth = walk(1.0)
    for side, column in (("left", 7), ("right", 8)):
        strikes = [t for t, e, s in truth if e == "heel_strike" and s == side]
        offs = [t for t, e, s in truth if e == "toe_off" and s == side]
        first, second, valley = [], [], []
        for start in strikes[:-1]:
            end = next(t for t in offs if t > start)
            seg = rows[(rows[:, 0] >= start) & (rows[:, 0] < end), column] / BW
            n = len(seg)
            first.append(seg[: n // 2].max())
            second.append(seg[n // 2:].max())
            valley.append(seg[int(0.3 * n): int(0.7 * n)].min())
        assert 1.05 <= np.median(first) <= 1.25, side
        assert 1.0 <= np.median(second) <= 1.25, side
        assert 0.7 <= np.median(valley) <= 0.8, side


def test_com_moves_3_to_5_cm_twice_per_stride():
    rows, truth = walk(1.0)
    excursions = [np.ptp(z) for z in per_step(rows, truth, 9)]
    assert 0.03 <= np.median(excursions) <= 0.05
    strides = figures(1.0)["stride_s"]
    steps = np.diff(sorted(t for t, e, _ in truth if e == "heel_strike"))
    assert np.median(steps) == pytest.approx(strides / 2.0, rel=0.03)  # one hump per step


def test_line_force_swings_about_160_n_with_a_still_winch():
    rows, truth = walk(1.0, preload_n=0.3 * BW)
    swings = [np.ptp(line) / 2.0 for line in per_step(rows, truth, 1)]
    assert 120.0 <= np.median(swings) <= 200.0
    weight_on_deck = rows[rows[:, 0] > SETTLE_S, 2:6].sum(axis=1).mean()
    assert weight_on_deck == pytest.approx(0.7 * BW, rel=0.05)


def test_hemiparetic_option_asymmetric_and_more_variable():
    healthy = figures(1.0)
    hemi = figures(1.0, paretic="left")
    assert 0.10 <= hemi["step_time_asymmetry"] <= 0.30
    assert hemi["stance_left"] < hemi["stance_right"] - 0.05  # paretic stance shorter
    assert hemi["stride_cv"] > healthy["stride_cv"]


def test_total_force_is_highest_in_double_support_with_no_notch_at_heel_strike():
    rows, truth = walk(1.0)
    t, total = rows[:, 0], (rows[:, 7] + rows[:, 8]) / BW
    strikes = sorted((when, side) for when, e, side in truth if e == "heel_strike")
    offs = {side: sorted(when for when, e, s in truth if e == "toe_off" and s == side) for side in ("left", "right")}
    for (start, side), (end, _) in zip(strikes[:-1], strikes[1:]):
        other = "right" if side == "left" else "left"
        toe_off = next(when for when in offs[other] if when > start)
        around = total[(t >= start - 0.03) & (t <= start + 0.03)]
        assert around.min() >= min(around[0], around[-1]) - 0.01  # no dip at the heel strike
        step = total[(t >= start) & (t < end)]
        peak_t = t[(t >= start) & (t < end)][np.argmax(step)]
        assert start <= peak_t <= toe_off  # highest while both feet are down
        single = total[(t >= toe_off) & (t < end)]
        middle = single[len(single) // 4: 3 * len(single) // 4]
        assert middle.min() == pytest.approx(single.min(), abs=0.01)  # lowest in mid single support
        assert total[(t >= start) & (t <= toe_off)].min() > middle.min() + 0.2


@pytest.mark.parametrize("speed", [0.5, 1.0])
def test_mean_com_height_stays_put_while_walking(speed):
    rows, truth = walk(speed)
    means = [z.mean() for z in per_step(rows, truth, 9)]
    assert len(means) > 40
    assert max(abs(m) for m in means) < 0.01
    assert abs(np.mean(means)) < 0.003
