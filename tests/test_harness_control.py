"""The unloading controller against the simulated world (rig/sim/world.py, stepped in-process).

Each tick the world runs 5 ms at 1 kHz; the controller sees the world's line and deck forces
and winch readings, and its command reaches the winch one tick later (as over Modbus).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from controllers.harness import UnloadingController, UnloadingParams
from rig.controlconfig import PatientConfig, UnloadingConfig, cross_check, unloading_params
from rig.sim.world import World
from rig.sim.worldconfig import WorldConfig

DT_S = 0.005
WEIGHT_N = 80.0 * 9.81
FORCE_CAP_N = 900.0


def params(**changes: object) -> UnloadingParams:
    base = UnloadingParams(body_weight_n=WEIGHT_N, ramp_n_per_s=0.05 * WEIGHT_N, force_cap_n=FORCE_CAP_N,
                           sensor_delay_s=0.0)
    return replace(base, **changes)


class Loop:
    """World + controller in lockstep; records what happened at every tick."""

    def __init__(self, ctl: UnloadingController, world: World | None = None):
        cfg = WorldConfig()
        self.world = world or World(replace(cfg, harness=replace(cfg.harness, accel_limit_mps2=6.0)))
        self.ctl = ctl
        self.pending_mps = 0.0
        self.log: list[tuple[float, float, float, float, float]] = []  # t, command, target, force, position

    def run(self, seconds: float, mode: str, until=None) -> None:
        w = self.world
        for _ in range(int(round(seconds / DT_S))):
            command = self.ctl.step(DT_S, mode, w.line_force_n, w.winch_position_m, w.winch_velocity_mps,
                                    sum(w.deck_forces_n))
            w.set_winch(self.pending_mps, enabled=True, brake_released=True, force_limit_n=FORCE_CAP_N)
            w.run(DT_S)
            self.pending_mps = command
            self.log.append((w.t_s, command, self.ctl.target_n, w.line_force_n, w.winch_position_m))
            if until is not None and until():
                return

    def column(self, i: int, since: int = 0) -> np.ndarray:
        return np.array([row[i] for row in self.log[since:]])

    def attach_and_unload(self) -> None:
        self.run(5.0, "pretension", until=lambda: self.ctl.pretensioned)
        self.run(20.0, "track", until=lambda: self.ctl.on_target(5.0))


def make_slack(world: World) -> None:
    """Pay out 5 cm of line so that the harness hangs slack."""
    world.set_winch(-0.05, enabled=True, brake_released=True, force_limit_n=FORCE_CAP_N)
    world.run(1.0)
    world.set_winch(0.0, enabled=True, brake_released=True, force_limit_n=FORCE_CAP_N)
    world.run(0.2)


def test_pretension_takes_up_slack_gently_and_keeps_the_pretension():
    loop = Loop(UnloadingController(params()))
    make_slack(loop.world)
    assert loop.world.line_force_n == 0.0
    loop.run(8.0, "pretension", until=lambda: loop.ctl.pretensioned)
    assert loop.ctl.pretensioned
    assert loop.column(1).max() <= params().haul_in_mps + 1e-12
    loop.run(2.0, "pretension")
    assert abs(loop.world.line_force_n - 30.0) < 5.0
    assert loop.column(3).max() < 45.0  # no jerk on the patient while taking up the slack


def test_target_ramp_never_exceeds_the_configured_rate_up_or_down():
    loop = Loop(UnloadingController(params(fraction=0.4)))
    loop.attach_and_unload()
    loop.run(12.0, "release", until=lambda: loop.ctl.slack)
    steps = np.abs(np.diff(loop.column(2)))
    assert steps.max() <= 0.05 * WEIGHT_N * DT_S + 1e-9
    assert loop.column(2).max() == pytest.approx(0.4 * WEIGHT_N)


def test_detach_ramps_down_then_pays_out_to_slack():
    loop = Loop(UnloadingController(params()))
    loop.attach_and_unload()
    start = len(loop.log)
    loop.run(15.0, "release", until=lambda: loop.ctl.slack)
    assert loop.ctl.slack and loop.ctl.target_n == 0.0
    loop.run(1.0, "release")
    assert loop.world.line_force_n < params().slack_n
    assert loop.column(1)[-1] == 0.0  # done: the winch stands still
    force_down = loop.column(3, start)
    assert force_down[0] > 200.0  # it started from the unloading force


def walking_then_hold(fall: bool) -> tuple[Loop, int, float]:
    loop = Loop(UnloadingController(params()))
    loop.attach_and_unload()
    loop.world.set_belt_drive(1.0, True)
    loop.run(6.0, "track")
    start, target = len(loop.log), loop.ctl.target_n
    if fall:
        loop.world.schedule(loop.world.t_s + 0.3, "fall")
    loop.run(2.0, "hold")
    return loop, start, target


def test_hold_never_pays_out_and_freezes_the_target_while_walking():
    loop, start, target = walking_then_hold(fall=False)
    assert loop.column(1, start).min() >= 0.0
    assert np.all(loop.column(2, start) == target)
    position = loop.column(4, start + 40)  # after 0.2 s the drive has stopped whatever it was doing
    # the drive's velocity loop gives a millimetre or so under the gait's force swings; no drift down
    assert position.min() > position[0] - 0.002
    assert position[-200:].mean() > position[:100].mean() - 0.0005


def test_hold_keeps_its_command_and_target_when_the_patient_falls_into_the_harness():
    loop, start, target = walking_then_hold(fall=True)
    assert loop.column(3, start).max() > 1.5 * target  # the patient did fall into the harness
    assert loop.column(1, start).min() >= 0.0
    assert np.all(loop.column(2, start) == target)


def test_hold_to_track_is_bumpless_and_the_target_carries_on_from_where_it_froze():
    ctl = UnloadingController(params(fraction=0.3))
    loop = Loop(ctl)
    loop.run(5.0, "pretension", until=lambda: ctl.pretensioned)
    loop.run(2.0, "track")
    frozen = ctl.target_n
    loop.run(1.0, "hold")
    loop.run(DT_S, "track")
    assert frozen < ctl.target_n <= frozen + 0.05 * WEIGHT_N * DT_S + 1e-9


def test_the_prescription_floor_is_enforced():
    ctl = UnloadingController(params(min_fraction=0.5, fraction=0.5))
    refusal = ctl.set_fraction(0.3)
    assert "30 %" in refusal and "minimum 50 %" in refusal and "at most 50 % of body weight" in refusal
    assert ctl.fraction == 0.5
    assert ctl.set_fraction(0.55) == "" and ctl.fraction == 0.55
    with pytest.raises(ValueError):
        params(min_fraction=0.5, fraction=0.3)


def test_a_fraction_beyond_the_winch_force_cap_is_refused():
    ctl = UnloadingController(params(max_fraction=1.0, force_cap_n=500.0))
    assert "more than the winch may pull" in ctl.set_fraction(0.7)
    assert ctl.set_fraction(float("nan")) != ""


def test_config_maps_the_prescription_and_cross_checks_it():
    patient = PatientConfig(weight_bearing_limit_pct=50.0)
    issues = cross_check(patient, UnloadingConfig(fraction=0.3), harness_force_cap_n=900.0)
    assert issues and issues[0][0] == "unloading.fraction"
    assert "weight_bearing_limit_pct = 50" in issues[0][1] and "0.3" in issues[0][1]
    p = unloading_params(UnloadingConfig(fraction=0.5), patient, 900.0, sensor_delay_s=0.012)
    assert p.min_fraction == 0.5 and p.sensor_delay_s == 0.012
    assert p.ramp_n_per_s == pytest.approx(0.05 * patient.body_weight_n)
    assert cross_check(PatientConfig(), UnloadingConfig(fraction=0.3), 900.0) == []
    heavy = cross_check(PatientConfig(body_mass_kg=200.0), UnloadingConfig(fraction=0.6), 900.0)
    assert any("more than the winch may pull" in message for _, message in heavy)


def test_ten_seconds_of_walking_keep_the_force_near_target():
    loop = Loop(UnloadingController(params(fraction=0.3)))
    loop.attach_and_unload()
    loop.world.set_belt_drive(1.0, True)
    loop.run(5.0, "track")  # first steps
    start = len(loop.log)
    loop.run(10.0, "track")
    error = loop.column(3, start) - 0.3 * WEIGHT_N
    assert np.sqrt(np.mean(error**2)) < 0.02 * WEIGHT_N
    assert np.abs(error).max() < 0.06 * WEIGHT_N
    assert loop.world.snapshot().patient == "walking"


def test_without_feedforward_the_same_walk_is_much_worse():
    """The feed-forward is what holds the force: switched off, the error grows several-fold."""
    errors = []
    for gain in (1.0, 0.0):
        loop = Loop(UnloadingController(params(fraction=0.3, feedforward_gain=gain)))
        loop.attach_and_unload()
        loop.world.set_belt_drive(1.0, True)
        loop.run(5.0, "track")
        start = len(loop.log)
        loop.run(5.0, "track")
        errors.append(np.sqrt(np.mean((loop.column(3, start) - 0.3 * WEIGHT_N) ** 2)))
    assert errors[1] > 3 * errors[0]


def test_static_mode_holds_the_winch_once_on_target():
    loop = Loop(UnloadingController(params(mode="static")))
    loop.attach_and_unload()
    loop.run(3.0, "track", until=lambda: loop.ctl.holding_position)
    assert loop.ctl.holding_position
    start = len(loop.log)
    loop.run(2.0, "track")
    position = loop.column(4, start)
    assert position.max() - position.min() < 0.001
    loop.ctl.set_fraction(0.35)
    loop.run(DT_S, "track")
    assert not loop.ctl.holding_position  # a new target: back to the force loop


def test_no_haul_in_at_the_force_cap_and_limits_on_every_command():
    p = params()
    ctl = UnloadingController(p)
    command = ctl.step(DT_S, "track", FORCE_CAP_N, 0.0, 0.0, None)
    assert command <= 0.0
    ctl = UnloadingController(p)
    commands = [ctl.step(DT_S, "track", 0.0, 0.0, 0.0, None) for _ in range(400)]
    assert max(commands) <= p.max_velocity_mps
    assert np.abs(np.diff([0.0, *commands])).max() <= p.max_accel_mps2 * DT_S + 1e-12


def test_slack_mode_commands_nothing_and_unknown_modes_are_refused():
    ctl = UnloadingController(params())
    assert ctl.step(DT_S, "slack", 0.0, 0.0, 0.0) == 0.0 and ctl.slack
    with pytest.raises(ValueError, match="unknown harness mode"):
        ctl.step(DT_S, "lift", 0.0, 0.0, 0.0)
