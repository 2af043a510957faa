"""`IoWorker`: one device's I/O thread, so that no Modbus round trip ever blocks the loop's tick.

The loop decides what each device does and when; the worker does the waiting. Each tick the
loop posts jobs (read the status, write the commands) under a key and goes on; the worker runs
them in the order they were first posted. A key posted again while its job still waits replaces
that job in place (the newest set-point wins, a slow device never builds a queue), so the worst
a slow or silent device can do is answer late: its reading grows old, which the interlocks
judge, while the tick keeps its period. `first=True` puts a job at the head (a safe state
before anything else). Jobs must not raise: the caller wraps them (rig/devices.py).

`wake=False` queues a job without waking the thread; `wake()` then wakes it once for all of
them. The loop posts a tick's jobs that way and wakes every worker at the tick's end: a thread
woken mid-tick could not run anyway (the loop holds the GIL) and would wake twice, once for
the job and once for the GIL, and each wake-up costs some 50 us of CPU on a small machine.

The worker only ever runs what the loop posted. If the loop stops or hangs, its devices hear
nothing more, and their own comm-loss watchdogs (the drives', the safety module's heartbeat)
stop the rig as they would if the controller had died.

Not here: what a job does or where its result goes (rig/devices.py).
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

log = logging.getLogger(__name__)
Job = Callable[[], None]


class IoWorker:
    """A thread that runs posted jobs one at a time, newest per key."""

    def __init__(self, name: str):
        self.name = name
        self._jobs: dict[str, Job] = {}
        self._cv = threading.Condition()
        self._busy = False
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=f"io-{name}", daemon=True)
        self.jobs_replaced = 0

    def start(self) -> "IoWorker":
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def post(self, key: str, job: Job, first: bool = False, wake: bool = True) -> None:
        """Queue `job` under `key`; a waiting job of that key is replaced (and keeps its place).

        With wake=False the job waits for the next `wake()` (or any post that wakes)."""
        with self._cv:
            if key in self._jobs:
                self.jobs_replaced += 1
            if first:
                self._jobs.pop(key, None)
                self._jobs = {key: job, **self._jobs}
            else:
                self._jobs[key] = job
            if wake:
                self._cv.notify()

    def wake(self) -> None:
        """Let the thread run what is queued."""
        with self._cv:
            if self._jobs:
                self._cv.notify()

    def drop(self, *keys: str) -> None:
        """Forget waiting jobs of these keys (a trip drops the set-points it overrides)."""
        with self._cv:
            for key in keys:
                self._jobs.pop(key, None)

    def wait_idle(self, timeout_s: float) -> bool:
        """Block until every posted job has run (True) or timeout_s passed (False)."""
        deadline = time.monotonic() + timeout_s
        self.wake()
        with self._cv:
            while self._jobs or self._busy:
                left = deadline - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    return False
                self._cv.wait(left)
        return True

    def stop(self, timeout_s: float) -> bool:
        """Run what is posted (up to timeout_s), then end the thread; True if it ended."""
        self.wait_idle(timeout_s)
        with self._cv:
            self._stopping = True
            self._cv.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def _next(self) -> Job | None:
        with self._cv:
            self._busy = False
            self._cv.notify_all()  # wakes wait_idle
            while not self._jobs and not self._stopping:
                self._cv.wait()
            if self._stopping:
                return None
            key = next(iter(self._jobs))
            self._busy = True
            return self._jobs.pop(key)

    def _run(self) -> None:
        while (job := self._next()) is not None:
            try:
                job()
            except Exception:  # a bug in one job must not end the device's I/O
                log.exception("%s: an I/O job failed", self.name)
