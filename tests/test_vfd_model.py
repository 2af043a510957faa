"""The belt VFD twin's behaviour, stepped on virtual time (no transport involved)."""
from __future__ import annotations

import pytest

from rig.config import parse_config
from rig.sim import vfd as v

CONFIG = parse_config("[belt]\ndrive_accel_s = 2.0\ndrive_decel_s = 4.0\n")
REGS = CONFIG.belt.registers
DT = 0.001


def make() -> v.VfdModel:
    model = v.VfdModel(CONFIG.belt, CONFIG.sim.belt)
    model.write(REGS.accel_time, [200])
    model.write(REGS.decel_time, [400])
    return model


def run(model: v.VfdModel, seconds: float, t0: float = 0.0, feed: bool = True) -> float:
    t = t0
    for _ in range(round(seconds / DT)):
        t += DT
        if feed:
            model.touch(t)
        model.step(t, DT)
    return t


def test_factory_defaults_have_watchdog_off():
    model = v.VfdModel(CONFIG.belt, CONFIG.sim.belt)
    assert model.read(REGS.comm_timeout, 1) == [0]
    assert model.read(REGS.comm_loss_reaction, 1) == [v.REACTION_NONE]


def test_ramp_takes_accel_time_scaled_by_frequency():
    model = make()
    model.write(REGS.frequency_command, [3000])  # 30 Hz of 60: half of the 2 s ramp
    model.write(REGS.control, [0x0012])
    run(model, 0.9)
    assert model.state.output_hz < 30.0
    run(model, 0.11, 0.9)
    assert model.state.output_hz == pytest.approx(30.0)
    assert model.read(REGS.status, 1)[0] & 0b11 == v.STATUS_RUNNING


def test_motor_lags_output_first_order():
    model = make()
    model.write(REGS.frequency_command, [3000])
    model.write(REGS.control, [0x0012])
    run(model, 1.0)
    assert 0 < model.state.motor_hz < model.state.output_hz
    run(model, 1.0, 1.0)
    assert model.state.motor_hz == pytest.approx(30.0, abs=0.01)


def test_stop_ramps_at_decel_time():
    model = make()
    model.write(REGS.frequency_command, [6000])
    model.write(REGS.control, [0x0012])
    t = run(model, 2.1)
    model.write(REGS.control, [0x0001])
    t = run(model, 2.0, t)
    assert model.state.output_hz == pytest.approx(30.0, abs=0.1)  # 4 s from 60 Hz to 0
    assert model.read(REGS.status, 1)[0] & 0b11 == v.STATUS_DECEL
    run(model, 2.1, t)
    assert model.state.output_hz == 0.0


def test_reverse_is_signed_and_flagged():
    model = make()
    model.write(REGS.frequency_command, [1000])
    model.write(REGS.control, [0x0022])
    run(model, 1.0)
    assert model.state.output_hz == pytest.approx(-10.0)
    assert (model.read(REGS.status, 1)[0] >> 3) & 0b11 == 0b11


def test_frequency_above_maximum_is_rejected():
    model = make()
    assert model.write(REGS.frequency_command, [6001]) == v.ILLEGAL_VALUE
    assert model.state.frequency_command_hz == 0.0


def test_unknown_and_read_only_addresses_are_rejected():
    model = make()
    assert model.read(0x1234, 1) == v.ILLEGAL_ADDRESS
    assert model.write(REGS.output_frequency, [1]) == v.ILLEGAL_ADDRESS


def test_fault_coasts_and_latches_until_reset():
    model = make()
    model.write(REGS.frequency_command, [3000])
    model.write(REGS.control, [0x0012])
    t = run(model, 1.5)
    model.inject_fault(v.FAULT_EXTERNAL)
    t = run(model, 0.5, t)
    assert model.state.output_hz == 0.0 and model.state.motor_hz > 0  # coasting, not ramping
    assert model.read(REGS.fault_warning, 1)[0] & 0xFF == v.FAULT_EXTERNAL
    model.write(REGS.control, [0x0012])
    run(model, 0.5, t)
    assert model.state.output_hz == 0.0  # a faulted drive does not run
    model.write(REGS.fault_control, [0x0002])
    assert model.read(REGS.fault_warning, 1)[0] == 0
    assert model.state.run_command is False  # never restarts by itself


@pytest.mark.parametrize("reaction,expect_fault_at_once", [(v.REACTION_RAMP_STOP, False), (v.REACTION_COAST, True)])
def test_comm_loss_watchdog(reaction: int, expect_fault_at_once: bool):
    model = make()
    model.write(REGS.comm_timeout, [5])  # 0.5 s
    model.write(REGS.comm_loss_reaction, [reaction])
    model.write(REGS.frequency_command, [3000])
    model.write(REGS.control, [0x0012])
    t = run(model, 1.2)
    t = run(model, 0.49, t, feed=False)
    assert model.state.run_command is True and model.state.warning_code == 0
    t = run(model, 0.02, t, feed=False)
    assert model.state.run_command is False
    assert model.state.warning_code == v.WARNING_CE10
    assert (model.state.fault_code == v.FAULT_CE10) is expect_fault_at_once
    run(model, 3.0, t, feed=False)
    assert model.state.output_hz == 0.0
    assert model.state.fault_code == v.FAULT_CE10


def test_comm_loss_warn_only_keeps_running():
    model = make()
    model.write(REGS.comm_timeout, [5])
    model.write(REGS.comm_loss_reaction, [v.REACTION_WARN])
    model.write(REGS.frequency_command, [3000])
    model.write(REGS.control, [0x0012])
    t = run(model, 1.2)
    run(model, 1.0, t, feed=False)
    assert model.state.warning_code == v.WARNING_CE10
    assert model.state.output_hz == pytest.approx(30.0)


def test_sto_off_coasts_without_current():
    model = make()
    model.write(REGS.frequency_command, [3000])
    model.write(REGS.control, [0x0012])
    t = run(model, 1.5)
    model.set_sto(False)
    run(model, 0.2, t)
    assert model.state.output_hz == 0.0 and model.state.current_a == 0.0


def test_overcurrent_trips_after_one_second():
    model = make()
    model.write(REGS.frequency_command, [3000])
    model.write(REGS.control, [0x0012])
    t = run(model, 1.5)
    model.state.external_load_a = 20.0  # belt held
    t = run(model, 0.9, t)
    assert model.state.fault_code == 0
    run(model, 0.2, t)
    assert model.state.fault_code == v.FAULT_OC_CONSTANT


def test_parameter_lock_ignores_writes():
    model = make()
    model.parameter_lock = True
    assert model.write(REGS.comm_timeout, [5]) is None
    assert model.read(REGS.comm_timeout, 1) == [0]
