"""Shared fixtures: free loopback ports, configs built from TOML text, the simulated rig."""
from __future__ import annotations

import socket
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rig.config import RigConfig, parse_config  # noqa: E402
from rig.sim.modbus_twin import TwinEndpoint, TwinServerThread  # noqa: E402
from rig.sim.runner import PhysicsThread, SimRig  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def config_text(port: int, extra: str = "") -> str:
    """A small sim config with the belt on `port` (every other endpoint on a free port too),
    fast belt ramps, plus any extra [belt] TOML lines."""
    return f"""
[belt]
drive_accel_s = 1.2
drive_decel_s = 1.2
comm_timeout_s = 0.3
{extra}
[belt.link]
port = {port}
[harness.link]
port = {free_port()}
timeout_s = 0.02
[safety_io.link]
port = {free_port()}
timeout_s = 0.02
[harness]
poll_hz = 50.0
comm_timeout_s = 0.5
[safety_io]
poll_hz = 25.0
[loadcell_board]
device = "/tmp/rig-sim/test-{port}/loadcell"
[sim]
enabled = true
control_port = {free_port()}
"""


@pytest.fixture
def rig_config() -> RigConfig:
    return parse_config(config_text(free_port()))


@pytest.fixture
def sim(rig_config: RigConfig):
    with SimRig(rig_config) as running:
        yield running


@contextmanager
def served_twin(name: str, model: Any, port: int, **endpoint: Any) -> Iterator[tuple[TwinEndpoint, TwinServerThread]]:
    """One device model alone on a Modbus TCP endpoint, stepped at 1 kHz on the monotonic clock."""
    lock = threading.Lock()
    twin = TwinEndpoint(name, model, "127.0.0.1", port, 1, lock, **endpoint)
    servers = TwinServerThread([twin])

    def step(now_s: float, dt_s: float) -> None:
        with lock:
            model.step(now_s, dt_s)

    physics = PhysicsThread(1000.0, step)
    servers.start()
    physics.start()
    try:
        yield twin, servers
    finally:
        physics.stop()
        servers.stop()
