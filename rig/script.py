"""Session scripts for `rig run --script`: a therapist's protocol, checked, then run by the loop.

A script is a list of `[[step]]` tables, each with a `do`:
    attach            take up the harness slack (the script starts with the patient not attached)
    unload            percent of body weight; hold_s once on target (also while walking)
    walk / retro      speed_mps (retro: backwards, given as a positive magnitude), hold_s counted
                      from when the belt reaches the speed; a change of direction stops first
    pause             stop the belt, rest hold_s, then resume at the same speed
    stop / detach     stop the belt (wait for ready) / release the harness (wait for idle)
and the protocol shapes, expanded into those steps when the script is read:
    constant          speed_mps for duration_s
    intervals         repeats walks of walk_s at speed_mps with a rest of rest_s between them
    speed_steps       from_mps to to_mps in steps of step_mps, hold_s at each
    unloading_taper   from_pct to to_pct in steps of step_pct, hold_s at each (while walking)

`parse_script()` / `load_script()` refuse, before anything moves, a script that breaks the rig's
or the patient's limits or that asks for steps in an impossible order: `ConfigError` lists every
problem, naming the [[step]] and the limit. `ScriptRunner.poll(snapshot)` is called every tick
and returns the operator commands to submit. It reads only the snapshot: a step's command is
sent once the rig's state can take it, the step holds from when the rig got there (belt at
speed, support target reached), a start capped at the supervisor's start speed is asked again
at full speed, a refused Start / Resume is asked again every second (its guards may hold a
moment later). It stops the script, in plain words naming the step, when the rig faults or
e-stops, refuses any other command, or a step times out.

Not here: applying commands or judging safety (the supervisor and safety/ still check every
command), reading the clock (time comes from the snapshots), any I/O but `load_script`.
"""
from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controllers.harness import CAP_MARGIN
from rig.commands import Attach, Command, Detach, Pause, Resume, SetSpeed, SetUnloading, Start, Stop
from rig.config import RIG_MAX_BELT_SPEED_MPS, RigConfig
from rig.configspec import ConfigError, ConfigIssue, build_section, opt, toml_value

if TYPE_CHECKING:
    from rig.supervisor import Snapshot

REACHED_TOLERANCE_MPS = 0.03  # the belt is "at speed" within this
STEADY_TARGET_N = 1e-3  # the harness target ramp has finished when it moves less than this per tick
PRETENSION_TOLERANCE = 0.2  # attached: line force within 20 % of the (steady) pretension target...
PRETENSION_SETTLE_S = 0.5  # ...this long (the machine asks 0.3 s within 25 %) before unloading
RETRY_S = 1.0  # a refused Start / Resume is asked again after this (its guards may hold a moment later)
MAX_HOLD_S = 3600.0  # one step holds at most an hour
MAX_SCRIPT_S = 7200.0  # a whole session at most two hours
STOP_TIMEOUT_S = 60.0
HOLD = dict(min=0.0, max=MAX_HOLD_S)
TIMEOUT = dict(gt=0.0, max=600.0)
SPEED = dict(gt=0.0, max=RIG_MAX_BELT_SPEED_MPS)
PERCENT = dict(min=0.0, max=100.0)


# --- what a therapist writes: one table per `do` ---------------------------------------------
@dataclass(frozen=True)
class _Do:
    do: str = opt(doc="what this step does", choices=(
        "attach", "unload", "walk", "retro", "pause", "stop", "detach",
        "constant", "intervals", "speed_steps", "unloading_taper"))


@dataclass(frozen=True)
class _Attach:
    timeout_s: float = opt(30.0, **TIMEOUT, doc="give up if the line is not pretensioned by then")


@dataclass(frozen=True)
class _Unload:
    percent: float = opt(**PERCENT, doc="body-weight support, % of body weight")
    hold_s: float = opt(0.0, **HOLD, doc="time to hold once on target")
    timeout_s: float = opt(60.0, **TIMEOUT, doc="give up if the support is not on target by then")


@dataclass(frozen=True)
class _Walk:
    speed_mps: float = opt(**SPEED, doc="belt speed (retro: backwards, as a positive number)")
    hold_s: float = opt(0.0, **HOLD, doc="time to hold the speed once reached")
    reach_timeout_s: float = opt(30.0, **TIMEOUT, doc="give up if the speed is not reached by then")


@dataclass(frozen=True)
class _Pause:
    hold_s: float = opt(**HOLD, doc="rest with the belt stopped, then resume")
    timeout_s: float = opt(30.0, **TIMEOUT, doc="give up if the belt has not stopped / resumed by then")


@dataclass(frozen=True)
class _Wait:
    timeout_s: float = opt(STOP_TIMEOUT_S, **TIMEOUT, doc="give up if the rig has not got there by then")


@dataclass(frozen=True)
class _Constant:
    speed_mps: float = opt(**SPEED, doc="belt speed")
    duration_s: float = opt(gt=0.0, max=MAX_HOLD_S, doc="time at that speed, once reached")
    reach_timeout_s: float = opt(30.0, **TIMEOUT, doc="give up if the speed is not reached by then")


@dataclass(frozen=True)
class _Intervals:
    speed_mps: float = opt(**SPEED, doc="belt speed of each walk")
    walk_s: float = opt(gt=0.0, max=MAX_HOLD_S, doc="length of each walk, once at speed")
    rest_s: float = opt(gt=0.0, max=MAX_HOLD_S, doc="rest between walks, belt stopped")
    repeats: int = opt(min=1, max=100, doc="number of walks")
    reach_timeout_s: float = opt(30.0, **TIMEOUT, doc="give up if a speed or a rest is not reached by then")


@dataclass(frozen=True)
class _SpeedSteps:
    from_mps: float = opt(**SPEED, doc="first speed")
    to_mps: float = opt(**SPEED, doc="last speed")
    step_mps: float = opt(gt=0.0, max=RIG_MAX_BELT_SPEED_MPS, doc="change between speeds")
    hold_s: float = opt(gt=0.0, max=MAX_HOLD_S, doc="time at each speed, once reached")
    reach_timeout_s: float = opt(30.0, **TIMEOUT, doc="give up if a speed is not reached by then")

    def check(self) -> list[tuple[str, str]]:
        return _span_issues("mps", self.from_mps, self.to_mps, self.step_mps, "walk")


@dataclass(frozen=True)
class _Taper:
    from_pct: float = opt(**PERCENT, doc="first unloading, % of body weight")
    to_pct: float = opt(**PERCENT, doc="last unloading")
    step_pct: float = opt(gt=0.0, max=100.0, doc="change between unloadings")
    hold_s: float = opt(gt=0.0, max=MAX_HOLD_S, doc="time at each unloading, once on target")
    timeout_s: float = opt(60.0, **TIMEOUT, doc="give up if an unloading is not on target by then")

    def check(self) -> list[tuple[str, str]]:
        return _span_issues("pct", self.from_pct, self.to_pct, self.step_pct, "unload")


def _span_issues(unit: str, start: float, end: float, step: float, single: str) -> list[tuple[str, str]]:
    if start == end:
        return [(f"to_{unit}", f'= {toml_value(end)} must differ from from_{unit} (for one value use do = "{single}")')]
    if step > abs(end - start) + 1e-9:
        return [(f"step_{unit}", f"= {toml_value(step)} must be at most {toml_value(round(abs(end - start), 6))} "
                                 f"(the distance from from_{unit} to to_{unit})")]
    return []


_TABLES: dict[str, type] = {
    "attach": _Attach, "unload": _Unload, "walk": _Walk, "retro": _Walk,
    "pause": _Pause, "stop": _Wait, "detach": _Wait, "constant": _Constant,
    "intervals": _Intervals, "speed_steps": _SpeedSteps, "unloading_taper": _Taper,
}


# --- what the runner executes ----------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    """One step the runner executes; shapes and pauses are already expanded into these.

    do: attach | unload | walk | pause | resume | stop | detach (resume: back to speed_mps, the
    speed before the pause; a start from rest is capped by the supervisor). number: the [[step]] it came
    from (1-based), shape: that table's `do` when it differs (e.g. "intervals"). source: the
    options its value came from, named when a limit refuses it.
    """

    do: str
    number: int
    speed_mps: float = 0.0  # walk: negative is retro walking
    percent: float = 0.0  # unload
    hold_s: float = 0.0
    timeout_s: float = STOP_TIMEOUT_S
    shape: str = ""
    source: tuple[tuple[str, float], ...] = field(default=(), compare=False)

    def describe(self) -> str:
        """The step in plain words, e.g. "intervals: walk at 1 m/s"."""
        words = {"attach": "attach the harness", "unload": f"unload to {self.percent:g} %",
                 "walk": f"{'retro walk' if self.speed_mps < 0 else 'walk'} at {abs(self.speed_mps):g} m/s",
                 "pause": f"pause for {self.hold_s:g} s", "resume": "resume walking",
                 "stop": "stop the belt", "detach": "detach the harness"}[self.do]
        redundant = not self.shape or (self.shape == "retro" and self.do == "walk")
        return words if redundant else f"{self.shape}: {words}"


def _expand(do: str, t: Any, n: int) -> list[Step]:
    """The runtime steps of one [[step]] table."""
    if do in ("attach", "stop", "detach"):
        return [Step(do, n, timeout_s=t.timeout_s)]
    if do == "unload":
        return [Step("unload", n, percent=t.percent, hold_s=t.hold_s, timeout_s=t.timeout_s,
                     source=(("percent", t.percent),))]
    if do in ("walk", "retro", "constant"):
        sign = -1.0 if do == "retro" else 1.0
        hold = t.duration_s if do == "constant" else t.hold_s
        return [Step("walk", n, sign * t.speed_mps, hold_s=hold, timeout_s=t.reach_timeout_s,
                     shape="" if do == "walk" else do, source=(("speed_mps", t.speed_mps),))]
    if do == "pause":
        return _pause(n, t.hold_s, t.timeout_s, "")
    return {"intervals": _intervals, "speed_steps": _speed_steps, "unloading_taper": _taper}[do](t, n)


def _pause(n: int, rest_s: float, timeout_s: float, shape: str) -> list[Step]:
    return [Step("pause", n, hold_s=rest_s, timeout_s=timeout_s, shape=shape),
            Step("resume", n, timeout_s=timeout_s, shape=shape)]


def _intervals(t: _Intervals, n: int) -> list[Step]:
    walk = Step("walk", n, t.speed_mps, hold_s=t.walk_s, timeout_s=t.reach_timeout_s, shape="intervals",
                source=(("speed_mps", t.speed_mps),))
    rest = _pause(n, t.rest_s, t.reach_timeout_s, "intervals")
    return [walk] + (rest + [walk]) * (t.repeats - 1)


def _speed_steps(t: _SpeedSteps, n: int) -> list[Step]:
    source = (("from_mps", t.from_mps), ("to_mps", t.to_mps))
    return [Step("walk", n, v, hold_s=t.hold_s, timeout_s=t.reach_timeout_s, shape="speed_steps", source=source)
            for v in _span(t.from_mps, t.to_mps, t.step_mps)]


def _taper(t: _Taper, n: int) -> list[Step]:
    source = (("from_pct", t.from_pct), ("to_pct", t.to_pct))
    return [Step("unload", n, percent=p, hold_s=t.hold_s, timeout_s=t.timeout_s, shape="unloading_taper",
                 source=source) for p in _span(t.from_pct, t.to_pct, t.step_pct)]


def _span(start: float, end: float, step: float) -> list[float]:
    """start, start +- step, ... up to end; end is always the last value."""
    sign = 1.0 if end > start else -1.0
    count = math.floor(abs(end - start) / step + 1e-9)
    values = [round(start + sign * i * step, 6) for i in range(count + 1)]
    return values if math.isclose(values[-1], end, abs_tol=1e-6) else values + [end]


# --- limits ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScriptLimits:
    """What a script may ask for, each with the config option it comes from (for messages)."""

    max_speed_mps: float
    max_speed_name: str
    reverse_max_mps: float
    reverse_name: str
    min_unloading_pct: float
    min_unloading_name: str
    max_unloading_pct: float
    max_unloading_name: str


def _lower(*named: tuple[float, str]) -> tuple[float, str]:
    return min(named, key=lambda pair: pair[0])


def script_limits(config: RigConfig) -> ScriptLimits:
    """The rig's and the patient's limits that every step of a script must keep."""
    patient, belt, harness = config.patient, config.belt, config.harness
    patient_max, max_fraction = patient.max_speed_mps, config.unloading.max_fraction
    speed = _lower((belt.max_speed_mps, "belt.max_speed_mps"), (patient_max, "patient.max_speed_mps"))
    reverse = _lower((belt.reverse_max_speed_mps, "belt.reverse_max_speed_mps"),
                     (patient_max, "patient.max_speed_mps"))
    winch_pct = CAP_MARGIN * harness.max_torque_pct / 100.0 * harness.rated_force_n / patient.body_weight_n * 100.0
    high = _lower((100.0 * max_fraction, "unloading.max_fraction"),
                  (math.floor(winch_pct * 10) / 10, "what the winch may pull: harness.max_torque_pct x "
                   "harness.rated_force_n for patient.body_mass_kg"))
    return ScriptLimits(*speed, *reverse, round(max(0.0, 100.0 - patient.weight_bearing_limit_pct), 6),
                        "100 - patient.weight_bearing_limit_pct", *high)


def _limit_problems(step: Step, lim: ScriptLimits) -> list[tuple[str, str]]:
    """(option, message) for each limit the step breaks, naming the option its value came from."""
    def named(pick) -> str:
        option, value = pick(step.source, key=lambda pair: pair[1])
        return f"{option} = {toml_value(value)}"
    if step.do == "walk" and step.speed_mps > lim.max_speed_mps:
        return [(named(max), f"must be at most {toml_value(lim.max_speed_mps)} ({lim.max_speed_name})")]
    if step.do == "walk" and -step.speed_mps > lim.reverse_max_mps:
        return [(named(max), f"must be at most {toml_value(lim.reverse_max_mps)} backwards ({lim.reverse_name})")]
    if step.do == "unload" and step.percent < lim.min_unloading_pct:
        return [(named(min), f"must be at least {toml_value(lim.min_unloading_pct)} ({lim.min_unloading_name})")]
    if step.do == "unload" and step.percent > lim.max_unloading_pct:
        return [(named(max), f"must be at most {toml_value(lim.max_unloading_pct)} ({lim.max_unloading_name})")]
    return []


# --- order -----------------------------------------------------------------------------------
_NEEDS = {  # do -> {planned state: why the step cannot come here}
    "attach": {s: "comes after the patient is attached (one attach, at the start)"
               for s in ("attached", "ready", "walking")},
    "unload": {"idle": "needs an attach step before it"},
    "walk": {"idle": "needs attach and unload steps before it (the rig would not be ready to walk)",
             "attached": "needs an unload step before it (the rig would not be ready to walk)"},
    "pause": {s: "is possible only while walking (add a walk step before it)" for s in ("idle", "attached", "ready")},
    "detach": {"walking": "needs a stop step before it (the belt would still be moving)",
               "idle": "has nothing to release (no attach step before it)"},
}


def _next_state(do: str, state: str) -> str:
    """The planned state after a step (states that cannot take it were reported; carry on)."""
    if do == "unload" and state in ("idle", "attached"):
        return "ready"
    if do == "stop" and state == "walking":
        return "ready"
    return {"attach": "attached", "walk": "walking", "detach": "detached"}.get(do, state)


def _plan(steps: list[Step], file: str) -> tuple[list[Step], list[ConfigIssue]]:
    """Walk the steps through the rig's states from idle: insert a stop before a change of
    direction, and report steps that could not happen where they are."""
    state, speed, planned, issues = "idle", 0.0, [], []
    for step in steps:
        where, what = f"step {step.number}", step.shape or step.do
        problem = "comes after detach (detach must be the last step)" if state == "detached" \
            else _NEEDS.get(step.do, {}).get(state, "")
        if problem:
            issues.append(ConfigIssue(file, where, "do", f'= "{what}" {problem}'))
        if step.do == "walk" and state == "walking" and step.speed_mps * speed < 0:
            planned.append(Step("stop", step.number, shape=step.shape))  # the belt stops before it reverses
        planned.append(replace(step, speed_mps=speed) if step.do == "resume" else step)  # back to that speed
        state = _next_state(step.do, state)
        speed = step.speed_mps if step.do == "walk" else speed
    if state == "walking":
        issues.append(ConfigIssue(file, f"step {steps[-1].number}", "", "is the last step and leaves the belt "
                                  "moving: end the script with a stop step (and a detach step)"))
    return planned, issues


def _duration_issues(steps: list[Step], file: str) -> list[ConfigIssue]:
    total_s = sum(step.hold_s for step in steps)
    if total_s <= MAX_SCRIPT_S:
        return []
    return [ConfigIssue(file, "", "", f"holds {total_s / 60:.0f} min in all, more than a session's "
                                      f"{MAX_SCRIPT_S / 60:.0f} min: split it into shorter scripts")]


# --- reading ---------------------------------------------------------------------------------
def _read_step(table: Any, number: int, file: str) -> tuple[list[Step], list[ConfigIssue]]:
    where = f"step {number}"
    if not isinstance(table, dict):
        return [], [ConfigIssue(file, where, "", "must be a table [[step]]")]
    action, issues = build_section(_Do, {"do": table["do"]} if "do" in table else {}, file, where)
    if action is None:
        return [], issues
    rest = {key: value for key, value in table.items() if key != "do"}
    built, issues = build_section(_TABLES[action.do], rest, file, where)
    return (_expand(action.do, built, number) if built is not None else []), issues


def session_text(speed_mps: float, hold_s: float, percent: float = 30) -> str:
    """The plain session as script TOML: attach, unload to `percent`, walk at `speed_mps` for
    `hold_s`, stop, detach (what the benches and the end-to-end tests run)."""
    return (f'[[step]]\ndo = "attach"\n[[step]]\ndo = "unload"\npercent = {percent}\n'
            f'[[step]]\ndo = "walk"\nspeed_mps = {speed_mps}\nhold_s = {hold_s}\n'
            f'[[step]]\ndo = "stop"\n[[step]]\ndo = "detach"\n')


def parse_script(text: str, config: RigConfig, file: str = "<script>") -> list[Step]:
    """Read a script and check it against the limits and the order of states; the runtime
    steps, or ConfigError listing every problem ("file: [step N] option = value must be ...")."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([ConfigIssue(file, "", "", f"is not valid TOML: {exc}")]) from None
    issues = [ConfigIssue(file, "", key, 'is not known in a script (use "name" and [[step]] tables)')
              for key in sorted(set(data) - {"name", "step"})]
    tables = data.get("step", [])
    if not isinstance(tables, list) or not tables:
        raise ConfigError(issues + [ConfigIssue(file, "", "step", "a script needs at least one [[step]] table")])
    steps: list[Step] = []
    for number, table in enumerate(tables, 1):
        expanded, found = _read_step(table, number, file)
        steps += expanded
        issues += found
    if issues:
        raise ConfigError(issues)
    return _checked(steps, script_limits(config), file)


def _checked(steps: list[Step], limits: ScriptLimits, file: str) -> list[Step]:
    planned, issues = _plan(steps, file)
    for step in planned:
        issues += [ConfigIssue(file, f"step {step.number}", option, message)
                   for option, message in _limit_problems(step, limits)]
    issues = sorted(dict.fromkeys(issues), key=_step_order) + _duration_issues(planned, file)  # once each
    if issues:
        raise ConfigError(issues)
    return planned


def _step_order(issue: ConfigIssue) -> int:
    return int(issue.section.removeprefix("step ")) if issue.section else 0


def load_script(path: str | Path, config: RigConfig) -> list[Step]:
    """Read and check a script file (see parse_script)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigIssue(str(path), "", "", f"cannot be read: {exc}")]) from None
    return parse_script(text, config, str(path))


# --- running ---------------------------------------------------------------------------------
_WAITING = {"attach": "the line was not pretensioned", "unload": "the support did not reach its target",
            "walk": "the belt did not reach the speed", "pause": "the belt did not come to rest",
            "resume": "the belt did not get back to the speed", "stop": "the belt did not stop",
            "detach": "the line did not go slack"}


@dataclass
class _Progress:
    """Where the runner is within one step (mutable, private to the runner)."""

    started_s: float
    sent_s: float | None = None
    sent: Command | None = None
    retry_s: float = -math.inf  # not before this time: a refused Start / Resume waits to be asked again
    refused: str = ""  # the rig's words for the last refusal asked again
    checked: bool = False  # the snapshot after the last command was read for a refusal
    asked_again: bool = False  # walk, resume: speed asked again after a start capped at the start speed
    arrived_s: float | None = None
    last_target_n: float | None = None
    near_since_s: float | None = None  # attach: since when the line force is near the pretension


def _command_for(step: Step, state: str) -> Command | None:
    """The command that starts this step from the rig's state, or None: not possible yet."""
    if step.do == "walk":
        return {"ready": Start(step.speed_mps), "walking": SetSpeed(step.speed_mps)}.get(state)
    states, command = {"attach": (("idle",), Attach()), "pause": (("walking",), Pause()),
                       "unload": (("attached", "ready", "walking"), SetUnloading(step.percent / 100.0)),
                       "resume": (("paused",), Resume()), "stop": (("walking", "paused"), Stop()),
                       "detach": (("ready", "attached"), Detach())}[step.do]
    return command if state in states else None


def _steady_target(snap: Snapshot, p: _Progress) -> bool:
    return p.last_target_n is not None and abs(snap.harness_target_n - p.last_target_n) < STEADY_TARGET_N


def _near_pretension(snap: Snapshot, p: _Progress) -> bool:
    """Attached, the target ramp done and the line force near it: the machine will take an unload.
    (The snapshot does not say "pretensioned"; this asks a little more than the machine does.)"""
    force, target = snap.line_force_n, snap.harness_target_n
    return (snap.state == "attached" and force is not None and target > 0.0 and _steady_target(snap, p)
            and abs(force - target) <= PRETENSION_TOLERANCE * target)


def _arrived(step: Step, snap: Snapshot, p: _Progress) -> bool:
    """Whether the rig is where the step takes it."""
    speed, state = snap.belt_speed_mps, snap.state
    at = speed is not None and abs(speed - step.speed_mps) <= REACHED_TOLERANCE_MPS
    if step.do == "unload":
        return state in ("ready", "walking") and _steady_target(snap, p)
    settled = p.near_since_s is not None and snap.t_s - p.near_since_s >= PRETENSION_SETTLE_S - 1e-9
    return {"attach": state in ("unloading", "ready") or settled, "walk": state == "walking" and at,
            "pause": state == "paused" and at, "resume": state == "walking" and at,
            "stop": state in ("ready", "attached", "idle"), "detach": state == "idle"}[step.do]


def _start_capped(step: Step, snap: Snapshot) -> bool:
    """Walking at a set-point short of the step's speed (a start or resume from rest is capped)."""
    speed, setpoint = snap.belt_speed_mps, snap.setpoint_mps
    return (snap.state == "walking" and speed is not None and abs(setpoint - step.speed_mps) > 1e-6
            and abs(speed - setpoint) <= REACHED_TOLERANCE_MPS)


def _fault_reason(snap: Snapshot) -> str:
    if snap.state == "estop":
        return "the e-stop chain opened (e-stop pressed or safety key pulled)"
    if snap.state in ("fault_stop", "faulted"):
        codes = ", ".join(f"{f.code} ({f.detail})" if f.detail else str(f.code) for f in snap.faults)
        return f"the rig stopped for a fault: {codes or 'unknown'}"
    return ""


class ScriptRunner:
    """Turns script steps into operator commands, one tick at a time (see the module docstring)."""

    def __init__(self, steps: list[Step]):
        self.steps = steps
        self.index = 0
        self.failure = ""
        self._progress: _Progress | None = None

    @property
    def done(self) -> bool:
        return self.index >= len(self.steps) or bool(self.failure)

    @property
    def current(self) -> Step | None:
        return None if self.done else self.steps[self.index]

    def poll(self, snap: Snapshot) -> list[Command]:
        """Read this tick's snapshot; return the commands to submit (often none). A step that
        ends on this snapshot hands it on to the next one, so no tick is lost between steps."""
        commands: list[Command] = []
        while not commands and self.current is not None:
            index = self.index
            commands = self._poll_step(self.current, snap)
            if self.index == index:
                break
        return commands

    def _poll_step(self, step: Step, snap: Snapshot) -> list[Command]:
        p = self._progress = self._progress or _Progress(snap.t_s)
        reason = _fault_reason(snap) or self._refusal(snap, p)
        if not reason:
            commands = self._advance(step, snap, p)
            reason = self._timeout(step, snap, p)
        if reason:
            self.failure = f"script stopped at step {step.number} ({step.describe()}): {reason}"
            return []
        return commands

    def _refusal(self, snap: Snapshot, p: _Progress) -> str:
        """The rig's refusal of the command sent last tick. A refused Start or Resume is asked
        again (its guards, e.g. "support held steady", often hold a moment later) until the
        step times out; any other refusal ends the script at once."""
        if p.sent_s is None or p.checked:
            return ""
        p.checked = True  # the command was applied in the tick that made this snapshot
        if snap.message and isinstance(p.sent, (Start, Resume)):
            p.sent_s, p.sent, p.refused, p.retry_s = None, None, snap.message, snap.t_s + RETRY_S
            return ""
        return f"the rig refused: {snap.message}" if snap.message else ""

    def _advance(self, step: Step, snap: Snapshot, p: _Progress) -> list[Command]:
        """Send the step's command when the rig can take it; a step whose command the rig's
        state makes needless (attach when attached, stop when ready) just checks arrival."""
        command = self._command(step, snap, p)
        if command is not None:
            p.sent_s, p.sent, p.checked = snap.t_s, command, False
        elif p.arrived_s is None and _arrived(step, snap, p):
            p.arrived_s = snap.t_s
        near = _near_pretension(snap, p)
        p.near_since_s = (p.near_since_s if p.near_since_s is not None else snap.t_s) if near else None
        on_fraction = step.do != "unload" or abs(snap.unloading_fraction - step.percent / 100) < 1e-6
        p.last_target_n = snap.harness_target_n if on_fraction else None  # steady at the new fraction
        commands: list[Command] = [command] if command is not None else []
        if p.arrived_s is not None and snap.t_s - p.arrived_s >= step.hold_s - 1e-9:
            self.index, self._progress = self.index + 1, None
        return commands

    @staticmethod
    def _command(step: Step, snap: Snapshot, p: _Progress) -> Command | None:
        if p.arrived_s is not None:
            return None
        if p.sent_s is None:
            return _command_for(step, snap.state) if snap.t_s >= p.retry_s else None
        if step.do in ("walk", "resume") and not p.asked_again and _start_capped(step, snap):
            p.asked_again = True  # the supervisor starts at most at its start speed, then goes on
            return SetSpeed(step.speed_mps)
        return None

    def _timeout(self, step: Step, snap: Snapshot, p: _Progress) -> str:
        if p.arrived_s is not None or snap.t_s - p.started_s <= step.timeout_s:
            return ""
        if p.refused:
            return f"not done within {step.timeout_s:g} s, the rig refused: {p.refused}"
        if p.sent_s is None:
            return f"the rig was not ready for it within {step.timeout_s:g} s (it is {snap.state})"
        return f"{_WAITING[step.do]} within {step.timeout_s:g} s (the rig is {snap.state})"
