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
from cext.filters import design_sos, frames, group_delay_s
from rig.gaitconfig import GaitParams

G_MPS2 = 9.80665
CHUNK = 65536  # frames per kernel call: bounds the events buffered inside one call
EVENT_NAMES = {0: "heel_strike", 1: "toe_off", 2: "step"}
SIDE_NAMES = {0: "left", 1: "right", -1: ""}
COLUMNS = ("harness_n", "fl_n", "fr_n", "rl_n", "rr_n", "fz_n", "cop_x_m", "cop_y_m", "bws", "flags")


@dataclass(frozen=True)
class GaitEvent:
    """One event: when it happened (t_s) and when the detector knew (detected_at_s)."""

    t_s: float
    event: str   # heel_strike | toe_off | step (harness-only fallback, no side)
    side: str    # left | right | "" for steps
    detected_at_s: float


class LoadcellPipeline:
    """Spike filter -> low-pass + notch -> calibration -> Fz / COP / BWS -> gait events."""

    def __init__(self, params: GaitParams = GaitParams(), body_weight_n: float = 700.0,
                 use_deck: bool = True, initial_n: np.ndarray | None = None):
        f, g, lc = params.filters, params.gait, params.loadcells
        fs = f.sample_rate_hz
        if not body_weight_n > 0 or not np.isfinite(body_weight_n):
            raise ValueError(f"body weight must be a positive force, not {body_weight_n}")
        self.sos = design_sos(fs, f.lowpass_order, f.lowpass_cutoff_hz, f.notch_hz, f.notch_q)
        spikes = _core.SpikeBank(5, f.spike_filter)
        self.delay_s = group_delay_s(self.sos, fs) + spikes.delay_samples / fs
        sos_bank = _core.SosBank(np.ascontiguousarray(np.repeat(self.sos[None], 5, axis=0)))
        if initial_n is not None:
            zi = signal.sosfilt_zi(self.sos)
            sos_bank.set_state(np.ascontiguousarray(np.concatenate([(zi * v).ravel() for v in initial_n])))
        plate = _core.ForcePlate(lc.zero_counts, lc.n_per_count, lc.deck_cells_m, body_weight_n)
        self.detector = _core.GaitDetector(
            threshold_n=g.event_threshold_n, delay_s=self.delay_s, body_weight_n=body_weight_n,
            fs_hz=fs, hs_confirm_frac=g.hs_confirm_frac, hs_confirm_min_n=g.hs_confirm_min_n,
            fit_guard_s=g.fit_guard_s, fit_max_s=g.fit_max_s, contact_frac=g.contact_frac,
            max_double_s=g.max_double_support_s)
        band = signal.butter(2, [0.5, 4.0], btype="bandpass", fs=fs, output="sos")
        harness = _core.HarnessSteps(_core.SosBank(np.ascontiguousarray(band[None])), fs_hz=fs)
        self._core = _core.Pipeline(spikes, sos_bank, plate, self.detector, harness, fs_hz=fs,
                                    reset_gap_s=g.reset_gap_s, use_deck=use_deck)

    @property
    def bad_samples(self) -> int:
        return self._core.bad_samples

    @property
    def gaps(self) -> int:
        return self._core.gaps

    def _check_time(self, t: np.ndarray) -> None:
        if not np.all(np.isfinite(t)):
            bad = int(np.flatnonzero(~np.isfinite(t))[0])
            raise ValueError(f"timestamp {bad} is not finite ({t[bad]})")
        steps = np.diff(t)
        if steps.size and not np.all(steps > 0):
            bad = int(np.flatnonzero(~(steps > 0))[0]) + 1
            raise ValueError(f"timestamps must increase: frame {bad} has t={t[bad]} after {t[bad - 1]}")
        last = self._core.last_t
        if last is not None and t.size and not t[0] > last:
            raise ValueError(f"timestamps must increase: t={t[0]} after {last} from the previous call")

    def process(self, t_s: object, raw: object) -> tuple[np.ndarray, list[GaitEvent]]:
        """Frames (n, 5) of counts with times (n,) -> outputs (n, 10) (see COLUMNS) and events."""
        t = np.asarray(t_s)
        if t.dtype.kind not in "fiu" or t.ndim != 1:
            raise TypeError(f"t_s must be a 1-d numeric array, not {t.dtype} {t.shape}")
        t = np.ascontiguousarray(t, dtype=np.float64)
        data = frames(raw, 5, "raw")
        if data.shape[0] != t.shape[0]:
            raise ValueError(f"{t.shape[0]} timestamps for {data.shape[0]} frames")
        self._check_time(t)
        out = np.empty((t.shape[0], 10))
        events = []
        for lo in range(0, t.shape[0], CHUNK):
            hi = min(lo + CHUNK, t.shape[0])
            events += self._core.process(t[lo:hi], data[lo:hi], out[lo:hi])
        return out, [GaitEvent(a, EVENT_NAMES[k], SIDE_NAMES[s], d) for a, k, s, d in events]


def estimate_body_weight_n(harness_n: np.ndarray, deck_n: np.ndarray) -> float:
    """Body weight from a recording: median of (deck Fz + harness) while someone is on it."""
    total = np.asarray(deck_n).sum(axis=1) + np.asarray(harness_n)
    total = total[np.isfinite(total)]
    if total.size == 0:
        raise ValueError("no finite samples to estimate body weight from")
    loaded = total[total > 0.2 * np.percentile(total, 95)]
    return float(np.median(loaded if loaded.size else total))
