"""Gait events scored against ground truth, and two clocks aligned by their events.

`score(truth, events)` matches detections to truth one to one (closest first, within
`TOLERANCE_S`, per side and event kind) and returns recall, precision, |timing error| median /
p95, bias and latency p95 per kind. Events are tuples `(t_s, event, side, detected_at_s)`;
truth rows may omit `detected_at_s`. Detections outside the truth's span are not counted.

`clock_offset(truth, events)`: the constant to add to truth times to put them on the events'
clock, for recordings made by another device (the simulated rig's world clock vs the load-cell
board's clock, which differ by the board's power-on time): the offset that lines up the most
heel strikes, refined by the median of the lined-up differences.

Not here: running the detector (rig/replay.py), reading recordings, benchmarks (bench/).
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

TOLERANCE_S = 0.1
KINDS = ("heel_strike", "toe_off")
ALIGN_WITHIN_S = 0.03
ALIGN_CANDIDATES = 40  # first found heel strikes tried against every true one


def read_events(path: Path) -> list[tuple[float, str, str, float]]:
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [(float(r["t_s"]), r["event"], r["side"], float(r.get("detected_at_s") or r["t_s"]))
            for r in rows]


def match(true_t: list[float], found: list[tuple[float, float]]) -> list[tuple[float, float, float]]:
    """One-to-one pairs (true, t, detected_at), closest first, within the tolerance."""
    pairs = sorted((abs(f[0] - t), i, j) for i, t in enumerate(true_t)
                   for j, f in enumerate(found) if abs(f[0] - t) <= TOLERANCE_S)
    used_t, used_f, out = set(), set(), []
    for _, i, j in pairs:
        if i not in used_t and j not in used_f:
            used_t.add(i)
            used_f.add(j)
            out.append((true_t[i], found[j][0], found[j][1]))
    return out


def score(truth: list[tuple], events: list[tuple]) -> dict[str, dict[str, float]]:
    lo = min(t for t, *_ in truth) - TOLERANCE_S
    hi = max(t for t, *_ in truth) + TOLERANCE_S
    events = [e for e in events if lo <= e[0] <= hi]
    out = {}
    for kind in KINDS:
        n_true = n_found = 0
        errors, latencies = [], []
        for side in ("left", "right"):
            true_t = [t for t, k, s, *_ in truth if k == kind and s == side]
            found = [(t, d) for t, k, s, d in events if k == kind and s == side]
            pairs = match(true_t, found)
            n_true, n_found = n_true + len(true_t), n_found + len(found)
            errors += [f - t for t, f, _ in pairs]
            latencies += [d - t for t, _, d in pairs]
        out[kind] = _figures(n_true, n_found, errors, latencies)
    return out


def _figures(n_true: int, n_found: int, errors: list[float], latencies: list[float]) -> dict[str, float]:
    err = np.abs(errors) * 1e3 if errors else np.array([np.nan])
    return {"recall_pct": 100.0 * len(errors) / max(n_true, 1),
            "precision_pct": 100.0 * len(errors) / max(n_found, 1),
            "abs_err_median_ms": float(np.median(err)), "abs_err_p95_ms": float(np.percentile(err, 95)),
            "bias_ms": float(np.median(errors) * 1e3) if errors else float("nan"),
            "latency_p95_ms": float(np.percentile(np.array(latencies) * 1e3, 95)) if latencies else float("nan"),
            "n_true": n_true, "n_found": n_found}


def _heel_strikes(events: list[tuple]) -> np.ndarray:
    return np.sort(np.array([e[0] for e in events if e[1] == "heel_strike"], dtype=float))


def _lined_up(true_hs: np.ndarray, found_hs: np.ndarray, offset: float) -> np.ndarray:
    """For each true heel strike moved by offset, the signed distance to the nearest found one."""
    shifted = true_hs + offset
    i = np.clip(np.searchsorted(found_hs, shifted), 1, len(found_hs) - 1)
    before, after = found_hs[i - 1] - shifted, found_hs[i] - shifted
    return np.where(np.abs(before) < np.abs(after), before, after)


def clock_offset(truth: list[tuple], events: list[tuple]) -> float:
    """Seconds to add to the truth's times to put them on the events' clock."""
    true_hs, found_hs = _heel_strikes(truth), _heel_strikes(events)
    if len(true_hs) < 2 or len(found_hs) < 2:
        raise ValueError("need at least two heel strikes in both the truth and the events to align clocks")
    candidates = (found_hs[:ALIGN_CANDIDATES, None] - true_hs[None, :]).ravel()
    counts = [int(np.sum(np.abs(_lined_up(true_hs, found_hs, c)) <= ALIGN_WITHIN_S)) for c in candidates]
    best = float(candidates[int(np.argmax(counts))])
    near = _lined_up(true_hs, found_hs, best)
    return best + float(np.median(near[np.abs(near) <= ALIGN_WITHIN_S]))


def shifted(truth: list[tuple], offset: float) -> list[tuple]:
    return [(t + offset, *rest) for t, *rest in truth]
