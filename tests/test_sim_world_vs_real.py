"""Simulated walking compared with the real recordings in shared/data/gait/ (same figures)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rig.sim.world import World
from rig.sim.world_figures import gait_figures
from rig.sim.world_record import read_recording, read_truth, truth_path_for

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "gait"
RECORDINGS = sorted(DATA.glob("*.csv.gz"))
pytestmark = pytest.mark.skipif(not RECORDINGS, reason="shared/data/gait not available")


def sim_figures() -> dict[str, float]:
    w = World()
    w.schedule(0.0, "harness_detach")  # the recordings have no harness load
    w.set_belt_drive(1.0, True)
    rows = []
    for _ in range(60000):
        w.step(0.001)
        fl, fr, rl, rr = w.deck_forces_n
        rows.append((w.t_s, w.line_force_n, fl, fr, rl, rr, w.belt_speed_mps))
    truth = [e for e in w.truth if e[0] > 6.0 and e[1] in ("heel_strike", "toe_off")]
    rec = np.array(rows)
    return gait_figures(rec[rec[:, 0] > 6.0], truth)


def test_simulated_deck_forces_look_like_the_real_recordings():
    real = [gait_figures(read_recording(p), read_truth(truth_path_for(p))) for p in RECORDINGS[:2]]
    sim = sim_figures()
    lo = {k: min(r[k] for r in real) for k in sim}
    hi = {k: max(r[k] for r in real) for k in sim}
    assert lo["cadence_spm"] - 5 <= sim["cadence_spm"] <= hi["cadence_spm"] + 5
    for key in ("stance_left", "stance_right"):  # real walkers 0.63-0.65 (overground, turns)
        assert lo[key] - 0.06 <= sim[key] <= hi[key] + 0.02
    assert sim["stride_cv_robust"] == pytest.approx(np.mean([r["stride_cv_robust"] for r in real]), abs=0.01)
    assert sim["cop_x_front_m"] == pytest.approx(np.mean([r["cop_x_front_m"] for r in real]), abs=0.05)
    assert sim["cop_y_range_m"] == pytest.approx(np.mean([r["cop_y_range_m"] for r in real]), abs=0.04)
    for key in ("foot_peak1_ratio", "foot_peak2_ratio", "foot_valley_ratio", "fz_peak_ratio"):
        # insoles (the real data) flatten the valley: 0.83-0.87 there, 0.7-0.8 in DESIGN 8
        assert sim[key] == pytest.approx(np.mean([r[key] for r in real]), abs=0.2), key
