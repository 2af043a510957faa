"""RTU bus budget in `rig config check`: refused over 70 %, bus named with devices and rates."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from drivers.budget import budget_issues, bus_loads, read_registers, transaction_time_s
from rig.config import load_config, parse_config

ROOT = Path(__file__).resolve().parents[1]

TWO_ON_ONE = """
[belt]
poll_hz = {belt_hz}
[belt.link]
transport = "rtu"
device = "/dev/ttyUSB0"
baud = {baud}
unit = 1
timeout_s = 0.02
[harness]
poll_hz = {harness_hz}
command_hz = {command_hz}
torque_poll_hz = {torque_hz}
comm_timeout_s = 0.5
[harness.link]
transport = "rtu"
device = "/dev/ttyUSB0"
baud = {baud}
parity = "{parity}"
unit = 2
timeout_s = 0.002
retries = 0
"""


def config(belt_hz=20, harness_hz=30, baud=115200, parity="N", command_hz=None, torque_hz=None):
    return parse_config(TWO_ON_ONE.format(belt_hz=belt_hz, harness_hz=harness_hz, baud=baud, parity=parity,
                                          command_hz=command_hz or harness_hz,
                                          torque_hz=torque_hz or min(harness_hz, 10)))


def harness_share(load) -> float:
    return dict((n, s) for n, _, s in load.devices)["harness"]


def test_devices_on_one_device_path_share_a_bus():
    (load,) = bus_loads(config())
    assert [name for name, _, _ in load.devices] == ["belt", "harness"]
    assert 0.3 < load.busy_fraction < 0.7


def test_over_budget_names_bus_devices_and_rates():
    (message,) = [m for _, m in budget_issues(config(harness_hz=200))]
    assert "RTU bus /dev/ttyUSB0 at 115200 baud is" in message
    assert "harness at 200 Hz" in message and "belt at 20 Hz" in message
    assert "must be at most 70%" in message


def test_faster_baud_fits():
    assert budget_issues(config(harness_hz=60, baud=460800)) == []


def test_load_scales_with_poll_rate():
    (slow,) = bus_loads(config(harness_hz=10, torque_hz=5))
    (fast,) = bus_loads(config(harness_hz=20, torque_hz=10))
    assert abs(harness_share(fast) - 2 * harness_share(slow)) < 1e-12


def test_torque_reads_count_at_their_own_rate():
    """The torque is one more register read at harness.torque_poll_hz, on top of the status."""
    (rare,) = bus_loads(config(harness_hz=30, torque_hz=5))
    (often,) = bus_loads(config(harness_hz=30, torque_hz=30))
    link = config().harness.link
    assert harness_share(often) - harness_share(rare) == pytest.approx(
        25 * transaction_time_s(read_registers(1), link), rel=1e-12)


def test_mismatched_serial_settings_on_one_bus():
    issues = budget_issues(config(parity="E"))
    assert any("shares /dev/ttyUSB0 with belt" in m for _, m in issues)


def test_tcp_is_not_budgeted():
    assert bus_loads(parse_config("")) == []


def test_config_check_prints_the_load_and_refuses_overload(tmp_path: Path):
    ok = subprocess.run([sys.executable, "-m", "rig", "config", "check", "configs/sim-rtu.toml"], cwd=ROOT,
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "RTU bus /tmp/rig-sim/rtu-bus at 115200 baud is" in ok.stdout
    bad = tmp_path / "busy.toml"
    bad.write_text(TWO_ON_ONE.format(belt_hz=20, harness_hz=200, command_hz=200, torque_hz=10, baud=115200, parity="N"))
    result = subprocess.run([sys.executable, "-m", "rig", "config", "check", str(bad)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "must be at most 70%" in result.stderr


def test_shipped_rtu_configs_fit():
    for name in ("sim-rtu.toml", "reference-rig.toml"):
        assert budget_issues(load_config(ROOT / "configs" / name)) == []


def test_the_winch_velocity_writes_count_at_their_own_rate():
    harness_share = lambda load: dict((n, s) for n, _, s in load.devices)["harness"]  # noqa: E731
    (polls_only,) = bus_loads(config(harness_hz=30, command_hz=1))
    (with_writes,) = bus_loads(config(harness_hz=30, command_hz=200))
    write_s = (harness_share(with_writes) - harness_share(polls_only)) / 199  # one 2-register write
    assert 0.0015 < write_s < 0.004  # 13 + 8 bytes at 115200 baud, gaps and turnaround: ~2.5 ms
    (message,) = [m for _, m in budget_issues(config(harness_hz=30, command_hz=200))]
    assert "harness at 30 Hz" in message and "must be at most 70%" in message
