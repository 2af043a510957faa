"""Random sequences of operator commands, input changes and ticks against the safety machine.

A hypothesis `RuleBasedStateMachine` drives one `RigMachine` with: every operator command
(start and resume with confirmed True and False), toggles of every input, self-test results,
fault conditions added and removed (any catalogue code, plus an unknown one), changes of the
unloading set-point, and `tick` (update). After every step it checks:

- the belt may move, and is not told to stop, only in `walking`;
- after a tick with the chain open, the state is `estop`;
- the only way out of `faulted` / `estop` is an acknowledge that answered "" while no condition
  held and the chain was closed, and it lands where the contract says;
- whenever a STOP / FAST_STOP fault is latched the harness holds, and a simulated harness force
  target that follows the machine's `harness_mode` never decreases during any fault;
- a command answers "" exactly when it made its transition, and walking starts only when every
  guard held.

Examples: `RIG_STATEFUL_EXAMPLES` sequences of up to 50 steps each, default 500 (about 8 s of
CPU). The must-show run of 10,000 sequences is

    RIG_STATEFUL_EXAMPLES=10000 pytest -q tests/test_states_stateful.py --hypothesis-show-statistics

which took 170 s of CPU (347 s wall on the shared 2-core machine): too slow for every run.
The statistics list how many sequences reached each state (`event`s below).
"""
from __future__ import annotations

import os
from dataclasses import fields

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from safety.faults import CATALOGUE
from safety.states import FAULT_STATES, LATCHED_STATES, MachineInputs, RigMachine, StateChange, is_severe

EXAMPLES = int(os.environ.get("RIG_STATEFUL_EXAMPLES", "500"))
CODES = sorted(set(CATALOGUE) | {999})  # 999: a code the catalogue does not know
FLAGS = [f.name for f in fields(MachineInputs) if f.type == "bool"]
TICK_S = 0.005
PRETENSION_N = 50.0
RAMP_N = 20.0  # per tick, for the simulated harness target

# Rules are grouped (inputs / commands / ticks) and every rule ticks 0-3 times after acting:
# hypothesis disables a random subset of rules per example (swarm testing), and with one rule per
# input and per command plus a lone `tick` rule, over half the sequences never ticked at all.
TICKS = st.integers(0, 3)
INPUT_CHANGES = st.one_of(
    st.tuples(st.just("toggle"), st.sampled_from(FLAGS)),
    st.tuples(st.just("selftest"), st.sampled_from(["running", "passed", "winch did not enable"])),
    st.tuples(st.just("add"), st.sampled_from(CODES)),
    st.tuples(st.just("remove"), st.integers(0, 7)),  # the n-th holding condition
    st.tuples(st.just("clear"), st.none()),
    st.tuples(st.just("setpoint"), st.sampled_from([0.0, 150.0, 300.0, 450.0])),
)
COMMANDS = [("attach",), ("unload",), ("start", "confirmed"), ("start", "unconfirmed"), ("pause",),
            ("resume", "confirmed"), ("resume", "unconfirmed"), ("stop",), ("detach",),
            ("acknowledge",)]
# What a therapist would do next in each state: without it few sequences got as far as walking.
NEXT = {"idle": [("attach",)], "attached": [("unload",), ("detach",)],
        "ready": [("start", "confirmed"), ("detach",)], "walking": [("pause",), ("stop",)],
        "paused": [("resume", "confirmed"), ("stop",)], "faulted": [("acknowledge",)],
        "estop": [("acknowledge",)]}
TO = {"attach": "attached", "unload": "unloading", "pause": "paused", "stop": "stopping",
      "detach": "detaching"}


def next_harness_target(mode: str, target_n: float, setpoint_n: float) -> float:
    """What a harness controller obeying the machine would aim for next (never pays out on hold)."""
    if mode == "hold":
        return target_n
    goal = {"slack": 0.0, "pretension": PRETENSION_N, "track": setpoint_n, "release": 0.0}[mode]
    return target_n + max(-RAMP_N, min(RAMP_N, goal - target_n))


class RigSequences(RuleBasedStateMachine):
    """One machine, one set of pending inputs, and a model of what must hold."""

    def __init__(self) -> None:
        super().__init__()
        self.now_s = 0.0
        self.m = RigMachine(lambda: self.now_s, self.on_change)
        self.supported_at_trip = False  # the model's own record: was the patient on the line?
        self.flags = {name: False for name in FLAGS}
        self.flags.update(harness_attached=True, pretensioned=True, unloading_on_target=True,
                          belt_at_rest=True, line_slack=True)
        self.conditions: dict[int, str] = {}
        self.selftest = "passed"
        self.setpoint_n = 300.0
        self.target_n = 0.0
        self.selftest_passed = False
        self.prev_state = self.m.state
        self.healthy_ack = False

    # --- inputs ---------------------------------------------------------------------------
    @rule(change=INPUT_CHANGES, then_ticks=TICKS)
    def change_input(self, change: tuple[str, object], then_ticks: int) -> None:
        self.apply_input(change)
        self.tick(then_ticks)

    def apply_input(self, change: tuple[str, object]) -> None:
        what, value = change
        if what == "toggle":
            self.flags[str(value)] = not self.flags[str(value)]
        elif what == "selftest":
            self.selftest = str(value)
        elif what == "add":
            self.conditions[int(value)] = f"random cause {value}"  # type: ignore[call-overload]
        elif what == "remove":
            holding = sorted(self.conditions)
            if holding:
                del self.conditions[holding[int(value) % len(holding)]]  # type: ignore[call-overload]
        elif what == "clear":
            self.conditions.clear()
        else:
            self.setpoint_n = float(value)  # type: ignore[arg-type]

    @rule(pressed=st.booleans(), then_ticks=TICKS)
    def estop_button(self, pressed: bool, then_ticks: int) -> None:
        """The chain also has its own rule: as one toggle among many, estop was rarely left."""
        self.flags["chain_open"] = pressed
        self.tick(then_ticks)

    # --- the tick ---------------------------------------------------------------------------
    @rule(n=st.integers(1, 4))
    def tick(self, n: int) -> None:
        """Ticks alone (every other rule also ticks 0-3 times after acting)."""
        for _ in range(n):
            self.one_tick()

    def one_tick(self) -> None:
        self.now_s += TICK_S
        before = self.m.state
        self.m.update(MachineInputs(t_s=self.now_s, conditions=dict(self.conditions),
                                    selftest=self.selftest, **self.flags))
        if before == "selftest" and self.m.state == "idle":
            self.selftest_passed = True
        if self.flags["chain_open"]:
            assert self.m.state == "estop"
        if self.m.severe_latched:
            assert self.m.harness_mode == "hold"
        previous_n, self.target_n = self.target_n, next_harness_target(
            self.m.harness_mode, self.target_n, self.setpoint_n)
        if self.m.severe_latched or self.m.state in FAULT_STATES:
            assert self.target_n >= previous_n, "the harness paid out line during a fault"

    # --- operator commands ------------------------------------------------------------------
    @rule(command=st.sampled_from(COMMANDS), then_ticks=TICKS)
    def operator(self, command: tuple[str, ...], then_ticks: int) -> None:
        self.command(command)
        self.tick(then_ticks)

    @rule(pick=st.integers(0, 1), then_ticks=TICKS)
    def therapist(self, pick: int, then_ticks: int) -> None:
        options = NEXT.get(self.m.state)
        if options:
            self.command(options[pick % len(options)])
        self.tick(then_ticks)

    def command(self, command: tuple[str, ...]) -> None:
        name, before = command[0], self.m.state
        if name == "acknowledge":
            self.acknowledge(before)
        elif name in ("start", "resume"):
            self.walk(name, command[1] == "confirmed", before)
        else:
            self.expect(getattr(self.m, name)(), before, TO[name])

    def expect(self, answer: str, before: str, dest: str) -> None:
        """A command answers "" exactly when it made its transition; a refusal changes nothing."""
        assert isinstance(answer, str)
        if answer == "":
            assert self.m.state == dest and before != dest
        else:
            assert self.m.state == before

    def walk(self, name: str, confirmed: bool, before: str) -> None:
        guards_hold = self.walk_guards_hold(confirmed)
        answer = getattr(self.m, name)(confirmed)
        self.expect(answer, before, "walking")
        if answer == "":
            assert guards_hold

    def walk_guards_hold(self, confirmed: bool) -> bool:
        i = self.m.last_inputs
        return (confirmed and i is not None and not i.chain_open and i.harness_attached
                and i.unloading_on_target and not i.conditions and not self.m.latch.latched
                and self.selftest_passed)

    def acknowledge(self, before: str) -> None:
        i, latched = self.m.last_inputs, set(self.m.latch.active)
        holding = i.conditions if i is not None else {}
        healthy = i is not None and not holding and not i.chain_open
        answer = self.m.acknowledge()
        if before in LATCHED_STATES:
            self.expect(answer, before, self.ack_destination())
            self.healthy_ack = answer == "" and healthy
            return
        # elsewhere it clears exactly the latched alarms whose cause has gone
        assert self.m.state == before
        clearable = {c for c in latched if not is_severe(c) and c not in holding}
        assert set(self.m.latch.active) == latched - clearable

    def on_change(self, change: StateChange) -> None:
        if change.dest in FAULT_STATES and change.source not in FAULT_STATES:
            self.supported_at_trip = change.source in ("unloading", "ready", "walking", "paused", "stopping")

    def ack_destination(self) -> str:
        """Support comes back if the patient was supported at the trip or loads the line now."""
        i = self.m.last_inputs
        if self.supported_at_trip or (i is not None and i.harness_loaded):
            return "unloading"
        return "idle" if self.selftest_passed else "selftest"

    # --- invariants -------------------------------------------------------------------------
    @invariant()
    def count_coverage(self) -> None:  # `pytest --hypothesis-show-statistics` lists these
        event(f"reached {self.m.state}")
        if self.prev_state in LATCHED_STATES and self.m.state not in LATCHED_STATES:
            event(f"acknowledged out of {self.prev_state}")

    @invariant()
    def only_walking_moves_the_belt(self) -> None:
        walking = self.m.state == "walking"
        assert self.m.belt_may_move == walking
        assert (self.m.belt_stop == "none") == walking

    @invariant()
    def latched_states_are_left_only_by_a_healthy_acknowledge(self) -> None:
        if self.prev_state in LATCHED_STATES and self.m.state not in LATCHED_STATES:
            assert self.healthy_ack, f"left {self.prev_state} for {self.m.state} without acknowledge"
        self.prev_state, self.healthy_ack = self.m.state, False

    @invariant()
    def the_harness_holds_whenever_a_stop_fault_is_latched(self) -> None:
        if self.m.severe_latched:
            assert self.m.harness_mode == "hold"
            assert self.m.state in FAULT_STATES


RigSequences.TestCase.settings = settings(
    max_examples=EXAMPLES, stateful_step_count=50, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
TestRigSequences = RigSequences.TestCase
