"""Gait figures from events: cadence, step / stride time, stance, swing, double support,
symmetry. Live over a rolling window (`GaitFigures.add` + `.summary(window_s)`) or per session.

Definitions: a step ends at a heel strike and is that side's step (time since the other
foot's heel strike); stride = heel strike to heel strike of one foot; stance = heel strike to
toe off of one foot, as % of its stride; double support = both feet down, % of the stride;
symmetry index SI = 200 |L - R| / (L + R) (0 = symmetric). Step length = belt speed x step time.
Not here: detecting the events (cext/_core.pyx).
"""
from __future__ import annotations

import math
from collections import deque
from statistics import fmean, pstdev

from cext.pipeline import GaitEvent

SIDES = ("left", "right")


def _mean(xs: list[float]) -> float:
    return fmean(xs) if xs else math.nan


def _si(left: float, right: float) -> float:
    total = left + right
    return 200.0 * abs(left - right) / total if total > 0 else math.nan


class GaitFigures:
    """Keeps events (and belt speed at each) and computes the figures over any recent window."""

    def __init__(self, max_stride_s: float = 3.0):
        self.events: deque[tuple[GaitEvent, float]] = deque()
        self.max_stride_s = max_stride_s
        self.steps_only: deque[float] = deque()

    def add(self, event: GaitEvent, belt_mps: float = math.nan) -> None:
        if event.event == "step":
            self.steps_only.append(event.t_s)
        else:
            self.events.append((event, belt_mps))

    def _window(self, window_s: float | None) -> list[tuple[GaitEvent, float]]:
        if not self.events or window_s is None:
            return list(self.events)
        end = self.events[-1][0].t_s
        return [(e, v) for e, v in self.events if e.t_s >= end - window_s]

    def summary(self, window_s: float | None = None) -> dict[str, float]:
        """Figures over the last window_s seconds of events (None = all)."""
        evs = sorted(self._window(window_s), key=lambda ev: ev[0].t_s)
        hs = [(e.t_s, e.side, v) for e, v in evs if e.event == "heel_strike"]
        to = {s: [e.t_s for e, _ in evs if e.event == "toe_off" and e.side == s] for s in SIDES}
        out: dict[str, float] = {"heel_strikes": float(len(hs)),
                                 "toe_offs": float(sum(len(v) for v in to.values()))}
        steps = {s: [] for s in SIDES}
        lengths = {s: [] for s in SIDES}
        for (t0, s0, _), (t1, s1, v1) in zip(hs, hs[1:]):
            if s0 != s1 and t1 - t0 < self.max_stride_s / 2:
                steps[s1].append(t1 - t0)
                if math.isfinite(v1):
                    lengths[s1].append(v1 * (t1 - t0))
        strides = {s: self._strides([t for t, side, _ in hs if side == s]) for s in SIDES}
        for s in SIDES:
            out[f"step_time_{s}_s"] = _mean(steps[s])
            out[f"step_length_{s}_m"] = _mean(lengths[s])
            out[f"stride_time_{s}_s"] = _mean([d for _, d in strides[s]])
            out[f"stance_{s}_pct"] = self._stance_pct(strides[s], to[s])
            out[f"swing_{s}_pct"] = 100.0 - out[f"stance_{s}_pct"]
        all_steps = steps["left"] + steps["right"]
        out["cadence_steps_per_min"] = 60.0 / _mean(all_steps) if all_steps else math.nan
        all_strides = [d for s in SIDES for _, d in strides[s]]
        out["stride_time_s"] = _mean(all_strides)
        out["stride_time_cv_pct"] = (100.0 * pstdev(all_strides) / fmean(all_strides)
                                     if len(all_strides) > 1 else math.nan)
        out["double_support_pct"] = self._double_support_pct(hs, to, strides)
        out["step_time_si_pct"] = _si(out["step_time_left_s"], out["step_time_right_s"])
        out["stance_si_pct"] = _si(out["stance_left_pct"], out["stance_right_pct"])
        out["step_length_si_pct"] = _si(out["step_length_left_m"], out["step_length_right_m"])
        return out

    def _strides(self, times: list[float]) -> list[tuple[float, float]]:
        return [(a, b - a) for a, b in zip(times, times[1:]) if b - a < self.max_stride_s]

    @staticmethod
    def _stance_pct(strides: list[tuple[float, float]], toe_offs: list[float]) -> float:
        pcts = []
        for start, duration in strides:
            inside = [t for t in toe_offs if start < t < start + duration]
            if inside:
                pcts.append(100.0 * (inside[0] - start) / duration)
        return _mean(pcts)

    @staticmethod
    def _double_support_pct(hs, to, strides) -> float:
        """Per stride of either foot: (HS -> other's TO) twice, as % of the stride."""
        other = {"left": "right", "right": "left"}
        pcts = []
        for s in SIDES:
            for start, duration in strides[s]:
                ds = 0.0
                for t_hs, side, _ in hs:
                    if start <= t_hs < start + duration:
                        offs = [t for t in to[other[side]] if t_hs < t < start + duration]
                        if not offs:
                            break
                        ds += offs[0] - t_hs
                else:
                    pcts.append(100.0 * ds / duration)
        return _mean(pcts)

    def harness_summary(self, window_s: float | None = None) -> dict[str, float]:
        """Fallback without the deck: step time and cadence from harness-detected steps."""
        times = list(self.steps_only)
        if window_s is not None and times:
            times = [t for t in times if t >= times[-1] - window_s]
        steps = [b - a for a, b in zip(times, times[1:]) if b - a < self.max_stride_s / 2]
        step = _mean(steps)
        return {"steps": float(len(times)), "step_time_s": step,
                "cadence_steps_per_min": 60.0 / step if steps else math.nan}
