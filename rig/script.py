"""Session scripts for `rig run --script`: TOML steps run unattended by the loop.

A script is a list of `[[step]]` tables, e.g.
    [[step]]
    do = "walk"       # start (or change speed) and hold
    speed_mps = 0.8
    hold_s = 10       # counted from when the belt reaches the speed
    [[step]]
    do = "stop"       # controlled stop; the script ends when the rig is idle again
A script that asks for more than the rig's limits is refused before anything moves, with the
step and the limit named. `ScriptRunner.poll()` is called each tick and returns commands.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from rig.commands import Command, SetSpeed, Start, Stop
from rig.config import RigConfig
from rig.configspec import ConfigError, ConfigIssue, build_section, opt
from rig.supervisor import Snapshot

REACHED_TOLERANCE_MPS = 0.03


@dataclass(frozen=True)
class Step:
    """One step of a session script."""

    do: str = opt(choices=("walk", "stop"), doc="what this step does")
    speed_mps: float = opt(0.0, min=-5.0, max=5.0, doc="walk: belt speed (negative: retro walking)")
    hold_s: float = opt(0.0, min=0.0, max=3600.0, doc="walk: time to hold the speed once reached")
    reach_timeout_s: float = opt(30.0, gt=0.0, max=600.0, doc="walk: give up if the speed is not reached by then")

    def check(self) -> list[tuple[str, str]]:
        if self.do == "walk" and self.speed_mps == 0.0:
            return [("speed_mps", 'must not be 0 for do = "walk" (use do = "stop")')]
        return []


def _limit_issues(steps: list[Step], config: RigConfig, file: str) -> list[ConfigIssue]:
    issues = []
    belt = config.belt
    for number, step in enumerate(steps, 1):
        if step.speed_mps > belt.max_speed_mps:
            issues.append(ConfigIssue(file, f"step {number}", "speed_mps",
                                      f"= {step.speed_mps} must be at most {belt.max_speed_mps} (belt.max_speed_mps)"))
        if -step.speed_mps > belt.reverse_max_speed_mps:
            issues.append(ConfigIssue(file, f"step {number}", "speed_mps",
                                      f"= {step.speed_mps} must be at least {-belt.reverse_max_speed_mps} "
                                      "(belt.reverse_max_speed_mps)"))
    return issues


def parse_script(text: str, config: RigConfig, file: str = "<script>") -> list[Step]:
    """Parse and check a script against the rig's limits; ConfigError lists every problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([ConfigIssue(file, "", "", f"is not valid TOML: {exc}")]) from None
    issues: list[ConfigIssue] = []
    unknown = set(data) - {"name", "step"}
    issues += [ConfigIssue(file, "", key, 'is not known in a script (use "name" and [[step]] tables)')
               for key in sorted(unknown)]
    tables = data.get("step", [])
    if not isinstance(tables, list) or not tables:
        issues.append(ConfigIssue(file, "", "step", "a script needs at least one [[step]] table"))
        raise ConfigError(issues)
    steps = []
    for number, table in enumerate(tables, 1):
        step, found = build_section(Step, table, file, f"step {number}")
        issues += found
        if step is not None:
            steps.append(step)
    issues += _limit_issues(steps, config, file)
    if issues:
        raise ConfigError(issues)
    return steps


def load_script(path: str | Path, config: RigConfig) -> list[Step]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([ConfigIssue(str(path), "", "", f"cannot be read: {exc.strerror}")]) from None
    return parse_script(text, config, str(path))


class ScriptRunner:
    """Turns script steps into operator commands, one tick at a time."""

    def __init__(self, steps: list[Step]):
        self.steps = steps
        self.index = 0
        self.step_started_s: float | None = None
        self.reached_s: float | None = None
        self.sent = False
        self.failure = ""

    @property
    def done(self) -> bool:
        return self.index >= len(self.steps) or bool(self.failure)

    def poll(self, snap: Snapshot) -> list[Command]:
        if self.done:
            return []
        if snap.state == "faulted":
            codes = ", ".join(str(f.code) for f in snap.faults)
            self.failure = f"script stopped at step {self.index + 1}: the rig faulted ({codes})"
            return []
        if self.step_started_s is None:
            self.step_started_s, self.reached_s, self.sent = snap.t_s, None, False
        step = self.steps[self.index]
        return self._walk(step, snap) if step.do == "walk" else self._stop(snap)

    def _next(self) -> None:
        self.index += 1
        self.step_started_s = None

    def _walk(self, step: Step, snap: Snapshot) -> list[Command]:
        if not self.sent:
            self.sent = True
            return [Start(step.speed_mps) if snap.state == "idle" else SetSpeed(step.speed_mps)]
        speed = snap.belt_speed_mps
        if self.reached_s is None and speed is not None and abs(speed - step.speed_mps) <= REACHED_TOLERANCE_MPS:
            self.reached_s = snap.t_s
        if self.reached_s is None and snap.t_s - self.step_started_s > step.reach_timeout_s:
            self.failure = f"step {self.index + 1}: belt did not reach {step.speed_mps} m/s in {step.reach_timeout_s} s"
        elif self.reached_s is not None and snap.t_s - self.reached_s >= step.hold_s:
            self._next()
        return []

    def _stop(self, snap: Snapshot) -> list[Command]:
        if not self.sent:
            self.sent = True
            return [Stop()]
        if snap.state == "idle":
            self._next()
        return []
