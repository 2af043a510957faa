"""The interlocks (safety/interlocks.py): each one tripped and just not tripped, their grace
timers, the memory they carry, missing and NaN readings, arbitrary inputs, and no false trip
over real and simulated walking."""
from __future__ import annotations

import math
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from safety.faults import CATALOGUE
from safety.interlocks import (DeviceLink, InterlockInputs, InterlockLimits, InterlockMemory,
                               Verdict, evaluate)

DEVICES = ("belt", "harness", "safety_io", "loadcell")
BODY_WEIGHT_N = 785.0
LINE_N = 0.3 * BODY_WEIGHT_N
FZ_N = BODY_WEIGHT_N - LINE_N
DT_S = 0.005  # the supervisor's 200 Hz tick

LIMITS = InterlockLimits(
    body_weight_n=BODY_WEIGHT_N, rig_max_speed_mps=2.5, patient_max_speed_mps=1.2,
    reverse_max_speed_mps=0.5, belt_speed_tolerance_mps=0.15, belt_tracking_grace_s=1.0,
    overspeed_margin_mps=0.05,
    stale_after_s={"belt": 0.3, "harness": 0.1, "safety_io": 0.1, "loadcell": 0.05},
    harness_force_tolerance_n=150.0, harness_tracking_grace_s=1.0, harness_force_cap_n=1200.0,
    travel_min_m=0.0, travel_max_m=1.2, fz_tolerance_n=0.2 * BODY_WEIGHT_N, fz_grace_s=2.0,
    cell_disagree_n=100.0, on_deck_min_n=0.05 * BODY_WEIGHT_N, on_deck_grace_s=1.0,
    weight_bearing_limit_n=math.inf, weight_bearing_grace_s=2.0, weight_bearing_action="alarm",
    weight_bearing_stop_after_s=5.0, overrun_fault_count=5)

HEALTHY = InterlockInputs(
    t_s=10.0, state="walking", links={d: DeviceLink(None, 0.01) for d in DEVICES},
    estop_closed=True, key_present=True, harness_attached=True, belt_fault_code=0,
    belt_speed_mps=1.0, belt_expected_mps=1.0, harness_state="operation_enabled",
    harness_fault_code=0, line_force_n=LINE_N, harness_target_n=LINE_N, winch_position_m=0.5,
    deck_fz_n=FZ_N, deck_cells_n=(FZ_N / 4,) * 4, channel_faults=(), fall="", overrun_streak=0,
    config_problems=(), calibration_ok=True)


def check(limits: InterlockLimits = LIMITS, **changes: object) -> dict[int, str]:
    """Conditions of one snapshot (HEALTHY with `changes`) from fresh memory."""
    return dict(evaluate(replace(HEALTHY, **changes), limits, InterlockMemory()).conditions)


def with_link(device: str, fault: tuple[int, str] | None = None, age_s: float = 0.01) -> dict:
    links = dict(HEALTHY.links)
    links[device] = DeviceLink(fault, age_s)
    return links


def first_trip(code: int, seconds: float, limits: InterlockLimits = LIMITS, t0_s: float = 10.0,
               **changes: object) -> float | None:
    """Step the same snapshot at 200 Hz from fresh memory: seconds after t0 when `code` first
    holds, or None."""
    memory = InterlockMemory()
    for n in range(int(round(seconds / DT_S)) + 1):
        t_s = t0_s + n * DT_S
        verdict = evaluate(replace(HEALTHY, t_s=t_s, **changes), limits, memory)
        if code in verdict.conditions:
            return t_s - t0_s
        memory = verdict.memory
    return None


def test_healthy_walking_has_no_condition():
    assert check() == {}
    memory = InterlockMemory()
    for n in range(1000):
        verdict = evaluate(replace(HEALTHY, t_s=10.0 + n * DT_S), LIMITS, memory)
        assert verdict.conditions == {}
        memory = verdict.memory


# --- instantaneous interlocks: tripped / just inside ----------------------------------------
# (name, changes that trip, expected codes, words in the detail, changes just inside the limit)
INSTANT = [
    ("e-stop open", dict(estop_closed=False), {701}, "e-stop chain is open", dict(estop_closed=True)),
    ("key removed", dict(key_present=False), {702}, "key removed", dict(key_present=True)),
    ("detached walking", dict(harness_attached=False), {411}, "state walking", dict(harness_attached=True)),
    ("detached idle, line loaded", dict(harness_attached=False, state="idle", line_force_n=51.0), {411},
     "51 N (limit 50 N)", dict(harness_attached=False, state="idle", line_force_n=49.0)),
    ("belt stale", dict(links=with_link("belt", age_s=0.31)), {101}, "0.31 s (limit 0.30 s)",
     dict(links=with_link("belt", age_s=0.29))),
    ("harness stale", dict(links=with_link("harness", age_s=0.11)), {111}, "0.11 s (limit 0.10 s)",
     dict(links=with_link("harness", age_s=0.09))),
    ("safety io stale", dict(links=with_link("safety_io", age_s=0.11)), {121}, "0.11 s (limit 0.10 s)",
     dict(links=with_link("safety_io", age_s=0.09))),
    ("loadcell stale", dict(links=with_link("loadcell", age_s=0.051)), {132}, "0.05 s",
     dict(links=with_link("loadcell", age_s=0.049))),
    ("loadcell never answered", dict(links=with_link("loadcell", age_s=math.inf)), {132},
     "has never answered", dict(links=with_link("loadcell", age_s=0.0))),
    ("belt link fault", dict(links=with_link("belt", (102, "write 0x2000 refused: exception 2"))), {102},
     "belt drive: write 0x2000 refused", dict(links=with_link("belt", None))),
    ("harness link fault", dict(links=with_link("harness", (111, "time-out after 20 ms"))), {111},
     "harness winch: time-out after 20 ms", dict(links=with_link("harness", None))),
    ("link with unknown code", dict(links=with_link("belt", (999, "odd"))), {603}, "unknown fault code 999",
     dict(links=with_link("belt", None))),
    ("e-stop reading missing", dict(estop_closed=None), {121}, "no e-stop chain reading", dict(estop_closed=True)),
    ("key reading missing", dict(key_present=None), {121}, "no safety key reading", dict(key_present=True)),
    ("attached reading missing", dict(harness_attached=None), {121}, "no harness attached reading",
     dict(harness_attached=True)),
    ("belt speed missing", dict(belt_speed_mps=None), {303}, "speed reading is None", dict(belt_speed_mps=1.0)),
    ("harness state missing", dict(harness_state=None), {402}, "state is unknown",
     dict(harness_state="operation_enabled")),
    ("harness state unknown", dict(harness_state="warp_drive"), {402}, "'warp_drive'",
     dict(harness_state="switched_on")),
    ("winch position missing", dict(winch_position_m=None), {404}, "position reading is None",
     dict(winch_position_m=0.5)),
    ("line force missing", dict(line_force_n=None), {132}, "harness line force reading is None",
     dict(line_force_n=LINE_N)),
    ("deck force missing", dict(deck_fz_n=None), {132}, "deck force reading is None", dict(deck_fz_n=FZ_N)),
    ("deck cells missing", dict(deck_cells_n=None), {132}, "deck cell readings are None",
     dict(deck_cells_n=(FZ_N / 4,) * 4)),
    ("deck cells short", dict(deck_cells_n=(1.0, 2.0, 3.0)), {132}, "deck cell readings",
     dict(deck_cells_n=(1.0, 2.0, 3.0, FZ_N - 6.0))),
    ("channel fault", dict(channel_faults=((201, "load cell FL: 5 samples at the top rail"),)), {201},
     "load cell FL: 5 samples", dict(channel_faults=())),
    ("channel fault unknown code", dict(channel_faults=((77, "odd"),)), {603}, "unknown fault code 77",
     dict(channel_faults=())),
    ("fall", dict(fall="line force rose 520 N in 90 ms"), {501}, "line force rose 520 N", dict(fall="")),
    ("overruns", dict(overrun_streak=5), {601}, "5 times in a row (limit 5)", dict(overrun_streak=4)),
    ("config problems", dict(config_problems=("belt.mps_per_hz must be > 0",)), {602}, "mps_per_hz",
     dict(config_problems=("",))),
    ("calibration", dict(calibration_ok=False), {604}, "calibration", dict(calibration_ok=True)),
    ("self-test", dict(selftest_problems=("belt drive did not stop in 2 s",)), {605}, "did not stop",
     dict(selftest_problems=())),
    ("belt drive fault", dict(belt_fault_code=7), {301}, "fault code 7", dict(belt_fault_code=0)),
    ("forward overspeed, patient", dict(belt_speed_mps=1.26, belt_expected_mps=1.26), {305},
     "1.26 m/s is above the patient's limit 1.20 m/s (margin 0.05 m/s)",
     dict(belt_speed_mps=1.24, belt_expected_mps=1.24)),
    ("reverse overspeed", dict(belt_speed_mps=-0.56, belt_expected_mps=-0.56), {306},
     "backwards at 0.56 m/s, above the reverse limit 0.50 m/s",
     dict(belt_speed_mps=-0.54, belt_expected_mps=-0.54)),
    ("harness drive fault state", dict(harness_state="fault"), {401}, "state 'fault'",
     dict(harness_state="operation_enabled")),
    ("harness drive error code", dict(harness_fault_code=0x7500), {401}, "0x7500", dict(harness_fault_code=0)),
    ("harness over cap", dict(line_force_n=1201.0, state="idle"), {409}, "1201 N is above the cap 1200 N",
     dict(line_force_n=1199.0, state="idle")),
    ("winch above travel", dict(winch_position_m=1.201), {410}, "1.201 m is outside its travel 0.000 to 1.200 m",
     dict(winch_position_m=1.199)),
    ("winch below travel", dict(winch_position_m=-0.001), {410}, "-0.001 m", dict(winch_position_m=0.0)),
    ("own belt target NaN", dict(belt_expected_mps=math.nan), {603}, "belt speed target is nan",
     dict(belt_expected_mps=1.0)),
    ("own force target inf", dict(harness_target_n=math.inf), {603}, "harness force target is inf",
     dict(harness_target_n=LINE_N)),
]


@pytest.mark.parametrize("name,trip,codes,words,inside", INSTANT, ids=[c[0] for c in INSTANT])
def test_interlock_trips_and_just_inside_does_not(name, trip, codes, words, inside):
    tripped = check(**trip)
    assert set(tripped) == codes, tripped
    assert any(words in detail for detail in tripped.values()), tripped
    assert check(**inside) == {}


def test_rig_limit_counts_when_lower_than_the_patients():
    limits = replace(LIMITS, patient_max_speed_mps=3.0)
    tripped = check(limits, belt_speed_mps=2.56, belt_expected_mps=2.56)
    assert set(tripped) == {305} and "the rig's limit 2.50 m/s" in tripped[305]
    assert check(limits, belt_speed_mps=2.54, belt_expected_mps=2.54) == {}


def test_missing_link_status_counts_as_comm_lost():
    for device, code in (("belt", 101), ("harness", 111), ("safety_io", 121), ("loadcell", 132)):
        links = {d: link for d, link in HEALTHY.links.items() if d != device}
        assert code in check(links=links), device
        limits = replace(LIMITS, stale_after_s={d: s for d, s in LIMITS.stale_after_s.items() if d != device})
        assert code in check(limits), device


def test_missing_readings_of_a_link_that_is_down_give_only_its_comm_code():
    down = with_link("safety_io", (121, "no answer in 30 ms"), age_s=0.5)
    tripped = check(links=down, estop_closed=None, key_present=None, harness_attached=None)
    assert set(tripped) == {121}
    assert "0.50 s" in tripped[121] and "no answer in 30 ms" in tripped[121]
    assert "no e-stop chain reading" not in tripped[121]  # the link is down: that says it all


def test_two_causes_of_one_code_are_both_told():
    tripped = check(links=with_link("belt", (101, "time-out after 30 ms"), age_s=0.8))
    assert set(tripped) == {101}
    assert "time-out after 30 ms" in tripped[101] and "0.80 s" in tripped[101]


def test_detached_harness_with_slack_line_outside_loaded_states_is_fine():
    for state in ("idle", "attached", "detaching", "boot"):
        assert check(harness_attached=False, state=state, line_force_n=10.0) == {}, state
    for state in ("unloading", "ready", "paused", "stopping"):
        assert set(check(harness_attached=False, state=state)) == {411}, state


@pytest.mark.parametrize("field_name", ["belt_speed_mps", "winch_position_m", "line_force_n", "deck_fz_n",
                                        "belt_expected_mps", "harness_target_n", "t_s"])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_reading_trips(field_name, bad):
    assert check(**{field_name: bad}), (field_name, bad)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_deck_cell_or_link_age_trips(bad):
    assert set(check(deck_cells_n=(FZ_N / 4, bad, FZ_N / 4, FZ_N / 4))) == {132}
    assert set(check(links=with_link("harness", age_s=bad))) == {111}


# --- persistence: grace times stepped on t_s ------------------------------------------------
def test_belt_tracking_trips_after_grace_only_when_out_of_tolerance():
    assert first_trip(304, 3.0, belt_speed_mps=1.0, belt_expected_mps=1.16) == pytest.approx(1.0)
    assert first_trip(304, 3.0, belt_speed_mps=1.0, belt_expected_mps=1.14) is None
    assert first_trip(304, 3.0, belt_speed_mps=None, belt_expected_mps=1.5,
                      links=with_link("belt", age_s=1.0)) is None  # speed unknown: 101 says it


def test_grace_zero_trips_at_once():
    limits = replace(LIMITS, belt_tracking_grace_s=0.0)
    assert first_trip(304, 1.0, limits, belt_speed_mps=1.0, belt_expected_mps=1.2) == 0.0


def test_a_condition_that_clears_restarts_its_timer():
    memory = InterlockMemory()
    t_s = 10.0
    for _ in range(3):  # 0.9 s off, one tick back in tolerance: never 1 s in a row
        for n in range(int(0.9 / DT_S)):
            verdict = evaluate(replace(HEALTHY, t_s=t_s, belt_expected_mps=1.3), LIMITS, memory)
            assert 304 not in verdict.conditions
            memory, t_s = verdict.memory, t_s + DT_S
        verdict = evaluate(replace(HEALTHY, t_s=t_s), LIMITS, memory)
        assert "belt_tracking" not in verdict.memory.since_s
        memory, t_s = verdict.memory, t_s + DT_S


def test_harness_tracking_judges_the_average_force_error():
    offset = dict(line_force_n=LINE_N + 160.0)
    assert first_trip(408, 3.0, **offset) == pytest.approx(1.0)
    assert first_trip(408, 3.0, line_force_n=LINE_N + 140.0) is None
    assert first_trip(408, 3.0, state="unloading", **offset) is None  # the force loop is not there yet
    for state in ("ready", "paused", "stopping"):
        assert first_trip(408, 3.0, state=state, **offset) == pytest.approx(1.0), state


def swinging_line(offset_n: float, amplitude_n: float, frequency_hz: float, seconds: float = 20.0) -> bool:
    """Line force = target + offset + the walking patient's swing: does 408 trip?"""
    memory = InterlockMemory()
    for n in range(int(seconds / DT_S)):
        t_s = n * DT_S
        line = LINE_N + offset_n + amplitude_n * math.sin(2 * math.pi * frequency_hz * t_s)
        verdict = evaluate(replace(HEALTHY, t_s=t_s, line_force_n=line, deck_fz_n=BODY_WEIGHT_N - line,
                                   deck_cells_n=((BODY_WEIGHT_N - line) / 4,) * 4), LIMITS, memory)
        if 408 in verdict.conditions:
            return True
        memory = verdict.memory
    return False


@pytest.mark.parametrize("frequency_hz", [0.9, 1.8])  # stride and step frequency at ~1 m/s
def test_harness_force_swinging_with_the_gait_does_not_trip_but_a_steady_offset_under_it_does(frequency_hz):
    assert not swinging_line(0.0, 250.0, frequency_hz)
    assert not swinging_line(100.0, 250.0, frequency_hz)
    assert swinging_line(220.0, 250.0, frequency_hz)  # the raw error crosses zero every swing


def test_deck_force_implausible_after_grace_only_on_deck():
    low = FZ_N - 0.21 * BODY_WEIGHT_N
    leaning = dict(deck_fz_n=low, deck_cells_n=(low / 4,) * 4)
    assert first_trip(205, 4.0, **leaning) == pytest.approx(2.0)
    inside = FZ_N - 0.19 * BODY_WEIGHT_N
    assert first_trip(205, 4.0, deck_fz_n=inside, deck_cells_n=(inside / 4,) * 4) is None
    for state in ("ready", "paused"):
        assert first_trip(205, 4.0, state=state, **leaning) == pytest.approx(2.0), state
    for state in ("idle", "unloading", "stopping", "detaching"):
        assert first_trip(205, 4.0, state=state, **leaning) is None, state


def test_deck_force_too_high_trips_too():
    high = FZ_N + 0.21 * BODY_WEIGHT_N
    tripped_after = first_trip(205, 4.0, deck_fz_n=high, deck_cells_n=(high / 4,) * 4)
    assert tripped_after == pytest.approx(2.0)


@pytest.mark.parametrize("cells,trips", [
    ((-101.0, 250.0, 250.0, 150.5 + 101.0), True),   # one cell strongly negative
    ((-99.0, 250.0, 250.0, 150.5 + 99.0), False),
    ((700.0, -40.0, -40.0, -40.0), True),             # one cell 120 N more than the deck total
    ((700.0, -30.0, -30.0, -30.0), False),            # 90 N more
    ((FZ_N, 0.0, 0.0, 0.0), False),                   # all the weight over one corner is possible
])
def test_deck_cell_disagreement(cells, trips):
    fz = sum(cells)
    for state in ("walking", "idle"):
        after = first_trip(206, 1.0, state=state, deck_cells_n=cells, deck_fz_n=fz,
                           line_force_n=BODY_WEIGHT_N - fz, harness_target_n=BODY_WEIGHT_N - fz)
        assert (after == pytest.approx(0.1)) if trips else after is None, (state, after)


def test_patient_not_on_deck_while_walking():
    off = 0.05 * BODY_WEIGHT_N - 1.0
    assert first_trip(502, 2.0, deck_fz_n=off, deck_cells_n=(off / 4,) * 4) == pytest.approx(1.0)
    on = 0.05 * BODY_WEIGHT_N + 1.0
    assert first_trip(502, 2.0, deck_fz_n=on, deck_cells_n=(on / 4,) * 4) is None
    assert first_trip(502, 2.0, state="paused", deck_fz_n=0.0, deck_cells_n=(0.0,) * 4) is None


def test_weight_bearing_alarm_then_stop_as_prescribed():
    limits = replace(LIMITS, weight_bearing_limit_n=FZ_N - 1.0, weight_bearing_action="stop")
    assert first_trip(503, 10.0, limits) == pytest.approx(2.0)
    assert first_trip(504, 10.0, limits) == pytest.approx(7.0)
    for action in ("alarm", "increase_unloading"):
        relaxed = replace(limits, weight_bearing_action=action)
        assert first_trip(503, 10.0, relaxed) == pytest.approx(2.0)
        assert first_trip(504, 10.0, relaxed) is None, action
    assert first_trip(503, 10.0, replace(limits, weight_bearing_limit_n=FZ_N + 1.0)) is None
    assert first_trip(503, 10.0, limits, state="idle") is None
    detail = check(replace(limits, weight_bearing_grace_s=0.0))[503]
    assert f"averages {FZ_N:.0f} N, above the prescribed {FZ_N - 1:.0f} N" in detail


# --- memory ---------------------------------------------------------------------------------
def test_memory_is_returned_new_and_the_old_one_is_untouched():
    first = evaluate(replace(HEALTHY, belt_expected_mps=1.3), LIMITS, InterlockMemory())
    before = (first.memory.last_t_s, dict(first.memory.since_s), dict(first.memory.means))
    second = evaluate(replace(HEALTHY, t_s=10.5, belt_expected_mps=1.3), LIMITS, first.memory)
    assert (first.memory.last_t_s, dict(first.memory.since_s), dict(first.memory.means)) == before
    assert second.memory.last_t_s == 10.5
    assert second.memory.since_s["belt_tracking"] == 10.0  # the time the condition began
    with pytest.raises(TypeError):
        second.memory.since_s["belt_tracking"] = 0.0  # type: ignore[index]


def test_same_arguments_same_verdict():
    memory = evaluate(replace(HEALTHY, belt_expected_mps=1.3), LIMITS, InterlockMemory()).memory
    snapshot = replace(HEALTHY, t_s=11.2, belt_expected_mps=1.3)
    assert evaluate(snapshot, LIMITS, memory) == evaluate(snapshot, LIMITS, memory)
    assert 304 in evaluate(snapshot, LIMITS, memory).conditions
    assert 304 not in evaluate(snapshot, LIMITS, InterlockMemory()).conditions  # fresh memory: timer restarts


def test_low_pass_follows_the_time_constant():
    memory = evaluate(replace(HEALTHY, t_s=0.0), LIMITS, InterlockMemory()).memory
    stepped = evaluate(replace(HEALTHY, t_s=1.0, deck_fz_n=FZ_N + 100.0), LIMITS, memory).memory
    assert stepped.means["fz_error"] == pytest.approx(100.0 * (1 - math.exp(-1.0)))  # tau 1 s
    assert stepped.means["fz"] == pytest.approx(FZ_N + 100.0 * (1 - math.exp(-1.0)))


def test_leaving_the_state_forgets_its_timers():
    memory = evaluate(replace(HEALTHY, deck_fz_n=300.0), LIMITS, InterlockMemory()).memory
    assert "fz_error" in memory.means and "fz_implausible" in memory.since_s
    memory = evaluate(replace(HEALTHY, t_s=10.1, state="stopping"), LIMITS, memory).memory
    assert "fz_error" not in memory.means and "fz_implausible" not in memory.since_s


def test_a_bad_force_target_for_one_tick_does_not_poison_the_force_average():
    memory = InterlockMemory()
    for n in range(600):
        target = math.nan if n == 100 else LINE_N
        verdict = evaluate(replace(HEALTHY, t_s=10.0 + n * DT_S, harness_target_n=target), LIMITS, memory)
        assert set(verdict.conditions) == ({603} if n == 100 else set()), n
        memory = verdict.memory


@pytest.mark.parametrize("bad_t", [math.nan, 9.0])
def test_bad_loop_time_is_an_internal_error_and_timers_hold(bad_t):
    memory = evaluate(replace(HEALTHY, belt_expected_mps=1.3), LIMITS, InterlockMemory()).memory
    verdict = evaluate(replace(HEALTHY, t_s=bad_t, belt_expected_mps=1.3), LIMITS, memory)
    assert set(verdict.conditions) == {603} and "loop time" in verdict.conditions[603]
    assert verdict.memory.last_t_s == 10.0 and verdict.memory.since_s["belt_tracking"] == 10.0


def test_a_failing_check_is_fault_603_and_the_others_still_run():
    verdict = evaluate(replace(HEALTHY, harness_fault_code="E1", estop_closed=False), LIMITS)  # type: ignore[arg-type]
    assert set(verdict.conditions) == {603, 701}
    assert "harness_drive failed" in verdict.conditions[603]


# --- arbitrary inputs -----------------------------------------------------------------------
ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True)
MAYBE_FLOAT = st.none() | ANY_FLOAT
MAYBE_BOOL = st.none() | st.booleans()
LINKS = st.fixed_dictionaries({d: st.builds(DeviceLink, st.none() | st.tuples(st.integers(0, 999), st.text(max_size=20)),
                                            st.floats(min_value=0.0) | st.just(math.nan))
                               for d in DEVICES})
STATES = st.sampled_from(["boot", "selftest", "idle", "attached", "unloading", "ready", "walking", "paused",
                          "stopping", "detaching", "fault_stop", "faulted", "estop", ""]) | st.text(max_size=10)
INPUTS = st.builds(
    InterlockInputs, t_s=ANY_FLOAT, state=STATES, links=LINKS, estop_closed=MAYBE_BOOL, key_present=MAYBE_BOOL,
    harness_attached=MAYBE_BOOL, belt_fault_code=st.integers(-1, 2**16), belt_speed_mps=MAYBE_FLOAT,
    belt_expected_mps=ANY_FLOAT, harness_state=st.none() | st.sampled_from(["operation_enabled", "fault", "bogus"]),
    harness_fault_code=st.integers(0, 2**16), line_force_n=MAYBE_FLOAT, harness_target_n=ANY_FLOAT,
    winch_position_m=MAYBE_FLOAT, deck_fz_n=MAYBE_FLOAT,
    deck_cells_n=st.none() | st.tuples(ANY_FLOAT, ANY_FLOAT, ANY_FLOAT, ANY_FLOAT),
    channel_faults=st.lists(st.tuples(st.sampled_from([201, 202, 203, 204, 5]), st.text(max_size=10)),
                            max_size=3).map(tuple),
    fall=st.text(max_size=5), overrun_streak=st.integers(0, 10),
    config_problems=st.lists(st.text(max_size=5), max_size=2).map(tuple), calibration_ok=st.booleans(),
    selftest_problems=st.lists(st.text(max_size=5), max_size=2).map(tuple))


def numbers_in(inputs: InterlockInputs) -> list[float]:
    values = [inputs.t_s, inputs.belt_speed_mps, inputs.belt_expected_mps, inputs.line_force_n,
              inputs.harness_target_n, inputs.winch_position_m, inputs.deck_fz_n, *(inputs.deck_cells_n or ())]
    values += [link.age_s for link in inputs.links.values()]
    return [v for v in values if v is not None]


def assert_well_formed(verdict: Verdict) -> None:
    assert set(verdict.conditions) <= set(CATALOGUE)
    for detail in verdict.conditions.values():
        assert isinstance(detail, str) and detail
        assert "check failed" not in detail and "interlock check" not in detail  # no internal exception


@settings(max_examples=400, deadline=None)
@given(inputs=INPUTS, steps=st.lists(st.floats(0.0, 1.0), max_size=3))
def test_arbitrary_inputs_give_catalogue_codes_and_nan_never_passes(inputs, steps):
    verdict = evaluate(inputs, LIMITS, InterlockMemory())
    assert_well_formed(verdict)
    if any(math.isnan(v) for v in numbers_in(inputs)):
        assert verdict.conditions, inputs
    for dt in steps:  # and again with the memory it returned
        t_s = inputs.t_s + dt if math.isfinite(inputs.t_s) else inputs.t_s
        verdict = evaluate(replace(inputs, t_s=t_s), LIMITS, verdict.memory)
        assert_well_formed(verdict)


LIMIT_VALUES = {f.name: ANY_FLOAT for f in fields(InterlockLimits) if f.type == "float"}


@settings(max_examples=200, deadline=None)
@given(limits=st.builds(InterlockLimits, **LIMIT_VALUES,
                        stale_after_s=st.dictionaries(st.sampled_from(DEVICES), ANY_FLOAT),
                        weight_bearing_action=st.sampled_from(["alarm", "increase_unloading", "stop", "?"]),
                        overrun_fault_count=st.integers(-1, 10)))
def test_arbitrary_limits_never_raise(limits):
    assert_well_formed(evaluate(HEALTHY, limits, InterlockMemory()))


# --- real and simulated walking -------------------------------------------------------------
RECORDINGS = sorted((Path(__file__).resolve().parents[2] / "shared" / "data" / "gait").glob("*.csv.gz"))


def filtered(rows: np.ndarray, body_weight_n: float) -> np.ndarray:
    """Recording rows (t, harness, FL, FR, RL, RR, ...) in newtons through the live pipeline's
    filters, one row per 200 Hz tick: (t, harness, FL, FR, RL, RR, Fz)."""
    from cext.pipeline import LoadcellPipeline
    from rig.gaitconfig import GaitParams
    params = GaitParams()
    params = replace(params, loadcells=replace(params.loadcells, zero_counts=(0.0,) * 5, n_per_count=(1.0,) * 5))
    pipeline = LoadcellPipeline(params, body_weight_n=body_weight_n, initial_n=rows[0, 1:6])
    out, _ = pipeline.process(np.ascontiguousarray(rows[:, 0]), np.ascontiguousarray(rows[:, 1:6]))
    return np.column_stack((rows[:, 0], out[:, :6]))[::5]


def walk_conditions(ticks: np.ndarray, limits: InterlockLimits, target_n: np.ndarray | None = None,
                    states: list[str] | None = None) -> dict[int, float]:
    """Feed filtered ticks to evaluate (everything else healthy): code -> first time it held."""
    memory, seen = InterlockMemory(), {}
    for n, (t_s, line, fl, fr, rl, rr, fz) in enumerate(ticks):
        snapshot = replace(HEALTHY, t_s=float(t_s), line_force_n=float(line), deck_fz_n=float(fz),
                           deck_cells_n=(float(fl), float(fr), float(rl), float(rr)),
                           harness_target_n=float(line if target_n is None else target_n[n]),
                           state="walking" if states is None else states[n])
        verdict = evaluate(snapshot, limits, memory)
        for code in verdict.conditions:
            seen.setdefault(code, float(t_s))
        memory = verdict.memory
    return seen


@pytest.fixture(scope="module", params=RECORDINGS, ids=lambda p: p.name.split(".")[0])
def recording(request) -> tuple[np.ndarray, InterlockLimits]:
    from cext.pipeline import estimate_body_weight_n
    from rig.sim.world_record import read_recording
    rows = read_recording(request.param)
    body_weight_n = estimate_body_weight_n(rows[:, 1], rows[:, 2:6])
    limits = replace(LIMITS, body_weight_n=body_weight_n, fz_tolerance_n=0.2 * body_weight_n,
                     on_deck_min_n=0.05 * body_weight_n)
    return filtered(rows, body_weight_n), limits


@pytest.mark.skipif(not RECORDINGS, reason="shared/data/gait not available")
def test_real_walking_trips_nothing(recording):
    ticks, limits = recording
    assert walk_conditions(ticks, limits) == {}


def around(ticks: np.ndarray, start_s: float) -> np.ndarray:
    """A copy of the ticks from 10 s before to 10 s after `start_s` (the whole walk is checked above)."""
    return ticks[(ticks[:, 0] >= start_s - 10.0) & (ticks[:, 0] < start_s + 10.0)].copy()


@pytest.mark.skipif(not RECORDINGS, reason="shared/data/gait not available")
@pytest.mark.parametrize("fault", ["wired backwards", "lost its zero"])
def test_real_walking_with_a_broken_cell_trips_206(recording, fault):
    ticks, limits = recording
    start = 30.0
    broken = around(ticks, start)
    later = broken[:, 0] >= start
    old_fl = broken[later, 2].copy()
    broken[later, 2] = -old_fl if fault == "wired backwards" else old_fl - 300.0
    broken[later, 6] += broken[later, 2] - old_fl
    seen = walk_conditions(broken, limits)
    assert start < seen.get(206, math.inf) < start + 2.0, seen


@pytest.mark.skipif(not RECORDINGS, reason="shared/data/gait not available")
def test_real_walking_leaning_on_the_rails_trips_205(recording):
    ticks, limits = recording
    start = 30.0
    leaning = around(ticks, start)
    later = leaning[:, 0] >= start
    leaning[later, 2:7] *= 1.0 - 0.3 * limits.body_weight_n / np.median(ticks[:, 6])  # 30 % BW on the rails
    seen = walk_conditions(leaning, limits)
    assert start + limits.fz_grace_s <= seen.get(205, math.inf) < start + limits.fz_grace_s + 2.0, seen


def simulated_walk(unloading: float, seconds: float = 30.0) -> tuple[np.ndarray, np.ndarray, list[str], float]:
    """The simulated patient: unloading ramped in 2 s while standing, 1 s ready, then walking at
    1.0 m/s with a P loop on the winch (as bench/gait_sweep.py); filtered ticks, targets, states."""
    from bench.gait_sweep import add_sensor_noise
    from cext.pipeline import G_MPS2
    from rig.sim.world import World
    from rig.sim.worldconfig import WorldConfig
    config = replace(WorldConfig(), seed=3)
    world = World(config)
    weight_n = config.patient.body_mass_kg * G_MPS2
    rows, targets = np.empty((int(seconds * 1000), 7)), np.empty(int(seconds * 1000))
    for i in range(rows.shape[0]):
        t_s = i / 1000
        targets[i] = unloading * weight_n * min(1.0, t_s / 2.0)
        if i == 3000:
            world.set_belt_drive(1.0, True)
        if i % 5 == 0:
            cmd = max(-0.3, min(0.3, 0.0008 * (targets[i] - world.line_force_n)))
            world.set_winch(cmd, enabled=True, brake_released=True, force_limit_n=1500.0)
        world.step(0.001)
        rows[i] = (world.t_s, world.line_force_n, *world.deck_forces_n, world.belt_speed_mps)
    ticks = filtered(add_sensor_noise(rows, seed=3), weight_n)
    states = ["unloading" if t < 2.5 else "ready" if t < 3.0 else "walking" for t in ticks[:, 0]]
    return ticks, targets[::5], states, weight_n


@pytest.mark.parametrize("unloading", [0.0, 0.3])
def test_simulated_walking_trips_nothing(unloading):
    ticks, targets, states, weight_n = simulated_walk(unloading)
    limits = replace(LIMITS, body_weight_n=weight_n, fz_tolerance_n=0.2 * weight_n, on_deck_min_n=0.05 * weight_n)
    assert walk_conditions(ticks, limits, targets, states) == {}
