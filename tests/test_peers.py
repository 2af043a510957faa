"""Independent Modbus peers talk to the twins: mbpoll (libmodbus) and modbus-tk.

If our twins only worked with our own client, a shared misunderstanding of the protocol would
hide. mbpoll is a separate C implementation (Debian package, installed by `make test`).
"""
from __future__ import annotations

import shutil
import subprocess
import time

import pytest

pytestmark = pytest.mark.peer

MBPOLL = shutil.which("mbpoll")
STOP, RUN_FORWARD = 0x0001, 0x0012


def require_mbpoll() -> str:
    assert MBPOLL, "mbpoll is missing: `make test` installs it (Debian package mbpoll)"
    return MBPOLL


def mbpoll_tcp(port: int, address: int, *values: int, count: int = 1) -> list[int]:
    args = [require_mbpoll(), "-m", "tcp", "-a", "1", "-0", "-1", "-t", "4", "-r", str(address), "-p", str(port)]
    args += ["-c", str(count), "127.0.0.1"] if not values else ["127.0.0.1", *map(str, values)]
    out = subprocess.run(args, capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stdout + out.stderr
    return [int(line.split()[-1]) for line in out.stdout.splitlines() if line.startswith("[")]


def wait_for(predicate, timeout_s: float) -> None:
    end = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < end, "condition not reached in time"
        time.sleep(0.05)


def test_mbpoll_reads_the_belt_twin(sim, rig_config):
    regs = rig_config.belt.registers
    values = mbpoll_tcp(rig_config.belt.link.port, regs.fault_warning, count=5)
    assert values[0] == 0  # no fault
    assert values[4] == round(rig_config.sim.belt.no_load_current_a * 100)


def test_mbpoll_starts_and_stops_the_belt(sim, rig_config):
    regs, port = rig_config.belt.registers, rig_config.belt.link.port
    mbpoll_tcp(port, regs.frequency_command, 1600)
    mbpoll_tcp(port, regs.control, RUN_FORWARD)
    wait_for(lambda: mbpoll_tcp(port, regs.output_frequency)[0] == 1600, timeout_s=5)
    assert sim.vfd.state.run_command
    mbpoll_tcp(port, regs.control, STOP)
    wait_for(lambda: mbpoll_tcp(port, regs.output_frequency)[0] == 0, timeout_s=5)
    assert mbpoll_tcp(port, regs.status)[0] & 0b11 == 0b00  # stopped


def test_modbus_tk_reads_and_writes_the_belt_twin(sim, rig_config):
    import modbus_tk.defines as cst
    from modbus_tk import modbus_tcp

    regs = rig_config.belt.registers
    master = modbus_tcp.TcpMaster(host="127.0.0.1", port=rig_config.belt.link.port, timeout_in_sec=1.0)
    try:
        master.execute(1, cst.WRITE_SINGLE_REGISTER, regs.frequency_command, output_value=1000)
        master.execute(1, cst.WRITE_SINGLE_REGISTER, regs.control, output_value=RUN_FORWARD)
        wait_for(lambda: master.execute(1, cst.READ_HOLDING_REGISTERS, regs.output_frequency, 1)[0] == 1000, 5)
        status = master.execute(1, cst.READ_HOLDING_REGISTERS, regs.fault_warning, 5)
        assert status[1] & 0b11 == 0b11 and status[2] == 1000
        with pytest.raises(Exception) as caught:  # the twin refuses an out-of-range frequency
            master.execute(1, cst.WRITE_SINGLE_REGISTER, regs.frequency_command, output_value=60001)
        assert "3" in str(caught.value)
    finally:
        master.close()
