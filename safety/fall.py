"""Fall detection: has the patient fallen into the harness? Evaluated once per supervisor tick.

Two kinds of evidence, from what the supervisor has every tick (the tick's load-cell samples,
calibrated, at 1 kHz; the winch's position; body weight; the unloading target):

* The legs give way (fast, for the belt stop). When the knees buckle, the load on the deck
  collapses within a few tens of ms, on all four deck cells together (the body drops onto
  the harness), and the total vertical force (deck + harness line) falls below body weight:
  the body accelerates down. Walking moves load from one foot to the other (some cells lose
  load while others gain it) and changes the total force far more slowly; a stumble unloads
  the deck over a tenth of a second or more. A sample is collapsed when, over the last
  `collapse_window_s`: the deck lost at least `collapse_drop_bw` x body weight; every cell
  that carried load lost at least `collapse_fraction` of it; in the window before, the deck
  lost at most `collapse_fresh_ratio` as much (a sudden collapse, not the tail of a slow
  decline); the total force is below (1 - `collapse_accel_g`) x body weight; and the body
  is not moving up fast (a rebound after a push also unloads the deck quickly). `confirm_s`
  of consecutive collapsed samples is a fall. Single-sample spikes are removed first
  (median of three, one sample of delay).
* The patient hangs in the harness (slower, for falls the first test does not see: a slow
  sag, a partial collapse). The legs carry less than `hang_deck_fraction` x body weight while
  either the harness force has risen towards body weight (`force_fraction_of_bw`, and at
  least `force_rise_bw` x body weight above the unloading target) or the patient has
  descended more than `descent_limit_m`, for `hang_s`. Descent is measured with the harness:
  the patient's height is the winch position minus the line's stretch (force / stiffness),
  compared with its slow average before the event; a slack line measures nothing.
  A deep dip while the legs still carry the body (a stumble, a squat) is not a fall.

Once fallen the detector stays fallen (and keeps the deepest descent and the peak harness
force for the fall log) until the fall is over: for `stand_s` the patient either stands (the
deck carrying at least `stand_deck_fraction` of body weight) or hangs still in the harness (the
line force within `still_bw` of its recent average). Then `fallen` is False, `recovered_at_s` is
set and the timeline says so; the safety latch still holds fault 501 until the therapist
acknowledges, after which the support ramps back to its target and lowers a caught patient
onto their feet. Without this a fall, or a false one from a bad cell, could never be
acknowledged: the condition would hold for ever. A fall that ended hanging still disarms the
hang check until the legs carry `stand_deck_fraction` again, so lowering the caught patient onto
their feet is not taken for a new fall (a collapse of loaded legs is still seen). `reset()`
forgets everything but that.

Pure: numbers in, a string out; no clock, no device, no I/O. The per-sample work (spike
removal and the collapse test) runs in C, cext/_collapse.pyx, checked sample for sample
against a Python reference (tests/fall_reference.py); a tick costs a few microseconds. Not here:
what the rig does about a fall (the safety machine stops the belt, controllers/fall_catch.py
holds the patient), the load-cell filters (cext/).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cext._collapse import CollapseWatch

LINE_AVERAGE_GAIN = 0.05  # per tick: the line force's recent average forgets over ~20 ticks (0.1 s)


@dataclass(frozen=True)
class FallLimits:
    """Thresholds of the fall detector (SI units; forces as fractions of body weight)."""

    descent_limit_m: float = 0.07  # DESIGN.md 5: the fall limit
    force_fraction_of_bw: float = 0.85  # harness force "towards full body weight"
    force_rise_bw: float = 0.2  # ... and at least this x BW above the unloading target
    hang_deck_fraction: float = 0.15  # the legs carry less than this x BW: not standing
    hang_s: float = 0.4  # hanging this long is a fall (a stumble reloads the legs sooner)
    collapse_window_s: float = 0.015  # the deck's load collapses within this time
    collapse_drop_bw: float = 0.12  # ... by at least this x BW
    collapse_fraction: float = 0.45  # ... every loaded cell by at least this fraction
    collapse_fresh_ratio: float = 0.5  # ... having lost at most this x as much in the window before
    collapse_accel_g: float = 0.15  # ... leaving the body accelerating down by at least this
    confirm_s: float = 0.002  # a collapse must hold this long (noise, single bad samples)
    rising_limit_mps: float = 0.4  # a body moving up faster than this is rebounding, not falling
    cell_loaded_bw: float = 0.03  # a deck cell carrying less than this x BW is ignored
    slack_n: float = 20.0  # below this the line is slack and measures no height
    baseline_tau_s: float = 1.0  # the patient's usual height: average over about this long
    velocity_tau_s: float = 0.3  # the body's vertical velocity from force forgets over this
    weight_tau_s: float = 2.0  # ... measured against the total force's average over about this long
    sample_rate_hz: float = 1000.0  # the load-cell stream's rate
    stand_deck_fraction: float = 0.25  # after a fall: the legs carry at least this x BW ...
    still_bw: float = 0.05  # ... or the line force stays within this x BW of its recent average ...
    stand_s: float = 1.0  # ... for this long: the fall is over

    def __post_init__(self) -> None:
        for name, value in self.__dict__.items():
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"fall limit {name} must be a positive number, not {value}")
        for name in ("collapse_fraction", "hang_deck_fraction", "stand_deck_fraction"):
            if not getattr(self, name) < 1.0:
                raise ValueError(f"fall limit {name} must be below 1, not {getattr(self, name)}")


def collapse_watch_args(limits: FallLimits, body_weight_n: float) -> tuple:
    """The per-sample kernel's arguments (cext._collapse.CollapseWatch) from the limits."""
    fs = limits.sample_rate_hz
    return (max(1, int(round(limits.collapse_window_s * fs))), max(1, int(round(limits.confirm_s * fs))),
            body_weight_n, fs, limits.collapse_drop_bw, limits.collapse_accel_g, limits.collapse_fresh_ratio,
            limits.collapse_fraction, limits.cell_loaded_bw, limits.rising_limit_mps, limits.weight_tau_s,
            limits.velocity_tau_s)


class FallDetector:
    """Per-tick fall detector (see the module docstring).

    `update()` takes the tick's samples: times `t_s` (n,), line force `line_n` (n,), deck
    forces `deck_fz_n` as (n, 4) cells FL, FR, RL, RR or (n,) total (then the all-cells test
    cannot see load moving between the feet: pass the cells), newtons, calibrated, unfiltered; the
    winch's position (m hauled in) and velocity; the unloading target (N). Non-finite samples
    are held at the last good value. It returns "" or the fall's detail in plain words.
    """

    def __init__(self, limits: FallLimits, body_weight_n: float, line_stiffness_n_per_m: float) -> None:
        if not (math.isfinite(body_weight_n) and body_weight_n > 0):
            raise ValueError(f"body weight must be a positive force, not {body_weight_n}")
        if not (math.isfinite(line_stiffness_n_per_m) and line_stiffness_n_per_m > 0):
            raise ValueError(f"line stiffness must be positive, not {line_stiffness_n_per_m}")
        self.limits = limits
        self.body_weight_n = float(body_weight_n)
        self.stiffness = float(line_stiffness_n_per_m)
        self._watch = CollapseWatch(*collapse_watch_args(limits, self.body_weight_n))
        # The hang check is disarmed while a caught patient is lowered back onto their feet (a
        # fall that ended hanging still), and re-armed once the legs carry them again; reset()
        # keeps it, since the supervisor resets the detector when the fault is acknowledged.
        self.hang_armed = True
        self.reset()

    def reset(self) -> None:
        """Forget everything: not fallen, no history, an empty timeline."""
        self.detail = ""
        self.timeline: list[tuple[float, str]] = []
        self.max_descent_m = 0.0  # deepest descent seen since the fall (for the fall log)
        self.peak_line_n = 0.0  # highest line force seen since the fall
        self._watch.reset()  # the samples, the collapse window, the body's velocity
        self._baseline_m = math.nan
        self._descent_m = 0.0
        self._hang_since_s = math.nan
        self._hang_note: tuple[float, str] | None = None
        self._standing_since_s = math.nan
        self._line_avg_n = math.nan
        self.recovered_at_s = math.nan  # when the last fall was over

    @property
    def fallen(self) -> bool:
        return bool(self.detail)

    # ---- the per-tick entry point -----------------------------------------------------------
    def update(self, t_s: np.ndarray, line_n: np.ndarray, deck_fz_n: np.ndarray, winch_position_m: float,
               winch_velocity_mps: float, target_n: float) -> str:
        """One tick's samples and drive readings in; "" or the fall's detail out (see class doc)."""
        t, line, cells = self._checked(t_s, line_n, deck_fz_n)
        if t.size == 0:
            return self.detail
        watch = self._watch
        found = watch.feed(t, line, cells, not self.fallen)
        self._update_height(watch.line_mean, winch_position_m, t.size)
        if self.fallen:
            self.peak_line_n = max(self.peak_line_n, watch.line_max)
            self._check_over(watch.last_t, watch.deck_min, watch.line_mean)
            return self.detail
        if found:
            return self._declare_collapse(watch.line_last)
        if not self.hang_armed:
            self.hang_armed = watch.deck_mean >= self.limits.stand_deck_fraction * self.body_weight_n
            return ""
        return self._check_hang(watch.last_t, watch.line_mean, watch.deck_mean, target_n)

    @staticmethod
    def _checked(t_s: np.ndarray, line_n: np.ndarray, deck_fz_n: np.ndarray) -> tuple[np.ndarray, ...]:
        t = np.ascontiguousarray(t_s, dtype=np.float64).reshape(-1)
        line = np.asarray(line_n, dtype=np.float64).reshape(-1)
        deck = np.asarray(deck_fz_n, dtype=np.float64)
        if deck.ndim == 1 and deck.shape == t.shape:  # the deck's total only: four equal shares
            deck = np.repeat(deck[:, None] / 4.0, 4, axis=1)
        if not (line.shape == t.shape and deck.shape == (t.size, 4)):
            raise ValueError(f"fall detector needs matching samples: t {t.shape}, line {line.shape}, "
                             f"deck {np.shape(deck_fz_n)} (n or n x 4)")
        return t, line, deck

    # ---- the legs give way (the per-sample test: cext/_collapse.pyx) ------------------------
    def _declare_collapse(self, line_n: float) -> str:
        w, bw = self._watch, self.body_weight_n
        accel_g = 1.0 - w.now_total / bw
        self.timeline += [
            (w.onset_s, f"the legs began to give way: load on the treadmill {w.deck_before_n:.0f} N"),
            (w.since_s, f"load on the treadmill falling on all cells together, body dropping at {accel_g:.2f} g"),
        ]
        why = (f"the legs gave way (load on the treadmill fell from {w.deck_before_n:.0f} N to "
               f"{w.now_deck:.0f} N in {1000.0 * (w.now_t - w.onset_s):.0f} ms)")
        return self._declare(w.now_t, why, line_n)

    def _declare(self, t: float, why: str, line_n: float) -> str:
        bw, descent = self.body_weight_n, self._descent_m
        moved = f"descended {100.0 * descent:.1f} cm, " if descent >= 0.005 else ""
        self.detail = (f"patient fell: {why}; {moved}harness force {line_n:.0f} N = "
                       f"{100.0 * line_n / bw:.0f} % of body weight")
        self.timeline.append((t, "fall detected: belt fast stop, harness holds"))
        self.max_descent_m, self.peak_line_n = descent, line_n
        return self.detail

    def _check_over(self, t: float, deck_n: float, line_n: float) -> None:
        """After a fall: clear it once the patient has stood, or hung still, for `stand_s`."""
        lim, bw = self.limits, self.body_weight_n
        avg = line_n if math.isnan(self._line_avg_n) else self._line_avg_n
        self._line_avg_n = avg + (line_n - avg) * LINE_AVERAGE_GAIN
        standing = deck_n >= lim.stand_deck_fraction * bw
        still = abs(line_n - avg) <= lim.still_bw * bw
        if not (standing or still):
            self._standing_since_s = math.nan
            return
        if math.isnan(self._standing_since_s):
            self._standing_since_s = t
        if t - self._standing_since_s >= lim.stand_s:
            how = f"standing, the legs carry {deck_n:.0f} N" if standing else f"held still by the harness at {line_n:.0f} N"
            self.detail, self.recovered_at_s, self.hang_armed = "", t, standing
            self.timeline.append((t, f"the fall is over: {how}"))
            self._standing_since_s = math.nan

    # ---- the patient hangs in the harness ---------------------------------------------------
    def _update_height(self, line_n: float, winch_position_m: float, samples: int) -> None:
        """The patient's height from the harness (winch minus stretch); a slack line: unknown."""
        lim = self.limits
        if line_n < lim.slack_n or not math.isfinite(winch_position_m):
            self._descent_m = 0.0
            return
        height = winch_position_m - line_n / self.stiffness
        if math.isnan(self._baseline_m):
            self._baseline_m = height
        self._descent_m = max(0.0, self._baseline_m - height)
        if self.fallen:
            self.max_descent_m = max(self.max_descent_m, self._descent_m)
        elif self._watch.run == 0 and math.isnan(self._hang_since_s):  # frozen while something happens
            gain = min(1.0, samples / (lim.baseline_tau_s * lim.sample_rate_hz))
            self._baseline_m += (height - self._baseline_m) * gain

    def _check_hang(self, t: float, line_n: float, deck_n: float, target_n: float) -> str:
        lim, bw = self.limits, self.body_weight_n
        heavy = line_n >= max(lim.force_fraction_of_bw * bw, target_n + lim.force_rise_bw * bw)
        deep = self._descent_m >= lim.descent_limit_m
        if deck_n >= lim.hang_deck_fraction * bw or not (heavy or deep):
            self._hang_since_s, self._hang_note = math.nan, None
            return ""
        if math.isnan(self._hang_since_s):
            self._hang_since_s = t
            self._hang_note = (t, f"the legs stopped carrying: load on the treadmill {deck_n:.0f} N, harness "
                                  f"{line_n:.0f} N, descended {100.0 * self._descent_m:.1f} cm")
        if t - self._hang_since_s < lim.hang_s:
            return ""
        self.timeline.append(self._hang_note)
        why = f"hanging in the harness for {t - self._hang_since_s:.2f} s (legs carry {deck_n:.0f} N)"
        return self._declare(t, why, line_n)
