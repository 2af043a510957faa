"""Belt and harness drives sharing one simulated Modbus RTU line over pseudo-terminals.

The sim lays the cable (a pty relay that keeps the baud rate's wire time); the drivers share
one pymodbus serial client through the bus pool. mbpoll, a separate C implementation, talks
to the same twins over a socat-linked pty pair.
"""
from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from drivers.belt_vfd import DeltaVfd
from drivers.bus import BusPool
from drivers.budget import Transaction, read_registers, transaction_time_s
from drivers.errors import CommsError
from drivers.harness_servo.cia402 import Cia402Servo
from rig.config import parse_config
from rig.sim.modbus_twin import TwinServerThread
from rig.sim.rtu_bus import RtuBus
from rig.sim.runner import SimRig
from safety.faults import fault
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]


def rtu_config(bus: Path):
    text = (ROOT / "configs" / "sim-rtu.toml").read_text()
    text = text.replace("/tmp/rig-sim/rtu-bus", str(bus)).replace("port = 15022", f"port = {free_port()}")
    text += f'\n[loadcell_board]\ndevice = "{bus.parent / "loadcell"}"\n'
    text = text.replace("[sim]\nenabled = true", f"[sim]\nenabled = true\ncontrol_port = {free_port()}")
    return parse_config(text)


@pytest.fixture
def rtu_rig(tmp_path: Path):
    config = rtu_config(tmp_path / "rtu-bus")
    with SimRig(config) as sim:
        pool = BusPool()
        belt = DeltaVfd(config.belt, link=pool.link(config.belt.link, "belt drive", fault("belt_comm_lost").code,
                                                    fault("belt_comm_rejected").code))
        harness = Cia402Servo(config.harness, link=pool.link(config.harness.link, "harness drive",
                                                             fault("harness_comm_lost").code,
                                                             fault("harness_comm_rejected").code))
        yield config, sim, belt, harness
        pool.close()


def test_both_drives_answer_on_one_line_sharing_one_client(rtu_rig):
    config, sim, belt, harness = rtu_rig
    assert belt.link.client is harness.link.client
    belt.connect()
    harness.connect()
    assert harness.enable().enabled
    belt.set_speed(1.0)
    deadline = time.monotonic() + 10
    while belt.read_status().speed_mps < 0.999:
        assert time.monotonic() < deadline
        assert harness.read_status().state == "operation_enabled"  # polled too: its watchdog is fed
        time.sleep(0.02)


def test_transactions_take_their_wire_time(rtu_rig):
    config, sim, belt, _ = rtu_rig
    belt.connect()
    n = 20
    start = time.monotonic()
    for _ in range(n):
        belt.read_status()
    per_txn = (time.monotonic() - start) / n
    wire = transaction_time_s(read_registers(5), config.belt.link)
    assert per_txn >= wire  # never faster than the cable allows
    assert per_txn < 10 * wire


def test_unpolled_servo_trips_its_own_comm_watchdog(rtu_rig):
    config, sim, belt, harness = rtu_rig
    harness.connect()
    harness.enable()
    time.sleep(1.0)  # nobody talks to the harness drive
    assert harness.read_status().state == "fault"


def test_a_dead_unit_does_not_take_the_line_down(rtu_rig):
    config, sim, belt, harness = rtu_rig
    belt.connect()
    harness.connect()
    sim.servers.set_link_down("harness", True)
    with pytest.raises(CommsError) as caught:
        harness.read_status()
    assert caught.value.code == fault("harness_comm_lost").code
    assert belt.read_status().fault_code == 0
    sim.servers.set_link_down("harness", False)
    assert harness.read_status().error_code == 0


def _mbpoll_rtu(port: Path, address: int, *values: int, count: int = 1) -> list[int]:
    mbpoll = shutil.which("mbpoll")
    assert mbpoll, "mbpoll is missing: `make test` installs it"
    args = [mbpoll, "-m", "rtu", "-b", "115200", "-P", "none", "-a", "1", "-0", "-1", "-t", "4",
            "-r", str(address), "-o", "1"]
    args += ["-c", str(count), str(port)] if not values else [str(port), *map(str, values)]
    out = subprocess.run(args, capture_output=True, text=True, timeout=15)
    assert out.returncode == 0, out.stdout + out.stderr
    return [int(line.split()[-1]) for line in out.stdout.splitlines() if line.startswith("[")]


@pytest.mark.peer
def test_mbpoll_over_rtu_through_socat(tmp_path: Path):
    socat = shutil.which("socat")
    assert socat, "socat is missing: `make test` installs it"
    peer_end, sim_end = tmp_path / "peer", tmp_path / "sim"
    link = subprocess.Popen([socat, f"pty,raw,echo=0,link={peer_end}", f"pty,raw,echo=0,link={sim_end}"])
    try:
        deadline = time.monotonic() + 5
        while not (peer_end.exists() and sim_end.exists()):
            assert time.monotonic() < deadline, "socat did not create the pty pair"
            time.sleep(0.02)
        config = rtu_config(tmp_path / "unused-bus")
        sim = SimRig(config)
        belt = [e for e in sim.endpoints if e.name == "belt"][0]
        sim.servers = TwinServerThread([], [RtuBus(str(sim_end), 115200, "N", 1, [belt], server_port=str(sim_end))])
        sim.start()
        try:
            regs = config.belt.registers
            assert _mbpoll_rtu(peer_end, regs.fault_warning, count=5)[0] == 0
            _mbpoll_rtu(peer_end, regs.frequency_command, 1200)
            _mbpoll_rtu(peer_end, regs.control, 0x0012)
            time.sleep(2.0)
            assert _mbpoll_rtu(peer_end, regs.output_frequency)[0] == 1200  # 12 Hz reached (6 s to 60 Hz)
            _mbpoll_rtu(peer_end, regs.control, 0x0001)
            time.sleep(2.0)
            assert _mbpoll_rtu(peer_end, regs.output_frequency)[0] == 0
        finally:
            sim.stop()
    finally:
        link.terminate()
        link.wait(timeout=5)


def test_wire_time_model():
    from rig.config import LinkConfig

    link = LinkConfig(transport="rtu", device="/dev/x", baud=9600, parity="N")
    t = transaction_time_s(Transaction(8, 15), link)
    assert t == pytest.approx(23 * 10 / 9600 + 7 * 10 / 9600 + 0.001)


def test_safety_io_module_on_the_rtu_line(tmp_path: Path):
    from drivers.safety_io.modbus_io import ModbusSafetyIo
    from rig.sim.inject import inject

    bus = tmp_path / "rtu-bus"
    text = (ROOT / "configs" / "sim-rtu.toml").read_text().replace("/tmp/rig-sim/rtu-bus", str(bus))
    text = text.replace("[safety_io.link]\nport = 15022",
                        f'[safety_io.link]\ntransport = "rtu"\ndevice = "{bus}"\nbaud = 115200\nunit = 3\n'
                        "timeout_s = 0.05\n[safety_io]\npoll_hz = 10")
    text += f'\n[loadcell_board]\ndevice = "{tmp_path / "loadcell"}"\n'
    text = text.replace("[sim]\nenabled = true", f"[sim]\nenabled = true\ncontrol_port = {free_port()}")
    config = parse_config(text)
    with SimRig(config) as sim:
        io = ModbusSafetyIo(config.safety_io)
        io.connect()
        assert io.read_inputs().chain_ok
        io.toggle_heartbeat()
        inject(sim, "estop_press")
        time.sleep(0.05)
        inputs = io.read_inputs()
        assert not inputs.estop_closed and not inputs.chain_ok
        io.link.close()
