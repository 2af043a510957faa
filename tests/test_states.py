"""The rig's safety state machine (safety/states.py): every transition, guard and refusal.

Each test drives a `RigMachine` along the legal path to a state, then acts (a tick with given
inputs, or an operator command) and asserts the state, the outputs and the answer.
"""
from __future__ import annotations

import threading
from dataclasses import replace
from typing import Callable

import pytest
from transitions import Machine

from safety.faults import CATALOGUE
from safety.states import FAULT_STATES, STATES, MachineInputs, RigMachine, StateChange

STOP_FAULT = 601  # loop_overrun: STOP
FAST_FAULT = 301  # belt_drive_fault: FAST_STOP
ALARM_FAULT = 134  # loadcell_samples_lost: ALARM

HEALTHY = MachineInputs(t_s=0.0, conditions={}, chain_open=False, harness_attached=True,
                        harness_loaded=False, pretensioned=True, unloading_on_target=True,
                        belt_at_rest=True, line_slack=False, selftest="passed")


def tick(m: RigMachine, **changes: object) -> None:
    m.update(replace(HEALTHY, **changes))


Step = Callable[[RigMachine], object]
PATHS: dict[str, list[Step]] = {"boot": []}
PATHS["selftest"] = [lambda m: tick(m, selftest="running")]
PATHS["idle"] = [tick, tick]
PATHS["attached"] = PATHS["idle"] + [lambda m: m.attach()]
PATHS["unloading"] = PATHS["attached"] + [lambda m: tick(m, unloading_on_target=False), lambda m: m.unload()]
PATHS["ready"] = PATHS["unloading"] + [tick]
PATHS["walking"] = PATHS["ready"] + [lambda m: m.start(True), lambda m: tick(m, belt_at_rest=False)]
PATHS["paused"] = PATHS["walking"] + [lambda m: m.pause()]
PATHS["stopping"] = PATHS["walking"] + [lambda m: m.stop()]
PATHS["detaching"] = PATHS["ready"] + [lambda m: m.detach()]
PATHS["fault_stop"] = PATHS["walking"] + [lambda m: tick(m, belt_at_rest=False, conditions={STOP_FAULT: "x"})]
PATHS["faulted"] = PATHS["fault_stop"] + [tick]
PATHS["estop"] = PATHS["idle"] + [lambda m: tick(m, chain_open=True), tick]


def drive_to(state: str, on_change: Callable[[StateChange], None] | None = None) -> RigMachine:
    m = RigMachine(lambda: 5.0, on_change)
    for step in PATHS[state]:
        assert step(m) in (None, "")
    assert m.state == state
    return m


@pytest.mark.parametrize("state", STATES)
def test_every_state_is_reachable_along_its_legal_path(state: str):
    assert drive_to(state).state == state


# --- transitions made by update ----------------------------------------------------------------

def test_boot_goes_to_selftest_at_the_first_update_and_waits_while_it_runs():
    m = RigMachine(lambda: 0.0)
    assert m.state == "boot"
    tick(m, selftest="running")
    assert m.state == "selftest"
    tick(m, selftest="running")
    assert m.state == "selftest"
    tick(m)
    assert m.state == "idle"


def test_failed_selftest_latches_605_with_the_reason_and_stops():
    m = drive_to("selftest")
    tick(m, selftest="harness winch did not enable")
    assert m.state == "fault_stop"
    assert "harness winch did not enable" in m.latch.active[605].detail


@pytest.mark.parametrize("state, changes, after", [
    ("unloading", {"unloading_on_target": True}, "ready"),
    ("stopping", {"belt_at_rest": True}, "ready"),
    ("fault_stop", {"belt_at_rest": True}, "faulted"),
    ("detaching", {"line_slack": True}, "idle"),
])
def test_progress_when_the_input_says_so(state: str, changes: dict, after: str):
    waiting = {key: not value for key, value in changes.items()}
    m = drive_to(state)
    tick(m, **waiting)
    assert m.state == state
    tick(m, **changes)
    assert m.state == after


RESTING = [s for s in STATES if s not in ("boot", "selftest", "unloading", "stopping", "fault_stop")]


@pytest.mark.parametrize("state", RESTING)
def test_a_tick_with_healthy_inputs_never_leaves_a_resting_state_by_itself(state: str):
    m = drive_to(state)
    tick(m, belt_at_rest=state != "walking")
    assert m.state == state


# --- operator commands ------------------------------------------------------------------------

@pytest.mark.parametrize("state, command, after", [
    ("idle", lambda m: m.attach(), "attached"),
    ("attached", lambda m: m.unload(), "unloading"),
    ("ready", lambda m: m.start(True), "walking"),
    ("walking", lambda m: m.pause(), "paused"),
    ("paused", lambda m: m.resume(True), "walking"),
    ("walking", lambda m: m.stop(), "stopping"),
    ("paused", lambda m: m.stop(), "stopping"),
    ("ready", lambda m: m.detach(), "detaching"),
    ("attached", lambda m: m.detach(), "detaching"),
    ("faulted", lambda m: m.acknowledge(), "unloading"),  # tripped while walking: support comes back
    ("estop", lambda m: m.acknowledge(), "idle"),
])
def test_each_command_makes_its_transition(state: str, command: Callable[[RigMachine], str], after: str):
    m = drive_to(state)
    assert command(m) == ""
    assert m.state == after
    assert m.last_change is not None and m.last_change.dest == after


@pytest.mark.parametrize("state", ["faulted", "estop"])
def test_acknowledge_with_the_patient_on_the_line_resumes_unloading(state: str):
    m = drive_to(state)
    tick(m, harness_loaded=True)
    assert m.acknowledge() == ""
    assert m.state == "unloading" and m.harness_mode == "track"
    assert not m.latch.latched


def test_acknowledge_after_a_trip_while_walking_restores_support_even_if_the_line_is_slack_now():
    m = drive_to("faulted")  # tripped while walking
    tick(m, harness_loaded=False)  # the patient stood up tall, the held line went slack
    assert m.acknowledge() == ""
    assert m.state == "unloading" and m.harness_mode == "track"


def test_acknowledge_after_a_trip_in_idle_returns_to_idle():
    m = drive_to("idle")
    tick(m, conditions={STOP_FAULT: "x"})
    tick(m)
    assert m.state == "faulted"
    assert m.acknowledge() == ""
    assert m.state == "idle"


def test_acknowledge_before_the_selftest_passed_returns_to_selftest():
    m = RigMachine(lambda: 0.0)
    tick(m, chain_open=True)
    tick(m, chain_open=True)
    assert m.state == "estop"
    tick(m, selftest="running")
    assert m.acknowledge() == ""
    assert m.state == "selftest"


COMMANDS: dict[str, tuple[Callable[[RigMachine], str], tuple[str, ...]]] = {
    "attach": (lambda m: m.attach(), ("idle",)),
    "unload": (lambda m: m.unload(), ("attached",)),
    "start": (lambda m: m.start(True), ("ready",)),
    "pause": (lambda m: m.pause(), ("walking",)),
    "resume": (lambda m: m.resume(True), ("paused",)),
    "stop": (lambda m: m.stop(), ("walking", "paused")),
    "detach": (lambda m: m.detach(), ("ready", "attached")),
}


@pytest.mark.parametrize("name, state", [(n, s) for n, (_, allowed) in COMMANDS.items()
                                         for s in STATES if s not in allowed])
def test_a_command_from_the_wrong_state_is_refused_naming_the_state(name: str, state: str):
    command, allowed = COMMANDS[name]
    m = drive_to(state)
    answer = command(m)
    assert f"in '{state}'" in answer and all(f"'{s}'" in answer for s in allowed)
    assert m.state == state


# --- guards -----------------------------------------------------------------------------------

def test_attach_refused_until_the_harness_is_attached():
    m = drive_to("idle")
    tick(m, harness_attached=False)
    assert "harness is not attached" in m.attach()
    assert m.state == "idle"


def test_unload_refused_until_the_line_is_pretensioned():
    m = drive_to("attached")
    tick(m, pretensioned=False, unloading_on_target=False)
    assert "not taut" in m.unload()
    assert m.state == "attached"


WALK_GUARD_FAILURES = [
    ({}, False, "has not confirmed"),
    ({"chain_open": True}, True, "e-stop is pressed"),  # set without a tick: see the test
    ({"harness_attached": False}, True, "harness is not attached"),
    ({"unloading_on_target": False}, True, "body-weight support"),
    ({"conditions": {ALARM_FAULT: "12 lost"}}, True, "fault is still present"),
]


@pytest.mark.parametrize("changes, confirmed, words", WALK_GUARD_FAILURES)
@pytest.mark.parametrize("state, command", [("ready", "start"), ("paused", "resume")])
def test_start_and_resume_refusals_name_the_failing_guard(changes: dict, confirmed: bool, words: str,
                                                          state: str, command: str):
    m = drive_to(state)
    # the guards read the latest inputs; setting them directly isolates one guard (a tick with
    # the chain open would go to estop, with a condition it would latch it)
    m.last_inputs = replace(HEALTHY, **changes)
    answer = getattr(m, command)(confirmed)
    assert words in answer, answer
    assert m.state == state


def test_a_holding_condition_is_named_in_the_therapists_words():
    m = drive_to("ready")
    m.last_inputs = replace(HEALTHY, conditions={ALARM_FAULT: "12 lost"})
    assert CATALOGUE[ALARM_FAULT].message in m.start(True)


@pytest.mark.parametrize("state, command", [("ready", "start"), ("paused", "resume")])
def test_a_latched_alarm_must_be_acknowledged_before_walking(state: str, command: str):
    m = drive_to(state)
    tick(m, conditions={ALARM_FAULT: "12 lost"}, belt_at_rest=True)
    tick(m)  # the cause has gone, but the alarm stays latched
    assert m.state == state
    assert "not been acknowledged" in getattr(m, command)(True)
    assert m.acknowledge() == ""
    assert getattr(m, command)(True) == ""
    assert m.state == "walking"


def test_start_refused_when_the_selftest_never_passed():
    m = RigMachine(lambda: 0.0)
    tick(m, chain_open=True)
    tick(m, harness_loaded=True)
    assert m.acknowledge() == ""  # the patient on the line comes first: unloading
    tick(m)
    assert m.state == "ready"
    assert "self-test has not passed" in m.start(True)


def test_the_first_failing_guard_is_the_one_named():
    m = drive_to("ready")
    m.last_inputs = replace(HEALTHY, harness_attached=False, unloading_on_target=False)
    answer = m.start(False)
    assert "confirmed" in answer and "harness" not in answer


# --- alarms -----------------------------------------------------------------------------------

def test_an_alarm_latches_but_stops_nothing():
    m = drive_to("walking")
    tick(m, conditions={ALARM_FAULT: "12 lost"}, belt_at_rest=False)
    assert m.state == "walking" and m.belt_may_move and ALARM_FAULT in m.latch.active


def test_acknowledge_clears_an_alarm_only_once_its_cause_is_gone():
    m = drive_to("walking")
    tick(m, conditions={ALARM_FAULT: "12 lost"}, belt_at_rest=False)
    assert "still present" in m.acknowledge()
    assert ALARM_FAULT in m.latch.active
    tick(m, belt_at_rest=False)
    assert m.acknowledge() == ""
    assert not m.latch.latched and m.state == "walking"


def test_acknowledge_with_nothing_latched_says_so():
    m = drive_to("ready")
    assert "nothing to acknowledge" in m.acknowledge()
    assert m.state == "ready"


def test_acknowledge_during_fault_stop_waits_for_the_belt():
    m = drive_to("fault_stop")
    tick(m, belt_at_rest=False)
    assert "still stopping" in m.acknowledge()
    assert m.state == "fault_stop" and STOP_FAULT in m.latch.active


# --- e-stop and fault stop --------------------------------------------------------------------

@pytest.mark.parametrize("state", STATES)
def test_an_open_chain_means_estop_from_every_state(state: str):
    m = drive_to(state)
    tick(m, chain_open=True, belt_at_rest=False)
    assert m.state == "estop"
    assert 701 in m.latch.active
    assert (m.belt_stop, m.harness_mode, m.belt_may_move) == ("fast", "hold", False)


def test_estop_keeps_the_better_code_the_interlocks_gave():
    m = drive_to("walking")
    tick(m, chain_open=True, conditions={702: "safety key out"})
    assert m.state == "estop"
    assert set(m.latch.active) == {702}


@pytest.mark.parametrize("code, belt_stop", [(STOP_FAULT, "normal"), (FAST_FAULT, "fast")])
@pytest.mark.parametrize("state", [s for s in STATES if s not in FAULT_STATES])
def test_a_severe_fault_means_fault_stop_from_every_other_state(state: str, code: int, belt_stop: str):
    m = drive_to(state)
    tick(m, conditions={code: "cause"}, belt_at_rest=False)
    assert m.state == "fault_stop"
    assert (m.belt_stop, m.harness_mode, m.belt_may_move) == (belt_stop, "hold", False)


@pytest.mark.parametrize("state", ["faulted", "estop"])
def test_acknowledge_refused_while_a_condition_holds(state: str):
    m = drive_to(state)
    tick(m, conditions={FAST_FAULT: "drive fault 49"})
    answer = m.acknowledge()
    assert "fault is still present" in answer and CATALOGUE[FAST_FAULT].message in answer
    assert m.state == state and m.latch.latched


def test_acknowledge_refused_while_the_chain_is_open():
    m = drive_to("estop")
    tick(m, chain_open=True)
    assert "e-stop is pressed" in m.acknowledge()
    assert m.state == "estop" and 701 in m.latch.active


def test_a_released_estop_alone_re_arms_nothing():
    m = drive_to("walking")
    tick(m, chain_open=True, belt_at_rest=False)
    for _ in range(5):
        tick(m)  # chain closed again, belt at rest, everything healthy
    assert m.state == "estop" and m.belt_stop == "fast" and m.harness_mode == "hold"
    for command, _ in COMMANDS.values():
        assert command(m) != ""
    assert m.state == "estop"
    assert m.acknowledge() == ""
    assert m.state == "unloading" and not m.latch.latched  # tripped while walking: support back


def test_faulted_stays_faulted_until_acknowledged():
    m = drive_to("faulted")
    for _ in range(5):
        tick(m)
    assert m.state == "faulted" and m.belt_stop == "hold_zero" and m.harness_mode == "hold"
    assert m.acknowledge() == ""
    assert m.state == "unloading"  # tripped while walking: the support comes back


def test_a_new_fast_stop_fault_during_a_normal_stop_makes_it_fast():
    m = drive_to("fault_stop")
    assert m.belt_stop == "normal"
    tick(m, conditions={FAST_FAULT: "drive fault"}, belt_at_rest=False)
    assert m.state == "fault_stop" and m.belt_stop == "fast"


# --- outputs ----------------------------------------------------------------------------------

OUTPUTS = {
    "boot": ("hold_zero", "slack"), "selftest": ("hold_zero", "slack"), "idle": ("hold_zero", "slack"),
    "attached": ("hold_zero", "pretension"), "unloading": ("hold_zero", "track"),
    "ready": ("hold_zero", "track"), "walking": ("none", "track"), "paused": ("normal", "track"),
    "stopping": ("normal", "track"), "detaching": ("hold_zero", "release"),
    "fault_stop": ("normal", "hold"), "faulted": ("hold_zero", "hold"), "estop": ("fast", "hold"),
}


@pytest.mark.parametrize("state", STATES)
def test_outputs_in_every_state(state: str):
    m = drive_to(state)
    assert (m.belt_stop, m.harness_mode) == OUTPUTS[state]
    assert m.belt_may_move == (state == "walking")


def test_no_trigger_method_bypasses_the_commands():
    m = drive_to("idle")
    for name in ("to_walking", "booted", "fault", "estop", "on_target", "trigger", "set_state"):
        assert not hasattr(m, name), name


# --- exceptions, queueing and locking ---------------------------------------------------------

def raise_on(dest: str) -> Callable[[StateChange], None]:
    def on_change(change: StateChange) -> None:
        if change.dest == dest:
            raise ValueError(f"listener broke on {dest}")
    return on_change


def test_an_exception_in_a_callback_means_fault_stop_and_603():
    m = drive_to("ready", on_change=raise_on("walking"))
    answer = m.start(True)
    assert m.state == "fault_stop" and "fault_stop" in answer
    assert "listener broke on walking" in m.latch.active[603].detail
    assert m.belt_stop == "fast" and m.harness_mode == "hold"
    tick(m)
    assert m.state == "faulted"


def test_an_exception_while_going_to_estop_stays_in_estop():
    m = drive_to("walking", on_change=raise_on("estop"))
    tick(m, chain_open=True)
    assert m.state == "estop" and 603 in m.latch.active


def test_an_exception_in_a_tick_itself_means_fault_stop_and_603():
    m = drive_to("walking")
    m.update(replace(HEALTHY, conditions=None))  # type: ignore[arg-type]
    assert m.state == "fault_stop" and 603 in m.latch.active


class Listener:
    """An on_change listener whose action a test sets once the machine is where it wants it."""

    def __init__(self) -> None:
        self.action: Callable[[StateChange], None] | None = None

    def __call__(self, change: StateChange) -> None:
        if self.action is not None:
            self.action(change)


def test_a_command_from_inside_a_callback_is_refused_not_queued():
    listener, answers = Listener(), []
    m = drive_to("ready", on_change=listener)
    listener.action = lambda change: answers.append(m.pause())
    assert m.start(True) == ""
    assert m.state == "walking"
    assert len(answers) == 1 and "busy" in answers[0]


def test_queued_triggers_report_success_even_when_refused():
    """The library behaviour the module relies on: never trust a queued trigger's result."""
    model = type("Model", (), {})()
    Machine(model=model, states=["a", "b"], initial="a", auto_transitions=False, queued=True,
            transitions=[{"trigger": "go", "source": "a", "dest": "b", "conditions": lambda: False}])
    assert model.go() is True  # type: ignore[attr-defined]
    assert model.state == "a"  # type: ignore[attr-defined]


def test_a_command_from_another_thread_waits_for_the_tick_in_progress():
    listener, answers, workers, seen_while_held = Listener(), [], [], []
    m = drive_to("unloading", on_change=listener)

    def start_worker_inside_the_tick(change: StateChange) -> None:
        worker = threading.Thread(target=lambda: answers.append(m.detach()))
        workers.append(worker)
        worker.start()
        worker.join(timeout=0.2)  # it must block on the machine's lock, so this join times out
        seen_while_held.append(list(answers))

    listener.action = start_worker_inside_the_tick
    tick(m)  # unloading -> ready, with the worker started from inside the transition
    listener.action = None
    workers[0].join(timeout=10)
    assert seen_while_held == [[]]
    assert answers == [""] and m.state == "detaching"
