"""Belt speed set-points: a rate limiter and the belt's speed profile.

`RateLimiter` moves a value towards a target within separate rise / fall rates (the old
supervisor uses it to know what speed the drive should show). `BeltProfile` is what the
supervisor asks for the belt's speed command each tick: it checks operator set-points against
`BeltLimits` (the patient's and the rig's maximum, the reverse maximum), ramps towards the
set-point at the configured acceleration / deceleration while walking, caps a start from rest
at the maximum start speed, and stops at the normal or the fast-stop deceleration, or at once.

Pure: numbers in, numbers out; no clock (the caller passes dt), no device, no I/O. Not here:
which state may move the belt (the safety machine decides and passes `stop`), the drive's own
ramps and registers (drivers/belt_vfd), config parsing (rig/controlconfig.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

STOPS = ("none", "normal", "fast", "hold_zero")


class RateLimiter:
    """Moves a value towards a target no faster than the given rates (units per second)."""

    def __init__(self, rise_per_s: float, fall_per_s: float, value: float = 0.0):
        if rise_per_s <= 0 or fall_per_s <= 0:
            raise ValueError(f"rates must be positive, got rise {rise_per_s}, fall {fall_per_s}")
        self.rise_per_s = rise_per_s
        self.fall_per_s = fall_per_s
        self.value = value

    def step(self, target: float, dt_s: float) -> float:
        """Advance by dt_s; 'rise' means moving away from zero, 'fall' towards it."""
        away_from_zero = abs(target) > abs(self.value) and target * self.value >= 0
        rate = self.rise_per_s if away_from_zero else self.fall_per_s
        limit = rate * max(dt_s, 0.0)
        self.value += max(-limit, min(limit, target - self.value))
        return self.value


@dataclass(frozen=True)
class BeltLimits:
    """Every limit on the belt's speed command (m/s, m/s^2; all positive magnitudes).

    `max_speed_mps` is the lower of the rig's and the patient's maximum; `max_speed_source`
    names which one it is, for refusals ("the patient's maximum" or "the rig's maximum").
    """

    accel_mps2: float
    decel_mps2: float
    fast_stop_decel_mps2: float
    max_speed_mps: float
    reverse_max_mps: float
    max_start_speed_mps: float
    max_speed_source: str = "the maximum"

    def __post_init__(self) -> None:
        for name in ("accel_mps2", "decel_mps2", "fast_stop_decel_mps2", "max_speed_mps", "max_start_speed_mps"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"belt limit {name} must be a positive number, not {value}")
        if not (math.isfinite(self.reverse_max_mps) and self.reverse_max_mps >= 0):
            raise ValueError(f"belt limit reverse_max_mps must be 0 or more, not {self.reverse_max_mps}")


class BeltProfile:
    """The belt's speed command, tick by tick (see the module docstring).

    Sign: positive is forward walking, negative is reverse (retro walking). A change of
    direction is refused while the belt moves: it must stop first.
    """

    def __init__(self, limits: BeltLimits) -> None:
        self.limits = limits
        self.command_mps = 0.0
        self.setpoint_mps = 0.0
        self.note = ""  # why the set-point differs from what was asked ("" when it does not)

    def request(self, speed_mps: float) -> str:
        """Store a new set-point; return "" or the refusal in plain words (nothing stored)."""
        refusal = self._refusal(speed_mps)
        if refusal:
            return refusal
        self.setpoint_mps = float(speed_mps)
        self.note = ""
        if self.command_mps == 0.0:
            self._cap_start()
        return ""

    def step(self, dt_s: float, stop: str) -> float:
        """Advance by dt_s and return the speed command (m/s).

        stop: "none" (walking: ramp towards the set-point), "normal" (ramp to 0 at the normal
        deceleration), "fast" (ramp to 0 at the fast-stop deceleration), "hold_zero" (0 at once).
        """
        lim = self.limits
        if stop == "hold_zero":
            self.command_mps = 0.0
        elif stop == "fast":
            self.command_mps = _towards(self.command_mps, 0.0, lim.fast_stop_decel_mps2 * dt_s)
        elif stop == "normal":
            self.command_mps = _towards(self.command_mps, 0.0, lim.decel_mps2 * dt_s)
        elif stop == "none":
            self._walk(max(dt_s, 0.0))
        else:
            raise ValueError(f"unknown belt stop {stop!r}; known: {', '.join(STOPS)}")
        return self.command_mps

    def _walk(self, dt_s: float) -> None:
        if self.command_mps == 0.0:
            self._cap_start()
        v, target = self.command_mps, self._bounded(self.setpoint_mps)
        if v * target < 0.0:  # opposite directions (set-point stored at rest): stop first
            target = 0.0
        speeding_up = abs(target) > abs(v)
        rate = self.limits.accel_mps2 if speeding_up else self.limits.decel_mps2
        self.command_mps = _towards(v, target, rate * dt_s)

    def _cap_start(self) -> None:
        """Starting from rest: the set-point is at most the maximum start speed."""
        cap = self.limits.max_start_speed_mps
        if abs(self.setpoint_mps) > cap:
            asked = self.setpoint_mps
            self.setpoint_mps = math.copysign(cap, asked)
            self.note = (f"the belt starts at {cap:.2f} m/s, the maximum start speed; ask for "
                         f"{abs(asked):.2f} m/s again once the patient is walking")

    def _bounded(self, speed_mps: float) -> float:
        lim = self.limits
        return max(-lim.reverse_max_mps, min(lim.max_speed_mps, speed_mps))

    def _refusal(self, speed_mps: float) -> str:
        lim = self.limits
        if not math.isfinite(speed_mps):
            return "the belt speed must be a number"
        if speed_mps > lim.max_speed_mps:
            return f"{speed_mps:.2f} m/s is above {lim.max_speed_source} {lim.max_speed_mps:.2f} m/s"
        if speed_mps < 0.0 and -speed_mps > lim.reverse_max_mps:
            if lim.reverse_max_mps == 0.0:
                return "reverse (retro walking) is not allowed on this rig"
            return (f"{-speed_mps:.2f} m/s in reverse is above the reverse (retro walking) maximum "
                    f"{lim.reverse_max_mps:.2f} m/s")
        if speed_mps * self.command_mps < 0.0:
            return (f"the belt must stop before it changes direction (it is moving at "
                    f"{abs(self.command_mps):.2f} m/s)")
        return ""


def _towards(value: float, target: float, max_change: float) -> float:
    """value moved towards target by at most max_change (>= 0)."""
    change = max(-max_change, min(max_change, target - value))
    return value + change if max_change > 0.0 else value
