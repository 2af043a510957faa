"""The rig's four devices behind their Protocols: multi-rate polling, commands and safe states.

`RigDevices.poll(now_s, tick)` takes in what each Modbus device answered since the last tick,
asks again of each device whose poll is due (each at its own `poll_hz`, as a whole number of
loop ticks) and drains the load-cell stream; what a device last answered, or the error it got,
stays in `belt`, `harness`, `safety_io` (`DeviceReading`s). `links(now_s)` judges every link for
the interlocks. `command(tick, ...)` sends the belt's speed (until the drive has taken it) and
the winch's velocity and power goal (at `harness.command_hz`); `heartbeat(tick)` toggles the
controller-alive coil at `safety_io.heartbeat_hz`. `safe_state_actions()` lists what
`safety.trip` calls to put every device in its safe state.

Every Modbus transaction runs on its device's own I/O thread (rig/deviceio.py): the loop posts
and goes on, so a slow answer, a time-out and its retries, or an RTU line shared by two drives
never stretch the tick. The tick's reads and commands are queued as the tick goes and sent
together by `send()` at its end (one wake-up per I/O thread, when the loop is about to sleep);
the safe states, resets and the beacon go at once. What a device answered reaches the loop at
the next tick's `poll`, so the loop sees one consistent reading per tick. `wait_idle()` lets a
lockstep harness (virtual time) finish each tick's transactions before the world moves on.

A device error never escapes: it becomes the reading's `error` (a DeviceError with its
catalogue code), so the interlocks see it, the panel shows it and the loop keeps its period.
A single time-out is not a lost link: the interlocks judge comm loss from the age of the last
good answer; a rejected request (Modbus exception) or an implausible reading counts at once.

Not here: what to command (controllers, safety), when to tick (rig/loop.py).
"""
from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Generic, TypeVar

from drivers.belt_vfd import BeltDrive, BeltStatus
from drivers.errors import CommsError, DeviceError
from drivers.harness_servo import HarnessDrive, HarnessStatus
from drivers.loadcell import LoadcellBoard, SampleBatch
from drivers.safety_io import SafetyInputs, SafetyIo
from rig.config import RigConfig
from rig.deviceio import IoWorker
from safety.interlocks import DeviceLink

log = logging.getLogger(__name__)
T = TypeVar("T")
IO_DRAIN_S = 1.0  # at close, how long the I/O threads may take to send what was posted (the safe states)


@dataclass
class DeviceReading(Generic[T]):
    """The newest good reading of one device and the error of its last transaction, if any."""

    name: str
    every_ticks: int
    phase: int = 0  # read on ticks where tick % every_ticks == phase (spreads the devices' reads)
    value: T | None = None
    error: DeviceError | None = None
    last_good_s: float | None = None
    errors: int = 0
    inbox: deque = field(default_factory=deque, repr=False)  # (t_s, value, error) from the I/O thread

    def record(self, now_s: float, read: Callable[[], T]) -> None:
        """Read now (on the device's I/O thread); the loop takes the answer in at `apply()`."""
        try:
            self.inbox.append((now_s, read(), None))
        except DeviceError as exc:
            self.inbox.append((now_s, None, exc))

    def attempt(self, now_s: float, action: Callable[[], object]) -> None:
        """Write now (on the I/O thread); only a failure is news for the loop."""
        try:
            action()
        except DeviceError as exc:
            self.inbox.append((now_s, None, exc))

    def apply(self) -> None:
        """Take in (on the loop's thread) what the device answered since the last tick, in order."""
        while self.inbox:
            t_s, value, error = self.inbox.popleft()
            if error is not None:
                self.fail(error)
            else:
                self.value, self.error, self.last_good_s = value, None, t_s

    def fail(self, exc: DeviceError) -> None:
        if self.error is None or self.error.detail != exc.detail:
            log.warning("%s (fault %d)", exc.detail, exc.code)  # the detail names the device
        self.error = exc
        self.errors += 1

    def link(self, now_s: float) -> DeviceLink:
        """A time-out alone is judged by age (the interlocks' comm-lost limit); anything else at once."""
        fault = None
        if self.error is not None and not isinstance(self.error, CommsError):
            fault = (self.error.code, self.error.detail)
        age = float("inf") if self.last_good_s is None else max(0.0, now_s - self.last_good_s)
        return DeviceLink(fault=fault, age_s=age)


@dataclass
class RigDevices:
    """The drivers of one rig, their I/O threads and what the loop last learned from them."""

    config: RigConfig
    belt_drive: BeltDrive
    harness_drive: HarnessDrive
    safety_module: SafetyIo
    loadcells: LoadcellBoard
    clock: Callable[[], float] = time.monotonic
    belt: DeviceReading[BeltStatus] = field(init=False)
    harness: DeviceReading[HarnessStatus] = field(init=False)
    safety_io: DeviceReading[SafetyInputs] = field(init=False)
    loadcell_faults: tuple[DeviceError, ...] = ()
    workers: dict[str, IoWorker] = field(init=False)

    def __post_init__(self) -> None:
        rate = self.config.loop.rate_hz
        every = {name: max(1, round(rate / hz)) for name, hz in (
            ("belt", self.config.belt.poll_hz), ("harness", self.config.harness.poll_hz),
            ("safety_io", self.config.safety_io.poll_hz))}
        # the harness status (four reads) on other ticks than the safety inputs and the belt
        self.safety_io = DeviceReading("safety module", every["safety_io"], 0)
        self.harness = DeviceReading("harness drive", every["harness"], 1 % every["harness"])
        self.belt = DeviceReading("belt drive", every["belt"], 2 % every["belt"])
        self.workers = {name: IoWorker(name) for name in ("belt", "harness", "safety_io")}
        self.heartbeat_every = max(1, round(rate / self.config.safety_io.heartbeat_hz))
        self.winch_every = max(1, round(rate / self.config.harness.command_hz))
        self._belt_written: tuple[float, float] | None = None  # set on the belt's I/O thread

    # --- start and end ---------------------------------------------------------------------
    def connect(self) -> list[DeviceError]:
        """Connect every device, start the I/O threads; return the failures (connect-failed codes).

        The belt drive last: its connect arms its comm-loss watchdog (0.5 s by default), and the
        load-cell board's identification alone may take up to a second before the first tick.
        A device that did not connect gets its thread all the same: its link reconnects on use."""
        failures = []
        for name, connect in (("loadcell", self.loadcells.connect), ("safety_io", self.safety_module.connect),
                              ("harness", self.harness_drive.connect), ("belt", self.belt_drive.connect)):
            try:
                connect()
            except DeviceError as exc:
                log.error("%s did not connect: %s", name, exc.detail)
                failures.append(exc)
        for worker in self.workers.values():
            if not worker.running:
                worker.start()
        return failures

    def wait_idle(self, timeout_s: float = 1.0) -> bool:
        """Block until every posted transaction has run (lockstep harnesses, shutdown)."""
        return all([worker.wait_idle(timeout_s) for worker in self.workers.values()])

    def close(self) -> None:
        """Run what is posted (the safe states), end the I/O threads, close the links."""
        for name, worker in self.workers.items():
            if worker.running and not worker.stop(IO_DRAIN_S):
                log.error("%s: its I/O thread did not end within %.1f s", name, IO_DRAIN_S)
        for close in (self.loadcells.close, self.safety_module.close, self.harness_drive.close,
                      self.belt_drive.close):
            try:
                close()
            except Exception as exc:  # closing must go on whatever one device does
                log.error("closing a device failed: %s", exc)

    # --- each tick -------------------------------------------------------------------------
    def poll(self, now_s: float, tick: int) -> SampleBatch:
        """Take in the answers since the last tick; ask the devices due this tick; drain the load cells."""
        for key, reading, read in (("safety_io", self.safety_io, self.safety_module.read_inputs),
                                   ("belt", self.belt, self.belt_drive.read_status),
                                   ("harness", self.harness, self.harness_drive.read_status)):
            reading.apply()
            if tick % reading.every_ticks == reading.phase:
                self.workers[key].post("read", lambda r=reading, f=read: r.record(self.clock(), f), wake=False)
        batch = self.loadcells.drain()  # reads the port (drivers/loadcell/stream.py), then judge it
        self.loadcell_faults = tuple(self.loadcells.active_faults(now_s))
        return batch

    def links(self, now_s: float) -> dict[str, DeviceLink]:
        age = max(0.0, self.loadcells.health.age_s(now_s))  # drain() read after the tick began
        stream_fault = next(((e.code, e.detail) for e in self.loadcell_faults if e.code in (131, 135)), None)
        return {"belt": self.belt.link(now_s), "harness": self.harness.link(now_s),
                "safety_io": self.safety_io.link(now_s),
                "loadcell": DeviceLink(fault=stream_fault, age_s=age)}

    def command(self, tick: int, belt_mps: float, winch_mps: float, power: str, belt_stop_decel_mps2: float) -> None:
        """Send the tick's commands: the belt's speed and the deceleration its drive stops at
        (sent until the drive has taken it: a failed write goes out again) and the winch's
        velocity and power goal (at `harness.command_hz`: the force loop moves it)."""
        belt = (belt_mps, belt_stop_decel_mps2)
        if belt != self._belt_written:
            def write() -> None:
                self.belt_drive.set_stop_deceleration(belt_stop_decel_mps2)
                self.belt_drive.set_speed(belt_mps)
                self._belt_written = belt  # only once both writes went through
            self._post("belt", self.belt, "command", write, wake=False)
        status = self.harness.value
        if status is not None and self.harness.error is None and tick % self.winch_every == 0:
            self._post("harness", self.harness, "command", lambda: self._winch(winch_mps, power, status), wake=False)

    def _winch(self, winch_mps: float, power: str, status: HarnessStatus) -> None:
        if power == "enabled" and status.faulted:
            power = "disabled"  # a faulted drive holds on its brake until someone acknowledges
        there = self.harness_drive.step_towards(power, status)
        self.harness_drive.set_velocity(winch_mps if there and power == "enabled" else 0.0)

    def heartbeat(self, tick: int) -> None:
        """Toggle the controller-alive coil on every `heartbeat_every`-th tick (safety_io.heartbeat_hz)."""
        if tick % self.heartbeat_every == 0:
            self._post("safety_io", self.safety_io, "heartbeat", self.safety_module.toggle_heartbeat, wake=False)

    def send(self) -> None:
        """Wake every I/O thread for what the tick queued (its reads, commands, heartbeat)."""
        for worker in self.workers.values():
            worker.wake()

    def set_beacon(self, on: bool) -> None:
        self._post("safety_io", self.safety_io, "beacon", lambda: self.safety_module.set_beacon(on))

    def reset_drive_faults(self) -> None:
        """On acknowledge: reset the belt drive if it reports a fault; resend every command."""
        status = self.belt.value

        def belt() -> None:
            if status is not None and status.faulted:
                self.belt_drive.reset_fault()
            self.belt_drive.forget_command()
        self._post("belt", self.belt, "reset", belt)
        self._post("harness", self.harness, "reset", self.harness_drive.forget_command)
        self._belt_written = None  # resend the belt's command too

    def _post(self, device: str, reading: DeviceReading, key: str, action: Callable[[], object],
              first: bool = False, wake: bool = True) -> None:
        self.workers[device].post(key, lambda: reading.attempt(self.clock(), action), first, wake)

    # --- safe states (safety.trip calls these, each in its own try) -------------------------
    def safe_state_actions(self) -> list[tuple[str, Callable[[], None]]]:
        """Belt to zero at the drive's ramp; winch to zero velocity (its brake holds on any fault).

        Each goes to the head of its device's queue, ahead of any set-point still waiting."""
        return [("belt: stop", lambda: self._safe("belt", self.belt, self.belt_drive.stop)),
                ("harness: zero velocity", lambda: self._safe("harness", self.harness,
                                                              lambda: self.harness_drive.set_velocity(0.0))),
                ("safety module: beacon on", lambda: self._safe("safety_io", self.safety_io,
                                                                lambda: self.safety_module.set_beacon(True)))]

    def _safe(self, device: str, reading: DeviceReading, action: Callable[[], object]) -> None:
        self.workers[device].drop("command")
        if device == "belt":
            self._belt_written = None  # the stop overrode it: the next command goes out again
        self._post(device, reading, "safe", action, first=True)
