"""`python -m bench.gait_sweep [--json] [--seconds S]`: the gait detector over simulated walking.

Walks the simulated patient (rig/sim/world.py, public API only) over belt speeds 0.2-2.0 m/s,
unloading 0-60 % (a P loop on the winch holds the line force, as bench/plot_sim_walking.py),
hemiparetic gait and step widths 0.10-0.25 m; adds sensor noise like the real recordings
(1.5 N RMS, 3 N of 50 Hz hum, rare single-sample spikes of 200-600 N); runs the frames through
the live pipeline in 5-frame ticks and scores heel strikes and toe offs against the world's
ground truth with bench/score_events.py's matcher. Prints one row per condition; with --json
the last line is a JSON object {condition: {event: figures}}.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, replace

import numpy as np

from bench.score_events import score
from cext.pipeline import G_MPS2, LoadcellPipeline
from rig.sim.world import World
from rig.sim.worldconfig import WorldConfig

TICK = 5
DT_S = 0.001
WARMUP_S = 4.0  # the patient starts standing: score the walking only


@dataclass(frozen=True)
class Condition:
    name: str
    speed_mps: float = 1.0
    unloading: float = 0.3
    paretic_side: str = "none"
    step_width_m: float = 0.18
    seed: int = 1


CONDITIONS = (
    Condition("0.2 m/s", speed_mps=0.2),
    Condition("0.5 m/s", speed_mps=0.5),
    Condition("1.0 m/s", speed_mps=1.0),
    Condition("1.5 m/s", speed_mps=1.5),
    Condition("2.0 m/s", speed_mps=2.0),
    Condition("unload 0 %", unloading=0.0),
    Condition("unload 60 %", unloading=0.6),
    Condition("unload 50 % 0.5 m/s", speed_mps=0.5, unloading=0.5),
    Condition("paretic L 0.5 m/s", speed_mps=0.5, paretic_side="left"),
    Condition("paretic R 1.0 m/s", paretic_side="right"),
    Condition("paretic L 60 % 0.3 m/s", speed_mps=0.3, unloading=0.6, paretic_side="left"),
    Condition("width 0.10 m", step_width_m=0.10),
    Condition("width 0.25 m", step_width_m=0.25),
)


def walk(cond: Condition, seconds: float) -> tuple[np.ndarray, list[tuple[float, str, str]], float]:
    """Simulated recording (t, harness, FL, FR, RL, RR, belt) without noise, truth, body weight."""
    base = WorldConfig()
    patient = replace(base.patient, paretic_side=cond.paretic_side, step_width_m=cond.step_width_m,
                      walk_start_mps=min(base.patient.walk_start_mps, 0.15),
                      walk_stop_mps=min(base.patient.walk_stop_mps, 0.1))
    world = World(replace(base, seed=cond.seed, patient=patient))
    weight_n = patient.body_mass_kg * G_MPS2
    target_n = cond.unloading * weight_n
    world.set_belt_drive(cond.speed_mps, True)
    rows = np.empty((int(seconds / DT_S), 7))
    for i in range(rows.shape[0]):
        if i % 5 == 0:  # a 200 Hz loop, like the supervisor
            cmd = max(-0.3, min(0.3, 0.0008 * (target_n - world.line_force_n)))
            world.set_winch(cmd, enabled=True, brake_released=True, force_limit_n=1500.0)
        world.step(DT_S)
        rows[i] = (world.t_s, world.line_force_n, *world.deck_forces_n, world.belt_speed_mps)
    truth = [e for e in world.truth if e[1] in ("heel_strike", "toe_off") and e[0] > WARMUP_S]
    return rows, truth, weight_n


def add_sensor_noise(rows: np.ndarray, seed: int = 0, spikes_per_s: float = 0.2) -> np.ndarray:
    """Noise like the real recordings on the five force channels (columns 1-5)."""
    rng = np.random.default_rng(seed)
    out = rows.copy()
    n = rows.shape[0]
    t = rows[:, 0]
    out[:, 1:6] += rng.normal(0.0, 1.5, (n, 5))
    out[:, 1:6] += 3.0 * np.sin(2 * np.pi * 50.0 * t[:, None] + rng.uniform(0, 2 * np.pi, 5))
    n_spikes = rng.poisson(spikes_per_s * n * DT_S)
    where = rng.integers(0, n, n_spikes), rng.integers(1, 6, n_spikes)
    out[where] += rng.choice((-1.0, 1.0), n_spikes) * rng.uniform(200.0, 600.0, n_spikes)
    return out


def detect(rows: np.ndarray, weight_n: float, use_deck: bool = True) -> list:
    """The live pipeline over the frames, 5 per call; the events it emits."""
    pipe = LoadcellPipeline(body_weight_n=weight_n, use_deck=use_deck, initial_n=rows[0, 1:6])
    t, raw = np.ascontiguousarray(rows[:, 0]), np.ascontiguousarray(rows[:, 1:6])
    events = []
    for lo in range(0, t.size, TICK):
        events += pipe.process(t[lo:lo + TICK], raw[lo:lo + TICK])[1]
    return events


def run_condition(cond: Condition, seconds: float) -> dict[str, dict[str, float]]:
    rows, truth, weight_n = walk(cond, seconds)
    events = detect(add_sensor_noise(rows, cond.seed), weight_n)
    found = [(e.t_s, e.event, e.side, e.detected_at_s) for e in events if e.event != "step"]
    return score(truth, found)


def format_row(name: str, result: dict[str, dict[str, float]]) -> str:
    cells = []
    for kind in ("heel_strike", "toe_off"):
        f = result[kind]
        cells.append(f"{f['recall_pct']:6.1f} {f['precision_pct']:6.1f} {f['abs_err_median_ms']:5.1f} "
                     f"{f['abs_err_p95_ms']:6.1f} {f['latency_p95_ms']:6.1f}")
    return f"{name:24s} " + " | ".join(cells)


def main(args: argparse.Namespace | list[str] | None = None) -> int:
    if not isinstance(args, argparse.Namespace):
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("--json", action="store_true")
        parser.add_argument("--seconds", type=float, default=40.0)
        args = parser.parse_args(args)
    seconds = float(getattr(args, "seconds", 40.0) or 40.0)
    print(f"{'condition':24s} heel strike: rec%  prec%  |err| med p95 ms  lat p95 | toe off: same")
    results = {}
    for cond in CONDITIONS:
        results[cond.name] = run_condition(cond, seconds)
        print(format_row(cond.name, results[cond.name]), flush=True)
    if getattr(args, "json", False):
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
