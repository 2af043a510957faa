"""`rig bench pipeline [--json]`: cost of the whole load-cell pipeline per frame.

Whole pipeline = 5 channels of spike filter + 4th-order Butterworth low-pass + 50 Hz notch,
calibration, Fz / COP / body-weight support and the gait detector, on a real gait recording
(or synthetic walking-like data when the recording is absent). Measured two ways:
batch (one call over all frames, ns per frame) and per 5-frame tick, both through
`LoadcellPipeline.process`, the checked entry point the live loop and `rig replay` call, against one
`scipy.signal.sosfilt` call with carried state on the same 5 frames and filter.
With json_out, the last printed line is one JSON object.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from scipy import signal

from cext.pipeline import LoadcellPipeline
from rig.gaitconfig import GaitParams

RECORDING = Path(__file__).resolve().parents[2] / "shared" / "data" / "gait" / "GaCo01_01.csv.gz"
TICK = 5


def _frames() -> tuple[np.ndarray, np.ndarray]:
    if RECORDING.exists():
        data = np.loadtxt(RECORDING, delimiter=",", skiprows=1, max_rows=60_000)
        return np.ascontiguousarray(data[:, 0]), np.ascontiguousarray(data[:, 1:6])
    t = np.arange(60_000) / 1000.0
    rng = np.random.default_rng(1)
    phase = 2 * np.pi * t / 1.1
    deck = 200 + 150 * np.sin(phase[:, None] + np.arange(4)) + rng.normal(0, 1.5, (t.size, 4))
    return t, np.column_stack([30 + rng.normal(0, 2, t.size), deck])


def _best_of(fn, repeats: int = 5) -> float:
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter_ns()
        fn()
        best = min(best, time.perf_counter_ns() - start)
    return best


def run(json_out: bool = False) -> dict:
    t, raw = _frames()
    params = GaitParams()
    n = t.size

    def fresh() -> LoadcellPipeline:
        return LoadcellPipeline(params, body_weight_n=1000.0, initial_n=raw[0])

    # batch: one call over all frames through the checked entry point (no Python per frame)
    pipes = [fresh() for _ in range(5)]
    batch_ns = min(_best_of(lambda p=p: p.process(t, raw), 1) for p in pipes) / n

    # per tick: the same checked entry point, 5 frames per call, as the live loop calls it
    ticks = range(0, 20_000, TICK)
    pipes = [fresh() for _ in range(7)]

    def pipeline_ticks() -> None:
        pipe = pipes.pop()  # timestamps only go forward: a fresh pipeline per repeat
        for i in ticks:
            pipe.process(t[i:i + TICK], raw[i:i + TICK])

    def slicing_only() -> None:
        for i in ticks:
            t[i:i + TICK], raw[i:i + TICK]
    tick_ns = _best_of(pipeline_ticks, 7) / len(ticks)
    # the slicing alone (the caller's cost, in both the pipeline's and scipy's figures)
    slice_ns = _best_of(slicing_only, 7) / len(ticks)

    # scipy: one sosfilt call with carried state on the same 5 frames and filter
    sos = fresh().sos
    zi = np.zeros((sos.shape[0], 2, 5))

    def scipy_ticks() -> None:
        nonlocal zi
        for i in ticks:
            _, zi = signal.sosfilt(sos, raw[i:i + TICK], axis=0, zi=zi)
    scipy_tick_ns = _best_of(scipy_ticks, 7) / len(ticks)

    result = {
        "ns_per_frame": round(batch_ns, 1),
        "tick_ns": round(tick_ns, 1),
        "tick_slicing_ns": round(slice_ns, 1),
        "scipy_sosfilt_tick_ns": round(scipy_tick_ns, 1),
        "speedup_vs_scipy_tick": round(scipy_tick_ns / tick_ns, 1),
        "frames": n,
        "sections": int(sos.shape[0]),
        "spike_filter": params.filters.spike_filter,
        "entry_point": "LoadcellPipeline.process",
    }
    print(f"batch: {batch_ns:.1f} ns/frame over {n} frames (5 ch, {sos.shape[0]} sections, "
          f"{params.filters.spike_filter}, plate, detector) via LoadcellPipeline.process")
    print(f"5-frame tick: {tick_ns:.0f} ns via LoadcellPipeline.process (checked; of which "
          f"{slice_ns:.0f} ns slicing); scipy sosfilt alone: {scipy_tick_ns:.0f} ns")
    print(f"speed-up vs scipy per tick: {result['speedup_vs_scipy_tick']}x")
    if json_out:
        print(json.dumps(result))
    return result


def main(args) -> int:
    """`rig bench pipeline [--json]`."""
    run(json_out=bool(getattr(args, "json", False)))
    return 0


if __name__ == "__main__":
    import sys
    run("--json" in sys.argv)
