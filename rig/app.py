"""`rig run` composed: supervisor + fixed-rate loop + optional script + stop on request.

`RigApp.run()` runs the loop until the script has finished, or a stop was requested (Ctrl-C,
SIGTERM) and the belt has come to rest, then leaves the belt commanded to stop.
"""
from __future__ import annotations

import logging

from drivers.belt_vfd import BeltDrive
from drivers.errors import DeviceError
from rig.clock import Clock
from rig.commands import Stop
from rig.config import RigConfig
from rig.loop import FixedRateLoop
from rig.script import ScriptRunner, Step
from rig.supervisor import Supervisor

log = logging.getLogger(__name__)
STOP_MARGIN_S = 3.0
REST_SPEED_MPS = 0.02


class RigApp:
    """One run of the rig."""

    def __init__(self, config: RigConfig, belt: BeltDrive, clock: Clock, steps: list[Step] | None = None):
        self.config = config
        self.belt = belt
        self.clock = clock
        self.supervisor = Supervisor(config, belt, clock.now)
        self.loop = FixedRateLoop(config.loop.rate_hz, clock)
        self.script = ScriptRunner(steps) if steps else None
        self.stop_requested = False
        self._stop_deadline_s: float | None = None

    def request_stop(self) -> None:
        """Ask for a clean stop (safe to call from a signal handler)."""
        self.stop_requested = True

    def tick(self, now_s: float, overrun_streak: int) -> None:
        snap = self.supervisor.tick(now_s, overrun_streak)
        if self.script is not None:
            for command in self.script.poll(snap):
                self.supervisor.submit(command)
        wants_stop = self.stop_requested or (self.script is not None and self.script.done)
        if wants_stop and self._stop_deadline_s is None:
            self.supervisor.submit(Stop())
            self._stop_deadline_s = now_s + self.config.belt.drive_decel_s + STOP_MARGIN_S

    def should_stop(self) -> bool:
        if self._stop_deadline_s is None:
            return False
        snap = self.supervisor.snapshot
        at_rest = snap.belt_speed_mps is not None and abs(snap.belt_speed_mps) < REST_SPEED_MPS
        settled = snap.state in ("idle", "faulted", "boot") and at_rest
        return settled or snap.t_s > self._stop_deadline_s

    def run(self) -> int:
        """Run until done; return the process exit code (0 clean, 1 script failed or faulted)."""
        try:
            self.loop.run(self.tick, self.should_stop)
        finally:
            self._leave_safe()
        failure = self.script.failure if self.script else ""
        if failure:
            log.error(failure)
        return 1 if failure or self.supervisor.snapshot.faults else 0

    def _leave_safe(self) -> None:
        try:
            self.belt.stop()
        except DeviceError as exc:
            log.error("could not command the belt to stop on exit: %s (its comm-loss watchdog will)", exc)
