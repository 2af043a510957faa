"""What a real `rig run` process wraps around its loop: real-time scheduling, the garbage
collector kept out of the tick, a short GIL switch interval and systemd notification.

`LoopServices(config.loop, notifier)`: `prepare()` does the slow, process-wide part (lock the
memory, freeze everything made at start-up out of the collector) and is called before the
devices connect, because connecting arms the drives' comm watchdogs and the first tick must
follow at once. The context manager is then entered in the loop's own thread just before the
loop starts (real-time priority, a short GIL switch interval, gc out of the tick);
`after_tick(now_s, slack_s)` runs once per tick with the time left before the next deadline.
Entering also puts every other Python thread then alive (the devices' I/O threads, the
load-cell reader, the recorder, the status printer) one real-time priority below the loop:
any thread holding the GIL can stall the loop, and an ordinary one can be preempted holding it.
It sends READY=1 after the first tick and WATCHDOG=1 from the loop itself, so a stalled loop
stops the pings and systemd restarts the service.

Not here: the loop (rig/loop.py), the kernel calls (rig/realtime.py), the systemd protocol
(rig/sdnotify.py). Lock-step simulation runs the loop without these services: a virtual clock
has no deadlines to protect.
"""
from __future__ import annotations

import gc
import logging
import sys
import threading
from dataclasses import replace

from rig.config import LoopConfig
from rig.realtime import (RealtimeReport, TickGc, apply_companions, apply_realtime, gc_freeze_after_startup,
                          release_companions)
from rig.sdnotify import Notifier

log = logging.getLogger(__name__)
SWITCH_INTERVAL_S = 0.0005  # another thread holding the GIL gives it up within this, not 5 ms


class LoopServices:
    """Real-time hygiene and systemd notification for the loop thread."""

    def __init__(self, loop: LoopConfig, notifier: Notifier):
        self.loop = loop
        self.notifier = notifier
        self.report: RealtimeReport | None = None
        self.gc = TickGc()
        self._ready_sent = False
        self._switch_interval = sys.getswitchinterval()
        self._memory: RealtimeReport | None = None
        self.companions = "companion threads: none"
        self._companion_ids: list[int] = []

    def prepare(self) -> None:
        """Lock memory and freeze the gc: slow (~0.1-0.5 s), so before the drives' watchdogs start."""
        self._memory = apply_realtime(0, self.loop.lock_memory)
        frozen = gc_freeze_after_startup()
        log.info("gc: %d objects frozen after start-up", frozen.frozen)

    def __enter__(self) -> "LoopServices":
        if self._memory is None:
            self.prepare()
        scheduling = apply_realtime(self.loop.realtime_priority, False)
        self.report = replace(scheduling, memory_locked=self._memory.memory_locked, memory=self._memory.memory)
        if scheduling.policy.name == "SCHED_FIFO":
            others = [t.native_id for t in threading.enumerate()
                      if t is not threading.current_thread() and t.native_id is not None]
            self.companions = apply_companions(others, scheduling.policy.priority)
            self._companion_ids = others
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        self.gc.__enter__()
        return self

    def after_tick(self, now_s: float, slack_s: float) -> None:
        self.gc.after_tick(slack_s)
        if not self._ready_sent:
            self._ready_sent = True
            self.notifier.ready(f"loop running: {self.report}")
        self.notifier.watchdog_if_due(now_s)

    def __exit__(self, *exc: object) -> None:
        release_companions(self._companion_ids)
        self.notifier.stopping()
        self.notifier.close()
        self.gc.__exit__(*exc)
        gc.unfreeze()
        sys.setswitchinterval(self._switch_interval)
