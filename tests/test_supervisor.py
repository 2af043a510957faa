"""The whole supervisor against the simulated rig: real drivers, real transports, virtual clock.

Each test drives a session the way a therapist would (attach, unload, start, change speed,
pause, stop, detach) or injects a fault, and checks what the rig did from both sides: the
controller's snapshot and the simulated world's truth (belt speed, line force).
"""
from __future__ import annotations

import pytest

from rig.commands import Acknowledge, Attach, Detach, Pause, Resume, SetSpeed, SetUnloading, Start, Stop
from rig.sim.lockstep import Stack

pytestmark = pytest.mark.slow


class Trace:
    """Per tick: state, belt command, world belt speed and line force."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, float, float, float]] = []

    def __call__(self, stack: Stack) -> None:
        with stack.sim.lock:
            world = stack.sim.world
            self.rows.append((stack.snap.state, stack.snap.belt_command_mps, world.belt_speed_mps, world.line_force_n))


def ready(stack: Stack, fraction: float = 0.3, trace: Trace | None = None) -> None:
    stack.run_until(lambda: stack.snap.state == "idle", 5.0, observe=trace)
    stack.submit(Attach())
    stack.run_until(lambda: stack.snap.state == "attached", 2.0, observe=trace)
    stack.run_until(lambda: stack.supervisor.unloading.pretensioned, 5.0, observe=trace)
    stack.submit(SetUnloading(fraction))
    stack.run_until(lambda: stack.snap.state == "ready", 20.0, observe=trace)


@pytest.fixture
def stack():
    running = Stack()
    yield running
    running.close()


def test_a_whole_session(stack: Stack):
    trace = Trace()
    ready(stack, 0.3, trace)
    target = 0.3 * stack.supervisor.body_weight_n
    assert abs(stack.snap.line_force_n - target) < 0.03 * stack.supervisor.body_weight_n
    stack.submit(Start(1.0))
    stack.run_until(lambda: stack.snap.belt_speed_mps >= 0.49, 5.0, observe=trace)
    assert stack.snap.setpoint_mps == pytest.approx(0.5)  # starts at the maximum start speed
    stack.submit(SetSpeed(1.0))
    stack.run_until(lambda: stack.snap.belt_speed_mps >= 0.99, 5.0, observe=trace)
    stack.run_for(4.0, observe=trace)
    walking = [row for row in trace.rows[-600:]]
    errors = [abs(line - target) for _, _, _, line in walking]
    assert max(errors) < 0.05 * stack.supervisor.body_weight_n  # dynamic unloading holds while walking
    assert stack.snap.gait.get("heel_strikes", 0) > 4
    stack.submit(Pause())
    stack.run_until(lambda: stack.snap.state == "paused" and abs(stack.snap.belt_speed_mps) < 0.02, 5.0, observe=trace)
    stack.submit(Resume())
    stack.run_until(lambda: stack.snap.belt_speed_mps >= 0.99, 8.0, observe=trace)
    stack.submit(Stop())
    stack.run_until(lambda: stack.snap.state == "ready", 8.0, observe=trace)
    stack.submit(Detach())
    stack.run_until(lambda: stack.snap.state == "idle", 30.0, observe=trace)
    assert stack.snap.line_force_n < 20.0 and not stack.snap.faults
    assert all(command == 0.0 for state, command, _, _ in trace.rows if state != "walking")


def test_drive_fault_stops_the_belt_holds_the_harness_and_acknowledge_recovers(stack: Stack):
    ready(stack)
    stack.submit(Start(0.5))
    stack.run_until(lambda: stack.snap.belt_speed_mps >= 0.49, 5.0)
    target = stack.snap.harness_target_n
    trace = Trace()
    stack.inject("drive_fault", device="belt")
    stack.run_until(lambda: stack.snap.state == "faulted", 5.0, observe=trace)
    assert [f.code for f in stack.snap.faults][0] == 301
    assert min(line for *_, line in trace.rows) > target - stack.supervisor.limits.harness_force_tolerance_n
    assert stack.snap.harness_target_n >= target  # the target never decreases during a fault
    stack.submit(Acknowledge())
    stack.run_until(lambda: stack.snap.state == "ready", 10.0)
    assert not stack.snap.faults


def test_estop_needs_release_reset_and_acknowledge(stack: Stack):
    ready(stack)
    stack.submit(Start(0.5))
    stack.run_until(lambda: stack.snap.belt_speed_mps >= 0.49, 5.0)
    stack.inject("estop_press")
    stack.run_until(lambda: stack.snap.state == "estop", 1.0)
    stack.inject("estop_release")
    stack.run_for(0.5)
    assert stack.snap.state == "estop"  # a released e-stop alone re-arms nothing
    stack.submit(Acknowledge())
    stack.run_for(0.2)
    assert stack.snap.state == "estop" and stack.snap.message  # the relay is still open
    stack.inject("relay_reset")
    stack.run_for(0.2)
    stack.submit(Acknowledge())
    stack.run_until(lambda: stack.snap.state in ("unloading", "ready"), 3.0)


def test_commands_out_of_turn_are_refused_with_a_reason(stack: Stack):
    stack.run_until(lambda: stack.snap.state == "idle", 5.0)
    stack.submit(Start(1.0))
    stack.run_for(0.05)
    assert stack.snap.state == "idle" and "ready" in stack.snap.message
    ready(stack)
    stack.submit(Start(1.9))
    stack.run_for(0.05)
    assert stack.snap.state == "ready" and "patient's maximum 1.50 m/s" in stack.snap.message
    stack.submit(Start(0.5, confirmed=False))
    stack.run_for(0.05)
    assert stack.snap.state == "ready" and stack.snap.message
    assert stack.snap.belt_command_mps == 0.0


def test_weight_bearing_prescription_sets_the_floor_and_raises_the_alarm():
    # The prescription allows 80 % of body weight on the legs; the entered mass (70 kg) is
    # lighter than the simulated patient (80 kg), so 30 % of 70 kg leaves ~84 % on the deck.
    stack = Stack(extra="[patient]\nbody_mass_kg = 70.0\nweight_bearing_limit_pct = 80.0\n"
                        'weight_bearing_action = "increase_unloading"\n')
    try:
        stack.run_until(lambda: stack.snap.state == "idle", 5.0)
        stack.submit(Attach())
        stack.run_until(lambda: stack.supervisor.unloading.pretensioned, 5.0)
        stack.submit(SetUnloading(0.1))
        stack.run_for(0.05)
        assert "below the prescription's minimum 20 %" in stack.snap.message
        stack.submit(SetUnloading(0.3))
        stack.run_until(lambda: stack.snap.state == "ready", 20.0)
        stack.submit(Start(0.5))
        stack.run_until(lambda: any(f.code == 503 for f in stack.snap.faults), 10.0)
        stack.run_until(lambda: stack.snap.unloading_fraction > 0.3, 10.0)  # increase_unloading acts
        assert stack.snap.state == "walking"  # an alarm, not a stop
    finally:
        stack.close()
