"""The Delta VFD driver against the belt twin over real Modbus TCP on loopback."""
from __future__ import annotations

import time

import pytest

from drivers.belt_vfd import DeltaVfd
from drivers.errors import CommsError, DeviceError, DeviceRejected
from rig.config import parse_config
from rig.sim import vfd as v
from tests.conftest import config_text, free_port


def poll_until(predicate, timeout_s: float, period_s: float = 0.005) -> float:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout_s:
            raise AssertionError("condition not reached in time")
        time.sleep(period_s)
    return time.monotonic() - start


@pytest.fixture
def drive(rig_config, sim):
    driver = DeltaVfd(rig_config.belt)
    driver.connect()
    yield driver
    driver.close()


def test_connect_writes_and_verifies_watchdog(drive, sim, rig_config):
    regs = rig_config.belt.registers
    assert sim.vfd.params[regs.comm_timeout] == 3  # 0.3 s in 0.1 s units
    assert sim.vfd.params[regs.comm_loss_reaction] == v.REACTION_RAMP_STOP
    assert sim.vfd.params[regs.accel_time] == 120
    assert drive.health.state == "up"


def test_drive_with_watchdog_off_is_refused(rig_config, sim):
    sim.vfd.parameter_lock = True  # writes accepted but not stored: the watchdog stays at factory "off"
    with pytest.raises(DeviceError) as caught:
        DeltaVfd(rig_config.belt).connect()
    assert caught.value.code == 302
    assert "belt drive comm-loss stop is disabled" in caught.value.detail


def test_absent_drive_fails_to_connect_with_103():
    config = parse_config(config_text(free_port()))
    with pytest.raises(DeviceError) as caught:
        DeltaVfd(config.belt).connect()
    assert caught.value.code == 103


def test_speed_reaches_command_within_accel_time(drive, rig_config):
    target = 1.5  # 30 Hz of 60: half of drive_accel_s
    expected_s = rig_config.belt.drive_accel_s * (target / rig_config.belt.mps_per_hz) / rig_config.belt.max_frequency_hz
    drive.set_speed(target)
    took = poll_until(lambda: drive.read_status().speed_mps >= target - 1e-6, timeout_s=3 * expected_s)
    assert expected_s * 0.8 <= took <= expected_s * 1.2
    status = drive.read_status()
    assert status.run_state == "running" and not status.reverse and status.current_a > 0


def test_reverse_and_stop(drive):
    drive.set_speed(-0.5)
    poll_until(lambda: drive.read_status().speed_mps <= -0.5 + 1e-6, timeout_s=2)
    assert drive.read_status().reverse
    drive.stop()
    poll_until(lambda: drive.read_status().at_rest, timeout_s=2)


def test_twin_stops_belt_when_controller_goes_silent(drive, sim, rig_config):
    drive.set_speed(1.0)
    poll_until(lambda: drive.read_status().speed_mps >= 1.0 - 1e-6, timeout_s=2)
    silent_from = time.monotonic()
    drive.read_status()  # the last request: the twin hears it at or after silent_from
    poll_until(lambda: not sim.vfd.state.run_command, timeout_s=2, period_s=0.001)
    stopped_after = time.monotonic() - silent_from
    assert rig_config.belt.comm_timeout_s <= stopped_after <= rig_config.belt.comm_timeout_s + 0.3  # busy machine
    assert sim.vfd.state.warning_code == v.WARNING_CE10
    poll_until(lambda: sim.vfd.state.output_hz == 0.0, timeout_s=2)
    assert time.monotonic() - silent_from < rig_config.belt.comm_timeout_s + rig_config.belt.drive_decel_s
    status = drive.read_status()  # the controller comes back: it sees the CE10 fault
    assert status.fault_code == v.FAULT_CE10 and status.at_rest


def test_device_exception_is_rejected_fault(drive, sim):
    sim.endpoint("belt").faults.exception_code = 4
    with pytest.raises(DeviceRejected) as caught:
        drive.read_status()
    assert caught.value.code == 102 and caught.value.exception_code == 4
    assert drive.health.rejections == 1 and "exception 4" in drive.health.last_error


def test_illegal_value_from_drive_is_rejected_fault(drive):
    with pytest.raises(DeviceRejected) as caught:
        drive.link.write_register(drive.regs.frequency_command, 9000)
    assert caught.value.exception_code == 3


def test_dropped_answer_is_comm_fault_after_retry_budget(drive, sim, rig_config):
    sim.endpoint("belt").faults.drop_responses = True
    start = time.monotonic()
    with pytest.raises(CommsError) as caught:
        drive.read_status()
    took = time.monotonic() - start
    assert caught.value.code == 101
    budget = rig_config.belt.link.worst_case_blocking_s
    assert budget * 0.9 <= took <= budget + 0.1
    assert drive.health.state == "down"
    sim.endpoint("belt").faults.clear()
    time.sleep(0.05)
    drive.read_status()
    assert drive.health.state == "up"


def test_corrupted_answer_is_comm_fault(drive, sim):
    sim.endpoint("belt").faults.corrupt_responses = True
    with pytest.raises(CommsError):
        drive.read_status()


def test_link_down_and_back(drive, sim):
    sim.servers.set_link_down("belt", True)
    with pytest.raises(CommsError) as caught:
        drive.read_status()
    assert caught.value.code == 101
    sim.servers.set_link_down("belt", False)
    drive.read_status()
    assert drive.health.state == "up"


def test_impossible_speed_readback_is_fault_303(drive, sim):
    sim.vfd.state.output_hz = 99.0
    with pytest.raises(DeviceError) as caught:
        drive.read_status()
    assert caught.value.code == 303


def test_commands_written_only_on_change(drive, sim):
    endpoint = sim.endpoint("belt")
    drive.set_speed(0.5)
    before = endpoint.requests
    for _ in range(10):
        drive.set_speed(0.5)
    assert endpoint.requests == before


def test_stop_deceleration_is_written_only_when_changed(drive, sim, rig_config):
    regs, belt = rig_config.belt.registers, rig_config.belt
    full_scale = belt.max_frequency_hz * belt.mps_per_hz
    drive.set_stop_deceleration(1.5)
    assert sim.vfd.params[regs.decel_time] == round(full_scale / 1.5 * 100)
    sim.vfd.params[regs.decel_time] = 999  # changed behind the driver's back: it trusts its cache ...
    drive.set_stop_deceleration(1.5)
    assert sim.vfd.params[regs.decel_time] == 999
    drive.forget_command()  # ... until told to forget (after a link or drive fault)
    drive.set_stop_deceleration(1.5)
    assert sim.vfd.params[regs.decel_time] == round(full_scale / 1.5 * 100)


def test_stop_ramps_at_the_deceleration_written(drive, sim):
    drive.set_speed(1.5)
    poll_until(lambda: drive.read_status().speed_mps >= 1.5 - 1e-6, timeout_s=5)
    drive.set_stop_deceleration(3.0)
    drive.stop()
    took = poll_until(lambda: sim.vfd.state.output_hz == 0.0, timeout_s=3, period_s=0.001)
    assert 0.5 * 0.8 <= took <= 0.5 + 0.15  # 1.5 m/s at 3 m/s^2


def test_a_start_is_one_request_and_a_speed_change_writes_only_the_frequency(drive, sim, rig_config):
    regs = rig_config.belt.registers
    sent = lambda: drive.health.transactions  # noqa: E731
    before = sent()
    drive.set_speed(0.5)
    assert sent() - before == 1  # control word and frequency together (adjacent in the map)
    centi_hz = lambda mps: round(mps / rig_config.belt.mps_per_hz * 100)  # noqa: E731
    assert sim.vfd.read(regs.frequency_command, 1) == [centi_hz(0.5)]
    assert sim.vfd.state.run_command and not sim.vfd.state.reverse
    drive.set_speed(0.6)
    assert sent() - before == 2  # still running forward: the frequency alone
    assert sim.vfd.read(regs.frequency_command, 1) == [centi_hz(0.6)]
    drive.set_speed(0.6)
    assert sent() - before == 2  # unchanged: nothing sent
    drive.set_speed(0.0)
    assert sent() - before == 3
