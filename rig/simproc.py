"""Start the simulated rig as a child process (`rig sim`) when the config enables it.

The controller and the sim run in separate processes, as the real controller and the real
devices do: they share nothing but the wire, and killing one does not kill the other.
"""
from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

from rig.config import RigConfig

READY_TIMEOUT_S = 20.0


class SimStartError(RuntimeError):
    """The simulated rig did not come up."""


def _endpoints(config: RigConfig) -> list[tuple[str, int]]:
    return [(link.host, link.port) for link in config.modbus_links().values() if link.transport == "tcp"]


def _serial_paths(config: RigConfig) -> list[str]:
    return sorted({link.device for link in config.modbus_links().values() if link.transport == "rtu"})


def _reachable(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def wait_until_up(config: RigConfig, proc: subprocess.Popen | None, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    pending: list = _endpoints(config) + _serial_paths(config)
    while pending:
        if proc is not None and proc.poll() is not None:
            raise SimStartError(f"the simulated rig exited with code {proc.returncode} before it was ready")
        if time.monotonic() > deadline:
            raise SimStartError(f"the simulated rig did not open {pending} within {timeout_s:.0f} s")
        pending = [e for e in pending if not (Path(e).exists() if isinstance(e, str) else _reachable(*e))]
        time.sleep(0.05)


@contextlib.contextmanager
def sim_process(config: RigConfig, config_path: str | Path,
                record: str | Path | None = None) -> Iterator[subprocess.Popen | None]:
    """Run `rig sim --config config_path` for the duration of the block, if the config asks;
    with `record`, the sim writes its world stream there and its ground truth beside it."""
    if not config.sim.enabled:
        yield None
        return
    extra = ["--record", str(record)] if record else []
    # own session: a Ctrl-C at the terminal reaches the controller, which stops the belt first
    proc = subprocess.Popen([sys.executable, "-m", "rig", "sim", "--config", str(config_path), "--quiet", *extra],
                            start_new_session=True)
    try:
        wait_until_up(config, proc, READY_TIMEOUT_S)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)  # a recording sim writes its files on the way out
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
