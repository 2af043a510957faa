"""The layered dead-men: `rig run` SIGKILLed while the patient walks (bench/deadman.py).

Nothing of the controller runs after a SIGKILL; the devices' own watchdogs must stop the belt,
open the safety chain and brake the winch, within their configured times; the winch pays out no
more than its last command allows until the harness drive's own watchdog brakes it.
"""
from __future__ import annotations

from pathlib import Path

from bench.deadman import measure
from rig.config import load_config
from tests.test_run_cli import write_config

MARGIN_S = 0.4  # polling the sim's state every ~5 ms over HTTP on a busy machine


def test_a_killed_controller_leaves_the_belt_stopped_the_chain_open_and_the_winch_holding(tmp_path: Path):
    path = write_config(tmp_path)
    config = load_config(path)
    r = measure(str(path))
    assert r["belt_mps_at_kill"] > 0.9
    assert r["chain_open_s"] <= config.safety_io.heartbeat_timeout_s + MARGIN_S
    assert r["belt_ramp_s"] <= config.belt.comm_timeout_s + MARGIN_S
    # the drive ramps down (or coasts, once the opened chain has cut its torque): either way the
    # belt stops within a few seconds and a step or two of travel, never running on
    assert r["belt_at_rest_s"] <= config.belt.comm_timeout_s + 3.0
    assert r["belt_travel_after_kill_m"] <= 1.5
    assert r["harness_brake_s"] <= config.harness.comm_timeout_s + MARGIN_S
    assert 58 in (r["belt_drive_fault_code"], r["belt_drive_warning_code"])  # the drive shows CE10 (comm loss)
    # Nothing commands the winch after the kill: the drive runs its last velocity command until
    # its own comm watchdog brakes it, so any pay-out is bounded by the force loop's velocity
    # limit for that long (0.05 s by default: at most 2 cm; this test's busy-machine config
    # widens the watchdog to 0.5 s)
    bound_m = config.unloading.max_velocity_mps * config.harness.comm_timeout_s + 0.005
    assert r["winch_position_at_kill_m"] - r["min_winch_position_m"] <= bound_m
