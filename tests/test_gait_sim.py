"""The gait detector on simulated walking (bench/gait_sweep.py), scored against the world's
truth; and the harness-only fallback's cadence and step time on a simulated trace."""
import numpy as np
import pytest

from bench.gait_sweep import Condition, add_sensor_noise, detect, run_condition, walk
from cext.gaitfigures import GaitFigures


@pytest.mark.parametrize("cond", [
    Condition("1.0 m/s, 30 %", speed_mps=1.0, unloading=0.3),
    Condition("paretic left, 0.5 m/s, 50 %", speed_mps=0.5, unloading=0.5, paretic_side="left"),
    # very slow: the COP barely moves forward, the lateral transfer is slow and long
    Condition("0.2 m/s, 30 %", speed_mps=0.2, unloading=0.3),
])
def test_events_on_simulated_walking(cond):
    result = run_condition(cond, seconds=25.0)
    hs, to = result["heel_strike"], result["toe_off"]
    assert hs["n_true"] > 20 and to["n_true"] > 20
    assert hs["recall_pct"] >= 95 and hs["precision_pct"] >= 95
    assert to["recall_pct"] >= 95 and to["precision_pct"] >= 95
    assert hs["abs_err_median_ms"] < 4 and hs["abs_err_p95_ms"] < 10
    assert to["abs_err_median_ms"] < 12 and to["abs_err_p95_ms"] < 40


def test_every_event_is_timed_before_it_is_known():
    """No event is placed in the future or far in the past (a bad interpolation once put a
    heel strike at t = 4223 s, and the step it taught blocked the next ones)."""
    rows, _, weight_n = walk(Condition("slow", speed_mps=0.2, unloading=0.3), 25.0)
    events = detect(add_sensor_noise(rows, seed=1), weight_n)
    gait = [e for e in events if e.event != "step"]
    assert len(gait) > 20
    assert all(e.detected_at_s - 1.5 < e.t_s < e.detected_at_s for e in gait)


def test_noise_is_like_the_recordings():
    rows = np.zeros((20_000, 7))
    rows[:, 0] = np.arange(20_000) / 1000
    noisy = add_sensor_noise(rows, seed=3, spikes_per_s=0.0)[:, 1:6]
    assert 2.5 < noisy.std() < 2.7  # sqrt(1.5^2 + 3^2 / 2): 1.5 N RMS + 3 N hum
    spiky = add_sensor_noise(rows, seed=3, spikes_per_s=2.0)[:, 1:6]
    assert 10 <= (np.abs(spiky) > 150).sum() <= 80


def test_harness_only_fallback_gives_cadence_and_step_time():
    rows, truth, weight_n = walk(Condition("harness", speed_mps=1.0, unloading=0.3), 30.0)
    events = detect(add_sensor_noise(rows, seed=2), weight_n, use_deck=False)
    assert events and all(e.event == "step" and e.side == "" for e in events)
    figures = GaitFigures()
    for e in events:
        if e.t_s > 6.0:
            figures.add(e)
    got = figures.harness_summary()
    strikes = [t for t, kind, _ in truth if kind == "heel_strike"]
    true_step_s = float(np.mean(np.diff(strikes)))
    assert got["step_time_s"] == pytest.approx(true_step_s, rel=0.04)
    assert got["cadence_steps_per_min"] == pytest.approx(60.0 / true_step_s, rel=0.04)
