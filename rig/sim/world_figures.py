"""Gait figures of a recording (real or simulated) from its four cells and its ground truth.

The same function runs on shared/data/gait/*.csv.gz and on the simulated world, so the two can
be compared side by side (bench/plot_sim_walking.py, tests/test_sim_world_vs_real.py). Timing
figures come from the truth events; force figures from Fz (sum of cells), normalised by the
mean Fz while walking (body weight minus what the harness carries); each foot's own force is
recovered from the lateral moment, which works because the feet are ~+-0.09 m apart.

Not here: event detection from the cells (the gait pipeline in cext/ does that).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

DECK = ((0.75, 0.30), (0.75, -0.30), (-0.75, 0.30), (-0.75, -0.30))


def _times(truth: Sequence[tuple[float, str, str]], event: str, side: str) -> np.ndarray:
    return np.array(sorted(t for t, e, s in truth if e == event and s == side))


def _stance_fractions(truth, side: str) -> tuple[list[float], list[float]]:
    """(stance / stride, stride s) for each complete stride of one side."""
    hs, to = _times(truth, "heel_strike", side), _times(truth, "toe_off", side)
    fractions, strides = [], []
    for start, end in zip(hs[:-1], hs[1:]):
        inside = to[(to > start) & (to < end)]
        if len(inside) == 1:
            fractions.append((inside[0] - start) / (end - start))
            strides.append(end - start)
    return fractions, strides


def _double_support(truth) -> list[float]:
    """Initial double support / stride at each heel strike (the other foot's next toe off)."""
    out = []
    for side, other in (("left", "right"), ("right", "left")):
        hs, to_other = _times(truth, "heel_strike", side), _times(truth, "toe_off", other)
        for start, end in zip(hs[:-1], hs[1:]):
            inside = to_other[(to_other > start) & (to_other < end)]
            if len(inside) == 1:
                out.append((inside[0] - start) / (end - start))
    return out


def _per_step_extremes(t: np.ndarray, fz: np.ndarray, hs: np.ndarray) -> tuple[list[float], list[float]]:
    peaks, valleys = [], []
    for start, end in zip(hs[:-1], hs[1:]):
        i0, i1 = np.searchsorted(t, [start, end])
        if i1 - i0 < 20:
            continue
        peaks.append(fz[i0:i1].max())
        mid = fz[i0 + (i1 - i0) // 4: i1 - (i1 - i0) // 4]
        valleys.append(mid.min())
    return peaks, valleys


def _foot_humps(t, foot, hs, to) -> tuple[list[float], list[float], list[float]]:
    first, second, valley = [], [], []
    for start in hs:
        ends = to[to > start]
        if not len(ends):
            continue
        i0, i1 = np.searchsorted(t, [start, ends[0]])
        n = i1 - i0
        if n < 50:
            continue
        seg = foot[i0:i1]
        first.append(seg[: n // 2].max())
        second.append(seg[n // 2:].max())
        valley.append(seg[int(n * 0.3): int(n * 0.7)].min())
    return first, second, valley


def gait_figures(rec: np.ndarray, truth: Sequence[tuple[float, str, str]],
                 deck_cells_m: Sequence[tuple[float, float]] = DECK) -> dict[str, float]:
    """Figures of one recording (columns of RECORDING_HEADER) while walking."""
    hs_all = np.array(sorted(t for t, e, _ in truth if e == "heel_strike"))
    t0, t1 = hs_all[0], hs_all[-1]
    keep = (rec[:, 0] >= t0) & (rec[:, 0] <= t1)
    t, harness, cells = rec[keep, 0], rec[keep, 1], rec[keep, 2:6]
    xs = np.array([c[0] for c in deck_cells_m])
    ys = np.array([c[1] for c in deck_cells_m])
    fz = cells.sum(axis=1)
    loaded = np.maximum(fz, 1.0)
    cop_x, cop_y = cells @ xs / loaded, cells @ ys / loaded
    weight = float(fz.mean())
    foot_y = float(np.percentile(np.abs(cop_y), 95))
    left = np.clip((fz + fz * cop_y / foot_y) / 2.0, 0.0, None)
    right = np.clip(fz - left, 0.0, None)
    peaks, valleys = _per_step_extremes(t, fz, hs_all)
    humps = [_foot_humps(t, f, _times(truth, "heel_strike", s), _times(truth, "toe_off", s))
             for f, s in ((left, "left"), (right, "right"))]
    first, second, mid = (sum((h[i] for h in humps), []) for i in range(3))
    stance_l, strides_l = _stance_fractions(truth, "left")
    stance_r, strides_r = _stance_fractions(truth, "right")
    strides = np.array(strides_l + strides_r)
    med = np.median(strides)
    steps_l = [b - a for a, b in _pairs(truth, "right", "left")]
    steps_r = [b - a for a, b in _pairs(truth, "left", "right")]
    return {
        "cadence_spm": 60.0 / float(np.median(np.diff(hs_all))),
        "stride_s": float(med),
        "stride_cv": float(np.std(strides) / np.mean(strides)),
        "stride_cv_robust": float(1.4826 * np.median(np.abs(strides - med)) / med),
        "stance_left": float(np.median(stance_l)),
        "stance_right": float(np.median(stance_r)),
        "double_support": float(np.median(_double_support(truth))),
        "step_time_asymmetry": float(abs(np.median(steps_l) - np.median(steps_r)) / np.median(steps_l + steps_r)),
        "fz_mean_n": weight,
        "fz_peak_ratio": float(np.median(peaks) / weight),
        "fz_valley_ratio": float(np.median(valleys) / weight),
        "foot_peak1_ratio": float(np.median(first) / weight),
        "foot_peak2_ratio": float(np.median(second) / weight),
        "foot_valley_ratio": float(np.median(mid) / weight),
        "cop_x_range_m": float(np.subtract(*np.percentile(cop_x, [98, 2]))),
        "cop_x_front_m": float(np.percentile(cop_x, 98)),
        "cop_y_range_m": float(np.subtract(*np.percentile(cop_y, [98, 2]))),
        "harness_mean_n": float(harness.mean()),
        "harness_swing_n": float(np.subtract(*np.percentile(harness, [98, 2])) / 2.0),
    }


def _pairs(truth, first: str, second: str) -> list[tuple[float, float]]:
    """(heel strike of `first`, the next heel strike of `second`) pairs."""
    a, b = _times(truth, "heel_strike", first), _times(truth, "heel_strike", second)
    out = []
    for start in a:
        nxt = b[b > start]
        if len(nxt) and nxt[0] - start < 1.5:
            out.append((start, nxt[0]))
    return out
