"""Session scripts: refused before anything moves when beyond limits or out of order; shapes
expanded into steps; the runner turns snapshots into the right commands, in order."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from rig.commands import Attach, Detach, Pause, Resume, SetSpeed, SetUnloading, Start, Stop
from rig.config import RigConfig, parse_config
from rig.configspec import ConfigError
from rig.controlconfig import PatientConfig, UnloadingConfig
from rig.script import ScriptRunner, Step, load_script, parse_script, script_limits
from rig.supervisor import Snapshot
from safety.latch import ActiveFault

CONFIG = parse_config("")
ROOT = Path(__file__).resolve().parents[1]
READY = 'name = "t"\n[[step]]\ndo = "attach"\n[[step]]\ndo = "unload"\npercent = 30\n'  # steps 1-2
END = '[[step]]\ndo = "stop"\n[[step]]\ndo = "detach"\n'


def prescribed(max_fraction: float = 0.6, config: RigConfig = CONFIG, **patient) -> RigConfig:
    """The config with a patient's prescription."""
    return replace(config, patient=PatientConfig(**patient), unloading=UnloadingConfig(max_fraction=max_fraction))


def refused(text: str, config=CONFIG) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_script(text, config, "s.toml")
    return [str(i) for i in caught.value.issues]


def step(do: str, **options) -> str:
    return "[[step]]\n" + f'do = "{do}"\n' + "".join(f"{k} = {v}\n" for k, v in options.items())


def plan(text: str, config=CONFIG) -> list[tuple]:
    return [(s.do, s.number, s.speed_mps, s.percent, s.hold_s) for s in parse_script(text, config, "s.toml")]


# --- reading and refusing --------------------------------------------------------------------
def test_demo_script_is_the_make_run_session():
    steps = load_script(ROOT / "configs/scripts/demo.toml", CONFIG)
    assert steps == [Step("attach", 1, timeout_s=30.0), Step("unload", 2, percent=30.0, timeout_s=60.0),
                     Step("walk", 3, 1.0, hold_s=20.0, timeout_s=30.0), Step("stop", 4), Step("detach", 5)]


@pytest.mark.parametrize("path", sorted((ROOT / "configs/scripts").glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_script_is_valid_and_ends_detached(path: Path):
    steps = load_script(path, CONFIG)
    assert steps[0].do == "attach" and steps[-1].do == "detach"


def test_speed_above_the_rig_limit_names_step_and_limit():
    config = parse_config("[belt]\nmax_speed_mps = 1.2\n")
    found = refused(READY + step("walk", speed_mps=1.4) + END, config)
    assert found == ["s.toml: [step 3] speed_mps = 1.4 must be at most 1.2 (belt.max_speed_mps)"]


def test_speed_above_the_patients_limit_names_the_prescription():
    found = refused(READY + step("walk", speed_mps=1.0) + END, prescribed(max_speed_mps=0.8))
    assert found == ["s.toml: [step 3] speed_mps = 1.0 must be at most 0.8 (patient.max_speed_mps)"]


def test_retro_above_the_reverse_limit():
    found = refused(READY + step("retro", speed_mps=1.0) + END)
    assert found == ["s.toml: [step 3] speed_mps = 1.0 must be at most 0.8 backwards (belt.reverse_max_speed_mps)"]


def test_unloading_below_the_prescriptions_floor():
    text = READY.replace("percent = 30", "percent = 20") + END
    found = refused(text, prescribed(weight_bearing_limit_pct=70.0))
    assert found == ["s.toml: [step 2] percent = 20.0 must be at least 30.0 (100 - patient.weight_bearing_limit_pct)"]


def test_unloading_above_the_maximum():
    found = refused(READY.replace("percent = 30", "percent = 55") + END, prescribed(max_fraction=0.5))
    assert found == ["s.toml: [step 2] percent = 55.0 must be at most 50.0 (unloading.max_fraction)"]


def test_unloading_beyond_what_the_winch_may_pull():
    weak = parse_config("[harness]\nrated_force_n = 500\n")  # 0.95 x 60 % x 500 N = 285 N, 36.3 % of 80 kg
    (message,) = refused(READY.replace("percent = 30", "percent = 40") + END, prescribed(config=weak))
    assert message.startswith("s.toml: [step 2] percent = 40.0 must be at most 36.3 (what the winch may pull")


def test_limits_take_the_lower_of_rig_and_patient():
    limits = script_limits(prescribed(max_speed_mps=1.1, weight_bearing_limit_pct=75.0, max_fraction=0.5))
    assert (limits.max_speed_mps, limits.max_speed_name) == (1.1, "patient.max_speed_mps")
    assert (limits.reverse_max_mps, limits.reverse_name) == (0.8, "belt.reverse_max_speed_mps")
    assert (limits.min_unloading_pct, limits.max_unloading_pct) == (25.0, 50.0)


def test_shapes_are_refused_once_naming_their_step_and_the_far_end():
    config = prescribed(max_speed_mps=1.0, weight_bearing_limit_pct=80.0)
    text = (READY + step("speed_steps", from_mps=0.6, to_mps=1.4, step_mps=0.2, hold_s=10)
            + step("unloading_taper", from_pct=30, to_pct=10, step_pct=5, hold_s=10)
            + step("intervals", speed_mps=1.2, walk_s=10, rest_s=5, repeats=3) + END)
    assert refused(text, config) == [
        "s.toml: [step 3] to_mps = 1.4 must be at most 1.0 (patient.max_speed_mps)",
        "s.toml: [step 4] to_pct = 10.0 must be at least 20.0 (100 - patient.weight_bearing_limit_pct)",
        "s.toml: [step 5] speed_mps = 1.2 must be at most 1.0 (patient.max_speed_mps)"]


def test_descending_speed_steps_name_from_mps():
    text = READY + step("speed_steps", from_mps=1.4, to_mps=0.6, step_mps=0.4, hold_s=10) + END
    assert refused(text, prescribed(max_speed_mps=1.0)) == [
        "s.toml: [step 3] from_mps = 1.4 must be at most 1.0 (patient.max_speed_mps)"]


def test_order_a_walk_needs_attach_and_unload_first():
    assert refused(step("walk", speed_mps=0.5) + step("stop")) == [
        's.toml: [step 1] do = "walk" needs attach and unload steps before it (the rig would not be ready to walk)']
    found = refused(step("attach") + step("constant", speed_mps=0.5, duration_s=5) + END)
    assert found == ['s.toml: [step 2] do = "constant" needs an unload step before it (the rig would not be ready to walk)']


def test_order_unload_attach_pause_detach():
    found = refused(step("unload", percent=30) + step("attach") + step("pause", hold_s=3) + step("detach"))
    assert found == ['s.toml: [step 1] do = "unload" needs an attach step before it',
                     's.toml: [step 2] do = "attach" comes after the patient is attached (one attach, at the start)',
                     's.toml: [step 3] do = "pause" is possible only while walking (add a walk step before it)']


def test_order_detach_while_walking_and_steps_after_detach():
    found = refused(READY + step("walk", speed_mps=0.5) + step("detach") + step("stop"))
    assert found == ['s.toml: [step 4] do = "detach" needs a stop step before it (the belt would still be moving)',
                     's.toml: [step 5] do = "stop" comes after detach (detach must be the last step)']


def test_a_script_must_not_end_with_the_belt_moving():
    (message,) = refused(READY + step("walk", speed_mps=0.5, hold_s=3))
    assert message.startswith("s.toml: [step 3] is the last step and leaves the belt moving")


def test_absurd_durations():
    found = refused(READY + step("walk", speed_mps=0.5, hold_s=4000) + END)
    assert found == ["s.toml: [step 3] hold_s = 4000 must be at most 3600.0"]
    long = READY + step("intervals", speed_mps=0.5, walk_s=3600, rest_s=600, repeats=3) + END
    assert refused(long) == ["s.toml: holds 200 min in all, more than a session's 120 min: split it into shorter scripts"]


def test_unknown_action_option_and_missing_values():
    found = refused(step("jog") + step("walk", speed_mps=1, hold=3) + step("pause") + "[[step]]\nspeed_mps = 1\n")
    assert found[0].startswith('s.toml: [step 1] do = "jog" must be one of "attach", "unload", "walk"')
    assert "s.toml: [step 2] hold is not a known option (did you mean hold_s?)" in found
    assert "s.toml: [step 3] hold_s is required (rest with the belt stopped, then resume)" in found
    assert "s.toml: [step 4] do is required (what this step does)" in found


def test_shape_options_must_make_a_progression():
    found = refused(READY + step("speed_steps", from_mps=0.5, to_mps=0.5, step_mps=0.1, hold_s=5)
                    + step("unloading_taper", from_pct=40, to_pct=30, step_pct=15, hold_s=5) + END)
    assert found == ['s.toml: [step 3] to_mps = 0.5 must differ from from_mps (for one value use do = "walk")',
                     "s.toml: [step 4] step_pct = 15.0 must be at most 10.0 (the distance from from_pct to to_pct)"]


def test_empty_script_bad_toml_and_unknown_keys():
    assert any("at least one [[step]]" in f for f in refused('name = "x"\n'))
    assert any("is not valid TOML" in f for f in refused("[[step]\n"))
    assert any("s.toml: speed is not known in a script" in f for f in refused("speed = 3\n" + READY + END))


# --- shapes ----------------------------------------------------------------------------------
def test_intervals_expand_to_walks_with_rests_between():
    steps = plan(READY + step("intervals", speed_mps=0.8, walk_s=60, rest_s=30, repeats=3) + END)
    walk, rest, resume = ("walk", 3, 0.8, 0.0, 60.0), ("pause", 3, 0.0, 0.0, 30.0), ("resume", 3, 0.8, 0.0, 0.0)
    assert steps[2:-2] == [walk, rest, resume, walk, rest, resume, walk]


def test_speed_steps_expand_up_and_down_ending_on_to_mps():
    up = plan(READY + step("speed_steps", from_mps=0.4, to_mps=1.0, step_mps=0.25, hold_s=20) + END)
    assert [s[2] for s in up[2:-2]] == [0.4, 0.65, 0.9, 1.0] and {s[4] for s in up[2:-2]} == {20.0}
    down = plan(READY + step("speed_steps", from_mps=1.2, to_mps=0.6, step_mps=0.3, hold_s=20) + END)
    assert [s[2] for s in down[2:-2]] == [1.2, 0.9, 0.6]


def test_unloading_taper_expands_to_unload_steps_while_walking():
    steps = plan(READY + step("walk", speed_mps=0.8) + step("unloading_taper", from_pct=40, to_pct=25, step_pct=5,
                                                             hold_s=60) + END)
    assert steps[3:-2] == [("unload", 4, 0.0, p, 60.0) for p in (40.0, 35.0, 30.0, 25.0)]


def test_constant_is_one_walk_held_for_the_duration():
    assert plan(READY + step("constant", speed_mps=0.7, duration_s=90) + END)[2] == ("walk", 3, 0.7, 0.0, 90.0)


def test_a_change_of_direction_stops_the_belt_first():
    text = READY + step("walk", speed_mps=0.6) + step("retro", speed_mps=0.4) + step("walk", speed_mps=0.5) + END
    assert [(s[0], s[1], s[2]) for s in plan(text)[2:-2]] == [
        ("walk", 3, 0.6), ("stop", 4, 0.0), ("walk", 4, -0.4), ("stop", 5, 0.0), ("walk", 5, 0.5)]
    assert [s[0] for s in plan(READY + step("retro", speed_mps=0.4) + END)[2:]] == ["walk", "stop", "detach"]


# --- running ---------------------------------------------------------------------------------
BASE = Snapshot(t_s=0.0, tick=0, state="idle", setpoint_mps=0.0, belt_command_mps=0.0, belt_speed_mps=0.0,
                belt_current_a=1.2, drive_fault_code=0, unloading_fraction=0.3, harness_target_n=0.0,
                line_force_n=0.0, winch_position_m=0.0, deck_fz_n=785.0, cop_m=(0.0, 0.0),
                body_weight_support=0.0, faults=(), conditions=(), overruns=0, message="")


def at(t: float, **changes) -> Snapshot:
    return replace(BASE, t_s=t, **changes)


def feed(runner: ScriptRunner, snaps: list[Snapshot]) -> list[tuple[float, object]]:
    """Poll every snapshot; the (time, command) pairs sent."""
    return [(snap.t_s, command) for snap in snaps for command in runner.poll(snap)]


def ticks(t0: float, t1: float, dt: float = 0.1, **state) -> list[Snapshot]:
    return [at(round(t0 + i * dt, 6), **state) for i in range(round((t1 - t0) / dt) + 1)]


def test_runner_takes_the_demo_from_idle_to_idle():
    runner = ScriptRunner(load_script(ROOT / "configs/scripts/demo.toml", CONFIG))
    pre = dict(state="attached", harness_target_n=30.0, line_force_n=29.0)
    ready = dict(state="ready", harness_target_n=235.4, line_force_n=236.0)
    walk = dict(ready, state="walking", setpoint_mps=1.0, belt_speed_mps=1.0)
    snaps = [at(0.0), at(0.1, state="attached", harness_target_n=10.0, line_force_n=2.0), *ticks(0.2, 1.0, **pre),
             at(1.1, state="unloading", harness_target_n=100.0), *ticks(1.2, 1.4, **ready),
             at(1.5, **dict(walk, setpoint_mps=0.5, belt_speed_mps=0.1)),
             at(1.6, **dict(walk, setpoint_mps=0.5, belt_speed_mps=0.49)),  # start capped at 0.5 m/s
             at(1.7, **dict(walk, belt_speed_mps=0.7)), *ticks(2.0, 22.0, **walk),
             at(22.1, **dict(ready, state="stopping", belt_speed_mps=0.6)), *ticks(22.2, 22.3, **ready),
             at(22.4, state="detaching", harness_target_n=80.0), at(22.5, state="detaching"), at(22.6)]
    sent = feed(runner, snaps)
    assert sent == [(0.0, Attach()), (0.8, SetUnloading(0.3)), (1.3, Start(1.0)), (1.6, SetSpeed(1.0)),
                    (22.0, Stop()), (22.2, Detach())]
    assert runner.done and not runner.failure


def test_pretension_must_settle_before_unloading():
    runner = ScriptRunner(parse_script(READY + END, CONFIG))
    runner.poll(at(0.0))
    wobbly = [at(0.1 + 0.1 * i, state="attached", harness_target_n=30.0, line_force_n=30.0 + (9.0 if i % 4 == 3 else 0))
              for i in range(12)]
    assert feed(runner, wobbly) == []  # never 0.5 s in a row within 20 % of the target
    assert feed(runner, ticks(1.3, 1.8, state="attached", harness_target_n=30.0, line_force_n=31.0)) == [
        (1.8, SetUnloading(0.3))]  # 1.3 -> 1.8 near


def test_intervals_pause_rests_from_standstill_then_resumes():
    steps = parse_script(READY + step("intervals", speed_mps=0.8, walk_s=5, rest_s=3, repeats=2) + END, CONFIG)
    runner = ScriptRunner(steps)
    runner.index = 2  # attached and unloaded
    walk = dict(state="walking", setpoint_mps=0.8, belt_speed_mps=0.8)
    snaps = [at(0.0, state="ready"), *ticks(0.1, 5.1, **walk), at(5.2, **dict(walk, state="paused", belt_speed_mps=0.5)),
             *ticks(5.3, 8.3, state="paused", setpoint_mps=0.8), at(8.4, **dict(walk, setpoint_mps=0.5, belt_speed_mps=0.3)),
             at(8.5, **dict(walk, setpoint_mps=0.5, belt_speed_mps=0.5)),  # resumed, capped at the start speed
             at(8.6, **dict(walk, belt_speed_mps=0.6)), *ticks(8.7, 13.8, **walk)]
    assert feed(runner, snaps) == [(0.0, Start(0.8)), (5.1, Pause()), (8.3, Resume()), (8.5, SetSpeed(0.8)),
                                   (8.7, SetSpeed(0.8)), (13.8, Stop())]


def test_taper_holds_each_level_from_when_the_target_is_reached():
    runner = ScriptRunner([Step("unload", 4, percent=25.0, hold_s=2.0)])
    walking = dict(state="walking", belt_speed_mps=0.8, harness_target_n=314.0, unloading_fraction=0.4)
    assert runner.poll(at(0.0, **walking)) == [SetUnloading(0.25)]
    ramp = [at(0.1 + 0.1 * i, **dict(walking, unloading_fraction=0.25, harness_target_n=304.0 - 10 * i))
            for i in range(12)]  # down to 194 N at t = 1.2
    steady = ticks(1.3, 3.4, **dict(walking, unloading_fraction=0.25, harness_target_n=196.2))
    for snap in [at(0.05, **walking)] + ramp + steady[:-1]:  # the old fraction's steady target does not count
        runner.poll(snap)
        assert not runner.done, snap.t_s
    runner.poll(steady[-1])  # steady from 1.3 -> 1.4 on, held 2 s
    assert runner.done and not runner.failure


def test_stop_when_already_at_rest_sends_nothing_and_hands_on_at_once():
    runner = ScriptRunner([Step("stop", 1), Step("detach", 2)])
    assert runner.poll(at(0.0, state="ready")) == [Detach()]
    assert runner.index == 1


def test_a_fault_ends_the_script_naming_step_and_fault():
    runner = ScriptRunner([Step("walk", 3, 1.0, hold_s=5.0)])
    runner.poll(at(0.0, state="ready"))
    runner.poll(at(0.5, state="fault_stop", faults=(ActiveFault(301, "belt speed 1.40 m/s, expected 1.00", 0.4),)))
    assert runner.done
    assert runner.failure == ("script stopped at step 3 (walk at 1 m/s): the rig stopped for a fault: "
                              "301 (belt speed 1.40 m/s, expected 1.00)")
    assert runner.poll(at(0.6, state="walking")) == []


def test_an_estop_ends_the_script():
    runner = ScriptRunner([Step("pause", 2, hold_s=5.0, shape="intervals")])
    runner.poll(at(0.0, state="estop"))
    assert runner.failure.startswith("script stopped at step 2 (intervals: pause for 5 s): the e-stop chain opened")


def test_a_refused_command_ends_the_script_with_the_rigs_words():
    runner = ScriptRunner([Step("unload", 2, percent=70.0)])
    assert runner.poll(at(0.0, state="ready", message="")) == [SetUnloading(0.7)]
    runner.poll(at(0.1, state="ready", message="70 % unloading is above the maximum 60 %"))
    assert runner.failure == ("script stopped at step 2 (unload to 70 %): the rig refused: "
                              "70 % unloading is above the maximum 60 %")


def test_a_refused_start_is_asked_again_until_the_step_times_out():
    runner = ScriptRunner([Step("walk", 3, 1.0, timeout_s=2.5)])
    no = "Cannot start the belt: the harness has not yet reached the set body-weight support and held it steady."
    sent = feed(runner, [at(0.0, state="ready"), *ticks(0.1, 2.5, state="ready", message=no)])
    assert sent == [(0.0, Start(1.0)), (1.1, Start(1.0)), (2.2, Start(1.0))] and not runner.failure
    runner.poll(at(2.6, state="ready", message=no))
    assert runner.failure == f"script stopped at step 3 (walk at 1 m/s): not done within 2.5 s, the rig refused: {no}"


def test_a_start_refused_once_then_taken():
    runner = ScriptRunner([Step("walk", 3, 0.4, hold_s=1.0)])
    walking = dict(state="walking", setpoint_mps=0.4, belt_speed_mps=0.4)
    sent = feed(runner, [at(0.0, state="ready"), *ticks(0.1, 1.0, state="ready", message="not steady"),
                         at(1.1, state="ready", message="not steady"), *ticks(1.2, 2.2, **walking)])
    assert sent == [(0.0, Start(0.4)), (1.1, Start(0.4))]
    assert runner.done and not runner.failure


def test_a_stale_refusal_from_before_the_command_is_not_blamed_on_it():
    runner = ScriptRunner([Step("stop", 4)])
    runner.poll(at(0.0, state="walking", message="an older refusal"))
    runner.poll(at(0.1, state="stopping", message=""))
    assert not runner.failure


def test_a_speed_never_reached_times_out():
    runner = ScriptRunner([Step("walk", 3, 1.0, timeout_s=10.0)])
    feed(runner, ticks(0.0, 10.0, state="walking", setpoint_mps=1.0, belt_speed_mps=0.7))
    assert not runner.done
    runner.poll(at(10.1, state="walking", setpoint_mps=1.0, belt_speed_mps=0.7))
    assert runner.failure == ("script stopped at step 3 (walk at 1 m/s): the belt did not reach the speed "
                              "within 10 s (the rig is walking)")


def test_a_rig_that_never_gets_ready_times_out():
    runner = ScriptRunner([Step("detach", 5, timeout_s=2.0)])
    feed(runner, ticks(0.0, 2.1, state="stopping"))
    assert runner.failure == ("script stopped at step 5 (detach the harness): the rig was not ready for it "
                              "within 2 s (it is stopping)")


def test_a_refusal_of_the_speed_asked_again_after_a_capped_start_ends_the_script():
    runner = ScriptRunner([Step("walk", 3, 1.0, hold_s=5.0)])
    capped = dict(state="walking", setpoint_mps=0.5, belt_speed_mps=0.5)
    assert feed(runner, [at(0.0, state="ready"), at(0.1, **capped), at(0.2, **capped, message="no")]) == [
        (0.0, Start(1.0)), (0.1, SetSpeed(1.0))]
    assert runner.failure == "script stopped at step 3 (walk at 1 m/s): the rig refused: no"


def test_only_the_snapshot_right_after_a_command_is_read_for_its_refusal():
    runner = ScriptRunner([Step("stop", 4)])
    runner.poll(at(0.0, state="walking"))
    runner.poll(at(0.1, state="stopping"))
    runner.poll(at(0.2, state="stopping", message="the operator's own command was refused"))
    assert not runner.failure
