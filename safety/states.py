"""The rig's safety state machine (DESIGN.md section 5), built on `transitions`.

What it does: holds the rig's state (`STATES`), steps it once per supervisor tick from a frozen
`MachineInputs` (`RigMachine.update`), runs the operator's commands through named guards and
answers each with "" (done) or a plain-language refusal, latches every fault condition it is
given, and derives what the supervisor must obey: `belt_may_move`, `belt_stop`, `harness_mode`.

Rules kept here: only `walking` may move the belt; an open e-stop chain means `estop` from any
state; a latched STOP or FAST_STOP fault means `fault_stop`, then `faulted` once the belt rests;
`faulted` and `estop` are left only by an acknowledge made while no fault holds and the chain is
closed (a released e-stop alone re-arms nothing); an exception in any callback latches fault 603
and sends the machine to `fault_stop` (to `estop` if the chain is open). Beyond the contract: an
acknowledge before the self-test ever passed returns to `selftest` (unless the patient is on the
line: `unloading`), and start / resume also need the self-test to have passed.

How `transitions` is used: `auto_transitions=False`, `queued=True`, guards as `conditions=`, on a
private model object, so no trigger method (which would skip the refusal messages) is reachable
from outside. Ticks and commands come from different threads (supervisor, panel): every entry
point (`update`, each command) holds one re-entrant lock for its whole run, state check, trigger
and read-back together. That is what `LockedMachine` would give per trigger, without its cost
(it wraps every attribute access: ~150 us per transition against ~22 us here). Queued triggers
always return True, so a trigger's result is never trusted: commands read the state after.

Not here: deciding what is a fault (safety/interlocks, drivers), the fault texts
(safety/faults.py), computing or writing commands (supervisor, controllers), any I/O.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from transitions import Machine

from safety.faults import CATALOGUE, Severity
from safety.latch import ActiveFault, FaultLatch

log = logging.getLogger(__name__)

STATES = ("boot", "selftest", "idle", "attached", "unloading", "ready", "walking", "paused",
          "stopping", "detaching", "fault_stop", "faulted", "estop")
FAULT_STATES = ("fault_stop", "faulted", "estop")
LATCHED_STATES = ("faulted", "estop")
SUPPORTING_STATES = ("unloading", "ready", "walking", "paused", "stopping")  # support at its target

INTERNAL_ERROR = 603
SELFTEST_FAILED = 605
ESTOP_PRESSED = 701
SAFETY_KEY_REMOVED = 702

_HARNESS_MODES = {"boot": "slack", "selftest": "slack", "idle": "slack", "attached": "pretension",
                  "unloading": "track", "ready": "track", "walking": "track", "paused": "track",
                  "stopping": "track", "detaching": "release", "fault_stop": "hold",
                  "faulted": "hold", "estop": "hold"}

# Operator commands: trigger -> (states it may start from, states it leads to, words for refusals)
_COMMANDS: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    "attach": (("idle",), ("attached",), "attach the harness"),
    "unload": (("attached",), ("unloading",), "start unloading"),
    "start": (("ready",), ("walking",), "start the belt"),
    "pause": (("walking",), ("paused",), "pause"),
    "resume": (("paused",), ("walking",), "resume walking"),
    "stop": (("walking", "paused"), ("stopping",), "stop the session"),
    "detach": (("ready", "attached"), ("detaching",), "release the harness"),
    "acknowledge": (LATCHED_STATES, ("unloading", "selftest", "idle"), "acknowledge"),
}


@dataclass(frozen=True)
class MachineInputs:
    """Everything the machine reads, built by the supervisor every tick."""

    t_s: float
    conditions: Mapping[int, str]  # faults holding right now (code -> detail)
    chain_open: bool  # e-stop chain open or safety key pulled (hardware removed torque)
    harness_attached: bool  # safety I/O input
    harness_loaded: bool  # line force above the attach pretension
    pretensioned: bool  # line force has reached the attach pretension
    unloading_on_target: bool  # target ramp finished and force within tolerance
    belt_at_rest: bool
    line_slack: bool  # detach finished: line force back near zero
    selftest: str  # "running" | "passed" | anything else = failed, with the reason


@dataclass(frozen=True)
class StateChange:
    """One change of state, for logs and the panel."""

    t_s: float
    source: str
    dest: str
    event: str


class _Model:
    """The object `transitions` drives: only its `state` and its (private) triggers."""

    state: str


def is_severe(code: int) -> bool:
    """Whether a latched fault stops the rig (STOP or FAST_STOP); unknown codes count as severe."""
    entry = CATALOGUE.get(code)
    return entry is None or entry.severity is not Severity.ALARM


def describe(code: int, detail: str) -> str:
    """A fault in the therapist's words: the catalogue message, or the detail if unknown."""
    entry = CATALOGUE.get(code)
    return f"{entry.message} (fault {code})" if entry else f"Fault {code}: {detail}"


class RigMachine:
    """The rig's state, its guarded transitions and the outputs the supervisor obeys."""

    def __init__(self, clock: Callable[[], float],
                 on_change: Callable[[StateChange], None] | None = None) -> None:
        self._clock = clock
        self._on_change = on_change
        self._lock = threading.RLock()
        self._busy = False
        self._refusal = ""
        self._selftest_passed = False
        self._supported_at_trip = False  # the patient was on the line when the rig tripped
        self.latch = FaultLatch()
        self.last_inputs: MachineInputs | None = None
        self.last_change: StateChange | None = None
        self._model = _Model()
        self._machine = Machine(
            model=self._model, states=list(STATES), initial="boot", auto_transitions=False,
            queued=True, send_event=True, on_exception=self._on_exception,
            after_state_change=self._record_change)
        self._add_transitions()

    # --- transitions ------------------------------------------------------------------------
    def _add_transitions(self) -> None:
        add = self._machine.add_transition
        walk_guards = [self._confirmed, self._chain_closed, self._harness_attached,
                       self._on_target, self._no_condition, self._nothing_latched,
                       self._selftest_done]
        ack_guards = [self._chain_closed, self._no_condition]
        add("attach", "idle", "attached", conditions=[self._harness_attached])
        add("unload", "attached", "unloading", conditions=[self._pretensioned])
        add("start", "ready", "walking", conditions=walk_guards)
        add("pause", "walking", "paused")
        add("resume", "paused", "walking", conditions=walk_guards)
        add("stop", ["walking", "paused"], "stopping")
        add("detach", ["ready", "attached"], "detaching")
        for dest, route in (("unloading", [self._patient_on_line]), ("selftest", [self._never_passed]),
                            ("idle", [])):
            add("acknowledge", list(LATCHED_STATES), dest, conditions=ack_guards + route,
                before=self._clear_latch)
        add("booted", "boot", "selftest")
        add("selftest_passed", "selftest", "idle", after=self._remember_selftest)
        add("on_target", "unloading", "ready")
        add("belt_stopped", "stopping", "ready")
        add("belt_stopped", "fault_stop", "faulted")
        add("line_slackened", "detaching", "idle")
        add("fault", [s for s in STATES if s not in FAULT_STATES], "fault_stop")
        add("estop", [s for s in STATES if s != "estop"], "estop")

    # --- the tick ---------------------------------------------------------------------------
    def update(self, inputs: MachineInputs) -> None:
        """Keep the inputs, latch every condition, then take at most one step (see module doc)."""
        with self._lock:
            self._busy = True
            try:
                self.last_inputs = inputs
                self._latch(dict(inputs.conditions))
                self._step(inputs)
            except Exception as error:  # anything unexpected must stop the rig, not the loop
                self._internal_error(error)
            finally:
                self._busy = False

    def _step(self, inputs: MachineInputs) -> None:
        if inputs.chain_open:
            self._latch_estop()
            if self.state != "estop":
                self._trigger("estop")
        elif self.severe_latched and self.state not in FAULT_STATES:
            self._trigger("fault")
        else:
            self._progress(inputs)

    def _progress(self, inputs: MachineInputs) -> None:
        state = self.state
        if state == "boot":
            self._trigger("booted")
        elif state == "selftest":
            self._check_selftest(inputs.selftest)
        elif state == "unloading" and inputs.unloading_on_target:
            self._trigger("on_target")
        elif state in ("stopping", "fault_stop") and inputs.belt_at_rest:
            self._trigger("belt_stopped")
        elif state == "detaching" and inputs.line_slack:
            self._trigger("line_slackened")

    def _check_selftest(self, result: str) -> None:
        if result == "passed":
            self._trigger("selftest_passed")
        elif result != "running":
            self._latch({SELFTEST_FAILED: f"self-test failed: {result}"})
            self._trigger("fault")

    def _latch_estop(self) -> None:
        if ESTOP_PRESSED not in self.latch.active and SAFETY_KEY_REMOVED not in self.latch.active:
            self._latch({ESTOP_PRESSED: "the e-stop chain is open (an e-stop is pressed or "
                                        "the safety key is out)"})

    def _latch(self, conditions: dict[int, str]) -> None:
        for new in self.latch.update(conditions, self._now()):
            log.error("fault %d latched: %s", new.code, new.detail)

    def _now(self) -> float:
        try:
            return self._clock()
        except Exception:  # a broken clock must not stop the latch: use the tick's own time
            log.exception("the clock failed")
            return self.last_inputs.t_s if self.last_inputs else 0.0

    def _trigger(self, event: str, **kwargs: Any) -> None:
        self._machine.events[event].trigger(self._model, **kwargs)

    # --- operator commands ------------------------------------------------------------------
    def attach(self) -> str:
        """idle -> attached, once the harness is clipped on."""
        return self._command("attach")

    def unload(self) -> str:
        """attached -> unloading, once the line is pretensioned."""
        return self._command("unload")

    def start(self, confirmed: bool) -> str:
        """ready -> walking, only with every walking guard met."""
        return self._command("start", confirmed=confirmed)

    def pause(self) -> str:
        """walking -> paused (the belt stops at its normal deceleration)."""
        return self._command("pause")

    def resume(self, confirmed: bool) -> str:
        """paused -> walking, with the same guards as start."""
        return self._command("resume", confirmed=confirmed)

    def stop(self) -> str:
        """walking | paused -> stopping (the session ends; ready once the belt rests)."""
        return self._command("stop")

    def detach(self) -> str:
        """ready | attached -> detaching (the harness force ramps down to slack)."""
        return self._command("detach")

    def acknowledge(self) -> str:
        """faulted | estop -> unloading (patient on the line), selftest (never passed) or idle;
        in any other state, clears the latched warnings (ALARMs) whose cause is gone."""
        with self._lock:
            if self.state in LATCHED_STATES or self._busy:
                return self._command("acknowledge")
            return self._acknowledge_alarms()

    def _command(self, event: str, **kwargs: Any) -> str:
        with self._lock:
            sources, dests, words = _COMMANDS[event]
            if self._busy:
                return f"Cannot {words} now: the rig is busy changing state. Try again."
            if self.state not in sources:
                return self._wrong_state(words, sources)
            self._refusal = ""
            self._busy = True
            try:
                self._trigger(event, **kwargs)
            finally:
                self._busy = False
            return self._outcome(words, dests)

    def _outcome(self, words: str, dests: tuple[str, ...]) -> str:
        if self.state in dests:
            return ""
        if self._refusal:
            return f"Cannot {words}: {self._refusal}"
        return f"Cannot {words}: the rig went to '{self.state}' instead."

    def _wrong_state(self, words: str, sources: tuple[str, ...]) -> str:
        allowed = " or ".join(f"'{s}'" for s in sources)
        return f"Cannot {words} while the rig is in '{self.state}'; this is only possible in {allowed}."

    def _acknowledge_alarms(self) -> str:
        holding = self.last_inputs.conditions if self.last_inputs else {}
        alarms = [f for f in self.latch.active.values() if not is_severe(f.code)]
        for alarm in alarms:
            if alarm.code not in holding:
                del self.latch.active[alarm.code]
        still = [describe(a.code, a.detail) for a in alarms if a.code in holding]
        if still:
            return "This warning is still present, so it cannot be cleared yet: " + " ".join(still)
        if self.state == "fault_stop":
            return "Cannot acknowledge while the belt is still stopping after a fault; wait until it stands still."
        return "" if alarms else f"There is nothing to acknowledge in '{self.state}'."

    # --- guards (each records why it failed; the first failure is the refusal) ---------------
    def _refuse(self, reason: str) -> bool:
        if not self._refusal:
            self._refusal = reason
        return False

    def _inputs(self) -> MachineInputs:
        if self.last_inputs is None:
            raise RuntimeError("a guard ran before the first update")
        return self.last_inputs

    def _confirmed(self, event: Any) -> bool:
        return event.kwargs.get("confirmed") is True or self._refuse(
            "the therapist has not confirmed that the patient is ready.")

    def _chain_closed(self, _event: Any) -> bool:
        return not self._inputs().chain_open or self._refuse(
            "an e-stop is pressed or the safety key is out. Release the e-stop and insert the key.")

    def _harness_attached(self, _event: Any) -> bool:
        return self._inputs().harness_attached or self._refuse(
            "the harness is not attached to the line (the harness sensor does not see it).")

    def _pretensioned(self, _event: Any) -> bool:
        return self._inputs().pretensioned or self._refuse(
            "the harness line is not taut yet; wait until it reaches its pretension.")

    def _on_target(self, _event: Any) -> bool:
        return self._inputs().unloading_on_target or self._refuse(
            "the harness has not yet reached the set body-weight support and held it steady.")

    def _no_condition(self, _event: Any) -> bool:
        holding = self._inputs().conditions
        return not holding or self._refuse(
            "a fault is still present: " + " ".join(describe(c, d) for c, d in sorted(holding.items())))

    def _nothing_latched(self, _event: Any) -> bool:
        latched = sorted(self.latch.active.values(), key=lambda f: f.code)
        return not latched or self._refuse(
            "a warning or fault has not been acknowledged yet: "
            + " ".join(describe(f.code, f.detail) for f in latched) + " Press Acknowledge first.")

    def _selftest_done(self, _event: Any) -> bool:
        return self._selftest_passed or self._refuse(
            "the rig's self-test has not passed since the rig started. Restart the rig.")

    # routing conditions of acknowledge: they choose the destination and refuse nothing
    def _patient_on_line(self, _event: Any) -> bool:
        """Supported when the rig tripped, or the line is loaded now: the support comes back.

        A patient who stood up tall while the brake held may leave the line slack for a moment;
        that must not send the rig to idle (slack line) with the patient still clipped on."""
        return self._supported_at_trip or self._inputs().harness_loaded

    def _never_passed(self, _event: Any) -> bool:
        return not self._selftest_passed

    # --- callbacks --------------------------------------------------------------------------
    def _clear_latch(self, _event: Any) -> None:
        if not self.latch.acknowledge(dict(self._inputs().conditions)):
            raise RuntimeError("the fault latch refused an acknowledge its guards allowed")

    def _remember_selftest(self, _event: Any) -> None:
        self._selftest_passed = True

    def _record_change(self, event: Any) -> None:
        change = StateChange(self._now(), event.transition.source, event.transition.dest,
                             event.event.name)
        self.last_change = change
        if change.dest in FAULT_STATES and change.source not in FAULT_STATES:
            self._supported_at_trip = change.source in SUPPORTING_STATES
        elif change.source in LATCHED_STATES and change.dest not in FAULT_STATES:
            self._supported_at_trip = False
        log.info("state %s -> %s (%s)", change.source, change.dest, change.event)
        if self._on_change is not None:
            self._on_change(change)

    def _on_exception(self, event: Any) -> None:
        self._internal_error(event.error)

    def _internal_error(self, error: BaseException) -> None:
        log.error("internal error in the state machine", exc_info=error)
        self._latch({INTERNAL_ERROR: f"{type(error).__name__}: {error}"})
        source = self.state
        chain_open = self.last_inputs is not None and self.last_inputs.chain_open
        dest = "estop" if chain_open or source == "estop" else "fault_stop"
        self._machine.set_state(dest, model=self._model)
        self.last_change = StateChange(self._now(), source, dest, "internal_error")
        self._notify_quietly(self.last_change)

    def _notify_quietly(self, change: StateChange) -> None:
        if self._on_change is None:
            return
        try:
            self._on_change(change)
        except Exception:  # already handling an error: log it, never recurse
            log.exception("on_change failed while reporting an internal error")

    # --- outputs the supervisor obeys -------------------------------------------------------
    @property
    def state(self) -> str:
        return self._model.state

    @property
    def severe_latched(self) -> bool:
        """Whether a STOP or FAST_STOP fault is latched."""
        return any(is_severe(code) for code in self.latch.active)

    @property
    def faults(self) -> tuple[ActiveFault, ...]:
        """The latched faults, oldest first."""
        return tuple(sorted(self.latch.active.values(), key=lambda f: (f.raised_at_s, f.code)))

    @property
    def belt_may_move(self) -> bool:
        return self.state == "walking"

    @property
    def belt_stop(self) -> str:
        state = self.state
        if state == "walking":
            return "none"
        if state == "estop" or (state == "fault_stop" and self._fast_stop_latched()):
            return "fast"
        if state in ("paused", "stopping", "fault_stop"):
            return "normal"
        return "hold_zero"

    def _fast_stop_latched(self) -> bool:
        return any(CATALOGUE.get(code) is None or CATALOGUE[code].severity is Severity.FAST_STOP
                   for code in self.latch.active)

    @property
    def harness_mode(self) -> str:
        return _HARNESS_MODES[self.state]
