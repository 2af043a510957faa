"""The safety I/O driver against its twin over real Modbus TCP (coils, discrete inputs) on loopback."""
from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
from pymodbus.client import ModbusTcpClient

from drivers.errors import CommsError, DeviceError, DeviceRejected
from drivers.safety_io import ModbusSafetyIo
from drivers.safety_io.modbus_io import IMPLAUSIBLE_FOR_S
from rig.config import RigConfig, parse_config
from rig.sim.modbus_twin import TwinEndpoint, TwinServerThread
from rig.sim.safety_io import SafetyIoModel
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
    module: SafetyIoModel
    endpoint: TwinEndpoint
    servers: TwinServerThread


@pytest.fixture
def bench():
    config = parse_config(f"[safety_io]\npoll_hz = 25\n[safety_io.link]\nport = {free_port()}\ntimeout_s = 0.02\n")
    module = SafetyIoModel(config.safety_io)
    with served_twin("safety_io", module, config.safety_io.link.port, address_span=(0, 0)) as (endpoint, servers):
        yield Bench(config, module, endpoint, servers)


@pytest.fixture
def io(bench):
    driver = ModbusSafetyIo(bench.config.safety_io)
    driver.connect()
    yield driver
    driver.close()


def heartbeat_for(io: ModbusSafetyIo, seconds: float, period_s: float = 0.01) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        io.toggle_heartbeat()
        time.sleep(period_s)


# --- the twin's coils and discrete inputs, seen by a plain pymodbus client ---------------------
def test_twin_serves_coils_and_discrete_inputs(bench):
    client = ModbusTcpClient("127.0.0.1", port=bench.config.safety_io.link.port, timeout=1)
    assert client.connect()
    try:
        assert client.read_discrete_inputs(0, count=5, device_id=1).bits[:5] == [True, True, True, True, False]
        assert not client.write_coils(0, [True, True], device_id=1).isError()
        assert bench.module.heartbeat_coil and bench.module.beacon_on
        assert client.read_coils(1, count=1, device_id=1).bits[0] is True
        assert client.read_coils(8, count=9, device_id=1).exception_code == 2  # only 16 coils
        assert client.read_holding_registers(0, count=1, device_id=1).exception_code == 2
    finally:
        client.close()


# --- inputs ---------------------------------------------------------------------------------------
def test_connect_and_read_healthy_inputs(io):
    inputs = io.read_inputs()
    assert inputs.estop_closed and inputs.key_present and inputs.harness_attached
    assert inputs.drives_enabled and not inputs.brake_released and inputs.chain_ok
    assert io.health.state == "up"


@pytest.mark.parametrize("inject,field", [
    ("press_estop", "estop_closed"), ("pull_key", "key_present"), ("detach_harness", "harness_attached"),
])
def test_injected_inputs_are_read(io, bench, inject, field):
    with bench.endpoint.lock:
        getattr(bench.module, inject)()
    inputs = io.read_inputs()
    assert getattr(inputs, field) is False
    if field != "harness_attached":
        assert not inputs.drives_enabled and not inputs.chain_ok


def test_estop_release_alone_keeps_the_chain_open_until_reset(io, bench):
    with bench.endpoint.lock:
        bench.module.press_estop()
        bench.module.release_estop()
    inputs = io.read_inputs()
    assert inputs.estop_closed and not inputs.drives_enabled
    with bench.endpoint.lock:
        bench.module.press_reset()
    assert io.read_inputs().chain_ok


def test_brake_input_follows_the_winch(io, bench):
    with bench.endpoint.lock:
        bench.module.set_brake_released(True)
    assert io.read_inputs().brake_released


# --- heartbeat and beacon -----------------------------------------------------------------------
def test_heartbeat_keeps_the_chain_closed_and_its_loss_opens_it(io, bench):
    heartbeat_for(io, 0.5)
    assert bench.module.chain_closed
    silent_from = time.monotonic()
    took = poll_until(lambda: not io.read_inputs().drives_enabled, timeout_s=2)
    timeout_s = bench.config.safety_io.heartbeat_timeout_s
    assert timeout_s - 0.02 <= took <= timeout_s + 0.3
    assert bench.module.open_causes == {"heartbeat"} and time.monotonic() - silent_from < 2
    with bench.endpoint.lock:
        assert bench.module.press_reset() is False  # heartbeat still dead
    heartbeat_for(io, 0.05)
    with bench.endpoint.lock:
        assert bench.module.press_reset() is True
    assert io.read_inputs().chain_ok


def test_every_toggle_flips_the_coil(io, bench):
    values = []
    for _ in range(4):
        io.toggle_heartbeat()
        values.append(bench.module.heartbeat_coil)
    assert values in ([True, False, True, False], [False, True, False, True])


def test_failed_toggle_is_retried_with_the_same_value(io, bench):
    before = bench.module.heartbeat_coil
    bench.endpoint.faults.exception_code = 4
    with pytest.raises(DeviceRejected) as caught:
        io.toggle_heartbeat()
    assert caught.value.code == 122
    bench.endpoint.faults.clear()
    io.toggle_heartbeat()
    assert bench.module.heartbeat_coil is (not before)


def test_beacon_written_on_change_only(io, bench):
    io.set_beacon(True)
    assert bench.module.beacon_on
    before = bench.endpoint.requests
    io.set_beacon(True)
    assert bench.endpoint.requests == before
    io.set_beacon(False)
    assert not bench.module.beacon_on


# --- impossible inputs ----------------------------------------------------------------------------
@pytest.mark.parametrize("stuck,inject", [
    ("input_drives_enabled", "press_estop"),  # welded relay: STO feedback with an e-stop pressed
    ("input_brake_released", "pull_key"),  # brake released without STO
])
def test_impossible_inputs_that_persist_are_124(io, bench, stuck, inject):
    with bench.endpoint.lock:
        bench.module.stuck_inputs[getattr(bench.config.safety_io, stuck)] = True
        getattr(bench.module, inject)()
    io.read_inputs()  # one reading in between is what a relay dropping out looks like
    time.sleep(IMPLAUSIBLE_FOR_S + 0.02)
    with pytest.raises(DeviceError) as caught:
        io.read_inputs()
    assert caught.value.code == 124


def test_transient_mismatch_is_not_a_fault(io, bench):
    with bench.endpoint.lock:
        bench.module.stuck_inputs[bench.config.safety_io.input_brake_released] = True
        bench.module.press_estop()
    io.read_inputs()
    with bench.endpoint.lock:
        bench.module.stuck_inputs.clear()
    time.sleep(IMPLAUSIBLE_FOR_S + 0.02)
    assert not io.read_inputs().brake_released


# --- the link -----------------------------------------------------------------------------------
def test_absent_module_fails_to_connect_with_123():
    config = parse_config(f"[safety_io]\npoll_hz = 25\n[safety_io.link]\nport = {free_port()}\ntimeout_s = 0.02\n")
    with pytest.raises(DeviceError) as caught:
        ModbusSafetyIo(config.safety_io).connect()
    assert caught.value.code == 123


def test_dropped_answers_are_121_and_recover(io, bench):
    bench.endpoint.faults.drop_responses = True
    with pytest.raises(CommsError) as caught:
        io.read_inputs()
    assert caught.value.code == 121 and io.health.state == "down"
    bench.endpoint.faults.clear()
    time.sleep(0.05)
    io.read_inputs()
    assert io.health.state == "up"


def test_exception_answer_is_122(io, bench):
    bench.endpoint.faults.exception_code = 4
    with pytest.raises(DeviceRejected) as caught:
        io.read_inputs()
    assert caught.value.code == 122 and caught.value.exception_code == 4


def test_corrupted_answer_is_121(io, bench):
    bench.endpoint.faults.corrupt_responses = True
    with pytest.raises(CommsError) as caught:
        io.read_inputs()
    assert caught.value.code == 121


def test_link_down_and_back(io, bench):
    bench.servers.set_link_down("safety_io", True)
    with pytest.raises(CommsError) as caught:
        io.toggle_heartbeat()
    assert caught.value.code == 121
    bench.servers.set_link_down("safety_io", False)
    io.read_inputs()
    assert io.health.state == "up"
