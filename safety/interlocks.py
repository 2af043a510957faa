"""The interlocks: every fault condition visible in one tick's snapshot, as a pure function.

`evaluate(inputs, limits, memory) -> Verdict` takes the readings of one supervisor tick
(`InterlockInputs`), the rig's and the patient's limits (`InterlockLimits`) and the timers carried
from the previous tick (`InterlockMemory`), and returns every condition that holds now as
code -> plain-language detail (the measured value and the limit), with the memory for the next
tick. Nothing is mutated; the same arguments always give the same verdict.

Rules that hold for every interlock:
- A reading that is missing (None) or not a finite number while its device's link is up trips:
  safety I/O inputs -> 121, belt speed -> 303, harness state -> 402, winch position -> 404,
  load-cell forces -> 132. A link that is down trips its own comm-lost code.
- Comparisons are written so that NaN trips (`not value <= limit`), never passes.
- "For longer than a grace time" means held on every tick for at least grace_s (grace 0: at
  once); a condition that clears restarts its timer. Forces that swing with every step (deck Fz,
  harness line force) are judged on a low-passed value, so walking does not trip them.
- A loop time that is not finite or runs backwards is fault 603 and the timers do not advance.
- An exception inside is returned as fault 603: a bug here stops the rig, not the loop.

Not here: latching and acknowledging (safety/latch.py), the states and what a fault makes the rig
do (safety machine, supervisor), building the snapshot from drivers and config (supervisor),
fall detection (safety/fall.py: its verdict arrives as `fall`).
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Iterator, Mapping

from safety.faults import CATALOGUE

INTERNAL_ERROR = 603
COMM_LOST = {"belt": 101, "harness": 111, "safety_io": 121, "loadcell": 132}
DEVICE_NAMES = {"belt": "belt drive", "harness": "harness winch", "safety_io": "safety module",
                "loadcell": "load-cell box"}
CELL_NAMES = ("front-left", "front-right", "rear-left", "rear-right")
ON_DECK_STATES = frozenset({"ready", "walking", "paused"})  # the patient stands on the deck
LINE_LOADED_STATES = frozenset({"unloading", "ready", "walking", "paused", "stopping"})
FORCE_LOOP_STATES = frozenset({"ready", "walking", "paused", "stopping"})  # target reached
CIA402_STATES = frozenset({"not_ready_to_switch_on", "switch_on_disabled", "ready_to_switch_on",
                           "switched_on", "operation_enabled", "quick_stop_active",
                           "fault_reaction_active", "fault"})
CIA402_FAULT_STATES = frozenset({"fault_reaction_active", "fault"})
NOT_STOPPING_ACTIONS = ("alarm", "increase_unloading")  # any other weight-bearing action stops
TIME_EPS_S = 1e-9  # a grace of 0.1 s is over at t0 + 20 x 0.005 s, whatever the float rounding


@dataclass(frozen=True)
class DeviceLink:
    """One device's link, as the drivers report it."""

    fault: tuple[int, str] | None  # the driver's current DeviceError (code, detail); None = fine
    age_s: float  # time since the last good answer (inf = never)


@dataclass(frozen=True)
class InterlockInputs:
    """Everything the interlocks look at, read once per supervisor tick."""

    t_s: float
    state: str  # safety machine state, e.g. "walking"
    links: Mapping[str, DeviceLink]  # "belt", "harness", "safety_io", "loadcell"
    estop_closed: bool | None  # safety I/O inputs; None = no valid reading yet
    key_present: bool | None
    harness_attached: bool | None
    belt_fault_code: int  # VFD fault register, 0 = none
    belt_speed_mps: float | None  # measured, signed (negative = reverse)
    belt_expected_mps: float  # what the drive should show after its own ramp
    harness_state: str | None  # CiA 402 state name; None = unknown
    harness_fault_code: int  # 603F
    line_force_n: float | None  # filtered harness line force
    harness_target_n: float  # current (ramped) force target
    winch_position_m: float | None
    deck_fz_n: float | None  # filtered sum of the four deck cells
    deck_cells_n: tuple[float, float, float, float] | None  # filtered FL, FR, RL, RR
    channel_faults: tuple[tuple[int, str], ...]  # the load-cell stream's own checks
    fall: str  # "" or the fall detector's detail
    overrun_streak: int  # consecutive loop overruns
    config_problems: tuple[str, ...]  # config / calibration problems found at start
    calibration_ok: bool
    selftest_problems: tuple[str, ...] = ()  # findings of the last self-test; () = passed


@dataclass(frozen=True)
class InterlockLimits:
    """The rig config's and the patient's prescription's limits (the supervisor maps them)."""

    body_weight_n: float
    rig_max_speed_mps: float
    patient_max_speed_mps: float
    reverse_max_speed_mps: float
    belt_speed_tolerance_mps: float
    belt_tracking_grace_s: float
    overspeed_margin_mps: float  # measured speed may exceed a limit by this before 305 / 306
    stale_after_s: Mapping[str, float]  # per device key; a missing key counts as stale
    harness_force_tolerance_n: float  # on the low-passed |line force - target|
    harness_tracking_grace_s: float
    harness_force_cap_n: float
    travel_min_m: float
    travel_max_m: float
    fz_tolerance_n: float  # on the low-passed |deck Fz - (body weight - line force)|
    fz_grace_s: float
    cell_disagree_n: float
    on_deck_min_n: float  # deck Fz below this while walking for on_deck_grace_s: 502
    on_deck_grace_s: float
    weight_bearing_limit_n: float  # prescription (low-passed deck Fz), inf = none
    weight_bearing_grace_s: float
    weight_bearing_action: str  # "alarm" | "increase_unloading" | "stop"
    weight_bearing_stop_after_s: float  # "stop": 504 this long after 503
    overrun_fault_count: int
    fz_mean_tau_s: float = 1.0  # low-pass time constant of deck Fz (205, 503): ~2 strides
    harness_error_tau_s: float = 1.0  # low-pass time constant of the line force error (408)
    cell_disagree_grace_s: float = 0.1
    detached_line_force_n: float = 50.0  # line force above this counts as loaded (411)


def _frozen(values: Mapping[str, float] | None = None) -> Mapping[str, float]:
    return MappingProxyType(dict(values or {}))


@dataclass(frozen=True)
class InterlockMemory:
    """Timers carried from tick to tick; start with `InterlockMemory()`."""

    last_t_s: float | None = None
    since_s: Mapping[str, float] = field(default_factory=_frozen)  # when a condition began
    means: Mapping[str, float] = field(default_factory=_frozen)  # low-passed values


@dataclass(frozen=True)
class Verdict:
    """The conditions that hold now (code -> detail) and the memory for the next tick."""

    conditions: Mapping[int, str]
    memory: InterlockMemory


class _Timers:
    """One evaluation's scratch: reads the old memory, collects the new one."""

    def __init__(self, memory: InterlockMemory, t_s: float):
        self.old, self.t_s = memory, t_s
        self.dt_s = None if memory.last_t_s is None else t_s - memory.last_t_s
        self.since: dict[str, float] = {}
        self.means: dict[str, float] = {}

    def held_s(self, key: str, active: bool) -> float | None:
        """How long `active` has held (0 on its first tick); None while it does not."""
        if not active:
            return None
        self.since[key] = self.old.since_s.get(key, self.t_s)
        return self.t_s - self.since[key]

    def mean(self, key: str, value: float, tau_s: float) -> float:
        """First-order low-pass of `value`; starts at `value` when it was not kept last tick."""
        old = self.old.means.get(key)
        if old is None or self.dt_s is None:
            self.means[key] = value
        else:
            alpha = 1.0 - math.exp(-self.dt_s / tau_s) if tau_s > 0 else 1.0
            self.means[key] = old + alpha * (value - old)
        return self.means[key]

    def memory(self) -> InterlockMemory:
        return InterlockMemory(self.t_s, _frozen(self.since), _frozen(self.means))


Check = Callable[[InterlockInputs, InterlockLimits, _Timers], Iterator[tuple[int, str]]]


# --- helpers ---------------------------------------------------------------------------------
def _finite(value: object) -> float | None:
    """The value as a float if it is a finite number, else None."""
    if type(value) is float:  # the common case, without the numbers.Real ABC check
        return value if math.isfinite(value) else None
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _over(value: float, limit: float) -> bool:
    """value above limit, or either not a number."""
    return not value <= limit


def _expired(held_s: float | None, grace_s: float) -> bool:
    return held_s is not None and not held_s < grace_s - TIME_EPS_S


def _link_up(i: InterlockInputs, k: InterlockLimits, key: str) -> bool:
    link = i.links.get(key)
    return link is not None and link.fault is None and link.age_s <= k.stale_after_s.get(key, math.nan)


def _age_text(age_s: float) -> str:
    if age_s == math.inf:
        return "has never answered"
    return f"has not answered for {age_s:.2f} s" if age_s == age_s else "has no valid answer time (nan)"


# --- devices and links -----------------------------------------------------------------------
def _links(i: InterlockInputs, k: InterlockLimits, _t: _Timers) -> Iterator[tuple[int, str]]:
    for key, lost in COMM_LOST.items():
        name, link = DEVICE_NAMES[key], i.links.get(key)
        if link is None:
            yield lost, f"the {name} has no link status"
            continue
        if link.fault is not None:
            yield link.fault[0], f"{name}: {link.fault[1]}"
        limit = k.stale_after_s.get(key, math.nan)
        if _over(link.age_s, limit):
            yield lost, f"the {name} {_age_text(link.age_s)} (limit {limit:.2f} s)"


def _missing_io(i: InterlockInputs, k: InterlockLimits, _t: _Timers) -> Iterator[tuple[int, str]]:
    if not _link_up(i, k, "safety_io"):
        return
    for name, value in (("e-stop chain", i.estop_closed), ("safety key", i.key_present),
                        ("harness attached", i.harness_attached)):
        if value is None:
            yield 121, f"the safety module answers but gave no {name} reading"


def _missing_drive_readings(i: InterlockInputs, k: InterlockLimits, _t: _Timers) -> Iterator[tuple[int, str]]:
    if _link_up(i, k, "belt") and _finite(i.belt_speed_mps) is None:
        yield 303, f"the belt drive answers but its speed reading is {i.belt_speed_mps}"
    if not _link_up(i, k, "harness"):
        return
    if i.harness_state is None:
        yield 402, "the harness winch answers but its state is unknown"
    if _finite(i.winch_position_m) is None:
        yield 404, f"the harness winch answers but its position reading is {i.winch_position_m}"


def _missing_forces(i: InterlockInputs, k: InterlockLimits, _t: _Timers) -> Iterator[tuple[int, str]]:
    if not _link_up(i, k, "loadcell"):
        return
    for name, value in (("harness line force", i.line_force_n), ("deck force", i.deck_fz_n)):
        if _finite(value) is None:
            yield 132, f"the load-cell box answers but its {name} reading is {value}"
    if _cells(i.deck_cells_n) is None:
        yield 132, f"the load-cell box answers but its deck cell readings are {i.deck_cells_n}"


def _cells(cells: object) -> tuple[float, ...] | None:
    """The four deck cells as finite floats, or None."""
    if not isinstance(cells, tuple) or len(cells) != len(CELL_NAMES):
        return None
    finite = tuple(_finite(c) for c in cells)
    return None if None in finite else finite  # type: ignore[return-value]


def _stream_and_system(i: InterlockInputs, k: InterlockLimits, _t: _Timers) -> Iterator[tuple[int, str]]:
    yield from i.channel_faults
    if i.fall:
        yield 501, i.fall
    if not i.overrun_streak < k.overrun_fault_count:
        yield 601, f"the loop overran {i.overrun_streak} times in a row (limit {k.overrun_fault_count})"
    if any(i.config_problems):
        yield 602, "; ".join(p for p in i.config_problems if p)
    if i.calibration_ok is not True:
        yield 604, "the load-cell calibration is missing or failed its checks"
    if any(i.selftest_problems):
        yield 605, "; ".join(p for p in i.selftest_problems if p)
    for name, value in (("belt speed", i.belt_expected_mps), ("harness force", i.harness_target_n)):
        if _finite(value) is None:
            yield INTERNAL_ERROR, f"the controller's own {name} target is {value}"


# --- operator and safety I/O -----------------------------------------------------------------
def _operator(i: InterlockInputs, k: InterlockLimits, _t: _Timers) -> Iterator[tuple[int, str]]:
    if i.estop_closed is False:
        yield 701, "the e-stop chain is open (a button is pressed or the safety relay dropped out)"
    if i.key_present is False:
        yield 702, "the safety key input reads 'key removed'"


def _harness_detached(i: InterlockInputs, k: InterlockLimits, _t: _Timers) -> Iterator[tuple[int, str]]:
    if i.harness_attached is not False:
        return
    if i.state in LINE_LOADED_STATES:
        yield 411, f"the harness attachment input reads 'detached' in state {i.state}, where the line carries the patient"
    elif i.line_force_n is not None and _over(i.line_force_n, k.detached_line_force_n):
        yield 411, (f"the harness attachment input reads 'detached' while the line carries "
                    f"{i.line_force_n:.0f} N (limit {k.detached_line_force_n:.0f} N)")


# --- belt ------------------------------------------------------------------------------------
def _belt_drive(i: InterlockInputs, k: InterlockLimits, _t: _Timers) -> Iterator[tuple[int, str]]:
    if i.belt_fault_code != 0:
        yield 301, f"the belt drive shows fault code {i.belt_fault_code}"


def _belt_tracking(i: InterlockInputs, k: InterlockLimits, t: _Timers) -> Iterator[tuple[int, str]]:
    speed, expected = _finite(i.belt_speed_mps), _finite(i.belt_expected_mps)
    if speed is None or expected is None:  # a missing speed or target trips on its own
        return
    error = abs(speed - expected)
    held = t.held_s("belt_tracking", _over(error, k.belt_speed_tolerance_mps))
    if _expired(held, k.belt_tracking_grace_s):
        yield 304, (f"belt speed {speed:.2f} m/s differs from the expected {expected:.2f} m/s "
                    f"by {error:.2f} m/s (tolerance {k.belt_speed_tolerance_mps:.2f} m/s) for "
                    f"{held:.2f} s (allowed {k.belt_tracking_grace_s:.2f} s)")


def _belt_overspeed(i: InterlockInputs, k: InterlockLimits, _t: _Timers) -> Iterator[tuple[int, str]]:
    speed = _finite(i.belt_speed_mps)
    if speed is None:
        return
    margin = k.overspeed_margin_mps
    forward = [f"{whose} {limit:.2f} m/s" for whose, limit in
               (("the patient's limit", k.patient_max_speed_mps), ("the rig's limit", k.rig_max_speed_mps))
               if _over(speed, limit + margin)]
    if forward:
        yield 305, f"belt speed {speed:.2f} m/s is above {' and '.join(forward)} (margin {margin:.2f} m/s)"
    reverse = [f"{whose} {limit:.2f} m/s" for whose, limit in
               (("the reverse limit", k.reverse_max_speed_mps), ("the rig's limit", k.rig_max_speed_mps))
               if _over(-speed, limit + margin)]
    if reverse:
        yield 306, f"belt runs backwards at {-speed:.2f} m/s, above {' and '.join(reverse)} (margin {margin:.2f} m/s)"


# --- harness ---------------------------------------------------------------------------------
def _harness_drive(i: InterlockInputs, k: InterlockLimits, _t: _Timers) -> Iterator[tuple[int, str]]:
    state = i.harness_state
    if state in CIA402_FAULT_STATES or i.harness_fault_code != 0:
        yield 401, f"the harness drive is in state '{state}' with error code 0x{i.harness_fault_code:04X}"
    if state is not None and state not in CIA402_STATES:
        yield 402, f"the harness drive reports a state '{state}' that CiA 402 does not have"


def _harness_force(i: InterlockInputs, k: InterlockLimits, t: _Timers) -> Iterator[tuple[int, str]]:
    line = _finite(i.line_force_n)
    if line is None:
        return
    if _over(line, k.harness_force_cap_n):
        yield 409, f"harness line force {line:.0f} N is above the cap {k.harness_force_cap_n:.0f} N"
    target = _finite(i.harness_target_n)
    if i.state not in FORCE_LOOP_STATES or target is None:
        return
    error = t.mean("harness_error", line - target, k.harness_error_tau_s)
    held = t.held_s("harness_tracking", _over(abs(error), k.harness_force_tolerance_n))
    if _expired(held, k.harness_tracking_grace_s):
        yield 408, (f"harness line force {line:.0f} N against a target of {target:.0f} N: "
                    f"{error:+.0f} N off on average (tolerance {k.harness_force_tolerance_n:.0f} N) for "
                    f"{held:.2f} s (allowed {k.harness_tracking_grace_s:.2f} s)")


def _winch_travel(i: InterlockInputs, k: InterlockLimits, _t: _Timers) -> Iterator[tuple[int, str]]:
    position = _finite(i.winch_position_m)
    if position is not None and not k.travel_min_m <= position <= k.travel_max_m:
        yield 410, (f"winch position {position:.3f} m is outside its travel "
                    f"{k.travel_min_m:.3f} to {k.travel_max_m:.3f} m")


# --- deck and patient ------------------------------------------------------------------------
def _deck_force(i: InterlockInputs, k: InterlockLimits, t: _Timers) -> Iterator[tuple[int, str]]:
    fz, line = _finite(i.deck_fz_n), _finite(i.line_force_n)
    if i.state not in ON_DECK_STATES or fz is None or line is None:
        return
    expected = k.body_weight_n - line
    error = t.mean("fz_error", fz - expected, k.fz_mean_tau_s)
    held = t.held_s("fz_implausible", _over(abs(error), k.fz_tolerance_n))
    if _expired(held, k.fz_grace_s):
        yield 205, (f"deck force is {error:+.0f} N off body weight {k.body_weight_n:.0f} N minus harness "
                    f"support on average (now {fz:.0f} N against {expected:.0f} N; tolerance "
                    f"{k.fz_tolerance_n:.0f} N) for {held:.2f} s (allowed {k.fz_grace_s:.2f} s)")


def _deck_cells(i: InterlockInputs, k: InterlockLimits, t: _Timers) -> Iterator[tuple[int, str]]:
    """A deck cell only takes load: one strongly negative, or one carrying more than the whole
    deck (the other three pulling up), cannot be a person on the deck."""
    cells = _cells(i.deck_cells_n)
    if cells is None:
        return
    total, limit = sum(cells), k.cell_disagree_n
    odd = []
    for name, force in zip(CELL_NAMES, cells):
        if _over(-force, limit):
            odd.append(f"the {name} cell reads {force:.0f} N (a cell may read down to -{limit:.0f} N)")
        elif _over(force - total, limit):
            odd.append(f"the {name} cell reads {force:.0f} N, more than the deck total {total:.0f} N "
                       f"by over {limit:.0f} N")
    held = t.held_s("cell_disagrees", bool(odd))
    if _expired(held, k.cell_disagree_grace_s):
        yield 206, f"{'; '.join(odd)} for {held:.2f} s (allowed {k.cell_disagree_grace_s:.2f} s)"


def _on_deck(i: InterlockInputs, k: InterlockLimits, t: _Timers) -> Iterator[tuple[int, str]]:
    fz = _finite(i.deck_fz_n)
    if i.state != "walking" or fz is None:
        return
    held = t.held_s("off_deck", not fz >= k.on_deck_min_n)
    if _expired(held, k.on_deck_grace_s):
        yield 502, (f"deck force {fz:.0f} N is below {k.on_deck_min_n:.0f} N while walking for "
                    f"{held:.2f} s (allowed {k.on_deck_grace_s:.2f} s)")


def _weight_bearing(i: InterlockInputs, k: InterlockLimits, t: _Timers) -> Iterator[tuple[int, str]]:
    fz = _finite(i.deck_fz_n)
    if i.state not in ON_DECK_STATES or fz is None:
        return
    mean = t.mean("fz", fz, k.fz_mean_tau_s)
    held = t.held_s("weight_bearing", _over(mean, k.weight_bearing_limit_n))
    if not _expired(held, k.weight_bearing_grace_s):
        return
    detail = (f"weight on the deck averages {mean:.0f} N, above the prescribed {k.weight_bearing_limit_n:.0f} N, "
              f"for {held:.2f} s (allowed {k.weight_bearing_grace_s:.2f} s)")
    yield 503, detail
    stop_at_s = k.weight_bearing_grace_s + k.weight_bearing_stop_after_s
    if k.weight_bearing_action not in NOT_STOPPING_ACTIONS and _expired(held, stop_at_s):
        yield 504, f"{detail}; the prescription stops the belt after {stop_at_s:.2f} s"


CHECKS: tuple[Check, ...] = (
    _links, _missing_io, _missing_drive_readings, _missing_forces, _stream_and_system, _operator, _harness_detached,
    _belt_drive, _belt_tracking, _belt_overspeed, _harness_drive, _harness_force, _winch_travel,
    _deck_force, _deck_cells, _on_deck, _weight_bearing,
)


# --- evaluation ------------------------------------------------------------------------------
def _add(conditions: dict[int, str], code: object, detail: str) -> None:
    if not isinstance(code, int) or code not in CATALOGUE:
        code, detail = INTERNAL_ERROR, f"unknown fault code {code!r}: {detail}"
    detail = str(detail) or f"{CATALOGUE[code].name} (no detail given)"
    if code not in conditions:
        conditions[code] = detail
    elif detail not in conditions[code]:
        conditions[code] = f"{conditions[code]}; {detail}"


def _tick_time(t_s: float, last_t_s: float | None) -> tuple[float, str]:
    """The time the timers use, and a problem if the loop's time cannot be trusted."""
    held = 0.0 if last_t_s is None else last_t_s
    if _finite(t_s) is None:
        return held, f"the loop time is {t_s}"
    if last_t_s is not None and t_s < last_t_s:
        return held, f"the loop time went back from {last_t_s:.3f} s to {t_s:.3f} s"
    return float(t_s), ""


def _run(check: Check, inputs: InterlockInputs, limits: InterlockLimits,
         timers: _Timers) -> list[tuple[int, str]]:
    """One check's conditions; an exception in it is fault 603 and the other checks still run."""
    try:
        return list(check(inputs, limits, timers))
    except Exception as exc:  # noqa: BLE001 - a bug here must stop the rig, not the loop
        return [(INTERNAL_ERROR, f"the interlock check {check.__name__.strip('_')} failed: "
                                 f"{type(exc).__name__}: {exc}")]


def _evaluate(inputs: InterlockInputs, limits: InterlockLimits, memory: InterlockMemory) -> Verdict:
    t_s, problem = _tick_time(inputs.t_s, memory.last_t_s)
    timers = _Timers(memory, t_s)
    conditions: dict[int, str] = {}
    if problem:
        _add(conditions, INTERNAL_ERROR, problem)
    for check in CHECKS:
        for code, detail in _run(check, inputs, limits, timers):
            _add(conditions, code, detail)
    return Verdict(conditions, timers.memory())


def evaluate(inputs: InterlockInputs, limits: InterlockLimits,
             memory: InterlockMemory = InterlockMemory()) -> Verdict:
    """Every condition that holds in this snapshot, and the memory for the next tick."""
    try:
        return _evaluate(inputs, limits, memory)
    except Exception as exc:  # noqa: BLE001 - a bug here must stop the rig, not the loop
        return Verdict({INTERNAL_ERROR: f"the interlock check failed: {type(exc).__name__}: {exc}"}, memory)
