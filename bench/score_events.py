"""Score gait events against ground truth: `python -m bench.score_events [--json] [DATA_DIR]`.

Per recording in DATA_DIR (NAME.csv.gz + NAME.truth.csv), runs `rig.replay.replay`, a
simple causal baseline (COP minimum + side from the lateral shift) and an offline
Roerdink-style COP-butterfly baseline (zero-lag filter, turning points), matches detections to
truth one to one within +-100 ms per side and event, and reports recall, precision,
|timing error| median / p95 and latency (detected_at - true) p95, per recording and pooled.
Truth covers the walking part only, so detections outside its span are not counted.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from rig import eventscore
from rig.replay import read_recording, replay

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "gait"
TOLERANCE_S = eventscore.TOLERANCE_S
KINDS = eventscore.KINDS
read_events, match, score = eventscore.read_events, eventscore.match, eventscore.score


def cop_minimum_baseline(path: Path) -> list[tuple[float, str, str, float]]:
    """Causal baseline: heel strike at each COP-x minimum (the COP jumps forward to the new
    foot), side from the lateral shift that follows; toe off at the next COP-x maximum."""
    from scipy import signal
    data = read_recording(path)
    t, cells = data[:, 0], data[:, 2:6]
    sos = signal.butter(4, 20, fs=1000, output="sos")
    cells = signal.sosfilt(sos, signal.medfilt(cells, (3, 1)), axis=0,
                           zi=signal.sosfilt_zi(sos)[:, :, None] * cells[0])[0]
    fz = cells.sum(axis=1)
    cx = cells @ np.array([0.75, 0.75, -0.75, -0.75]) / fz
    cy = cells @ np.array([0.30, -0.30, 0.30, -0.30]) / fz
    events, state, ext, ext_i, confirm = [], "down", np.inf, 0, 0.02
    delay = 0.016
    for i in range(len(t)):
        if state == "down":
            if cx[i] < ext:
                ext, ext_i = cx[i], i
            elif cx[i] > ext + confirm:  # minimum confirmed
                side = "left" if cy[i] > cy[ext_i] else "right"
                events.append((t[ext_i] - delay, "heel_strike", side, t[i]))
                state, ext, ext_i = "up", cx[i], i
        else:
            if cx[i] > ext:
                ext, ext_i = cx[i], i
            elif cx[i] < ext - confirm:  # maximum: the trailing foot has left
                other = "right" if events[-1][2] == "left" else "left"
                events.append((t[ext_i] - delay, "toe_off", other, t[i]))
                state, ext, ext_i = "down", cx[i], i
    return events


def roerdink_baseline(path: Path) -> list[tuple[float, str, str, float]]:
    """Offline reference after Roerdink et al. 2008 (J Biomech 41:2628), the COP "butterfly":
    zero-lag low-pass of the cells, then heel strike at each posterior turning point of COP x
    (the COP jumps forward onto the new foot) and toe off at each anterior turning point (the
    trailing foot has left), side from the lateral direction of the COP's move across.
    detected_at_s = t_s: offline, so latency is not defined (reported as 0)."""
    from scipy import signal
    data = read_recording(path)
    t, cells = data[:, 0], data[:, 2:6]
    sos = signal.butter(4, 20, fs=1000, output="sos")
    cells = signal.sosfiltfilt(sos, signal.medfilt(cells, (3, 1)), axis=0)
    fz = cells.sum(axis=1)
    cx = cells @ np.array([0.75, 0.75, -0.75, -0.75]) / fz
    cy = cells @ np.array([0.30, -0.30, 0.30, -0.30]) / fz
    lows, _ = signal.find_peaks(-cx, prominence=0.05, distance=200)
    highs, _ = signal.find_peaks(cx, prominence=0.05, distance=200)
    events = []
    for i in lows:  # heel strike: the COP then crosses towards the new foot
        j = highs[highs > i][0] if np.any(highs > i) else len(t) - 1
        side = "left" if cy[j] > cy[i] else "right"
        events.append((t[i], "heel_strike", side, t[i]))
    for j in highs:  # toe off of the foot the COP came from
        i = lows[lows < j][-1] if np.any(lows < j) else 0
        side = "right" if cy[j] > cy[i] else "left"
        events.append((t[j], "toe_off", side, t[j]))
    return sorted(events)


def pooled(per_recording: dict[str, dict]) -> dict[str, dict[str, float]]:
    out = {}
    for kind in KINDS:
        rows = [r[kind] for r in per_recording.values()]
        out[kind] = {"recall_pct": sum(r["recall_pct"] * r["n_true"] for r in rows) / sum(r["n_true"] for r in rows),
                     "precision_pct": sum(r["precision_pct"] * r["n_found"] for r in rows)
                     / max(sum(r["n_found"] for r in rows), 1)}
    return out


def run(data_dir: Path = DATA_DIR, json_out: bool = False) -> dict:
    methods = ("pipeline", "cop_minimum_baseline", "roerdink_offline_baseline")
    results: dict[str, dict] = {m: {} for m in methods}
    all_truth: dict[str, list] = {m: [] for m in methods}
    all_found: dict[str, list] = {m: [] for m in methods}
    for rec in sorted(data_dir.glob("*.csv.gz")):
        name = rec.name.removesuffix(".csv.gz")
        truth = [(t, k, s) for t, k, s, _ in read_events(data_dir / f"{name}.truth.csv")]
        with tempfile.TemporaryDirectory() as tmp:
            replay(rec, Path(tmp) / "events.csv")
            found = {"pipeline": read_events(Path(tmp) / "events.csv"),
                     "cop_minimum_baseline": cop_minimum_baseline(rec),
                     "roerdink_offline_baseline": roerdink_baseline(rec)}
        offset = 10_000.0 * len(all_truth["pipeline"])  # pool without cross-matching
        for method, events in found.items():
            results[method][name] = score(truth, events)
            all_truth[method] += [(t + offset, k, s) for t, k, s in truth]
            all_found[method] += [(t + offset, k, s, d + offset) for t, k, s, d in events]
    for method in results:
        results[method]["POOLED"] = score(all_truth[method], all_found[method])
    _print(results)
    if json_out:
        print(json.dumps(results))
    return results


def _print(results: dict) -> None:
    for method, per in results.items():
        print(f"== {method}")
        for name, kinds in per.items():
            for kind, f in kinds.items():
                print(f"{name:10s} {kind:11s} recall {f['recall_pct']:6.2f}% precision {f['precision_pct']:6.2f}% "
                      f"|err| median {f['abs_err_median_ms']:5.1f} ms p95 {f['abs_err_p95_ms']:6.1f} ms "
                      f"latency p95 {f['latency_p95_ms']:6.1f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", nargs="?", type=Path, default=DATA_DIR)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    run(args.data_dir, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
