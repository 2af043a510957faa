"""The simulated rig as one machine: safety relay, drives, world and load-cell board together.

Drivers talk to the twins over their real transports (Modbus TCP, the board's pty); the
physics runs in lockstep with a virtual clock where timing matters.
"""
from __future__ import annotations

import time

import numpy as np
import pytest

from drivers.belt_vfd import DeltaVfd
from drivers.harness_servo.cia402 import Cia402Servo
from drivers.loadcell.stream import LoadcellStream
from drivers.safety_io.modbus_io import ModbusSafetyIo
from rig.clock import VirtualClock
from rig.config import parse_config
from rig.sim.inject import inject
from rig.sim.runner import SimRig
from tests.conftest import config_text, free_port

G = 9.81
CALIBRATION = """
[loadcells]
zero_counts = [412000, 268500, 731200, 155800, 590300]
n_per_count = [0.01, 0.01, 0.01, 0.01, 0.01]
"""


class Lockstep:
    def __init__(self):
        self.config = parse_config(config_text(free_port()) + CALIBRATION)
        self.clock = VirtualClock(start_s=50.0)
        self.sim = SimRig(self.config, clock=self.clock.now)
        self.clock.on_advance = self.sim.step_to
        self.sim.start(physics_thread=False)
        self.belt = DeltaVfd(self.config.belt, clock=self.clock.now)
        self.harness = Cia402Servo(self.config.harness, clock=self.clock.now, sleep=self.clock.advance)
        self.io = ModbusSafetyIo(self.config.safety_io, clock=self.clock.now)
        for device in (self.belt, self.harness, self.io):
            device.connect()

    def run(self, seconds: float, every_s: float = 0.01) -> None:
        """Advance time, talking to every device as a controller would (feeding their watchdogs)."""
        for _ in range(round(seconds / every_s)):
            self.clock.advance(every_s)
            self.belt.read_status()
            self.harness.read_status()
            self.io.read_inputs()

    def close(self) -> None:
        self.sim.stop()


@pytest.fixture
def rig():
    lockstep = Lockstep()
    yield lockstep
    lockstep.close()


def test_estop_coasts_the_belt_and_applies_the_brake(rig: Lockstep):
    rig.harness.enable()
    rig.belt.set_speed(1.0)
    rig.run(3.0)
    assert rig.sim.world.belt_speed_mps > 0.9 and rig.sim.servo.brake_released
    inject(rig.sim, "estop_press")
    rig.run(0.02)
    assert not rig.sim.servo.brake_released  # the spring brake holds at once
    inputs = rig.io.read_inputs()
    assert not inputs.estop_closed and not inputs.drives_enabled and not inputs.chain_ok
    speeds = []
    for _ in range(30):
        rig.run(0.1)
        speeds.append(rig.sim.world.belt_speed_mps)
    assert speeds[0] > 0.2  # coasting on friction, not braked by the drive's ramp
    assert speeds[0] > speeds[10] > speeds[20]  # slowing (the patient's feet push it a little each step)
    assert speeds[-1] < 0.05
    assert rig.belt.read_status().output_hz == 0.0
    assert rig.harness.read_status().state != "operation_enabled"


def test_a_released_estop_alone_re_arms_nothing(rig: Lockstep):
    inject(rig.sim, "estop_press")
    rig.run(0.05)
    inject(rig.sim, "estop_release")
    rig.run(0.05)
    assert not rig.io.read_inputs().drives_enabled  # relay stays open until reset
    inject(rig.sim, "relay_reset")
    rig.run(0.05)
    assert rig.io.read_inputs().chain_ok


def test_heartbeat_watchdog_opens_the_chain(rig: Lockstep):
    timeout = rig.config.safety_io.heartbeat_timeout_s
    for _ in range(20):
        rig.io.toggle_heartbeat()
        rig.run(0.01)
    assert rig.io.read_inputs().chain_ok
    rig.run(timeout + 0.05)  # the controller stalls: no more toggles
    assert not rig.io.read_inputs().drives_enabled
    assert not rig.sim.vfd.state.sto_ok and not rig.sim.servo.sto_ok


def test_fall_loads_the_harness_when_the_winch_holds(rig: Lockstep):
    weight = rig.config.sim.world.patient.body_mass_kg * G
    inject(rig.sim, "fall")
    rig.run(0.3)
    assert rig.sim.world.line_force_n >= 0.9 * weight


def test_load_cells_reach_the_host_calibrated():
    config = parse_config(config_text(free_port()) + CALIBRATION)
    with SimRig(config) as sim:
        stream = LoadcellStream(config.loadcell_board)
        stream.connect()
        try:
            time.sleep(1.0)
            batch = stream.drain()
        finally:
            stream.close()
        weight = config.sim.world.patient.body_mass_kg * G
        line = sim.world.line_force_n
    cal = config.loadcells
    forces = (batch.counts - np.array(cal.zero_counts)) * np.array(cal.n_per_count)
    assert len(batch.t_s) > 800  # ~1 kHz
    assert np.all(np.diff(batch.t_s) > 0)
    fz = np.median(forces[:, 1:].sum(axis=1))
    assert fz == pytest.approx(weight - line, abs=0.03 * weight)  # standing still: deck carries the rest


def test_injected_loadcell_fault_reaches_the_driver():
    config = parse_config(config_text(free_port()) + CALIBRATION)
    with SimRig(config) as sim:
        stream = LoadcellStream(config.loadcell_board)
        stream.connect()
        try:
            time.sleep(0.3)
            stream.drain()
            inject(sim, "loadcell_saturated", channel=2)
            time.sleep(0.3)
            stream.drain()
            codes = {f.code for f in stream.active_faults(time.monotonic())}
        finally:
            stream.close()
    assert 201 in codes
