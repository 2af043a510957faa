"""`rig bench fall [--json] [--falls N] [--seconds S]`: fall detection and the harness's catch.

Drives the simulated world (rig/sim/world.py, in-process, 1 kHz) with the load-cell noise of
the real recordings (as bench/gait_sweep.py), runs the live pipeline in 5-sample ticks and a
200 Hz controller tick: a P loop on the filtered line force holds the unloading target until
the fall detector (safety/fall.py) fires; from that tick the belt ramps to a stop at its own
fast-stop deceleration and the winch follows controllers/fall_catch.py. A tick sees the
load-cell samples up to 2 ms before it (USB transit); its commands reach the devices one tick
later (transport delay).

Falls vary over seed, belt speed (0.5-1.5 m/s), unloading (10-50 %), gait phase and
hemiparetic patients. Per fall: reaction (fall onset from the world's ground truth to the
tick that issues the belt stop), descent (deepest drop of the centre of mass below its height
just before the onset, world truth) and peak line force. It also walks fall-free (0.2-2.0 m/s,
0-60 % unloading, hemiparetic, stumbles, stepping off and on the deck at rest) for --seconds
each and counts detections there as false trips. --json prints one JSON object last.

The bench rig (`BenchRig`) gives the world's winch a servo's profile acceleration of
20 m/s^2 instead of the world's 2 m/s^2 default (with 2 m/s^2 no catch keeps a fall within
7 cm) and lets the catch haul at up to 1.2 m/s. Also printed: the detector's cost per tick
(wall clock, this machine).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass, replace

import numpy as np

from cext.pipeline import LoadcellPipeline
from controllers.fall_catch import FallCatch, FallCatchParams
from rig.sim.world import World
from rig.sim.worldconfig import WorldConfig
from safety.fall import FallDetector, FallLimits

TICK = 5
DT_S = 0.001
G_MPS2 = 9.81  # the world's gravity


@dataclass(frozen=True)
class BenchRig:
    """The rig's reaction capabilities the bench assumes."""

    winch_accel_mps2: float = 20.0  # servo profile acceleration (the world's default is 2)
    haul_mps: float = 1.2  # fastest line speed of the catch
    force_cap_n: float = 1500.0  # harness torque cap as line force
    belt_fast_stop_mps2: float = 2.5
    p_gain_mps_per_n: float = 0.0008  # the simple force loop before the fall (bench/gait_sweep.py)
    p_limit_mps: float = 0.3
    target_ramp_s: float = 2.0  # the unloading target rises from 0 over this (DESIGN.md 4: ramped)
    catch_on_filtered: bool = True  # the catch sees the pipeline's filtered line force (else the tick's median)
    catch: bool = True  # False: on a fall the winch only holds (velocity 0), for comparison
    stream_delay_samples: int = 2  # load-cell samples still on their way (USB) when a tick reads


RIG = BenchRig()


@dataclass(frozen=True)
class Scenario:
    """One simulated run: the patient, the belt, the unloading and scripted events."""

    name: str
    speed_mps: float = 1.0
    unloading: float = 0.3
    paretic_side: str = "none"
    seed: int = 1
    seconds: float = 20.0
    fall_at_s: float | None = None
    events: tuple[tuple[float, str], ...] = ()
    buckle_s: float | None = None  # how fast the knees give way (the world's default: 0.03 s)


@dataclass(frozen=True)
class Outcome:
    """What one run produced."""

    scenario: Scenario
    detected_at_s: float | None
    detail: str
    onset_s: float | None  # the world's fall event
    descent_m: float
    peak_line_n: float
    weight_n: float
    detector_s: float = 0.0  # time spent in the detector's update()
    ticks: int = 0

    @property
    def reaction_ms(self) -> float:
        if self.detected_at_s is None or self.onset_s is None:
            return math.inf
        return 1000.0 * (self.detected_at_s - self.onset_s)


class SensorNoise:
    """Noise like the real recordings on the five force channels: 1.5 N RMS, 3 N of 50 Hz hum,
    rare single-sample spikes of 200-600 N (bench/gait_sweep.py's model, sample by sample)."""

    def __init__(self, seed: int, samples: int, spikes_per_s: float = 0.2):
        rng = np.random.default_rng(seed + 1000)
        t = np.arange(samples) * DT_S
        self.table = rng.normal(0.0, 1.5, (samples, 5))
        self.table += 3.0 * np.sin(2 * np.pi * 50.0 * t[:, None] + rng.uniform(0, 2 * np.pi, 5))
        n_spikes = rng.poisson(spikes_per_s * samples * DT_S)
        rows, cols = rng.integers(0, samples, n_spikes), rng.integers(0, 5, n_spikes)
        self.table[rows, cols] += rng.choice((-1.0, 1.0), n_spikes) * rng.uniform(200.0, 600.0, n_spikes)


def make_world(sc: Scenario, rig: BenchRig) -> World:
    base = WorldConfig()
    patient = replace(base.patient, paretic_side=sc.paretic_side, walk_start_mps=0.15, walk_stop_mps=0.1,
                      fall_buckle_s=sc.buckle_s or base.patient.fall_buckle_s)
    harness = replace(base.harness, accel_limit_mps2=rig.winch_accel_mps2)
    world = World(replace(base, seed=sc.seed, patient=patient, harness=harness))
    for t_s, event in sc.events:
        world.schedule(t_s, event)
    if sc.fall_at_s is not None:
        world.schedule(sc.fall_at_s, "fall")
    return world


def run(sc: Scenario, rig: BenchRig = RIG, limits: FallLimits = FallLimits()) -> Outcome:
    """Run one scenario tick by tick; see the module docstring."""
    world = make_world(sc, rig)
    loop = _Loop(world, sc, rig, limits)
    truth = _Truth(sc.fall_at_s)
    ticks = int(round(sc.seconds / (TICK * DT_S)))
    noise = SensorNoise(sc.seed, ticks * TICK)
    lag = rig.stream_delay_samples
    stream = np.zeros((ticks * TICK + lag, 6))
    stream[:lag, 0] = -DT_S * np.arange(lag, 0, -1)  # before the start: zeros, never read as a fall
    for k in range(ticks):
        loop.send()  # last tick's commands arrive now
        for i in range(TICK):
            world.step(DT_S)
            stream[lag + k * TICK + i] = (world.t_s, world.line_force_n, *world.deck_forces_n)
            truth.observe(world)
        stream[lag + k * TICK:lag + (k + 1) * TICK, 1:] += noise.table[k * TICK:(k + 1) * TICK]
        loop.tick(stream[k * TICK:(k + 1) * TICK])  # what has arrived by now
    return Outcome(sc, loop.detected_at_s, loop.detector.detail, truth.onset_s, truth.descent_m, truth.peak_line_n,
                   loop.weight_n, loop.detector_s, ticks)


class _Loop:
    """The 200 Hz controller: pipeline, fall detector, force loop or catch, belt stop."""

    def __init__(self, world: World, sc: Scenario, rig: BenchRig, limits: FallLimits):
        self.world, self.rig = world, rig
        self.weight_n = world.cfg.patient.body_mass_kg * G_MPS2
        self.target_n = sc.unloading * self.weight_n
        stiffness = world.cfg.harness.stiffness_n_per_m
        self.detector = FallDetector(limits, self.weight_n, stiffness)
        self.catch = FallCatch(FallCatchParams(rig.haul_mps, rig.force_cap_n, self.weight_n, stiffness))
        self.pipe = LoadcellPipeline(body_weight_n=self.weight_n, initial_n=np.array([0.0, *world.deck_forces_n]))
        self.belt_mps, self.winch_mps = sc.speed_mps, 0.0
        self.detected_at_s: float | None = None
        self.detector_s = 0.0

    def send(self) -> None:
        self.world.set_belt_drive(self.belt_mps, True)
        self.world.set_winch(self.winch_mps, True, True, self.rig.force_cap_n)

    def tick(self, frames: np.ndarray) -> None:
        world, rig = self.world, self.rig
        line_filtered = float(self.pipe.process(frames[:, 0].copy(), frames[:, 1:].copy())[0][-1, 0])
        target_n = self.target_n * min(1.0, world.t_s / rig.target_ramp_s)
        t0 = time.perf_counter()
        detail = self.detector.update(frames[:, 0], frames[:, 1], frames[:, 2:], world.winch_position_m,
                                      world.winch_velocity_mps, target_n)
        self.detector_s += time.perf_counter() - t0
        if detail and self.detected_at_s is None:
            self.detected_at_s = world.t_s  # this tick issues the belt stop
        if self.detected_at_s is None:
            self.winch_mps = _force_loop(rig, target_n, line_filtered)
            return
        self.belt_mps = max(0.0, self.belt_mps - rig.belt_fast_stop_mps2 * TICK * DT_S)
        line_n = line_filtered if rig.catch_on_filtered else float(np.median(frames[:, 1]))
        haul = self.catch.step(TICK * DT_S, line_n, world.winch_position_m, world.winch_velocity_mps)
        self.winch_mps = haul if rig.catch else 0.0


def _force_loop(rig: BenchRig, target_n: float, line_n: float) -> float:
    return max(-rig.p_limit_mps, min(rig.p_limit_mps, rig.p_gain_mps_per_n * (target_n - line_n)))


class _Truth:
    """The world's own record of the fall: onset, height before it, deepest point, peak force."""

    def __init__(self, fall_at_s: float | None):
        self.fall_at_s = fall_at_s
        self.onset_s: float | None = None
        self.z_before_m = 0.0
        self.z_min_m = math.inf
        self.peak_line_n = 0.0

    def observe(self, world: World) -> None:
        if self.fall_at_s is None or world.t_s < self.fall_at_s - 0.002:
            return
        if self.onset_s is None:
            falls = [t for t, event, _ in world.truth if event == "fall"]
            if not falls:
                self.z_before_m = world.snapshot().com_z_m
                return
            self.onset_s = falls[0]
        snap = world.snapshot()
        self.z_min_m = min(self.z_min_m, snap.com_z_m)
        self.peak_line_n = max(self.peak_line_n, snap.line_force_n)

    @property
    def descent_m(self) -> float:
        return 0.0 if self.onset_s is None else max(0.0, self.z_before_m - self.z_min_m)


def fall_scenarios(count: int, seed: int = 7) -> list[Scenario]:
    """`count` falls spread over speed, unloading, gait phase, side and seed."""
    rng = np.random.default_rng(seed)
    sides = ("none", "none", "left", "right")
    out = []
    for i in range(count):
        speed = round(float(rng.uniform(0.5, 1.5)), 2)
        unloading = round(float(rng.uniform(0.1, 0.5)), 2)
        fall_at = round(float(5.0 + rng.uniform(0.0, 1.5)), 4)  # steady walking, any phase
        side = sides[i % len(sides)]
        out.append(Scenario(f"fall {i + 1}", speed, unloading, side, seed=100 + i, seconds=fall_at + 1.5,
                            fall_at_s=fall_at))
    return out


def walk_scenarios(seconds: float) -> list[Scenario]:
    """Fall-free walking: speeds, unloading, hemiparesis, stumbles, stepping off and on at rest."""
    stumbles = tuple((6.0 + 2.5 * k, "stumble") for k in range(int(max(0.0, seconds - 7.0) / 2.5)))
    return [
        Scenario("walk 0.2 m/s 30 %", 0.2, 0.3, seconds=seconds),
        Scenario("walk 0.5 m/s 0 %", 0.5, 0.0, seconds=seconds, seed=2),
        Scenario("walk 1.0 m/s 30 %", 1.0, 0.3, seconds=seconds, seed=3),
        Scenario("walk 1.5 m/s 50 %", 1.5, 0.5, seconds=seconds, seed=4),
        Scenario("walk 2.0 m/s 0 %", 2.0, 0.0, seconds=seconds, seed=5),
        Scenario("walk 2.0 m/s 60 %", 2.0, 0.6, seconds=seconds, seed=6),
        Scenario("paretic L 0.5 m/s 60 %", 0.5, 0.6, "left", seconds=seconds, seed=7),
        Scenario("paretic R 1.0 m/s 20 %", 1.0, 0.2, "right", seconds=seconds, seed=8),
        Scenario("stumbles 1.0 m/s 30 %", 1.0, 0.3, seconds=seconds, seed=9, events=stumbles),
        Scenario("stumbles paretic L 1.5 m/s 10 %", 1.5, 0.1, "left", seconds=seconds, seed=10, events=stumbles),
        Scenario("stumbles 0.5 m/s 30 %", 0.5, 0.3, seconds=seconds, seed=12, events=stumbles),
        Scenario("stumbles paretic R 2.0 m/s 60 %", 2.0, 0.6, "right", seconds=seconds, seed=13, events=stumbles),
        Scenario("step off / on at rest 30 %", 0.0, 0.3, seconds=seconds, seed=11,
                 events=tuple((3.0 + 4.0 * k + d, e) for k in range(int(seconds / 4.0) - 1)
                              for d, e in ((0.0, "step_off"), (2.0, "step_on")))),
    ]


def percentile(values: list[float], q: float) -> float:
    finite = [v for v in values if math.isfinite(v)]
    if len(finite) < len(values):
        return math.inf
    return float(np.percentile(finite, q)) if finite else math.nan


def summarise(falls: list[Outcome], walks: list[Outcome]) -> dict[str, object]:
    reactions = [o.reaction_ms for o in falls]
    return {
        "falls": len(falls),
        "detected": sum(o.detected_at_s is not None for o in falls),
        "reaction_p50_ms": round(percentile(reactions, 50), 1),
        "reaction_p99_ms": round(percentile(reactions, 99), 1),
        "reaction_max_ms": round(max(reactions), 1) if reactions else math.nan,
        "max_descent_cm": round(100.0 * max(o.descent_m for o in falls), 2) if falls else math.nan,
        "falls_over_7cm": sum(o.descent_m > 0.07 for o in falls),
        "peak_line_max_pct_bw": round(max(100.0 * o.peak_line_n / o.weight_n for o in falls), 1) if falls else math.nan,
        "walks": len(walks),
        "walk_seconds": round(sum(o.scenario.seconds for o in walks), 1),
        "false_trips": sum(o.detected_at_s is not None for o in walks),
        "detector_us_per_tick": round(1e6 * sum(o.detector_s for o in walks) / max(1, sum(o.ticks for o in walks)), 1),
        "winch_accel_mps2": RIG.winch_accel_mps2,
        "haul_mps": RIG.haul_mps,
    }


def _fall_row(o: Outcome) -> str:
    sc = o.scenario
    return (f"{sc.name:8s} {sc.speed_mps:4.2f} {100 * sc.unloading:4.0f} {sc.paretic_side:5s} "
            f"{o.reaction_ms:7.1f} {100 * o.descent_m:6.2f} {o.peak_line_n:6.0f} "
            f"{100 * o.peak_line_n / o.weight_n:5.0f}")


def main(args: argparse.Namespace | list[str] | None = None) -> int:
    if not isinstance(args, argparse.Namespace):
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("--json", action="store_true")
        parser.add_argument("--falls", type=int, default=50)
        parser.add_argument("--seconds", type=float, default=30.0, help="length of each fall-free walk")
        args = parser.parse_args(args)
    count = int(getattr(args, "falls", None) or 50)
    seconds = float(getattr(args, "seconds", None) or 30.0)
    print("fall     m/s  unl% side  react ms  desc cm  peak N  %BW")
    falls = []
    for sc in fall_scenarios(count):
        falls.append(run(sc))
        print(_fall_row(falls[-1]), flush=True)
    walks = []
    for sc in walk_scenarios(seconds):
        walks.append(run(sc))
        verdict = f"FALSE TRIP: {walks[-1].detail}" if walks[-1].detail else "no trip"
        print(f"{sc.name:34s} {sc.seconds:5.0f} s  {verdict}", flush=True)
    result = summarise(falls, walks)
    print(f"{result['detected']}/{result['falls']} falls detected; reaction p50 {result['reaction_p50_ms']} ms, "
          f"p99 {result['reaction_p99_ms']} ms, max {result['reaction_max_ms']} ms; deepest descent "
          f"{result['max_descent_cm']} cm; false trips {result['false_trips']} in {result['walk_seconds']} s "
          "of walking")
    if getattr(args, "json", False):
        print(json.dumps(result))
    ok = result["reaction_p99_ms"] <= 25.0 and result["falls_over_7cm"] == 0 and result["false_trips"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
