"""The supervisor: one tick of the rig (read devices, judge faults, step states, command, publish).

`Supervisor.tick(now_s, overrun_streak)` is called by the fixed-rate loop. It polls the belt
drive at its own rate, turns what it read (or failed to read) into fault conditions, steps the
safety machine, applies queued operator commands, commands the belt (zero outside `walking`)
and publishes an immutable `Snapshot` that the console, panel and recorders read. Nothing that
can block for long (panel, logging, storage) runs inside a tick.

Not here: the timing loop (rig/loop.py), the state rules (safety/machine.py), device protocols
(drivers/).
"""
from __future__ import annotations

import logging
import queue
from dataclasses import dataclass
from typing import Callable

from controllers.belt import RateLimiter
from drivers.belt_vfd import BeltDrive, BeltStatus
from drivers.errors import DeviceError
from rig.commands import Acknowledge, Command, SetSpeed, Start, Stop
from rig.config import RigConfig
from safety.faults import CATALOGUE, fault
from safety.latch import ActiveFault
from safety.machine import SafetyMachine

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    """What the rig looks like after one tick (immutable: safe to hand to other threads)."""

    t_s: float
    tick: int
    state: str
    setpoint_mps: float
    belt_command_mps: float
    belt_speed_mps: float | None
    belt_current_a: float | None
    drive_fault_code: int
    faults: tuple[ActiveFault, ...]
    overruns: int
    message: str


class Supervisor:
    """Owns the safety machine and the devices' commands for one rig."""

    def __init__(self, config: RigConfig, belt: BeltDrive, clock: Callable[[], float]):
        self.config = config
        self.belt = belt
        self.clock = clock
        self.machine = SafetyMachine(lambda: self.conditions, self._belt_at_rest, clock)
        self.commands: queue.SimpleQueue[Command] = queue.SimpleQueue()
        self.poll_every = max(1, round(config.loop.rate_hz / config.belt.poll_hz))
        drive_rate = config.belt.max_frequency_hz * config.belt.mps_per_hz
        self.expected = RateLimiter(drive_rate / config.belt.drive_accel_s, drive_rate / config.belt.drive_decel_s)
        self.setpoint_mps = 0.0
        self.belt_command_mps = 0.0
        self.status: BeltStatus | None = None
        self.belt_error: DeviceError | None = None
        self.conditions: dict[int, str] = {}
        self.message = ""
        self.ticks = 0
        self.overruns = 0
        self._last_t: float | None = None
        self._tracking_since: float | None = None
        self.snapshot = self._publish(clock())

    # --- the tick --------------------------------------------------------------------------
    def tick(self, now_s: float, overrun_streak: int = 0) -> Snapshot:
        dt = 0.0 if self._last_t is None else now_s - self._last_t
        self._last_t = now_s
        self.overruns += 1 if overrun_streak else 0
        if self.ticks % self.poll_every == 0:
            self._poll_belt()
        self.conditions = self._evaluate(now_s, overrun_streak)
        self.machine.raise_faults(self.conditions)
        self._advance_states()
        self._apply_commands()
        self._command_belt(dt)
        self.ticks += 1
        self.snapshot = self._publish(now_s)
        return self.snapshot

    def submit(self, command: Command) -> None:
        """Queue an operator command (thread-safe); applied at the next tick."""
        self.commands.put(command)

    # --- reading and judging ---------------------------------------------------------------
    def _poll_belt(self) -> None:
        try:
            self.status = self.belt.read_status()
            self.belt_error = None
        except DeviceError as exc:
            self.belt_error = exc

    def _evaluate(self, now_s: float, overrun_streak: int) -> dict[int, str]:
        found: dict[int, str] = {}
        if self.belt_error is not None:
            found[self.belt_error.code] = self.belt_error.detail
        elif self.status is not None and self.status.faulted:
            found[fault("belt_drive_fault").code] = f"belt drive reports fault code {self.status.fault_code}"
        tracking = self._tracking_error(now_s)
        if tracking:
            found[fault("belt_speed_tracking").code] = tracking
        if overrun_streak >= self.config.loop.overrun_fault_count:
            found[fault("loop_overrun").code] = f"{overrun_streak} consecutive loop overruns"
        return found

    def _tracking_error(self, now_s: float) -> str:
        if self.status is None or self.belt_error is not None or self.status.faulted:
            self._tracking_since = None
            return ""
        error = self.status.speed_mps - self.expected.value
        if abs(error) <= self.config.belt.speed_tolerance_mps:
            self._tracking_since = None
            return ""
        if self._tracking_since is None:
            self._tracking_since = now_s
        if now_s - self._tracking_since < self.config.belt.tracking_grace_s:
            return ""
        return (f"belt speed {self.status.speed_mps:.2f} m/s, expected {self.expected.value:.2f} m/s "
                f"for {now_s - self._tracking_since:.1f} s")

    def _belt_at_rest(self) -> bool:
        return self.status is not None and self.belt_error is None and self.status.at_rest

    # --- commands and states ---------------------------------------------------------------
    def _apply_commands(self) -> None:
        while True:
            try:
                command = self.commands.get_nowait()
            except queue.Empty:
                return
            self.message = self._apply(command)
            if self.message:
                log.warning("command %s refused: %s", command, self.message)

    def _apply(self, command: Command) -> str:
        if isinstance(command, Start):
            return self._start(command.speed_mps)
        if isinstance(command, SetSpeed):
            return self._set_speed(command.speed_mps)
        if isinstance(command, Stop):
            self.setpoint_mps = 0.0
            self.machine.stop()
            return ""
        if isinstance(command, Acknowledge):
            return self._acknowledge()
        return f"unknown command {command!r}"

    def _speed_problem(self, speed_mps: float) -> str:
        belt = self.config.belt
        if speed_mps > belt.max_speed_mps:
            return f"speed {speed_mps:.2f} m/s is above the rig's limit of {belt.max_speed_mps:.2f} m/s"
        if -speed_mps > belt.reverse_max_speed_mps:
            return (f"reverse speed {-speed_mps:.2f} m/s is above the retro-walking limit of "
                    f"{belt.reverse_max_speed_mps:.2f} m/s")
        return ""

    def _start(self, speed_mps: float) -> str:
        problem = self._speed_problem(speed_mps)
        if problem:
            return problem
        if self.state != "idle":
            return f"the belt can start only when the rig is idle (it is {self.state})"
        self.machine.start()  # queued machine: the trigger's return value says nothing; the state does
        if self.state != "walking":
            return "the belt cannot start while a fault is active"
        self.setpoint_mps = speed_mps
        return ""

    def _set_speed(self, speed_mps: float) -> str:
        problem = self._speed_problem(speed_mps)
        if problem:
            return problem
        if self.state != "walking":
            return f"the speed can change only while walking (the rig is {self.state})"
        self.setpoint_mps = speed_mps
        return ""

    def _acknowledge(self) -> str:
        if self.state != "faulted":
            return "nothing to acknowledge"
        self._reset_drive()
        self.conditions = self._evaluate(self.clock(), 0)
        self.machine.acknowledge()
        if self.state == "faulted":
            names = ", ".join(f"{code} {CATALOGUE[code].name}" for code in sorted(self.conditions))
            return f"cannot acknowledge while these faults are still present: {names}"
        self.expected.value = self.status.speed_mps if self.status else 0.0
        return ""

    def _reset_drive(self) -> None:
        try:
            if self.status is not None and self.status.faulted:
                self.belt.reset_fault()
            self.belt.forget_command()
        except DeviceError as exc:
            self.belt_error = exc
            return
        self._poll_belt()

    def _advance_states(self) -> None:
        if self.state == "boot" and self.status is not None:
            self.machine.ready()
        elif self.state == "stopping":
            self.machine.stopped()

    def _command_belt(self, dt_s: float) -> None:
        target = self.setpoint_mps if self.machine.belt_may_move else 0.0
        self.belt_command_mps = target
        self.expected.step(target, dt_s)
        try:
            self.belt.set_speed(target)
        except DeviceError as exc:
            self.belt_error = exc

    @property
    def state(self) -> str:
        return self.machine.state

    def _publish(self, now_s: float) -> Snapshot:
        status = self.status if self.belt_error is None else None
        return Snapshot(
            t_s=now_s, tick=self.ticks, state=self.machine.state, setpoint_mps=self.setpoint_mps,
            belt_command_mps=self.belt_command_mps,
            belt_speed_mps=status.speed_mps if status else None,
            belt_current_a=status.current_a if status else None,
            drive_fault_code=status.fault_code if status else 0,
            faults=tuple(self.machine.latch.active.values()), overruns=self.overruns, message=self.message,
        )

