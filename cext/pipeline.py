"""The load-cell pipeline the live loop and `rig replay` share: checked input in, forces,
centre of pressure, body-weight support and gait events out.

`LoadcellPipeline.process(t_s, raw)` takes any number of frames (a 5-sample tick or a whole
recording) and gives the same result either way. Non-finite samples are held and flagged,
gaps are counted (a long one restarts the detector); timestamps that do not increase, wrong
shapes or dtypes raise ValueError / TypeError before anything is processed.
Not here: devices, files (rig/replay.py) or gait figures (cext/gaitfigures.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal

from cext import _core
from cext._detector import GaitDetector, HarnessSteps
from cext._filters import SosBank, SpikeBank
from cext._forceplate import ForcePlate
from cext.filters import design_sos, group_delay_s
from rig.gaitconfig import GaitParams

G_MPS2 = 9.80665
COLUMNS = ("harness_n", "fl_n", "fr_n", "rl_n", "rr_n", "fz_n", "cop_x_m", "cop_y_m", "bws", "flags")


@dataclass(frozen=True)
class GaitEvent:
    """One event: when it happened (t_s) and when the detector knew (detected_at_s)."""

    t_s: float
    event: str   # heel_strike | toe_off | step (harness-only fallback, no side)
    side: str    # left | right | "" for steps
    detected_at_s: float


class LoadcellPipeline(_core.Pipeline):
    """Spike filter -> low-pass + notch -> calibration -> Fz / COP / BWS -> gait events.

    `process(t_s, raw)` (inherited from the Cython kernel, the live loop's entry point):
    frames (n, 5) of counts with times (n,) -> outputs (n, 10) (see COLUMNS) and a list of
    GaitEvent. `bad_samples`, `gaps` and `resets` count held samples, gaps and restarts.
    """

    def __init__(self, params: GaitParams = GaitParams(), body_weight_n: float = 700.0,
                 use_deck: bool = True, initial_n: np.ndarray | None = None):
        f, g, lc = params.filters, params.gait, params.loadcells
        fs = f.sample_rate_hz
        if not body_weight_n > 0 or not np.isfinite(body_weight_n):
            raise ValueError(f"body weight must be a positive force, not {body_weight_n}")
        self.sos = design_sos(fs, f.lowpass_order, f.lowpass_cutoff_hz, f.notch_hz, f.notch_q)
        spikes = SpikeBank(5, f.spike_filter)
        self.delay_s = group_delay_s(self.sos, fs) + spikes.delay_samples / fs
        sos_bank = SosBank(np.ascontiguousarray(np.repeat(self.sos[None], 5, axis=0)))
        if initial_n is not None:
            zi = signal.sosfilt_zi(self.sos)
            sos_bank.set_state(np.ascontiguousarray(np.concatenate([(zi * v).ravel() for v in initial_n])))
        plate = ForcePlate(lc.zero_counts, lc.n_per_count, lc.deck_cells_m, body_weight_n)
        self.detector = make_detector(g, self.delay_s, body_weight_n, fs)
        band = signal.butter(2, [0.5, 4.0], btype="bandpass", fs=fs, output="sos")
        harness = HarnessSteps(SosBank(np.ascontiguousarray(band[None])), fs_hz=fs)
        self.assemble(spikes, sos_bank, plate, self.detector, harness, GaitEvent, fs_hz=fs,
                      reset_gap_s=g.reset_gap_s, use_deck=use_deck)


def make_detector(g, delay_s: float, body_weight_n: float, fs_hz: float) -> GaitDetector:
    """The deck gait detector from the [gait] config section."""
    return GaitDetector(
        threshold_n=g.event_threshold_n, delay_s=delay_s, body_weight_n=body_weight_n,
        fs_hz=fs_hz, hs_confirm_frac=g.hs_confirm_frac, hs_confirm_min_n=g.hs_confirm_min_n,
        fit_guard_s=g.fit_guard_s, fit_max_s=g.fit_max_s, contact_frac=g.contact_frac,
        min_step_frac=g.min_step_frac, max_double_s=g.max_double_support_s)


def estimate_body_weight_n(harness_n: np.ndarray, deck_n: np.ndarray) -> float:
    """Body weight from a recording: median of (deck Fz + harness) while someone is on it."""
    total = np.asarray(deck_n).sum(axis=1) + np.asarray(harness_n)
    total = total[np.isfinite(total)]
    if total.size == 0:
        raise ValueError("no finite samples to estimate body weight from")
    loaded = total[total > 0.2 * np.percentile(total, 95)]
    return float(np.median(loaded if loaded.size else total))
