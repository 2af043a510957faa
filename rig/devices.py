"""The rig's four devices behind their Protocols: multi-rate polling, commands and safe states.

`RigDevices.poll(now_s, tick)` reads each Modbus device whose poll is due (each at its own
`poll_hz`, as a whole number of loop ticks) and drains the load-cell stream every tick; what it
read, or the error it got, stays in `belt`, `harness`, `safety_io` (`DeviceReading`s).
`links(now_s)` judges every link for the interlocks. `command(...)` writes the tick's belt
speed, winch velocity and winch power goal; `heartbeat()` toggles the controller-alive coil.
`safe_state_actions()` lists what `safety.trip` calls to put every device in its safe state.

A device error never escapes: it becomes the reading's `error` (a DeviceError with its
catalogue code), so the interlocks see it, the panel shows it and the loop keeps its period.
A single time-out is not a lost link: the interlocks judge comm loss from the age of the last
good answer; a rejected request (Modbus exception) or an implausible reading counts at once.

Not here: what to command (controllers, safety), when to tick (rig/loop.py).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Generic, TypeVar

from drivers.belt_vfd import BeltDrive, BeltStatus
from drivers.errors import CommsError, DeviceError
from drivers.harness_servo import HarnessDrive, HarnessStatus
from drivers.loadcell import LoadcellBoard, SampleBatch
from drivers.safety_io import SafetyInputs, SafetyIo
from rig.config import RigConfig
from safety.interlocks import DeviceLink

log = logging.getLogger(__name__)
T = TypeVar("T")


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

    def record(self, now_s: float, read: Callable[[], T]) -> None:
        try:
            self.value = read()
            self.error = None
            self.last_good_s = now_s
        except DeviceError as exc:
            self.fail(exc)

    def fail(self, exc: DeviceError) -> None:
        if self.error is None or self.error.detail != exc.detail:
            log.warning("%s: %s (fault %d)", self.name, exc.detail, exc.code)
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
    """The drivers of one rig and what the loop last learned from them."""

    config: RigConfig
    belt_drive: BeltDrive
    harness_drive: HarnessDrive
    safety_module: SafetyIo
    loadcells: LoadcellBoard
    belt: DeviceReading[BeltStatus] = field(init=False)
    harness: DeviceReading[HarnessStatus] = field(init=False)
    safety_io: DeviceReading[SafetyInputs] = field(init=False)
    loadcell_faults: tuple[DeviceError, ...] = ()

    def __post_init__(self) -> None:
        rate = self.config.loop.rate_hz
        every = {name: max(1, round(rate / hz)) for name, hz in (
            ("belt", self.config.belt.poll_hz), ("harness", self.config.harness.poll_hz),
            ("safety_io", self.config.safety_io.poll_hz))}
        # the harness status (four reads) on other ticks than the safety inputs and the belt
        self.safety_io = DeviceReading("safety module", every["safety_io"], 0)
        self.harness = DeviceReading("harness drive", every["harness"], 1 % every["harness"])
        self.belt = DeviceReading("belt drive", every["belt"], 2 % every["belt"])

    # --- start and end ---------------------------------------------------------------------
    def connect(self) -> list[DeviceError]:
        """Connect every device; return the failures (each with its connect-failed code).

        The belt drive last: its connect arms its comm-loss watchdog (0.5 s by default), and the
        load-cell board's identification alone may take up to a second before the first tick."""
        failures = []
        for name, connect in (("loadcell", self.loadcells.connect), ("safety_io", self.safety_module.connect),
                              ("harness", self.harness_drive.connect), ("belt", self.belt_drive.connect)):
            try:
                connect()
            except DeviceError as exc:
                log.error("%s did not connect: %s", name, exc.detail)
                failures.append(exc)
        return failures

    def close(self) -> None:
        for close in (self.loadcells.close, self.safety_module.close, self.harness_drive.close,
                      self.belt_drive.close):
            try:
                close()
            except Exception as exc:  # closing must go on whatever one device does
                log.error("closing a device failed: %s", exc)

    # --- each tick -------------------------------------------------------------------------
    def poll(self, now_s: float, tick: int) -> SampleBatch:
        """Read the devices due this tick; drain the load cells (every tick)."""
        for reading, read in ((self.safety_io, self.safety_module.read_inputs),
                              (self.belt, self.belt_drive.read_status),
                              (self.harness, self.harness_drive.read_status)):
            if tick % reading.every_ticks == reading.phase:
                reading.record(now_s, read)
        self.loadcell_faults = tuple(self.loadcells.active_faults(now_s))
        return self.loadcells.drain()

    def links(self, now_s: float) -> dict[str, DeviceLink]:
        age = self.loadcells.health.age_s(now_s)
        stream_fault = next(((e.code, e.detail) for e in self.loadcell_faults if e.code in (131, 135)), None)
        return {"belt": self.belt.link(now_s), "harness": self.harness.link(now_s),
                "safety_io": self.safety_io.link(now_s),
                "loadcell": DeviceLink(fault=stream_fault, age_s=age)}

    def command(self, belt_mps: float, winch_mps: float, power: str) -> None:
        """Write the tick's commands; each device in its own try, errors kept on the reading."""
        self._try(self.belt, lambda: self.belt_drive.set_speed(belt_mps))
        self._try(self.harness, lambda: self._winch(winch_mps, power))

    def command_belt_stop(self, decel_mps2: float) -> None:
        """The deceleration the drive's own ramp stops the belt at (written only when changed)."""
        self._try(self.belt, lambda: self.belt_drive.set_stop_deceleration(decel_mps2))

    def _winch(self, winch_mps: float, power: str) -> None:
        status = self.harness.value
        if status is None or self.harness.error is not None:
            return
        if power == "enabled" and status.faulted:
            power = "disabled"  # a faulted drive holds on its brake until someone acknowledges
        there = self.harness_drive.step_towards(power, status)
        self.harness_drive.set_velocity(winch_mps if there and power == "enabled" else 0.0)

    def heartbeat(self) -> None:
        self._try(self.safety_io, self.safety_module.toggle_heartbeat)

    def set_beacon(self, on: bool) -> None:
        self._try(self.safety_io, lambda: self.safety_module.set_beacon(on))

    def reset_drive_faults(self) -> None:
        """On acknowledge: reset the belt drive if it reports a fault; resend every command."""
        status = self.belt.value
        if status is not None and status.faulted:
            self._try(self.belt, self.belt_drive.reset_fault)
        self.belt_drive.forget_command()
        self.harness_drive.forget_command()

    @staticmethod
    def _try(reading: DeviceReading, action: Callable[[], object]) -> None:
        try:
            action()
        except DeviceError as exc:
            reading.fail(exc)

    # --- safe states (safety.trip calls these, each in its own try) -------------------------
    def safe_state_actions(self) -> list[tuple[str, Callable[[], None]]]:
        """Belt to zero at the drive's ramp; winch to zero velocity (its brake holds on any fault)."""
        return [("belt: stop", self.belt_drive.stop),
                ("harness: zero velocity", lambda: self.harness_drive.set_velocity(0.0)),
                ("safety module: beacon on", lambda: self.safety_module.set_beacon(True))]
