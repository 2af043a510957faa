"""The harness's reaction to a fall: arrest the patient's drop with the line, then hold.

When the legs give way, the patient drops onto the series-elastic line. A still winch lets
them sink until the spring carries their weight (weight / stiffness: ~7 cm for 550 N on
8 kN/m) and overshoot about as far again, so holding alone lets most falls go deeper than
the fall limit. For a given peak force the shortest stop is a constant braking force, so
`FallCatch` hauls line in to bring the line force up to `arrest_fraction_of_bw` x body
weight as fast as the drive allows, keeps it there while the patient still descends (it
hauls at the patient's own descent speed plus a force correction), and holds (velocity 0)
from the moment the patient has stopped descending and the line carries their weight. It
never pays out: every command is >= 0, and at most `max_velocity_mps` (the drive's own
acceleration limit shapes the start).

The patient's height comes from the harness alone: winch position minus the line's stretch
(force / stiffness); its rate of change is the patient's vertical velocity. Once holding, the
catch stays holding (it does not ratchet the patient up on each spring oscillation) until
`reset()`. Hard limits: no hauling while the line pulls at or above the force cap (or
`max_force_fraction_of_bw` x body weight), nor beyond `max_haul_m` of line in total.

Pure: numbers in, a velocity out; no clock (the caller passes dt), no device, no I/O. Not
here: deciding that the patient fell (safety/fall.py), the brake and the drive's torque cap
(the drive), the normal unloading force loop (controllers/harness.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class FallCatchParams:
    """Limits of the catch (SI units).

    `body_weight_n` 0 means unknown: the catch then aims at `force_cap_n` / 2 and holds as
    soon as the patient stops descending (pass the body weight: it catches better).
    """

    max_velocity_mps: float  # the fastest haul-in (the rig's line speed limit for a catch)
    force_cap_n: float  # never haul while the line pulls this hard (the harness force cap)
    body_weight_n: float = 0.0
    line_stiffness_n_per_m: float = 8000.0
    arrest_fraction_of_bw: float = 1.35  # the line force that brakes the drop
    hold_fraction_of_bw: float = 1.0  # hold once the line carries this x body weight ...
    settle_velocity_mps: float = 0.05  # ... and the patient descends slower than this
    force_time_s: float = 0.03  # force errors are corrected over about this long
    drive_decel_mps2: float = 20.0  # the drive's deceleration: the line it still hauls while slowing
    max_force_fraction_of_bw: float = 1.6  # never haul while the line pulls more than this x BW
    max_haul_m: float = 0.3  # never haul in more than this in total

    def __post_init__(self) -> None:
        for name in ("max_velocity_mps", "force_cap_n", "line_stiffness_n_per_m", "arrest_fraction_of_bw",
                     "hold_fraction_of_bw", "settle_velocity_mps", "force_time_s", "drive_decel_mps2",
                     "max_force_fraction_of_bw", "max_haul_m"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"fall catch limit {name} must be a positive number, not {value}")
        if not (math.isfinite(self.body_weight_n) and self.body_weight_n >= 0):
            raise ValueError(f"fall catch body_weight_n must be 0 (unknown) or more, not {self.body_weight_n}")

    @property
    def arrest_force_n(self) -> float:
        if self.body_weight_n > 0:
            return min(self.arrest_fraction_of_bw * self.body_weight_n, self.max_force_n)
        return 0.5 * self.force_cap_n

    @property
    def hold_force_n(self) -> float:
        return self.hold_fraction_of_bw * self.body_weight_n

    @property
    def max_force_n(self) -> float:
        if self.body_weight_n > 0:
            return min(self.force_cap_n, self.max_force_fraction_of_bw * self.body_weight_n)
        return self.force_cap_n


class FallCatch:
    """Winch velocity during a fall, tick by tick (see the module docstring)."""

    def __init__(self, params: FallCatchParams) -> None:
        self.params = params
        self.reset()

    def reset(self) -> None:
        """Ready for the next fall: not holding, no history."""
        self.holding = False
        self.reason = ""  # why the last command was 0 ("" while hauling)
        self._start_m: float | None = None
        self._height_m: float | None = None

    def step(self, dt_s: float, line_force_n: float, winch_position_m: float, winch_velocity_mps: float) -> float:
        """Advance by dt_s; the winch velocity command (m/s hauled in, never negative)."""
        if not all(math.isfinite(x) for x in (line_force_n, winch_position_m, winch_velocity_mps)):
            return self._hold("a drive or line reading is not a number")
        if self._start_m is None:
            self._start_m = winch_position_m
        velocity = self._patient_velocity(dt_s, line_force_n, winch_position_m)
        if self.holding:
            return 0.0
        refusal = self._refusal(line_force_n, winch_position_m, velocity)
        if refusal:
            return self._hold(refusal)
        self.reason = ""
        return self._haul(line_force_n, velocity, winch_velocity_mps)

    def _patient_velocity(self, dt_s: float, line_n: float, winch_m: float) -> float:
        """Rate of change of winch position minus stretch; -inf (descending) before two ticks."""
        height = winch_m - max(line_n, 0.0) / self.params.line_stiffness_n_per_m
        previous, self._height_m = self._height_m, height
        if previous is None or dt_s <= 0:
            return -math.inf
        return (height - previous) / dt_s

    def _refusal(self, line_n: float, winch_m: float, velocity_mps: float) -> str:
        p = self.params
        if line_n >= p.max_force_n:
            return f"the line pulls {line_n:.0f} N, at the limit of {p.max_force_n:.0f} N"
        if winch_m - self._start_m >= p.max_haul_m:
            return f"hauled in {100.0 * (winch_m - self._start_m):.0f} cm, the most allowed"
        if velocity_mps >= -p.settle_velocity_mps and line_n >= p.hold_force_n:
            self.holding = True
            return "the patient hangs still in the harness"
        return ""

    def _haul(self, line_n: float, velocity_mps: float, winch_velocity_mps: float) -> float:
        """Follow the patient's descent, plus bring the line force to the arrest force (counting
        the stretch the drum still adds while it slows down to the patient's speed)."""
        p = self.params
        follow = max(0.0, -velocity_mps) if math.isfinite(velocity_mps) else p.max_velocity_mps
        excess = max(0.0, winch_velocity_mps - follow)
        coming_n = p.line_stiffness_n_per_m * excess * excess / (2.0 * p.drive_decel_mps2)
        correct = (p.arrest_force_n - line_n - coming_n) / (p.line_stiffness_n_per_m * p.force_time_s)
        return max(0.0, min(p.max_velocity_mps, follow + correct))

    def _hold(self, reason: str) -> float:
        self.reason = reason
        return 0.0
