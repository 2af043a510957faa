"""The whole rig in lockstep, for tests and benches: SimRig + real drivers + RigApp on one virtual clock.

Every read and write crosses the real transports (Modbus TCP on loopback, the load-cell stream
on a pseudo-terminal); only time is virtual, so runs are deterministic in outcome and faster
than real time. After each advance the harness waits (in real time, briefly) until the
load-cell stream has received the samples the world produced up to the virtual now (reading
the port itself, as the next tick's drain would, or, while the board is still connecting,
waiting for the reader thread), as it would have on a real clock; before it, that every Modbus
transaction the tick posted to the devices' I/O threads has run.
"""
from __future__ import annotations

import socket
from dataclasses import replace
import tempfile
import time
from pathlib import Path

from rig.app import RigApp, build_devices
from rig.clock import VirtualClock
from rig.config import RigConfig, parse_config
from rig.script import Step
from rig.sim.inject import inject
from rig.sim.runner import SimRig

ROOT = Path(__file__).resolve().parents[2]
CATCH_UP_S = 0.5
IO_WAIT_S = 2.0  # longer than any link's (retries + 1) x time-out: a dead link's jobs end in failures


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stack_config_text(extra: str = "") -> str:
    """configs/sim.toml on free ports and a private load-cell path, plus extra TOML."""
    text = (ROOT / "configs" / "sim.toml").read_text()
    for port in ("15020", "15021", "15022"):
        text = text.replace(f"port = {port}", f"port = {free_port()}")
    folder = tempfile.mkdtemp(prefix="rig-stack-")
    text = text.replace("[sim]\nenabled = true", f"[sim]\nenabled = true\ncontrol_port = {free_port()}")
    text += f'\n[loadcell_board]\ndevice = "{folder}/loadcell"\n'
    text += f"\n[harness.link]\nport = {free_port()}\n\n[safety_io.link]\nport = {free_port()}\n"
    return text + "\n" + extra


def _patient_timeouts(config: RigConfig) -> RigConfig:
    """Generous Modbus time-outs: on a virtual clock a late answer costs no loop time, and a busy
    test machine answers loopback requests late now and then (the real config keeps its budget)."""
    links = {name: replace(link, timeout_s=max(link.timeout_s, 0.03)) for name, link in config.modbus_links().items()}
    return replace(config, belt=replace(config.belt, link=links["belt"]),
                   harness=replace(config.harness, link=links["harness"]),
                   safety_io=replace(config.safety_io, link=links["safety_io"]))


class Stack:
    """A SimRig and a RigApp with every real driver, on one virtual clock."""

    def __init__(self, extra: str = "", steps: list[Step] | None = None, config: RigConfig | None = None,
                 recorder=None):
        self.config = _patient_timeouts(config or parse_config(stack_config_text(extra)))
        self.clock = VirtualClock(start_s=100.0)
        self.sim = SimRig(self.config, clock=self.clock.now)
        self.clock.on_advance = self._advance
        self.sim.start(physics_thread=False)
        self.devices = build_devices(self.config, self.clock)
        failures = self.devices.connect()
        assert not failures, failures
        self.app = RigApp(self.config, self.devices, self.clock, steps, recorder=recorder)

    def _advance(self, t0_s: float, t1_s: float) -> None:
        self.devices.wait_idle(IO_WAIT_S)  # the tick's transactions reach the twins before time moves on
        self.sim.step_to(t0_s, t1_s)
        deadline = time.monotonic() + CATCH_UP_S
        stream = self.devices.loadcells
        health = stream.health
        board = self.sim.loadcell
        # the newest sample may be a few sample periods old: after a replug the board restarts
        # its sampling phase, and a dropped last sample leaves the one before it the newest
        behind_s = 3.0 / board.model.rate_hz + 0.0015
        while time.monotonic() < deadline:
            stream.read_pending()  # the pseudo-terminal hands bytes over a moment after the write
            newest = health.last_sample_t_s
            if newest is not None and newest >= self.sim.world.t_s - behind_s:
                return
            if not board.plugged or board.model.faults.silent or not board.model.streaming:
                return  # nothing is coming: do not wait for it
            time.sleep(0.0002)

    @property
    def supervisor(self):
        return self.app.supervisor

    @property
    def snap(self):
        return self.app.supervisor.snapshot

    def submit(self, command) -> None:
        self.app.supervisor.submit(command)

    def inject(self, name: str, **kwargs) -> None:
        inject(self.sim, name, **kwargs)

    def _tick(self, observe):
        if observe is None:
            return self.app.tick

        def tick(now_s: float, overrun_streak: int) -> None:
            self.app.tick(now_s, overrun_streak)
            observe(self)
        return tick

    def run_for(self, seconds: float, observe=None) -> None:
        """Run the loop for `seconds` of virtual time; `observe(stack)` after every tick."""
        end = self.clock.now() + seconds
        self.app.loop.run(self._tick(observe), lambda: self.clock.now() >= end - 1e-9)

    def run_until(self, predicate, timeout_s: float, observe=None) -> float:
        """Run until predicate() holds (AssertionError after timeout_s of virtual time)."""
        start = self.clock.now()
        self.app.loop.run(self._tick(observe), lambda: predicate() or self.clock.now() - start > timeout_s)
        assert predicate(), f"not reached within {timeout_s} s of simulated time (state {self.snap.state}, " \
                            f"faults {[f.code for f in self.snap.faults]}, message {self.snap.message!r})"
        return self.clock.now() - start

    def close(self) -> None:
        self.devices.close()
        self.sim.stop()
