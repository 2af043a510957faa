"""The CiA 402 harness driver against the servo twin over real Modbus TCP on loopback."""
from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from drivers.errors import CommsError, DeviceError, DeviceRejected
from drivers.harness_servo import Cia402Servo
from drivers.harness_servo.cia402 import cia402_state, decode_signed32, encode_signed32
from rig.config import RigConfig, parse_config
from rig.sim import servo as s
from rig.sim.modbus_twin import TwinEndpoint, TwinServerThread
from tests.conftest import free_port, served_twin


def poll_until(predicate, timeout_s: float, period_s: float = 0.005) -> float:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout_s:
            raise AssertionError("condition not reached in time")
        time.sleep(period_s)
    return time.monotonic() - start


@dataclass
class Bench:
    config: RigConfig
    servo: s.ServoModel
    endpoint: TwinEndpoint
    servers: TwinServerThread


@pytest.fixture
def bench():
    config = parse_config(f"[harness]\npoll_hz = 50\ncomm_timeout_s = 0.5\n"
                          f"[harness.link]\nport = {free_port()}\ntimeout_s = 0.02\n")
    servo = s.ServoModel(config.harness)
    with served_twin("harness", servo, config.harness.link.port) as (endpoint, servers):
        yield Bench(config, servo, endpoint, servers)


@pytest.fixture
def drive(bench):
    driver = Cia402Servo(bench.config.harness)
    driver.connect()
    yield driver
    driver.close()


# --- codec -----------------------------------------------------------------------------------
@pytest.mark.parametrize("word,state", [
    (0x0000, "not_ready_to_switch_on"), (0x0250, "switch_on_disabled"), (0x0231, "ready_to_switch_on"),
    (0x0233, "switched_on"), (0x1637, "operation_enabled"), (0x0217, "quick_stop_active"),
    (0x001F, "fault_reaction_active"), (0x0208, "fault"), (0x0001, None), (0x0045, None), (0x0067, None),
])
def test_statusword_decoding(word, state):
    assert cia402_state(word) == state


@pytest.mark.parametrize("value", [0, 1, -1, 65535, 65536, -65536, 2**31 - 1, -(2**31)])
def test_signed32_high_word_first(value):
    assert decode_signed32(*encode_signed32(value)) == value
    assert encode_signed32(-2) == [0xFFFF, 0xFFFE] and encode_signed32(0x12345) == [0x0001, 0x2345]


# --- connect and the state machine -----------------------------------------------------------
def test_connect_sets_mode_and_torque_cap(drive, bench):
    assert bench.servo.state.mode == s.MODE_PROFILE_VELOCITY
    assert bench.servo.state.max_torque == round(bench.config.harness.max_torque_pct * 10)
    assert bench.servo.state.target_counts == 0
    assert drive.health.state == "up"


def test_enable_walks_to_operation_enabled_and_disable_walks_back(drive, bench):
    status = drive.enable()
    assert status.enabled and status.brake_released and bench.servo.brake_released
    assert bench.servo.state.controlword == 0x000F
    status = drive.disable()
    assert status.state == "ready_to_switch_on" and not status.brake_released
    assert not bench.servo.brake_released


def test_velocity_moves_the_winch_signed_and_clamped(drive, bench):
    drive.enable()
    drive.set_velocity(0.2)
    poll_until(lambda: drive.read_status().velocity_mps >= 0.2 - 1e-6, timeout_s=2)
    assert drive.read_status().position_m > 0 and drive.read_status().target_reached
    drive.set_velocity(-0.1)
    poll_until(lambda: drive.read_status().velocity_mps <= -0.1 + 1e-6, timeout_s=2)
    drive.set_velocity(5.0)
    assert bench.servo.state.target_counts == round(bench.config.harness.max_velocity_mps / 0.001)


def test_velocity_written_only_on_change(drive, bench):
    drive.set_velocity(0.1)
    before = bench.endpoint.requests
    for _ in range(10):
        drive.set_velocity(0.1)
    assert bench.endpoint.requests == before


def torque_every(bench) -> int:
    return round(bench.config.harness.poll_hz / bench.config.harness.torque_poll_hz)


def test_force_estimate_from_torque(drive, bench):
    drive.enable()
    with bench.endpoint.lock:
        bench.servo.set_actuals(0.01, 0.0, 300.0, motor_force_n=300.0)
    statuses = [drive.read_status() for _ in range(torque_every(bench))]  # the torque is read once in these
    assert statuses[-1].force_estimate_n == pytest.approx(300.0, abs=bench.config.harness.rated_force_n * 0.001)
    assert all(status.position_m == pytest.approx(0.01) for status in statuses)


def test_torque_is_read_on_every_nth_status_only(drive, bench):
    every = torque_every(bench)
    assert every > 1  # the default config reads it at 10 of 100 Hz
    before = bench.endpoint.requests
    for _ in range(2 * every):
        drive.read_status()
    assert bench.endpoint.requests - before == 2 * every * 3 + 2  # statusword, position, velocity; torque twice


def test_quick_stop_ramps_down_then_brake_holds(drive, bench):
    drive.enable()
    drive.set_velocity(0.3)
    poll_until(lambda: drive.read_status().velocity_mps >= 0.3 - 1e-6, timeout_s=2)
    drive.quick_stop()
    assert drive.read_status().state in ("quick_stop_active", "switch_on_disabled")
    poll_until(lambda: drive.read_status().state == "switch_on_disabled", timeout_s=1)
    assert not bench.servo.brake_released


# --- drive faults ------------------------------------------------------------------------------
def test_drive_fault_is_reported_blocks_enable_and_resets(drive, bench):
    drive.enable()
    with bench.endpoint.lock:
        bench.servo.inject_fault()
    poll_until(lambda: drive.read_status().state == "fault", timeout_s=1)
    status = drive.read_status()
    assert status.faulted and status.error_code == s.ERROR_EXTERNAL and not status.brake_released
    with pytest.raises(DeviceError) as caught:
        drive.enable()
    assert caught.value.code == 401 and "0x9000" in caught.value.detail
    assert drive.reset_fault().state == "switch_on_disabled"
    assert drive.enable().enabled


def test_fault_whose_cause_remains_cannot_be_reset(drive, bench):
    with bench.endpoint.lock:
        bench.servo.inject_fault(persistent=True)
    with pytest.raises(DeviceError) as caught:
        drive.reset_fault(timeout_s=0.2)
    assert caught.value.code == 401 and "stuck in fault" in caught.value.detail


def test_sto_lost_while_enabled_faults_and_enable_fails_until_sto_back(drive, bench):
    drive.enable()
    with bench.endpoint.lock:
        bench.servo.set_sto(False)
    poll_until(lambda: drive.read_status().state == "fault", timeout_s=1)
    assert drive.read_status().error_code == s.ERROR_STO
    with pytest.raises(DeviceError) as caught:
        drive.reset_fault(timeout_s=0.1)
    assert caught.value.code == 401
    with bench.endpoint.lock:
        bench.servo.set_sto(True)
    assert drive.reset_fault().state == "switch_on_disabled"
    with bench.endpoint.lock:
        bench.servo.set_sto(False)  # STO off without a fault: the walk cannot leave switch on disabled
    with pytest.raises(DeviceError) as caught:
        drive.enable(timeout_s=0.2)
    assert caught.value.code == 403 and "switch_on_disabled" in caught.value.detail


def test_drive_watchdog_trips_when_controller_goes_silent(drive, bench):
    drive.enable()
    time.sleep(bench.servo.comm_timeout_s + 0.2)
    status = drive.read_status()
    assert status.faulted and status.error_code == s.ERROR_COMM_LOSS


def test_statusword_of_no_state_is_fault_402(drive, bench):
    bench.servo.statusword_override = 0x0001
    with pytest.raises(DeviceError) as caught:
        drive.read_status()
    assert caught.value.code == 402 and "0x0001" in caught.value.detail


@pytest.mark.parametrize("actuals,words", [
    ((0.0, 50.0, 0.0, None), "velocity"),
    ((0.0, 0.0, 0.0, 10000.0), "torque"),
    ((12.0, 0.0, 0.0, None), "position"),
])
def test_impossible_readbacks_are_fault_404(drive, bench, actuals, words):
    drive.enable()
    with bench.endpoint.lock:
        bench.servo.set_actuals(*actuals)
    with pytest.raises(DeviceError) as caught:
        for _ in range(torque_every(bench)):  # the torque is read on one of these
            drive.read_status()
    assert caught.value.code == 404 and words in caught.value.detail


def test_torque_cap_not_stored_is_refused_with_405(bench):
    bench.servo.parameter_lock = True
    with pytest.raises(DeviceError) as caught:
        Cia402Servo(bench.config.harness).connect()
    assert caught.value.code == 405 and "6072" in caught.value.detail


def test_drive_without_profile_velocity_is_refused_with_406(bench):
    bench.servo.accepted_modes = ()
    with pytest.raises(DeviceError) as caught:
        Cia402Servo(bench.config.harness).connect()
    assert caught.value.code == 406


# --- the link -----------------------------------------------------------------------------------
def test_absent_drive_fails_to_connect_with_113():
    config = parse_config(f"[harness]\npoll_hz = 50\ncomm_timeout_s = 0.5\n"
                          f"[harness.link]\nport = {free_port()}\ntimeout_s = 0.02\n")
    with pytest.raises(DeviceError) as caught:
        Cia402Servo(config.harness).connect()
    assert caught.value.code == 113


def test_dropped_answers_are_111_after_retry_budget_and_recover(drive, bench):
    bench.endpoint.faults.drop_responses = True
    start = time.monotonic()
    with pytest.raises(CommsError) as caught:
        drive.read_status()
    budget = bench.config.harness.link.worst_case_blocking_s
    assert caught.value.code == 111 and budget * 0.9 <= time.monotonic() - start <= budget + 0.2
    assert drive.health.state == "down"
    bench.endpoint.faults.clear()
    time.sleep(0.05)
    drive.read_status()
    assert drive.health.state == "up"


def test_exception_answer_is_112(drive, bench):
    bench.endpoint.faults.exception_code = 4
    with pytest.raises(DeviceRejected) as caught:
        drive.set_velocity(0.1)
    assert caught.value.code == 112 and caught.value.exception_code == 4


def test_corrupted_answer_is_111(drive, bench):
    bench.endpoint.faults.corrupt_responses = True
    with pytest.raises(CommsError) as caught:
        drive.read_status()
    assert caught.value.code == 111


def test_link_down_and_back(drive, bench):
    bench.servers.set_link_down("harness", True)
    with pytest.raises(CommsError) as caught:
        drive.read_status()
    assert caught.value.code == 111
    bench.servers.set_link_down("harness", False)
    drive.read_status()
    assert drive.health.state == "up"
