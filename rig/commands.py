"""Operator commands: what a panel, a script or the console may ask of the rig.

Each is a small frozen record; `Supervisor.submit()` queues them and the loop applies them at
its next tick, so no command ever runs outside the loop thread. A refused command leaves the
rig as it was and says why in the snapshot's `message`.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Attach:
    """The harness is clipped on: take up the slack to a small pretension (idle -> attached)."""


@dataclass(frozen=True)
class SetUnloading:
    """Body-weight support as a fraction of body weight (0.3 = 30 %); from attached it starts unloading."""

    fraction: float


@dataclass(frozen=True)
class Start:
    """Start the belt at speed_mps (from ready, every interlock holding, confirmed by the operator)."""

    speed_mps: float
    confirmed: bool = True


@dataclass(frozen=True)
class SetSpeed:
    """Change the belt speed while walking (negative: retro walking)."""

    speed_mps: float


@dataclass(frozen=True)
class Pause:
    """Stop the belt at the normal deceleration, keep the session (walking -> paused)."""


@dataclass(frozen=True)
class Resume:
    """Walk again at the last speed (paused -> walking), every interlock holding."""

    confirmed: bool = True


@dataclass(frozen=True)
class Stop:
    """Controlled stop at the normal deceleration (walking | paused -> stopping -> ready)."""


@dataclass(frozen=True)
class Detach:
    """Ramp the support down and slacken the line (ready | attached -> detaching -> idle)."""


@dataclass(frozen=True)
class Acknowledge:
    """Acknowledge latched faults; succeeds only while every input is healthy."""


Command = Attach | SetUnloading | Start | SetSpeed | Pause | Resume | Stop | Detach | Acknowledge
