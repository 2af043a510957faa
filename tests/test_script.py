"""Session scripts: refused before anything moves when beyond limits; run step by step."""
from __future__ import annotations

from pathlib import Path

import pytest

from rig.commands import SetSpeed, Start, Stop
from rig.config import parse_config
from rig.configspec import ConfigError
from rig.script import ScriptRunner, Step, load_script, parse_script
from rig.supervisor import Snapshot

CONFIG = parse_config("")
ROOT = Path(__file__).resolve().parents[1]


def refused(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_script(text, CONFIG, "s.toml")
    return [str(i) for i in caught.value.issues]


def test_demo_script_is_valid():
    steps = load_script(ROOT / "configs/scripts/demo.toml", CONFIG)
    assert steps == [Step(do="walk", speed_mps=0.8, hold_s=10.0), Step(do="stop")]


def test_speed_above_rig_limit_names_step_and_limit():
    (message,) = refused('[[step]]\ndo = "walk"\nspeed_mps = 2.5\n')
    assert message == "s.toml: [step 1] speed_mps = 2.5 must be at most 2.0 (belt.max_speed_mps)"


def test_retro_above_its_limit():
    (message,) = refused('[[step]]\ndo = "stop"\n[[step]]\ndo = "walk"\nspeed_mps = -1.0\n')
    assert "[step 2] speed_mps = -1.0 must be at least -0.8 (belt.reverse_max_speed_mps)" in message


def test_unknown_action_and_option():
    found = refused('[[step]]\ndo = "jog"\n[[step]]\ndo = "walk"\nspeed_mps = 1\nhold = 3\n')
    assert any('[step 1] do = "jog" must be one of "walk", "stop"' in f for f in found)
    assert any("[step 2] hold is not a known option (did you mean hold_s?)" in f for f in found)


def test_missing_action_and_empty_script():
    assert any("[step 1] do is required" in f for f in refused("[[step]]\nspeed_mps = 1\n"))
    assert any("at least one [[step]]" in f for f in refused('name = "x"\n'))


def snap(t: float, state: str, speed: float | None, faults=()) -> Snapshot:
    return Snapshot(t_s=t, tick=0, state=state, setpoint_mps=0.0, belt_command_mps=0.0, belt_speed_mps=speed,
                    belt_current_a=0.0, drive_fault_code=0, faults=faults, overruns=0, message="")


def test_runner_holds_from_when_speed_is_reached():
    runner = ScriptRunner([Step(do="walk", speed_mps=1.0, hold_s=2.0), Step(do="walk", speed_mps=0.5, hold_s=0.0),
                           Step(do="stop")])
    assert runner.poll(snap(0.0, "idle", 0.0)) == [Start(1.0)]
    assert runner.poll(snap(1.0, "walking", 0.6)) == []
    assert runner.poll(snap(2.0, "walking", 1.0)) == []  # reached at t=2
    runner.poll(snap(3.9, "walking", 1.0))
    assert runner.index == 0
    runner.poll(snap(4.0, "walking", 1.0))
    assert runner.index == 1
    assert runner.poll(snap(4.1, "walking", 1.0)) == [SetSpeed(0.5)]
    runner.poll(snap(5.0, "walking", 0.5))
    assert runner.poll(snap(5.1, "walking", 0.5)) == [Stop()]
    runner.poll(snap(6.0, "stopping", 0.2))
    assert not runner.done
    runner.poll(snap(7.0, "idle", 0.0))
    assert runner.done and not runner.failure


def test_runner_stops_on_fault():
    from safety.latch import ActiveFault

    runner = ScriptRunner([Step(do="walk", speed_mps=1.0, hold_s=2.0)])
    runner.poll(snap(0.0, "idle", 0.0))
    runner.poll(snap(0.5, "faulted", 0.3, (ActiveFault(301, "x", 0.4),)))
    assert runner.done and "faulted (301)" in runner.failure
