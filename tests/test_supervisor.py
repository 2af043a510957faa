"""The supervisor against the belt twin over Modbus TCP, controller and world in lockstep.

The twin's physics and the controller's loop share one virtual clock: the run is deterministic
and faster than real time, yet every read and write crosses a real TCP socket.
"""
from __future__ import annotations

import pytest

from drivers.belt_vfd import DeltaVfd
from rig.app import RigApp
from rig.clock import VirtualClock
from rig.commands import Acknowledge, SetSpeed, Start, Stop
from rig.config import parse_config
from rig.script import Step
from rig.sim import vfd as v
from rig.sim.runner import SimRig
from tests.conftest import config_text, free_port


class Lockstep:
    """A SimRig and a RigApp on one virtual clock."""

    def __init__(self, extra: str = "", steps: list[Step] | None = None):
        self.config = parse_config(config_text(free_port(), extra))
        self.clock = VirtualClock(start_s=100.0)
        self.sim = SimRig(self.config, clock=self.clock.now)
        self.clock.on_advance = self.sim.step_to
        self.sim.start(physics_thread=False)
        self.belt = DeltaVfd(self.config.belt, clock=self.clock.now)
        self.belt.connect()
        self.app = RigApp(self.config, self.belt, self.clock, steps)

    def run_for(self, seconds: float) -> None:
        end = self.clock.now() + seconds
        self.app.loop.run(self.app.tick, lambda: self.clock.now() >= end)

    def run_until(self, predicate, timeout_s: float) -> float:
        start = self.clock.now()
        self.app.loop.run(self.app.tick, lambda: predicate() or self.clock.now() - start > timeout_s)
        assert predicate(), f"not reached within {timeout_s} s of simulated time"
        return self.clock.now() - start

    @property
    def snap(self):
        return self.app.supervisor.snapshot

    def submit(self, command) -> None:
        self.app.supervisor.submit(command)

    def close(self) -> None:
        self.belt.close()
        self.sim.stop()


@pytest.fixture
def rig():
    lockstep = Lockstep()
    yield lockstep
    lockstep.close()


def test_boots_to_idle_and_walks(rig: Lockstep):
    rig.run_for(0.05)
    assert rig.snap.state == "idle"
    rig.submit(Start(1.0))
    took = rig.run_until(lambda: rig.snap.belt_speed_mps is not None and rig.snap.belt_speed_mps >= 0.999, 5.0)
    expected = rig.config.belt.drive_accel_s * (1.0 / 3.0)  # 20 Hz of 60
    assert expected * 0.8 <= took <= expected * 1.2
    assert rig.snap.state == "walking" and not rig.snap.faults


def test_stop_returns_to_idle_with_belt_at_rest(rig: Lockstep):
    rig.submit(Start(0.8))
    rig.run_for(1.5)
    rig.submit(Stop())
    rig.run_until(lambda: rig.snap.state == "idle", 5.0)
    assert abs(rig.snap.belt_speed_mps) < 0.02
    assert rig.snap.belt_command_mps == 0.0


def test_drive_fault_reaches_faulted_and_stays_until_acknowledged(rig: Lockstep):
    rig.submit(Start(1.0))
    rig.run_for(1.0)
    rig.sim.vfd.inject_fault(v.FAULT_EXTERNAL)
    injected = rig.clock.now()
    rig.run_until(lambda: rig.snap.state == "faulted", 1.0)
    assert rig.clock.now() - injected <= 1.5 / rig.config.belt.poll_hz + 0.005  # detected at the next poll
    assert [f.code for f in rig.snap.faults] == [301]
    assert rig.snap.belt_command_mps == 0.0
    rig.run_for(3.0)
    assert rig.snap.state == "faulted"  # latched
    rig.submit(Start(1.0))
    rig.run_for(0.1)
    assert rig.snap.state == "faulted" and "only when the rig is idle" in rig.snap.message
    rig.submit(Acknowledge())  # resets the drive, whose fault cause has gone
    rig.run_for(0.1)
    assert rig.snap.state == "idle" and not rig.snap.faults
    assert rig.sim.vfd.state.fault_code == 0


def test_acknowledge_refused_while_cause_persists(rig: Lockstep):
    rig.submit(Start(1.0))
    rig.run_for(0.5)
    rig.sim.safety_io.press_estop()  # safety relay opens: no STO, the drive cannot be reset
    rig.sim.vfd.inject_fault(v.FAULT_EXTERNAL)
    rig.run_for(0.2)
    rig.submit(Acknowledge())
    rig.run_for(0.1)
    assert rig.snap.state == "faulted"
    assert "still present: 301 belt_drive_fault" in rig.snap.message
    rig.sim.safety_io.release_estop()
    rig.sim.safety_io.press_reset()
    rig.run_for(0.01)
    rig.submit(Acknowledge())
    rig.run_for(0.1)
    assert rig.snap.state == "idle"


def test_lost_link_is_a_fault_and_the_drive_stops_itself(rig: Lockstep):
    rig.submit(Start(1.0))
    rig.run_for(2.0)
    rig.sim.servers.set_link_down("belt", True)
    rig.run_until(lambda: rig.snap.state == "faulted", 0.5)
    assert 101 in {f.code for f in rig.snap.faults}
    assert rig.snap.belt_speed_mps is None  # no reading is shown as no reading, never as zero
    rig.run_for(rig.config.belt.comm_timeout_s + 2.5)
    assert rig.sim.vfd.state.output_hz == 0.0  # the drive's own watchdog stopped the belt


def test_speed_limits_refused_with_reason(rig: Lockstep):
    rig.submit(Start(2.5))
    rig.run_for(0.1)
    assert rig.snap.state == "idle" and "above the rig's limit of 2.00 m/s" in rig.snap.message
    rig.submit(Start(0.5))
    rig.run_for(0.1)
    rig.submit(SetSpeed(-1.0))
    rig.run_for(0.1)
    assert rig.snap.setpoint_mps == 0.5 and "retro-walking limit" in rig.snap.message


def test_belt_tracking_error_is_a_fault(rig: Lockstep):
    rig.submit(Start(1.0))
    rig.run_for(2.0)
    rig.sim.vfd.params[rig.config.belt.registers.accel_time] = 6000  # drive silently re-parameterised
    rig.sim.vfd.state.output_hz = 5.0  # ... and lost speed: it now creeps back at 1 Hz/s
    rig.run_until(lambda: rig.snap.state == "faulted", 3.0)
    assert 304 in {f.code for f in rig.snap.faults}


def test_demo_script_runs_to_the_end_in_lockstep():
    lockstep = Lockstep(steps=[Step(do="walk", speed_mps=0.8, hold_s=10.0), Step(do="stop")])
    try:
        code_holder = {}
        lockstep.app.loop.run(lockstep.app.tick, lockstep.app.should_stop)
        code_holder["done"] = lockstep.app.script.done
        assert lockstep.app.script.done and not lockstep.app.script.failure
        assert lockstep.snap.state == "idle"
        assert lockstep.app.loop.stats().overruns == 0
    finally:
        lockstep.close()


def test_consecutive_overruns_raise_601(rig: Lockstep):
    rig.submit(Start(1.0))
    rig.run_for(0.5)
    limit = rig.config.loop.overrun_fault_count
    rig.app.supervisor.tick(rig.clock.now(), limit - 1)
    assert rig.snap.state == "walking"  # one short of the budget: counted, not a fault
    rig.app.supervisor.tick(rig.clock.now(), limit)
    assert rig.snap.state == "faulted" and [f.code for f in rig.snap.faults] == [601]
    assert rig.snap.belt_command_mps == 0.0
