"""`rig run` composed: devices + supervisor + fixed-rate loop + optional script + stop on request.

`RigApp.run()` runs the loop until the script has finished (the patient detached, the rig
idle), or a stop was requested (Ctrl-C, SIGTERM) and the rig has come to rest, then leaves
every device in its safe state. `build_devices(config, clock)` makes the real drivers the
config names (the simulated rig is reached the same way, through its endpoints).
"""
from __future__ import annotations

import logging
from typing import Callable

from rig.clock import Clock
from rig.commands import Detach, Stop
from rig.config import RigConfig
from rig.devices import RigDevices
from rig.loop import FixedRateLoop
from rig.script import ScriptRunner, Step
from rig.supervisor import Supervisor
from safety.trip import Trip

log = logging.getLogger(__name__)
STOP_MARGIN_S = 5.0
DETACH_S = 15.0  # ramping the support down at <= 5 % body weight per second, then slack
REST_SPEED_MPS = 0.02
SETTLED_STATES = ("idle", "faulted", "estop", "boot", "selftest", "attached")


def build_devices(config: RigConfig, clock: Clock) -> RigDevices:
    """The drivers for the config's devices, on the given clock (not yet connected).

    Devices on one RTU line share its one client (drivers/bus.py)."""
    from drivers.belt_vfd import DeltaVfd
    from drivers.bus import BusPool
    from drivers.harness_servo import Cia402Servo
    from drivers.loadcell import LoadcellStream
    from drivers.safety_io import ModbusSafetyIo
    from safety.faults import fault
    pool = BusPool(clock.now)

    def link(cfg, name: str, device: str):
        return pool.link(cfg, name, fault(f"{device}_comm_lost").code, fault(f"{device}_comm_rejected").code)

    return RigDevices(config,
                      DeltaVfd(config.belt, link(config.belt.link, "belt drive", "belt"), clock=clock.now),
                      Cia402Servo(config.harness, link(config.harness.link, "harness drive", "harness"),
                                  clock=clock.now),
                      ModbusSafetyIo(config.safety_io, link(config.safety_io.link, "safety I/O", "safety_io"),
                                     clock=clock.now),
                      LoadcellStream(config.loadcell_board, clock=clock.now), clock=clock.now)


class RigApp:
    """One run of the rig."""

    def __init__(self, config: RigConfig, devices: RigDevices, clock: Clock,
                 steps: list[Step] | None = None, recorder=None):
        self.config = config
        self.devices = devices
        self.clock = clock
        self.supervisor = Supervisor(config, devices, clock.now, recorder=recorder)
        self.loop = FixedRateLoop(config.loop.rate_hz, clock)
        self.script = ScriptRunner(steps) if steps else None
        self.stop_requested = False
        self._stop_deadline_s: float | None = None
        self._detach_sent = False

    def request_stop(self) -> None:
        """Ask for a clean stop (safe to call from a signal handler)."""
        self.stop_requested = True

    def tick(self, now_s: float, overrun_streak: int) -> None:
        snap = self.supervisor.tick(now_s, overrun_streak)
        if self.script is not None:
            for command in self.script.poll(snap):
                self.supervisor.submit(command)
        failed = self.script is not None and bool(self.script.failure)
        if (self.stop_requested or failed) and self._stop_deadline_s is None:
            self.supervisor.submit(Stop())  # refused harmlessly when the belt is not moving
            self._stop_deadline_s = now_s + self.config.belt.drive_decel_s + DETACH_S + STOP_MARGIN_S
        elif self.script is not None and self.script.done and self._stop_deadline_s is None:
            self._stop_deadline_s = now_s + STOP_MARGIN_S
        if self._stop_deadline_s is not None and snap.state in ("ready", "attached") and not self._detach_sent:
            self.supervisor.submit(Detach())  # stopping for good: give the patient's weight back gently
            self._detach_sent = True

    def should_stop(self) -> bool:
        if self._stop_deadline_s is None:
            return False
        snap = self.supervisor.snapshot
        at_rest = snap.belt_speed_mps is not None and abs(snap.belt_speed_mps) < REST_SPEED_MPS
        settled = snap.state in SETTLED_STATES and at_rest
        return settled or snap.t_s > self._stop_deadline_s

    def run(self, after_tick: Callable[[float, float], None] | None = None) -> int:
        """Run until done; return the process exit code (0 clean, 1 script failed or faulted).

        `after_tick(now_s, slack_s)` runs after every tick (rig/services.py)."""
        try:
            self.loop.run(self.tick, self.should_stop, after_tick)
        finally:
            self.leave_safe()
        failure = self.script.failure if self.script else ""
        if failure:
            log.error(failure)
        return 1 if failure or self.supervisor.snapshot.faults else 0

    def leave_safe(self) -> None:
        """Belt stopped at the drive's ramp, winch still; the drives' watchdogs do the rest."""
        failures = Trip(self.devices.safe_state_actions()).trip("the rig is shutting down", routine=True)
        for action, error in failures.items():
            log.error("on exit, %s failed: %s (the drive's comm-loss watchdog will stop it)", action, error)
