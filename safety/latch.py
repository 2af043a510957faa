"""Latched faults: once raised, a fault stays until acknowledged while its cause is gone.

`FaultLatch.update(conditions, now)` takes the faults whose conditions hold right now and
latches the new ones; `acknowledge(conditions)` clears the latch only if no condition holds
(a released e-stop alone re-arms nothing: someone must acknowledge, and only when healthy).
"""
from __future__ import annotations

from dataclasses import dataclass

from safety.faults import CATALOGUE, Fault


@dataclass(frozen=True)
class ActiveFault:
    """A latched fault with the detail and time of its first occurrence."""

    code: int
    detail: str
    raised_at_s: float

    @property
    def entry(self) -> Fault:
        return CATALOGUE[self.code]


class FaultLatch:
    """The set of latched faults."""

    def __init__(self) -> None:
        self.active: dict[int, ActiveFault] = {}

    def update(self, conditions: dict[int, str], now_s: float) -> list[ActiveFault]:
        """Latch every condition not latched yet; return the newly latched ones."""
        new = []
        for code, detail in conditions.items():
            if code not in CATALOGUE:
                code, detail = 603, f"unknown fault code {code}: {detail}"
            if code not in self.active:
                self.active[code] = ActiveFault(code, detail, now_s)
                new.append(self.active[code])
        return new

    def acknowledge(self, conditions: dict[int, str]) -> bool:
        """Clear every latched fault if no condition holds now; return whether it cleared."""
        if conditions:
            return False
        self.active.clear()
        return True

    @property
    def latched(self) -> bool:
        return bool(self.active)
