"""What a real `rig run` process wraps around its loop: real-time scheduling, the garbage
collector kept out of the tick, a short GIL switch interval and systemd notification.

`LoopServices(config.loop, notifier)` is a context manager entered in the loop's own thread just
before the loop starts (everything made at start-up is frozen out of the collector first);
`after_tick(now_s, slack_s)` runs once per tick with the time left before the next deadline.
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

from rig.config import LoopConfig
from rig.realtime import RealtimeReport, TickGc, apply_realtime, gc_freeze_after_startup
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

    def __enter__(self) -> "LoopServices":
        self.report = apply_realtime(self.loop.realtime_priority, self.loop.lock_memory)
        frozen = gc_freeze_after_startup()
        log.info("gc: %d objects frozen after start-up", frozen.frozen)
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
        self.notifier.stopping()
        self.notifier.close()
        self.gc.__exit__(*exc)
        gc.unfreeze()
        sys.setswitchinterval(self._switch_interval)
