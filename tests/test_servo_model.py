"""The harness servo twin's CiA 402 behaviour, stepped on virtual time (no transport involved)."""
from __future__ import annotations

import pytest

from rig.config import parse_config
from rig.sim import servo as s

CONFIG = parse_config("")
HARNESS = CONFIG.harness
REGS = HARNESS.registers
DT = 0.001


def run(model: s.ServoModel, seconds: float, t0: float = 0.0, feed: bool = True) -> float:
    t = t0
    for _ in range(round(seconds / DT)):
        t += DT
        if feed:
            model.touch(t)
        model.step(t, DT)
    return t


def statusword(model: s.ServoModel) -> int:
    return model.read(REGS.statusword, 1)[0]


def control(model: s.ServoModel, word: int) -> None:
    assert model.write(REGS.controlword, [word]) is None


def booted() -> s.ServoModel:
    model = s.ServoModel(HARNESS)
    run(model, 0.06)
    return model


def enabled(velocity_counts: int = 0) -> s.ServoModel:
    model = booted()
    model.write(REGS.mode_of_operation, [3])
    model.write(REGS.target_velocity, [(velocity_counts >> 16) & 0xFFFF, velocity_counts & 0xFFFF])
    for word in (0x0006, 0x0007, 0x000F):
        control(model, word)
    assert model.state.state == s.OPERATION_ENABLED
    return model


def test_boots_through_not_ready_to_switch_on_disabled():
    model = s.ServoModel(HARNESS)
    assert statusword(model) & 0x004F == 0x0000
    run(model, 0.06)
    assert statusword(model) & 0x004F == 0x0040
    assert not model.enabled and not model.brake_released


@pytest.mark.parametrize("word,state,mask,pattern", [
    (0x0006, s.READY, 0x006F, 0x0021),
    (0x0007, s.SWITCHED_ON, 0x006F, 0x0023),
    (0x000F, s.OPERATION_ENABLED, 0x006F, 0x0027),
])
def test_enable_walk_shows_the_cia402_statuswords(word, state, mask, pattern):
    model = booted()
    for step in (0x0006, 0x0007, 0x000F):
        control(model, step)
        if step == word:
            break
    assert model.state.state == state
    assert statusword(model) & mask == pattern


def test_commands_that_skip_a_state_are_ignored():
    model = booted()
    control(model, 0x000F)  # enable operation straight from switch on disabled
    assert model.state.state == s.SWITCH_ON_DISABLED
    control(model, 0x0006)
    control(model, 0x000F)  # enable operation from ready to switch on
    assert model.state.state == s.READY


def test_walk_back_and_disable_voltage():
    model = enabled()
    control(model, 0x0007)  # disable operation
    assert model.state.state == s.SWITCHED_ON and not model.brake_released
    control(model, 0x000F)
    control(model, 0x0006)  # shutdown from operation enabled
    assert model.state.state == s.READY
    control(model, 0x0000)  # disable voltage
    assert statusword(model) & 0x004F == 0x0040


def test_only_profile_velocity_mode_is_accepted():
    model = booted()
    assert model.write(REGS.mode_of_operation, [1]) == s.ILLEGAL_VALUE
    assert model.write(REGS.mode_of_operation, [3]) is None
    assert model.read(REGS.mode_of_operation, 1) == [3]


def test_without_mode_3_the_drive_does_not_move():
    model = booted()
    model.write(REGS.target_velocity, [0, 200])
    for word in (0x0006, 0x0007, 0x000F):
        control(model, word)
    assert model.velocity_command_mps == 0.0


def test_target_velocity_is_signed_32_bit_high_word_first():
    model = enabled(velocity_counts=-250)
    assert model.read(REGS.target_velocity, 2) == [0xFFFF, 0xFF06]
    assert model.velocity_command_mps == pytest.approx(-0.25)
    model.write(REGS.target_velocity + 1, [300])  # low word alone updates the low half
    assert model.state.target_counts == -65536 + 300


def test_velocity_follows_within_acceleration_limit_and_position_integrates():
    model = enabled(velocity_counts=200)  # 0.2 m/s, fallback accel 2 m/s^2: 0.1 s ramp
    t = run(model, 0.05)
    assert model.state.velocity_mps == pytest.approx(0.1, abs=0.002)
    run(model, 1.0, t)
    assert model.state.velocity_mps == pytest.approx(0.2)
    assert model.state.position_m == pytest.approx(0.2 * 1.05 - 0.01, abs=0.002)
    assert model.read(REGS.velocity_actual, 2) == [0, 200]
    assert statusword(model) & s.BIT_TARGET_REACHED


def test_position_actual_negative_counts():
    model = booted()
    model.set_actuals(-0.0123, -0.05, 0.0)
    assert model.read(REGS.position_actual, 2) == [0xFFFF, (-123) & 0xFFFF]
    assert model.read(REGS.velocity_actual, 2) == [0xFFFF, (-50) & 0xFFFF]


def test_torque_cap_range_and_force_limit():
    model = booted()
    assert model.write(REGS.max_torque, [3001]) == s.ILLEGAL_VALUE
    assert model.write(REGS.max_torque, [600]) is None
    assert model.force_limit_n == pytest.approx(0.6 * HARNESS.rated_force_n)


def test_torque_actual_from_the_world_and_internal_limit_bit():
    model = enabled()
    model.write(REGS.max_torque, [400])
    rated = HARNESS.rated_force_n
    model.set_actuals(0.0, 0.0, line_force_n=500.0, motor_force_n=-0.1 * rated)
    assert model.read(REGS.torque_actual, 1) == [(-100) & 0xFFFF]  # -10.0 % in 0.1 % units
    assert not statusword(model) & s.BIT_INTERNAL_LIMIT
    model.set_actuals(0.0, 0.0, line_force_n=0.4 * rated, motor_force_n=0.4 * rated)
    assert statusword(model) & s.BIT_INTERNAL_LIMIT


def test_world_attached_turns_off_the_fallback():
    model = enabled(velocity_counts=200)
    model.set_actuals(0.1, 0.0, 0.0)
    run(model, 0.2)
    assert model.state.position_m == 0.1 and model.state.velocity_mps == 0.0


def test_read_only_and_unknown_addresses_are_rejected():
    model = booted()
    assert model.write(REGS.statusword, [0]) == s.ILLEGAL_ADDRESS
    assert model.write(REGS.position_actual, [0, 1]) == s.ILLEGAL_ADDRESS
    assert model.read(0x1234, 1) == s.ILLEGAL_ADDRESS


def test_injected_fault_reacts_then_latches_until_reset_edge():
    model = enabled(velocity_counts=100)
    t = run(model, 0.2)
    model.inject_fault()
    assert model.state.state == s.FAULT_REACTION_ACTIVE and not model.brake_released
    assert statusword(model) & 0x004F == 0x000F
    t = run(model, 0.02, t)
    assert statusword(model) & 0x004F == 0x0008
    assert model.read(REGS.error_code, 1) == [s.ERROR_EXTERNAL]
    assert model.state.velocity_mps == 0.0  # the brake holds the drum
    control(model, 0x0080)  # controlword already had bit 7 clear: this is the rising edge
    assert model.state.state == s.SWITCH_ON_DISABLED and model.read(REGS.error_code, 1) == [0]
    control(model, 0x000F)
    assert model.state.state == s.SWITCH_ON_DISABLED  # never re-enables by itself


def test_fault_reset_needs_an_edge_and_the_cause_gone():
    model = enabled()
    model.inject_fault(persistent=True)
    run(model, 0.02)
    control(model, 0x0080)
    assert model.state.state == s.FAULT  # cause still there
    model.clear_fault_cause()
    control(model, 0x0080)
    assert model.state.state == s.FAULT  # bit 7 held high: no edge
    control(model, 0x0000)
    control(model, 0x0080)
    assert model.state.state == s.SWITCH_ON_DISABLED


def test_sto_lost_while_enabled_is_a_fault_and_brake_holds():
    model = enabled(velocity_counts=100)
    t = run(model, 0.1)
    model.set_sto(False)
    assert not model.brake_released and model.velocity_command_mps == 0.0
    run(model, 0.02, t)
    assert model.state.state == s.FAULT and model.state.error_code == s.ERROR_STO
    control(model, 0x0000)
    control(model, 0x0080)
    assert model.state.state == s.FAULT  # STO still off
    model.set_sto(True)
    control(model, 0x0000)
    control(model, 0x0080)
    assert model.state.state == s.SWITCH_ON_DISABLED


def test_sto_off_blocks_the_walk_without_a_fault():
    model = booted()
    control(model, 0x0006)
    model.set_sto(False)
    assert model.state.state == s.SWITCH_ON_DISABLED
    control(model, 0x0006)
    assert model.state.state == s.SWITCH_ON_DISABLED and model.state.error_code == 0


def test_quick_stop_ramps_down_then_switches_off():
    model = enabled(velocity_counts=200)
    t = run(model, 0.5)
    control(model, 0x0002)
    assert statusword(model) & 0x006F == 0x0007
    assert model.brake_released  # power stays on while it ramps down
    t = run(model, 0.03, t)
    assert 0.0 < model.state.velocity_mps < 0.2
    run(model, 0.1, t)
    assert model.state.state == s.SWITCH_ON_DISABLED and not model.brake_released


def test_comm_loss_watchdog_faults_only_while_powered():
    model = booted()
    run(model, 1.0, 0.06, feed=False)
    assert model.state.state == s.SWITCH_ON_DISABLED  # disabled drives do not care
    model = enabled()
    t = run(model, 0.1)
    t = run(model, 0.49, t, feed=False)
    assert model.state.state == s.OPERATION_ENABLED
    run(model, 0.05, t, feed=False)
    assert model.state.error_code == s.ERROR_COMM_LOSS and model.state.state == s.FAULT


def test_parameter_lock_ignores_max_torque_writes():
    model = booted()
    model.parameter_lock = True
    assert model.write(REGS.max_torque, [600]) is None
    assert model.read(REGS.max_torque, 1) == [s.FACTORY_MAX_TORQUE]
