"""One foot's vertical ground reaction force over its stance: the templated double hump.

A stance has three parts, fixed when the foot lands (all times are known then: the other foot's
toe off ends the initial double support, the other foot's next heel strike starts the terminal
one):

    loading      heel strike .. other toe off    0 -> P1, steep at first, level at the end
    single       other toe off .. other strike   P1 -> valley -> P2 (half cosines, level ends)
    unloading    other strike .. toe off         P2 -> 0, level at first, a soft tail at the end

In double support the leading foot rises fast while the trailing one only starts to unload, so
their sum rises at the heel strike, is highest through double support and falls back to the
leading foot's first peak at the other foot's toe off: no notch. The lowest total force is the
valley in mid single support. The person's vertical acceleration is `g (sum - 1)`, so the COM is
lowest in double support and highest in mid single support, as in real walking.

The peaks are solved so that the foot carries one body weight for one step time over its stance
(`step / stance` on average), which is the impulse balance of steady walking; the first peak
is `skew` above the second.

Not here: when feet land and leave (the patient's gait planning), the COM regulation
(`gait_balance`), the split of the force onto the deck (the world).
"""
from __future__ import annotations

import math
from typing import Callable

SWING, STANCE, STATIC = 0, 1, 2  # STATIC: standing / shuffling foot, weight from the other
NEVER = math.inf

# loading ramp g(x) = HS_SLOPE x + (3 - 2 HS_SLOPE) x^2 + (HS_SLOPE - 2) x^3, g'(1) = 0;
# unloading fall h(x) = (3 - TO_SLOPE) x^2 + (TO_SLOPE - 2) x^3, h'(0) = 0; slopes in units of
# peak / double-support time. Real loading is steep from the heel strike; the toe off tails off.
HS_SLOPE = 1.0
TO_SLOPE = 0.25
_LOAD_B, _LOAD_C = 3.0 - 2.0 * HS_SLOPE, HS_SLOPE - 2.0
_UNLOAD_B, _UNLOAD_C = 3.0 - TO_SLOPE, TO_SLOPE - 2.0
_LOAD_MEAN = HS_SLOPE / 2.0 + _LOAD_B / 3.0 + _LOAD_C / 4.0  # mean of g over the ramp
_UNLOAD_MEAN = 1.0 - (_UNLOAD_B / 3.0 + _UNLOAD_C / 4.0)  # mean of 1 - h
_MIN_PHASE_S = 1e-3


class Foot:
    """One foot's state: mode, stance timing and template, position on the deck, force."""

    __slots__ = ("side", "mode", "t_hs", "t_ds1", "t_ss", "t_to", "inv_stance", "inv_ds1",
                 "inv_ss", "inv_ds2", "peak1", "peak2", "valley", "x_land", "y", "belt_hs",
                 "cop_travel", "w", "leave_t", "leave_w0", "deck_gain", "force_n", "x_m", "ap")

    def __init__(self, side: int, y: float, x: float):
        self.side, self.mode, self.y, self.x_land, self.x_m = side, STATIC, y, x, x
        self.t_hs = self.t_ds1 = self.t_ss = self.t_to = self.leave_t = NEVER
        self.inv_stance = self.inv_ds1 = self.inv_ss = self.inv_ds2 = 0.0
        self.peak1 = self.peak2 = self.valley = 0.0
        self.belt_hs = self.cop_travel = 0.0
        self.w = self.leave_w0 = 0.5
        self.deck_gain, self.force_n, self.ap = 1.0, 0.0, 0.0


def plan_stance(foot: Foot, t_hs: float, t_ds1: float, t_ss: float, t_to: float,
                valley: float, skew: float, step_s: float) -> None:
    """Fix a landing foot's stance: phase times, valley, and peaks from the impulse balance.

    `t_ds1` is the other foot's toe off, `t_ss` its next heel strike, `step_s` the time this
    foot carries the body for (the step it lands on); all in virtual seconds."""
    t_ss = max(t_hs + 2.0 * _MIN_PHASE_S, min(t_ss, t_to - _MIN_PHASE_S))
    t_ds1 = max(t_hs + _MIN_PHASE_S, min(t_ds1, t_ss - _MIN_PHASE_S))
    ds1, single, ds2 = t_ds1 - t_hs, t_ss - t_ds1, t_to - t_ss
    foot.mode, foot.t_hs, foot.t_ds1, foot.t_ss, foot.t_to = STANCE, t_hs, t_ds1, t_ss, t_to
    foot.inv_stance, foot.inv_ds1 = 1.0 / (t_to - t_hs), 1.0 / ds1
    foot.inv_ss, foot.inv_ds2 = 1.0 / single, 1.0 / ds2
    # integral over the stance = peak2 * per_peak + fixed, linear in the peaks and the valley
    per_peak = ds1 * _LOAD_MEAN + ds2 * _UNLOAD_MEAN + single / 2.0
    fixed = skew * (ds1 * _LOAD_MEAN + single / 4.0) + single * valley / 2.0
    peak2 = (step_s - fixed) / per_peak
    if peak2 < valley + 0.1:  # a short, heavily loaded stance: flatten the valley instead
        valley = max(0.0, (step_s - skew * (ds1 * _LOAD_MEAN + single / 4.0) - 0.1 * per_peak)
                     / (per_peak + single / 2.0))
        peak2 = valley + 0.1
    foot.valley, foot.peak1, foot.peak2 = valley, peak2 + skew, peak2


def plan_unloading(foot: Foot, t0: float, t_to: float, weight: float) -> None:
    """A standing foot that the body leaves (the first step from standing): only the unloading
    part of a stance, from `weight` (x body weight) at t0 to nothing at t_to."""
    foot.mode, foot.t_hs = STANCE, t0
    foot.t_ds1 = foot.t_ss = t0
    foot.t_to = max(t_to, t0 + _MIN_PHASE_S)
    foot.inv_stance = foot.inv_ds2 = 1.0 / (foot.t_to - t0)
    foot.inv_ds1 = foot.inv_ss = 0.0
    foot.peak1 = foot.peak2 = foot.valley = weight


def threshold_lag(threshold_bw: float) -> float:
    """Fraction of a double support that a force threshold misses, at its two ends together.

    The loading ramp crosses `threshold_bw` (x its peak) a little after the heel strike and the
    unloading tail a little before the force is gone; the planner lengthens the double support
    by this fraction so that the stance and double support seen through the threshold (the
    ground truth, as in the recordings) are the configured ones."""
    def crossing(ramp: Callable[[float], float]) -> float:
        lo, hi = 0.0, 0.5
        for _ in range(30):  # bisection: the ramps are monotonic
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if ramp(mid) < threshold_bw else (lo, mid)
        return 0.5 * (lo + hi)

    def load(x: float) -> float:
        return x * (HS_SLOPE + x * (_LOAD_B + x * _LOAD_C))

    def tail(e: float) -> float:
        x = 1.0 - e
        return 1.0 - x * x * (_UNLOAD_B + x * _UNLOAD_C)

    return crossing(load) + crossing(tail)


def stance_weight(foot: Foot, t: float) -> float:
    """A stance foot's vertical force at time t, x body weight (before unloading); 0 outside."""
    if foot.mode != STANCE or t < foot.t_hs or t >= foot.t_to:
        return 0.0
    if t < foot.t_ds1:
        x = (t - foot.t_hs) * foot.inv_ds1
        return foot.peak1 * x * (HS_SLOPE + x * (_LOAD_B + x * _LOAD_C))
    if t < foot.t_ss:
        u = (t - foot.t_ds1) * foot.inv_ss
        peak = foot.peak1 if u < 0.5 else foot.peak2
        return foot.valley + (peak - foot.valley) * 0.5 * (1.0 + math.cos(2.0 * math.pi * u))
    x = (t - foot.t_ss) * foot.inv_ds2
    return foot.peak2 * (1.0 - x * x * (_UNLOAD_B + x * _UNLOAD_C))
