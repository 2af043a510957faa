"""The simulated world's physics: belt, harness line, falls, scripted events, determinism.

Everything runs on the world's own virtual time (no wall clock, no sleeps).
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from rig.sim.world import World
from rig.sim.world_record import Recorder, read_recording, read_truth
from rig.sim.worldconfig import BeltConfig, HarnessConfig, PatientConfig, WorldConfig

G = 9.81
BW = 80.0 * G
DT = 0.001


def world(**harness) -> World:
    return World(WorldConfig(harness=HarnessConfig(**harness)))


def run(w: World, seconds: float, probe=lambda w: w.snapshot()) -> list:
    out = []
    for _ in range(int(round(seconds / DT))):
        w.step(DT)
        out.append(probe(w))
    return out


# ---- belt -----------------------------------------------------------------------------------
def test_belt_reaches_the_drive_speed_with_a_little_slip():
    w = world()
    w.set_belt_drive(1.0, torque_available=True)
    speeds = run(w, 3.0, lambda w: w.belt_speed_mps)
    tail = np.array(speeds[-1000:])
    assert 0.95 < tail.mean() < 1.0  # slip under the walking patient's load
    assert 0.0 < w.belt_load_n < BeltConfig().rated_force_n


def test_opening_the_safety_chain_coasts_the_belt_down_on_friction():
    w = world()
    w.set_belt_drive(1.0, True)
    run(w, 3.0)
    w.set_belt_drive(1.0, torque_available=False)  # STO off: the frequency no longer matters
    speeds = np.array(run(w, 4.0, lambda w: w.belt_speed_mps))
    assert speeds[100] > 0.8  # coasting, not stopping dead
    assert np.diff(speeds).max() < 1e-3  # the feet's push-off may nudge it, friction wins
    assert speeds[-1] == 0.0
    assert w.belt_load_n == 0.0
    stopped_at = np.argmax(speeds == 0.0) * DT
    assert 0.3 < stopped_at < 3.0


def test_a_held_belt_stops_and_loads_the_motor_far_above_rated():
    w = world()
    w.set_belt_drive(1.0, True)
    run(w, 2.0)
    w.schedule(None, "hold_belt")
    run(w, 0.1)
    assert w.belt_speed_mps == 0.0
    assert w.belt_load_n > 1.5 * BeltConfig().rated_force_n
    assert any(event == "hold_belt" for _, event, _ in w.truth)


# ---- harness ----------------------------------------------------------------------------------
def test_line_force_is_the_spring_and_damper_and_never_negative():
    cfg = HarnessConfig(initial_line_force_n=200.0)
    w = World(WorldConfig(harness=cfg))
    w.set_winch(0.05, enabled=True, brake_released=True, force_limit_n=2000.0)  # haul in
    snaps = run(w, 1.0)
    for s in snaps[100::50]:
        stretch = s.winch_position_m - s.com_z_m + 200.0 / cfg.stiffness_n_per_m
        model = cfg.stiffness_n_per_m * stretch + cfg.damping_n_s_per_m * (s.winch_velocity_mps - s.com_vz_mps)
        assert s.line_force_n == pytest.approx(max(0.0, model), abs=1.0)
    assert snaps[-1].winch_position_m > 0.03  # hauled in ~5 cm at 0.05 m/s
    assert snaps[-1].line_force_n > 300.0
    w.set_winch(-0.2, True, True, 2000.0)  # pay out until slack
    slack = run(w, 1.0)
    assert slack[-1].line_force_n == 0.0
    assert min(s.line_force_n for s in slack) >= 0.0


def test_brake_holds_the_drum_whenever_the_drive_cannot_hold_it():
    w = world(initial_line_force_n=300.0)
    for cmd in [(0.1, False, True, 2000.0, True), (0.1, True, False, 2000.0, True),
                (0.1, True, True, 2000.0, False)]:
        w.set_winch(*cmd)
        snaps = run(w, 0.2)
        assert all(s.brake_engaged and s.winch_velocity_mps == 0.0 for s in snaps)
        assert snaps[-1].winch_position_m == 0.0


def test_torque_limit_lets_the_drum_yield():
    w = world(initial_line_force_n=300.0)
    w.set_winch(0.0, True, True, force_limit_n=100.0)  # far below the line force
    run(w, 2.0)
    assert w.winch_position_m < -0.01  # paid out under the load until the line eased off
    assert w.line_force_n < 130.0  # the drive could not hold 300 N
    assert 0.0 < w.winch_torque_pct <= 100.0 * 100.0 / HarnessConfig().rated_force_n + 1e-9


# With a line that carries nothing at onset, spring-mass physics (k = 8 kN/m, 80 kg: a quarter
# period is 157 ms) cannot reach 90 % BW in 150 ms: 0.9 BW needs 8.8 cm of stretch.
@pytest.mark.parametrize("preload_fraction,catch_s", [(0.3, 0.150), (0.1, 0.150), (0.0, 0.160)])
def test_a_fall_is_caught_by_the_spring_when_the_winch_holds(preload_fraction, catch_s):
    w = world(initial_line_force_n=preload_fraction * BW)
    run(w, 1.0)  # standing, brake on
    w.schedule(1.5, "fall")
    snaps = run(w, 6.0)
    onset = next(t for t, event, _ in w.truth if event == "fall")
    assert onset == pytest.approx(1.5, abs=0.002)
    caught = next(s.t_s for s in snaps if s.line_force_n >= 0.9 * BW)
    assert caught - onset <= catch_s
    after = [s for s in snaps if s.t_s > onset + 0.3]
    assert max(s.fz_n for s in after[:200]) < 0.05 * BW  # the deck unloads
    lowest = min(s.com_z_m for s in snaps)
    k = HarnessConfig().stiffness_n_per_m
    assert lowest < -0.07  # it is a real drop
    assert -lowest < 2.0 * (BW * (1.0 - preload_fraction)) / k + 0.01  # limited by the spring
    assert snaps[-1].line_force_n == pytest.approx(BW, rel=0.05)  # hanging in the harness
    assert snaps[-1].patient == "fallen"


def test_free_fall_without_harness_matches_7_cm_in_120_ms():
    w = world()
    w.schedule(0.5, "harness_detach")
    w.schedule(1.0, "fall")
    snaps = run(w, 1.3)
    onset = next(t for t, event, _ in w.truth if event == "fall")
    z0 = next(s.com_z_m for s in snaps if s.t_s >= onset)
    at = next(s for s in snaps if s.t_s >= onset + 0.120 + PatientConfig().fall_buckle_s / 2)
    assert 0.05 < z0 - at.com_z_m < 0.09


# ---- scripted events ------------------------------------------------------------------------
def test_stepping_off_unloads_the_deck_and_stepping_on_loads_it():
    w = world()
    run(w, 0.5)
    assert w.snapshot().fz_n == pytest.approx(BW, rel=0.02)
    w.schedule(None, "step_off")
    run(w, 1.5)
    assert w.snapshot().fz_n < 1.0 and w.snapshot().patient == "off_deck"
    w.schedule(None, "step_on")
    run(w, 2.0)
    assert w.snapshot().fz_n == pytest.approx(BW, rel=0.02) and w.snapshot().patient == "standing"


def test_a_stumble_perturbs_one_step_and_walking_goes_on():
    w = world(initial_line_force_n=0.3 * BW)
    w.set_belt_drive(1.0, True)
    run(w, 5.0)
    w.schedule(None, "stumble")
    lines = run(w, 5.0, lambda w: w.line_force_n)
    t_stumble = next(t for t, e, _ in w.truth if e == "stumble")
    strikes = [t for t, e, _ in w.truth if e == "heel_strike" and t > t_stumble]
    assert len(strikes) >= 6
    steps = np.diff([t for t, e, _ in w.truth if e == "heel_strike" and t > t_stumble - 2.0])
    assert steps.min() < 0.8 * np.median(steps)  # the cut-short step
    assert max(lines[:1500]) > max(lines[3000:]) + 50.0  # the COM dip pulls on the line


def test_same_seed_same_world_noise_included():
    def trace(seed):
        w = World(WorldConfig(seed=seed))
        w.set_belt_drive(1.0, True)
        w.schedule(8.0, "stumble")
        forces = run(w, 12.0, lambda w: w.deck_forces_n)
        return forces, w.truth

    a, b, c = trace(3), trace(3), trace(4)
    assert a == b
    assert a[1] != c[1]


def test_recording_and_truth_files(tmp_path):
    w = world()
    w.set_belt_drive(1.0, True)
    rec = Recorder(tmp_path / "walk.csv.gz")
    for _ in range(5000):
        w.step(DT)
        rec.add(w)
    rec_path, truth_path = rec.write(w.truth)
    assert truth_path.name == "walk.truth.csv"
    data = read_recording(rec_path)
    assert data.shape == (5000, 7)
    assert data[-1, 0] == pytest.approx(5.0)
    assert data[-1, 2:6].sum() == pytest.approx(sum(w.deck_forces_n), abs=0.05)
    truth = read_truth(truth_path)
    assert {e for _, e, _ in truth} >= {"heel_strike", "toe_off"}
    assert all(math.isfinite(t) for t, _, _ in truth)
