"""The belt speed profile: limits, ramps, stops, start speed; and its speed driving the simulated belt."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from controllers.belt import BeltLimits, BeltProfile, RateLimiter
from rig.configspec import build_section
from rig.controlconfig import BeltControlConfig, PatientConfig, belt_limits
from rig.sim.world import World

DT_S = 0.005
LIMITS = BeltLimits(accel_mps2=0.5, decel_mps2=0.8, fast_stop_decel_mps2=2.0, max_speed_mps=1.2,
                    reverse_max_mps=0.6, max_start_speed_mps=2.0, max_speed_source="the patient's maximum")


def run(profile: BeltProfile, seconds: float, stop: str = "none") -> np.ndarray:
    return np.array([profile.step(DT_S, stop) for _ in range(int(round(seconds / DT_S)))])


def test_walking_ramps_up_at_the_acceleration_and_down_at_the_deceleration():
    belt = BeltProfile(LIMITS)
    assert belt.request(1.0) == ""
    up = run(belt, 3.0)
    assert np.diff(np.concatenate([[0.0], up])).max() == pytest.approx(0.5 * DT_S)
    assert up[-1] == 1.0 and up[int(1.0 / DT_S) - 1] == pytest.approx(0.5)
    assert belt.request(0.2) == ""
    down = run(belt, 2.0)
    assert np.diff(np.concatenate([[1.0], down])).min() == pytest.approx(-0.8 * DT_S)
    assert down[-1] == 0.2


def test_normal_and_fast_stops_use_their_own_decelerations_and_hold_zero_is_immediate():
    times = {}
    for stop in ("normal", "fast"):
        belt = BeltProfile(LIMITS)
        belt.request(1.0)
        run(belt, 3.0)
        speeds = run(belt, 3.0, stop)
        times[stop] = (np.argmax(speeds == 0.0) + 1) * DT_S
        assert belt.setpoint_mps == 1.0  # a stop keeps the set-point for the next walk
    assert times["normal"] == pytest.approx(1.0 / 0.8, abs=DT_S)
    assert times["fast"] == pytest.approx(1.0 / 2.0, abs=DT_S)
    belt = BeltProfile(LIMITS)
    belt.request(1.0)
    run(belt, 3.0)
    assert belt.step(DT_S, "hold_zero") == 0.0


def test_refusals_name_the_limit_and_store_nothing():
    belt = BeltProfile(LIMITS)
    assert belt.request(1.8) == "1.80 m/s is above the patient's maximum 1.20 m/s"
    assert "reverse (retro walking) maximum 0.60 m/s" in belt.request(-0.9)
    assert belt.request(float("nan")) != ""
    assert belt.setpoint_mps == 0.0
    belt.request(0.5)
    run(belt, 2.0)
    assert "must stop before it changes direction" in belt.request(-0.3)
    assert belt.setpoint_mps == 0.5
    with pytest.raises(ValueError, match="unknown belt stop"):
        belt.step(DT_S, "brake")


def test_reverse_walking_ramps_within_its_own_maximum():
    belt = BeltProfile(LIMITS)
    assert belt.request(-0.6) == ""
    speeds = run(belt, 3.0)
    assert speeds.min() == -0.6 and np.diff(speeds).min() >= -0.5 * DT_S - 1e-12
    assert run(belt, 2.0, "normal")[-1] == 0.0
    assert belt.request(0.4) == ""  # at rest the direction may change


def test_a_start_from_rest_is_capped_at_the_maximum_start_speed():
    belt = BeltProfile(replace(LIMITS, max_start_speed_mps=0.4))
    assert belt.request(1.0) == ""
    assert belt.setpoint_mps == 0.4 and "0.40 m/s" in belt.note
    assert run(belt, 2.0)[-1] == 0.4
    assert belt.request(1.0) == "" and belt.note == ""  # once walking, the operator may go faster
    assert run(belt, 3.0)[-1] == 1.0
    run(belt, 3.0, "normal")
    run(belt, 0.1)  # walking again from rest: capped again
    assert belt.setpoint_mps == 0.4


def test_config_maps_the_lower_of_the_patient_and_rig_maximum():
    limits = belt_limits(BeltControlConfig(), PatientConfig(max_speed_mps=1.2), rig_max_speed_mps=2.0,
                         reverse_max_mps=0.8)
    assert limits.max_speed_mps == 1.2 and limits.max_speed_source == "the patient's maximum"
    rig = belt_limits(BeltControlConfig(), PatientConfig(max_speed_mps=3.0), 2.0, 0.8)
    assert BeltProfile(rig).request(2.5) == "2.50 m/s is above the rig's maximum 2.00 m/s"
    config, issues = build_section(BeltControlConfig, {"decel_mps2": 1.0, "fast_stop_decel_mps2": 0.5}, "t.toml",
                                   "belt_control")
    assert config is None and "fast_stop_decel_mps2" in str(issues[0]) and "decel_mps2 = 1.0" in str(issues[0])


def test_limits_refuse_nonsense():
    with pytest.raises(ValueError, match="accel_mps2"):
        replace(LIMITS, accel_mps2=0.0)


def test_the_simulated_belt_follows_the_profile_and_never_exceeds_the_maximum():
    world = World()
    belt = BeltProfile(LIMITS)
    belt.request(1.2)
    measured = []
    for _ in range(int(6.0 / DT_S)):
        world.set_belt_drive(belt.step(DT_S, "none"), True)
        world.run(DT_S)
        measured.append(world.belt_speed_mps)
    assert max(measured) <= 1.2 + 0.01
    assert measured[-1] == pytest.approx(1.2, abs=0.06)  # within the motor's slip under the patient
    assert world.snapshot().patient == "walking"


def test_rate_limiter_keeps_its_api():
    limiter = RateLimiter(1.0, 2.0)
    assert limiter.step(1.0, 0.5) == 0.5
    assert limiter.step(0.0, 0.1) == pytest.approx(0.3)
