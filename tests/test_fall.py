"""Fall detection (safety/fall.py) and the harness's catch (controllers/fall_catch.py).

Synthetic ticks show each rule on its own; the simulated world (through bench/fall.py, noise
and pipeline included) shows falls caught in time and long walks, stumbles and stepping off
the deck never tripping; the real recordings in shared/data/gait never trip either.
"""
from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from bench import fall as bench
from controllers.fall_catch import FallCatch, FallCatchParams
from safety.fall import FallDetector, FallLimits

BW = 800.0
K = 8000.0
FS = 1000
GAIT_DATA = Path("/work/shared/data/gait")


class Feed:
    """Drives a detector tick by tick (5 samples) from per-sample force functions of time."""

    def __init__(self, detector: FallDetector, seed: int = 0):
        self.detector = detector
        self.rng = np.random.default_rng(seed)
        self.t = 0.0

    def run(self, seconds: float, line, cells, winch_m=lambda t: 0.0,
            target_n: float = 0.3 * BW) -> list[tuple[float, str]]:
        """line(t) -> N, cells(t) -> 4 N; returns [(tick time, detail)] for ticks that reported a fall."""
        out = []
        for _ in range(int(round(seconds * FS / 5))):
            t = self.t + np.arange(1, 6) / FS
            self.t = float(t[-1])
            lines = np.array([line(x) for x in t]) + self.rng.normal(0, 1.5, 5)
            deck = np.array([cells(x) for x in t]) + self.rng.normal(0, 1.5, (5, 4))
            detail = self.detector.update(t, lines, deck, winch_m(self.t), 0.0, target_n)
            if detail:
                out.append((self.t, detail))
        return out


def detector(**limits: float) -> FallDetector:
    return FallDetector(FallLimits(**limits), BW, K)


def standing(t: float) -> np.ndarray:
    return np.full(4, 0.7 * BW / 4)


def collapse_at(t0: float, buckle_s: float = 0.03, before=standing):
    """Every cell loses its load linearly over buckle_s from t0 (the knees buckle)."""
    def cells(t: float) -> np.ndarray:
        return before(t) * min(1.0, max(0.0, 1.0 - (t - t0) / buckle_s))
    return cells


# ---- the legs give way ----------------------------------------------------------------------
def test_quiet_standing_never_falls():
    feed = Feed(detector())
    assert feed.run(5.0, lambda t: 0.3 * BW, standing) == []
    assert feed.detector.timeline == []


def test_collapse_is_detected_within_20_ms_and_latched():
    feed = Feed(detector())
    assert feed.run(2.0, lambda t: 0.3 * BW, standing) == []
    hits = feed.run(0.5, lambda t: 0.3 * BW, collapse_at(2.0))
    first_t, detail = hits[0]
    assert first_t - 2.0 <= 0.020
    assert "legs gave way" in detail and "% of body weight" in detail
    onset = feed.detector.timeline[0][0]
    assert abs(onset - 2.0) <= 0.004  # the onset estimate, for the fall log
    assert feed.detector.timeline[-1][1].startswith("fall detected")
    # latched: still fallen once the deck is loaded again, until reset
    assert feed.run(0.2, lambda t: 0.3 * BW, standing)[-1][1] == detail
    feed.detector.reset()
    assert not feed.detector.fallen and feed.detector.timeline == []
    assert feed.run(1.0, lambda t: 0.3 * BW, standing) == []


def test_a_fall_held_still_in_the_harness_is_over_after_stand_s():
    feed = Feed(detector())
    feed.run(2.0, lambda t: 0.3 * BW, standing)
    feed.run(0.5, lambda t: 0.9 * BW, collapse_at(2.0))
    assert feed.detector.fallen
    feed.run(1.2, lambda t: 0.95 * BW, lambda t: np.zeros(4))  # caught, hanging still, feet off the deck
    assert not feed.detector.fallen
    assert feed.detector.timeline[-1][1].startswith("the fall is over: held still by the harness")
    feed.detector.reset()  # acknowledged: the support ramps down and lowers the patient
    lowering = lambda t: 0.95 * BW - 0.1 * BW * (t - feed.t)  # noqa: E731
    assert feed.run(2.0, lowering, lambda t: np.full(4, 0.02 * BW)) == []  # feet barely touching: no new fall
    assert feed.run(1.0, lambda t: 0.3 * BW, standing) == []  # standing again: the hang check re-arms
    assert feed.detector.hang_armed


def test_a_fall_clears_once_the_patient_has_stood_again_for_stand_s_and_not_before():
    feed = Feed(detector())
    feed.run(2.0, lambda t: 0.3 * BW, standing)
    feed.run(0.5, lambda t: 0.9 * BW, collapse_at(2.0))  # fell, hanging in the harness
    assert feed.detector.fallen
    light = lambda t: np.full(4, 0.2 * BW / 4)  # noqa: E731 - below stand_deck_fraction: not standing
    swinging = lambda t: 0.7 * BW + 0.2 * BW * np.sin(2 * np.pi * 1.5 * t)  # noqa: E731 - not still either
    assert feed.run(3.0, swinging, light)  # still fallen: legs not carrying enough, body moving
    assert feed.run(0.8, lambda t: 0.3 * BW, standing)  # standing, but not yet for stand_s
    feed.run(0.5, lambda t: 0.3 * BW, standing)  # passes the 1 s mark
    assert not feed.detector.fallen
    assert 1.0 <= feed.detector.recovered_at_s - 5.5 <= 1.05
    assert feed.detector.timeline[-1][1].startswith("the fall is over: standing")
    assert feed.run(2.0, lambda t: 0.3 * BW, standing) == []  # and quiet standing stays quiet


def test_load_moving_from_one_foot_to_the_other_is_not_a_collapse():
    # the rear cells unload in 10 ms while the front cells take the load: a step, not a fall
    def cells(t: float) -> np.ndarray:
        shift = min(1.0, max(0.0, (t - 1.0) / 0.01))
        rear, front = 0.35 * BW * (1 - shift), 0.35 * BW * (1 + shift)
        return np.array([front / 2, front / 2, rear / 2, rear / 2])
    assert Feed(detector()).run(2.0, lambda t: 0.3 * BW, cells) == []


def test_same_drop_shared_by_all_cells_is_a_collapse():
    # control for the test above: the rear drop with the front cells dropping too
    def cells(t: float) -> np.ndarray:
        drop = min(1.0, max(0.0, (t - 1.0) / 0.01))
        return np.full(4, 0.7 * BW / 4 * (1 - 0.8 * drop))
    assert Feed(detector()).run(2.0, lambda t: 0.3 * BW, cells)


def test_slow_unloading_is_not_a_collapse():
    # the deck empties over 150 ms (a stumble's dip, a squat): too slow for the fast test
    assert Feed(detector()).run(2.0, lambda t: 0.3 * BW, collapse_at(1.0, buckle_s=0.15)) == []


def test_rebound_unloading_while_moving_up_is_not_a_fall():
    # a strong push (total force 1.8 BW for 0.3 s) then the deck empties fast: the body flies up
    def cells(t: float) -> np.ndarray:
        if 1.0 <= t < 1.3:
            return np.full(4, 1.5 * BW / 4)
        return collapse_at(1.3, buckle_s=0.02)(t) if t >= 1.3 else standing(t)
    assert Feed(detector()).run(1.6, lambda t: 0.3 * BW, cells) == []


def test_single_sample_spikes_are_ignored():
    rng = np.random.default_rng(3)
    spikes = {round(x, 3): rng.uniform(-600, 600, 4) for x in rng.uniform(0.1, 4.9, 40)}

    def cells(t: float) -> np.ndarray:
        return standing(t) + spikes.get(round(t, 3), 0.0)
    assert Feed(detector()).run(5.0, lambda t: 0.3 * BW, cells) == []


def test_lost_samples_are_held_not_taken_for_a_collapse():
    det = detector()
    t = np.arange(1, 6) / FS
    for k in range(400):
        deck = np.full((5, 4), 0.7 * BW / 4)
        if k % 7 == 3:
            deck[2] = np.nan
        assert det.update(t + k * 0.005, np.full(5, 0.3 * BW), deck, 0.0, 0.0, 0.3 * BW) == ""


def test_deck_total_alone_is_accepted():
    det = detector()
    feed = Feed(det)
    assert feed.run(1.0, lambda t: 0.3 * BW, standing) == []
    t = feed.t + np.arange(1, 6) / FS
    assert det.update(t, np.full(5, 0.3 * BW), np.full(5, 0.7 * BW), 0.0, 0.0, 0.3 * BW) == ""


def test_mismatched_samples_are_refused():
    with pytest.raises(ValueError, match="matching samples"):
        detector().update(np.arange(5) / FS, np.zeros(4), np.zeros((5, 4)), 0.0, 0.0, 0.0)


@pytest.mark.parametrize("name", ["descent_limit_m", "hang_s", "collapse_fraction"])
def test_limits_must_be_positive(name: str):
    with pytest.raises(ValueError, match=name):
        FallLimits(**{name: -1.0})


def test_detector_needs_a_body_weight():
    with pytest.raises(ValueError, match="body weight"):
        FallDetector(FallLimits(), 0.0, K)


# ---- the patient hangs in the harness -------------------------------------------------------
def test_hanging_in_the_harness_is_a_fall_after_hang_s():
    feed = Feed(detector())
    assert feed.run(1.0, lambda t: 0.3 * BW, standing) == []
    hanging = feed.run(0.35, lambda t: 0.9 * BW, lambda t: np.full(4, 0.02 * BW))
    assert hanging == []  # 0.35 s: a stumble could still reload the legs
    hits = feed.run(0.1, lambda t: 0.9 * BW, lambda t: np.full(4, 0.02 * BW))
    assert hits and "hanging in the harness" in hits[0][1]
    assert any("legs stopped carrying" in what for _, what in feed.detector.timeline)


def test_descent_beyond_the_limit_with_unloaded_legs_is_a_fall():
    # the legs give way slowly (over 0.3 s: too slow for the collapse test) and the winch
    # pays out 10 cm while the line keeps 0.5 BW
    def winch(t: float) -> float:
        return -min(0.10, max(0.0, (t - 1.0) * 0.4))

    def cells(t: float) -> np.ndarray:
        return np.full(4, 0.5 * BW / 4 * min(1.0, max(0.0, 1.0 - (t - 1.0) / 0.3)))
    feed = Feed(detector())
    hits = feed.run(2.0, lambda t: 0.5 * BW, cells, winch)
    assert hits and "hanging in the harness" in hits[0][1] and "descended" in hits[0][1]
    assert hits[0][0] < 1.0 + 0.3 + 0.4 + 0.05


def test_deep_dip_on_loaded_legs_is_not_a_fall():
    # same 10 cm descent, but the legs carry the body (a squat, a stumble's dip)
    def winch(t: float) -> float:
        return -min(0.10, max(0.0, (t - 1.0) * 0.4))
    assert Feed(detector()).run(2.0, lambda t: 0.5 * BW, standing, winch) == []


def test_harness_force_near_the_unloading_target_is_not_a_fall():
    # 90 % unloading prescribed: the line carries 0.9 BW on purpose, the deck little
    feed = Feed(detector())
    assert feed.run(2.0, lambda t: 0.9 * BW, lambda t: np.full(4, 0.02 * BW), target_n=0.9 * BW) == []


def test_stepping_off_the_deck_at_rest_is_not_a_fall():
    def cells(t: float) -> np.ndarray:  # one foot, then the other, leaves the deck over 0.2 s
        right = min(1.0, max(0.0, (t - 1.0) / 0.2))
        left = min(1.0, max(0.0, (t - 1.6) / 0.2))
        half_foot = 0.35 * BW / 2  # each foot stands on its side's front and rear cells
        return half_foot * np.array([1 - left, 1 - right, 1 - left, 1 - right])
    assert Feed(detector()).run(4.0, lambda t: 0.3 * BW, cells) == []


# ---- the catch ------------------------------------------------------------------------------
def catch(**kw) -> FallCatch:
    return FallCatch(FallCatchParams(max_velocity_mps=1.2, force_cap_n=1500.0, body_weight_n=BW, **kw))


def test_catch_hauls_in_while_the_patient_drops():
    c = catch()
    assert c.step(0.005, 300.0, 0.00, 0.0) == pytest.approx(1.2)  # first tick: assume dropping
    # patient dropping 0.5 m/s, line far below body weight: full speed
    assert c.step(0.005, 300.0 + K * 0.0025, 0.0, 0.0) == pytest.approx(1.2)


def test_catch_follows_the_descent_at_the_arrest_force():
    c = catch()
    arrest = 1.35 * BW
    c.step(0.005, arrest, 0.10, 0.3)
    # the stretch grew 1.5 mm in 5 ms with the winch still: the patient drops at 0.3 m/s while
    # the line is at the arrest force, so the catch hauls at about that speed (not flat out)
    command = c.step(0.005, arrest + K * 0.0015, 0.10, 0.3)
    assert 0.15 < command < 0.35
    assert not c.holding


def test_catch_holds_once_the_patient_hangs_still_and_stays_holding():
    c = catch()
    c.step(0.005, 900.0, 0.10, 0.0)
    assert c.step(0.005, 900.0, 0.10, 0.0) == 0.0  # still, carrying > BW
    assert c.holding and "hangs still" in c.reason
    # a swing later (line force down, patient dropping again) does not start hauling again
    assert c.step(0.005, 700.0, 0.10, 0.0) == 0.0
    c.reset()
    assert not c.holding


def test_catch_never_pays_out():
    rng = np.random.default_rng(5)
    c = catch()
    for _ in range(2000):
        line, winch, speed = rng.uniform(-100, 2000), rng.uniform(-0.3, 0.3), rng.uniform(-2, 2)
        command = c.step(0.005, float(line), float(winch), float(speed))
        assert command >= 0.0
        if c.holding:
            c.reset()


def test_catch_stops_at_the_force_limit_and_the_haul_limit():
    c = catch(max_force_fraction_of_bw=1.5)
    c.step(0.005, 1250.0, 0.0, 0.0)
    assert c.step(0.005, 1250.0 - K * 0.003, 0.0, 0.0) == 0.0 and "limit" in c.reason
    c = catch(max_haul_m=0.1)
    c.step(0.005, 100.0, 0.0, 0.0)
    assert c.step(0.005, 100.0, 0.1, 1.0) == 0.0 and "most allowed" in c.reason


def test_catch_holds_on_readings_that_are_not_numbers():
    c = catch()
    assert c.step(0.005, float("nan"), 0.0, 0.0) == 0.0 and "not a number" in c.reason


def test_catch_params_are_checked():
    with pytest.raises(ValueError, match="max_velocity_mps"):
        FallCatchParams(max_velocity_mps=0.0, force_cap_n=1500.0)


# ---- the simulated world --------------------------------------------------------------------
@pytest.mark.parametrize("sc", bench.fall_scenarios(50)[::10], ids=lambda s: s.name)
def test_simulated_falls_are_caught_in_time(sc: bench.Scenario):
    out = bench.run(sc)
    assert out.reaction_ms <= 25.0
    assert out.descent_m <= 0.07
    assert out.detail.startswith("patient fell")
    assert out.peak_line_n < 2.0 * out.weight_n


def test_holding_alone_lets_the_patient_sink_past_the_limit():
    # the physics the catch is for: 30 % unloading, a still winch from the detection on
    sc = bench.Scenario("hold only", 1.0, 0.3, seed=3, seconds=6.5, fall_at_s=5.3)
    held = bench.run(sc, rig=bench.BenchRig(catch=False))
    caught = bench.run(sc)
    assert held.descent_m > 0.07
    assert caught.descent_m <= 0.07


@pytest.mark.parametrize("sc", [s for s in bench.walk_scenarios(25.0)], ids=lambda s: s.name)
def test_fall_free_walking_never_trips(sc: bench.Scenario):
    out = bench.run(sc)
    assert out.detail == "", out.detail


@pytest.mark.parametrize("speed, unloading, side", [(1.0, 0.6, "left"), (2.0, 0.6, "right"), (0.3, 0.3, "none"),
                                                     (0.5, 0.3, "right"), (1.5, 0.0, "left")])
def test_stumbles_never_trip(speed: float, unloading: float, side: str):
    # Not covered: the world's stumbles at <= 0.5 m/s with 60 % unloading leave the legs
    # unloaded for 0.45-0.7 s with the harness carrying full body weight and the patient
    # 11-15 cm down: by the fall rules that is a fall (see the bench and the report).
    stumbles = tuple((6.0 + 2.5 * k, "stumble") for k in range(6))
    sc = bench.Scenario("stumbles", speed, unloading, side, seed=31, seconds=22.0, events=stumbles)
    assert bench.run(sc).detail == ""


@pytest.mark.parametrize("path", sorted(GAIT_DATA.glob("*.csv.gz")), ids=lambda p: p.name.split(".")[0])
def test_real_recordings_never_trip(path: Path):
    with gzip.open(path, "rt") as f:
        data = np.loadtxt(f, delimiter=",", skiprows=1)
    harness, cells = data[:, 1], data[:, 2:6]
    total = harness + cells.sum(axis=1)
    weight = float(np.median(total[total > 0.2 * np.percentile(total, 95)]))
    det = FallDetector(FallLimits(), weight, K)
    target = float(np.mean(harness))
    for lo in range(0, data.shape[0], 5):  # a still winch: the recordings have no winch
        detail = det.update(data[lo:lo + 5, 0], harness[lo:lo + 5], cells[lo:lo + 5], 0.0, 0.0, target)
        assert detail == "", f"{path.name} at {data[lo, 0]:.3f} s: {detail}"


def test_bench_prints_the_contract_json(capsys):
    code = bench.main(argparse.Namespace(json=True, falls=2, seconds=8.0))
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"falls", "reaction_p99_ms", "reaction_max_ms", "max_descent_cm", "false_trips"} <= last.keys()
    assert last["falls"] == 2 and last["false_trips"] == 0
    assert code == 0
