"""The safety machine: guarded transitions, latching, acknowledge only when healthy."""
from __future__ import annotations

import pytest

from safety.machine import SafetyMachine


class World:
    def __init__(self) -> None:
        self.conditions: dict[int, str] = {}
        self.at_rest = True


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def machine(world: World) -> SafetyMachine:
    m = SafetyMachine(lambda: dict(world.conditions), lambda: world.at_rest, lambda: 1.0)
    m.ready()
    return m


def test_boot_to_idle_needs_health(world: World):
    world.conditions[101] = "no answer"
    m = SafetyMachine(lambda: dict(world.conditions), lambda: True, lambda: 0.0)
    m.ready()
    assert m.state == "boot"


def test_no_auto_transitions(machine: SafetyMachine):
    assert not hasattr(machine, "to_walking")
    machine.stopped()  # invalid from idle: ignored, never a jump
    assert machine.state == "idle"


def test_only_walking_moves_the_belt(machine: SafetyMachine, world: World):
    assert not machine.belt_may_move
    machine.start()
    assert machine.state == "walking" and machine.belt_may_move
    world.at_rest = False
    machine.stop()
    machine.stopped()
    assert machine.state == "stopping" and not machine.belt_may_move
    world.at_rest = True
    machine.stopped()
    assert machine.state == "idle"


def test_start_refused_while_a_condition_holds(machine: SafetyMachine, world: World):
    world.conditions[301] = "drive fault"
    machine.start()
    assert machine.state == "idle"


def test_fault_latches_until_acknowledged_when_healthy(machine: SafetyMachine, world: World):
    machine.start()
    world.conditions[301] = "drive fault 49"
    machine.raise_faults(dict(world.conditions))
    assert machine.state == "faulted" and not machine.belt_may_move
    machine.acknowledge()
    assert machine.state == "faulted"  # cause still present
    world.conditions.clear()
    machine.start()
    assert machine.state == "faulted"  # cause gone, but latched: nothing re-arms by itself
    machine.acknowledge()
    assert machine.state == "idle" and not machine.latch.latched


def test_latch_keeps_first_detail(machine: SafetyMachine):
    machine.raise_faults({101: "first"})
    machine.raise_faults({101: "second"})
    assert machine.latch.active[101].detail == "first"


def test_unknown_code_becomes_internal_error(machine: SafetyMachine):
    machine.raise_faults({999: "bogus"})
    assert 603 in machine.latch.active


def test_exception_in_callback_goes_to_faulted(machine: SafetyMachine):
    def explode(_event) -> None:
        raise RuntimeError("boom")

    machine.machine.get_state("walking").on_enter.append(explode)
    machine.start()
    assert machine.state == "faulted"
    assert "boom" in machine.latch.active[603].detail
