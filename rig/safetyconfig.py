"""The `[safety]` config section: interlock limits, comm-loss ages and fall thresholds.

Declared with the project's config machinery; `interlock_limits(config)` and
`fall_limits(config)` turn it (with the patient's prescription and the devices' own limits)
into the plain values `safety/` takes, so that safety itself imports no config.

Not here: the interlock rules (safety/interlocks.py) or fall detection (safety/fall.py).
"""
from __future__ import annotations

from dataclasses import dataclass

from rig.configspec import opt


@dataclass(frozen=True)
class SafetyConfig:
    """Limits of the software interlocks (the hardware chain works without them)."""

    comm_lost_periods: float = opt(10.0, min=1.0, max=100.0,
                                   doc="a device unanswered for this many of its poll periods is lost ...")
    comm_lost_min_s: float = opt(0.1, gt=0.0, max=5.0, doc="... and for at least this long")
    overspeed_margin_mps: float = opt(0.10, min=0.0, max=0.5, doc="measured belt speed above its limit by this: 305 / 306")
    harness_force_tolerance_pct_bw: float = opt(12.0, gt=0.0, max=50.0, doc="line force this far from target ...")
    harness_tracking_grace_s: float = opt(1.0, gt=0.0, max=10.0, doc="... for this long: 408")
    fz_tolerance_pct_bw: float = opt(25.0, gt=0.0, max=100.0, doc="deck Fz this far from body weight minus support ...")
    fz_grace_s: float = opt(2.0, gt=0.0, max=10.0, doc="... for this long: 205")
    cell_disagree_n: float = opt(250.0, gt=0.0, max=5000.0, doc="a deck cell this far out of line with the others: 206")
    on_deck_min_pct_bw: float = opt(15.0, gt=0.0, max=90.0, doc="deck Fz below this while walking ...")
    on_deck_grace_s: float = opt(0.8, gt=0.0, max=10.0, doc="... for this long: patient not on the deck (502)")
    weight_bearing_grace_s: float = opt(0.5, gt=0.0, max=10.0, doc="deck load over the prescription for this long: 503")
    weight_bearing_stop_after_s: float = opt(5.0, gt=0.0, max=60.0,
                                             doc="with action 'stop': still over the prescription this long: 504")
    fall_descent_m: float = opt(0.07, gt=0.0, max=0.3, doc="patient descent that is a fall (winch position + line stretch)")
    fall_force_pct_bw: float = opt(85.0, gt=0.0, max=150.0, doc="line force towards full body weight that is a fall")


def comm_lost_after_s(safety: SafetyConfig, poll_hz: float) -> float:
    """Age of the last good answer at which a device's link counts as lost."""
    return max(safety.comm_lost_min_s, safety.comm_lost_periods / poll_hz)
