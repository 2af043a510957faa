"""`Trip`: put every device in its safe state, once, whatever fails on the way.

`trip(reason)` runs each safe-state action (belt stop, winch zero velocity, beacon on ...) in
its own try, logs what it did and what failed, and remembers that it tripped. Calling it again
is harmless: actions already done are not repeated, actions that failed (a dead link) are tried
again, so a rig that trips while a link is down reaches its safe state as soon as it can.
`reset()` (after an acknowledge) arms it again.

The hardware chain (e-stop relay, drives' comm-loss watchdogs) makes the rig safe without this;
trip is the software layer that stops things early and says why.

Not here: deciding when to trip (safety/interlocks.py, safety/states.py) or what the actions
do (rig/devices.py).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

log = logging.getLogger(__name__)
Action = tuple[str, Callable[[], object]]


@dataclass
class Trip:
    """The safe-state actions of one rig and which of them are done since the last reset."""

    actions: list[Action]
    reasons: list[str] = field(default_factory=list)
    done: set[str] = field(default_factory=set)
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def tripped(self) -> bool:
        return bool(self.reasons)

    def trip(self, reason: str, routine: bool = False) -> dict[str, str]:
        """Command every safe state not yet reached; return the failures (action -> error).

        `routine=True` (a normal shutdown) logs the reason as information, not as an error;
        a failed action is an error either way."""
        if reason not in self.reasons:
            self.reasons.append(reason)
            log.log(logging.INFO if routine else logging.ERROR, "trip: %s", reason)
        for name, action in self.actions:
            if name in self.done:
                continue
            try:
                action()
            except Exception as exc:  # every action gets its chance, whatever the one before did
                self.failures[name] = f"{type(exc).__name__}: {exc}"
                log.error("trip: %s failed: %s", name, exc)
                continue
            self.done.add(name)
            self.failures.pop(name, None)
        return dict(self.failures)

    def reset(self) -> None:
        self.reasons.clear()
        self.done.clear()
        self.failures.clear()
