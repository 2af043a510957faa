"""Config sections of the load-cell pipeline: [filters], [gait], [loadcells].

Declared with the project's config machinery (rig/configspec.py); rig/config.py mounts them in
the rig's config. Defaults suit the reference board (1 kHz, 5 channels) and adult walking.
Not here: what the pipeline does with them (cext/pipeline.py).
"""
from __future__ import annotations

from dataclasses import dataclass

from rig.configspec import opt


@dataclass(frozen=True)
class FiltersConfig:
    """Per-channel streaming filters, designed with scipy at start-up, run in Cython."""

    sample_rate_hz: float = opt(1000.0, gt=0, doc="load-cell board sample rate")
    lowpass_order: int = opt(4, min=1, max=8, doc="Butterworth low-pass order")
    lowpass_cutoff_hz: float = opt(30.0, gt=0, doc="low-pass cutoff (below half the sample rate)")
    notch_hz: float = opt(50.0, min=0, doc="mains notch frequency, 0 = off")
    notch_q: float = opt(30.0, gt=0, doc="notch quality factor")
    spike_filter: str = opt("median3", choices=("median3", "median5", "hampel", "none"),
                            doc="spike rejection ahead of the low-pass")

    def check(self) -> list[tuple[str, str]]:
        nyquist = self.sample_rate_hz / 2
        issues = []
        if self.lowpass_cutoff_hz >= nyquist:
            issues.append(("lowpass_cutoff_hz", f"must be below half the sample rate ({nyquist:g} Hz)"))
        if self.notch_hz >= nyquist:
            issues.append(("notch_hz", f"must be below half the sample rate ({nyquist:g} Hz)"))
        return issues


@dataclass(frozen=True)
class GaitConfig:
    """Online gait event detector. Forces scale with body weight where they can."""

    event_threshold_n: float = opt(20.0, gt=0, doc="a foot is loaded above this force")
    body_mass_kg: float = opt(0.0, min=0, max=400, doc="0 = estimate from the deck + harness")
    hs_confirm_frac: float = opt(0.11, gt=0, max=1, doc="heel strike confirmed above this x the deck load (mean Fz)")
    hs_confirm_min_n: float = opt(40.0, gt=0, doc="... and above this force")
    contact_frac: float = opt(0.1, gt=0, max=1, doc="someone is on the deck above this x body weight")
    fit_guard_s: float = opt(0.03, gt=0, max=0.2, doc="stance-line fit ends this long before now")
    fit_max_s: float = opt(0.15, gt=0, max=1.0, doc="stance-line fit spans at most this long")
    min_step_frac: float = opt(0.4, min=0, max=1, doc="no heel strike sooner than this x the running step time")
    max_double_support_s: float = opt(1.5, gt=0, doc="longer double support = standing (restart)")
    reset_gap_s: float = opt(0.05, gt=0, doc="a gap in the stream longer than this restarts the detector")
    window_s: float = opt(30.0, gt=0, doc="rolling window of the live gait figures")


@dataclass(frozen=True)
class LoadcellsConfig:
    """Calibration and deck geometry (DESIGN.md section 3)."""

    deck_cells_m: tuple[tuple[float, float], ...] = opt(
        ((0.75, 0.30), (0.75, -0.30), (-0.75, 0.30), (-0.75, -0.30)),
        doc="(x forward, y left) of the FL, FR, RL, RR cells, metres from the deck centre",
    )
    zero_counts: tuple[float, ...] = opt((0.0, 0.0, 0.0, 0.0, 0.0), doc="harness, FL, FR, RL, RR")
    n_per_count: tuple[float, ...] = opt((1.0, 1.0, 1.0, 1.0, 1.0), doc="harness, FL, FR, RL, RR")

    def check(self) -> list[tuple[str, str]]:
        issues = []
        if len(self.deck_cells_m) != 4:
            issues.append(("deck_cells_m", "must list 4 cells (FL, FR, RL, RR)"))
        for name in ("zero_counts", "n_per_count"):
            if len(getattr(self, name)) != 5:
                issues.append((name, "must have 5 values (harness, FL, FR, RL, RR)"))
        if any(g == 0 for g in self.n_per_count):
            issues.append(("n_per_count", "must not be 0"))
        return issues


@dataclass(frozen=True)
class GaitParams:
    """The three sections together, as the pipeline and `rig replay` take them."""

    filters: FiltersConfig = FiltersConfig()
    gait: GaitConfig = GaitConfig()
    loadcells: LoadcellsConfig = LoadcellsConfig()
