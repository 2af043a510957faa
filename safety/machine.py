"""The rig's safety state machine (skeleton of DESIGN.md section 5), built on `transitions`.

States: boot -> idle -> walking -> stopping -> idle, and faulted from anywhere. Only
`walking` may command a belt speed other than zero (`belt_may_move`). `faulted` latches:
leaving it needs `acknowledge`, which the latch allows only while every input is healthy.
Built as the transitions authors intend for safety: `auto_transitions=False` (no `to_walking()`
bypassing the guards), guards as `conditions=`, `queued=True`, and any exception raised inside a
callback sends the machine to `faulted` with fault 603.

Not here: what makes a fault (safety/interlocks, drivers) or what is commanded (supervisor).
"""
from __future__ import annotations

import logging
from typing import Callable

from transitions import Machine

from safety.latch import FaultLatch

log = logging.getLogger(__name__)

STATES = ["boot", "idle", "walking", "stopping", "faulted"]
INTERNAL_ERROR = 603


class SafetyMachine:
    """Rig state with guarded transitions. Callables give it the world's current conditions."""

    def __init__(self, conditions: Callable[[], dict[int, str]],
                 belt_at_rest: Callable[[], bool], clock: Callable[[], float]):
        self.conditions = conditions
        self.belt_at_rest = belt_at_rest
        self.clock = clock
        self.latch = FaultLatch()
        self.machine = Machine(
            model=self, states=STATES, initial="boot", auto_transitions=False,
            queued=True, send_event=True, on_exception=self._on_exception,
            ignore_invalid_triggers=True,
        )
        m = self.machine
        m.add_transition("ready", "boot", "idle", conditions="healthy")
        m.add_transition("start", "idle", "walking", conditions="healthy")
        m.add_transition("stop", "walking", "stopping")
        m.add_transition("stopped", "stopping", "idle", conditions="at_rest")
        m.add_transition("fault", ["boot", "idle", "walking", "stopping"], "faulted")
        m.add_transition("acknowledge", "faulted", "idle", conditions="acknowledged")

    # --- guards ----------------------------------------------------------------------------
    # (transitions passes the event to guards and callbacks: send_event=True, so that
    # on_exception receives the error)
    def healthy(self, _event: object = None) -> bool:
        return not self.latch.latched and not self.conditions()

    def at_rest(self, _event: object = None) -> bool:
        return self.belt_at_rest()

    def acknowledged(self, _event: object = None) -> bool:
        return self.latch.acknowledge(self.conditions())

    # --- faults ----------------------------------------------------------------------------
    def raise_faults(self, conditions: dict[int, str]) -> None:
        """Latch the conditions; any latched fault puts the machine in `faulted`."""
        for new in self.latch.update(conditions, self.clock()):
            log.error("fault %d %s: %s", new.code, new.entry.name, new.detail)
        if self.latch.latched and self.state != "faulted":
            self.fault()

    def _on_exception(self, event) -> None:
        error = event.error
        log.exception("exception in state machine callback: %s", error)
        self.latch.update({INTERNAL_ERROR: f"{type(error).__name__}: {error}"}, self.clock())
        self.machine.set_state("faulted", model=self)

    @property
    def belt_may_move(self) -> bool:
        return self.state == "walking"
