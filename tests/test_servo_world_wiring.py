"""The servo and safety I/O twins coupled to the simulated world the way SimRig wires them.

`substep` below is the wiring the runner uses (rig/sim/runner.py): the safety relay's chain
gives or takes STO from both drives, the servo commands the world's winch and takes back its
actuals, the brake state is read back on the safety module's input. Virtual time, no transport.
"""
from __future__ import annotations

import pytest

from rig.config import parse_config
from rig.sim import servo as s
from rig.sim.safety_io import SafetyIoModel
from rig.sim.vfd import VfdModel
from rig.sim.world import World

CONFIG = parse_config("")
REGS = CONFIG.harness.registers
DT = 0.001


class Rig:
    def __init__(self) -> None:
        self.servo = s.ServoModel(CONFIG.harness)
        self.safety = SafetyIoModel(CONFIG.safety_io)
        self.vfd = VfdModel(CONFIG.belt, CONFIG.sim.belt)
        self.world = World(CONFIG.sim.world)
        self.t = 0.0

    def substep(self, now_s: float, dt_s: float) -> None:
        servo, safety, world = self.servo, self.safety, self.world
        safety.harness_attached = world.harness.attached
        safety.set_brake_released(servo.brake_released)
        safety.step(now_s, dt_s)
        self.vfd.set_sto(safety.chain_closed)
        servo.set_sto(safety.chain_closed)
        servo.step(now_s, dt_s)
        world.set_winch(servo.velocity_command_mps, servo.enabled, servo.brake_released,
                        servo.force_limit_n, torque_available=servo.sto_ok)
        world.step(dt_s)
        servo.set_actuals(world.winch_position_m, world.winch_velocity_mps, world.line_force_n,
                          world.harness.motor_force_n)

    def run(self, seconds: float) -> None:
        for _ in range(round(seconds / DT)):
            self.t += DT
            self.servo.touch(self.t)  # the controller keeps polling
            self.substep(self.t, DT)

    def enable(self, velocity_counts: int) -> None:
        self.servo.write(REGS.mode_of_operation, [3])
        self.servo.write(REGS.max_torque, [round(CONFIG.harness.max_torque_pct * 10)])
        self.servo.write(REGS.target_velocity, [(velocity_counts >> 16) & 0xFFFF, velocity_counts & 0xFFFF])
        for word in (0x0006, 0x0007, 0x000F):
            self.servo.write(REGS.controlword, [word])


@pytest.fixture
def rig() -> Rig:
    rig = Rig()
    rig.run(0.1)  # boot
    return rig


def test_enabled_servo_hauls_the_world_winch_and_reports_it(rig):
    rig.enable(velocity_counts=50)
    rig.run(0.5)
    assert rig.world.winch_velocity_mps == pytest.approx(0.05, abs=0.01)
    position_counts = rig.servo.read(REGS.position_actual, 2)
    assert (position_counts[0] << 16 | position_counts[1]) * CONFIG.harness.position_m_per_count \
        == pytest.approx(rig.world.winch_position_m, abs=1e-4)
    assert rig.safety.read_bits("discrete", 0, 5)[4] is True  # brake released, read back


def test_open_safety_chain_faults_the_servo_and_the_brake_holds(rig):
    rig.enable(velocity_counts=50)
    rig.run(0.3)
    rig.safety.press_estop()
    rig.run(0.05)
    assert rig.servo.state.state == s.FAULT and rig.servo.state.error_code == s.ERROR_STO
    assert rig.world.harness.brake_engaged and rig.world.winch_velocity_mps == 0.0
    assert rig.vfd.state.sto_ok is False  # the belt drive loses torque too (it coasts in its step)
    assert rig.safety.read_bits("discrete", 0, 5) == [False, True, True, False, False]


def test_harness_detach_in_the_world_shows_on_the_safety_input(rig):
    rig.world.schedule(None, "harness_detach")
    rig.run(0.01)
    assert rig.safety.read_bits("discrete", CONFIG.safety_io.input_harness_attached, 1) == [False]
