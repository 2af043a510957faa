"""Belt speed set-points: a rate limiter with separate acceleration and deceleration.

Used by the supervisor to know what speed the belt should have right now (the drive ramps at
its own configured rates), and, from issue 6 on, to shape the set-points it sends.
"""
from __future__ import annotations


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
