"""Operator commands: what a panel, a script or the console may ask of the rig.

Each is a small frozen record; `Supervisor.submit()` queues them and the loop applies them at
the start of its next tick, so no command ever runs outside the loop thread.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Start:
    """Start the belt (allowed only from idle, every interlock holding) at speed_mps."""

    speed_mps: float


@dataclass(frozen=True)
class SetSpeed:
    """Change the belt speed while walking (negative: retro walking)."""

    speed_mps: float


@dataclass(frozen=True)
class Stop:
    """Controlled stop at the normal deceleration."""


@dataclass(frozen=True)
class Acknowledge:
    """Acknowledge latched faults; succeeds only while every input is healthy."""


Command = Start | SetSpeed | Stop | Acknowledge
