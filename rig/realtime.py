"""Real-time settings for the supervisor loop's thread, and the garbage collector kept out of its tick.

- `apply_realtime(priority, lock_memory)`: SCHED_FIFO for the calling thread (Linux applies
  sched_setscheduler(0, ...) to the calling thread only) and mlockall(MCL_CURRENT|MCL_FUTURE|
  MCL_ONFAULT) for the process: every page the process has touched, or touches later, stays in
  RAM, but pages of the libraries it maps and never uses (most of scipy) are not read in just to
  be locked (the controller's RSS on the simulated rig: 370 MB without it, about 116 MB with it). The
  loop's own pages are all touched while the rig starts and attaches, long before the belt
  moves. A kernel older than 4.4 refuses MCL_ONFAULT (EINVAL): then everything mapped is
  locked. Each falls back with a logged warning; the returned `RealtimeReport` says
  what is in force (read back from the kernel) and why anything asked for is not.
- `apply_companions(thread_ids, priority)`: SCHED_FIFO one step below the loop for the process's
  other Python threads (the devices' I/O threads, the load-cell reader, the recorder). An
  ordinary thread holding the GIL can be preempted by any other process on its core, and the
  real-time loop then waits for the GIL as long (priority inversion through the GIL: 36 ms stalls
  measured with the simulated rig on the same two cores). They block on sockets and conditions,
  never spin.
- `describe_policy()`: the calling thread's policy and priority, for `rig bench loop`.
- `gc_freeze_after_startup()`: collect once, then move every object alive after start-up
  (modules, config, drivers) to the permanent generation, so later collections never scan them.
- `TickGc`: the cyclic collector out of the tick. Automatic collection can start in any thread
  at any allocation and holds the GIL while it runs, so the loop would stall for a collection
  triggered by the panel or the recorder. Inside `with TickGc():` automatic collection is off
  (process-wide: gc.disable() is not per thread), and the loop calls `after_tick(slack_s)` once
  per tick with the time left before its next deadline. When young objects have piled up past
  the collector's own gen-0 threshold and there is slack enough, it runs the generation the
  collector would have run (0, or 1 every threshold1 gen-0 runs), never older than
  `max_generation` (default 1: a full collection scans every object made since start-up, which
  can outlast the slack). Past `force_after` times the threshold it collects gen 0 whatever the
  slack, so a long run of overruns cannot grow memory without bound. Full collections are left
  to `collect_full()`, for idle moments (belt stopped); garbage in cycles that lived through
  two collections waits for it.

Not here: choosing the priority (config), CPU affinity or isolation, the loop itself
(rig/loop.py). With SCHED_FIFO a thread that never sleeps starves everything else on its core
(the kernel's RT throttling leaves others 5 %); the loop sleeps until each deadline.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import errno
import gc
import logging
import os
import resource
from dataclasses import dataclass
from typing import Callable

log = logging.getLogger(__name__)

MCL_CURRENT = 1  # Linux values on x86, arm and most others (not alpha, sparc, powerpc)
MCL_FUTURE = 2
MCL_ONFAULT = 4  # Linux >= 4.4
POLICY_NAMES = {os.SCHED_OTHER: "SCHED_OTHER", os.SCHED_FIFO: "SCHED_FIFO", os.SCHED_RR: "SCHED_RR",
                os.SCHED_BATCH: "SCHED_BATCH", os.SCHED_IDLE: "SCHED_IDLE"}


@dataclass(frozen=True)
class Syscalls:
    """The kernel calls used here, injectable so tests can make them fail."""

    sched_setscheduler: Callable[[int, int, os.sched_param], None]
    sched_getscheduler: Callable[[int], int]
    sched_getparam: Callable[[int], os.sched_param]
    mlockall: Callable[[int], None]  # raises OSError
    munlockall: Callable[[], None]  # raises OSError


def _libc_call(name: str) -> Callable[..., None]:
    def call(*args: int) -> None:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if getattr(libc, name)(*args) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
    return call


OS_SYSCALLS = Syscalls(os.sched_setscheduler, os.sched_getscheduler, os.sched_getparam,
                       _libc_call("mlockall"), _libc_call("munlockall"))


@dataclass(frozen=True)
class SchedulingPolicy:
    """A thread's scheduling policy, e.g. SCHED_FIFO priority 80."""

    name: str
    priority: int

    def __str__(self) -> str:
        return f"{self.name} priority {self.priority}" if self.priority else self.name


@dataclass(frozen=True)
class RealtimeReport:
    """What `apply_realtime` left in force, in words for the log and the bench."""

    policy: SchedulingPolicy  # read back from the kernel after the attempt
    scheduling: str  # e.g. "SCHED_OTHER (SCHED_FIFO refused: [Errno 1] Operation not permitted)"
    memory_locked: bool
    memory: str  # e.g. "locked (current and future)", "not locked (not asked)"

    @property
    def fifo(self) -> bool:
        return self.policy.name == "SCHED_FIFO"

    def __str__(self) -> str:
        return f"{self.scheduling}; memory {self.memory}"


def describe_policy(syscalls: Syscalls = OS_SYSCALLS) -> SchedulingPolicy:
    """The calling thread's scheduling policy and priority, as the kernel has them."""
    policy = syscalls.sched_getscheduler(0)
    return SchedulingPolicy(POLICY_NAMES.get(policy, f"policy {policy}"),
                            syscalls.sched_getparam(0).sched_priority)


def apply_realtime(priority: int, lock_memory: bool, syscalls: Syscalls = OS_SYSCALLS) -> RealtimeReport:
    """SCHED_FIFO at `priority` (0: do not ask) for this thread, mlockall if `lock_memory`.

    Never raises for a refusal: it logs a warning and the report says why.
    """
    reason = _set_fifo(priority, syscalls)
    policy = describe_policy(syscalls)
    scheduling = str(policy) if reason is None else f"{policy} ({reason})"
    locked, memory = _lock_memory(syscalls) if lock_memory else (False, "not locked (not asked)")
    report = RealtimeReport(policy, scheduling, locked, memory)
    log.info("loop thread: %s", report)
    return report


def apply_companions(thread_ids: list[int], loop_priority: int, syscalls: Syscalls = OS_SYSCALLS) -> str:
    """SCHED_FIFO at loop_priority - 1 for each thread id; what was done, in words."""
    if loop_priority <= 1 or not thread_ids:
        return "companion threads: ordinary scheduling"
    priority = loop_priority - 1
    refused = []
    for tid in thread_ids:
        try:
            syscalls.sched_setscheduler(tid, os.SCHED_FIFO, os.sched_param(priority))
        except OSError as exc:
            refused.append(f"{tid}: {exc}")
    if refused:
        log.warning("companion threads left at ordinary scheduling: %s", "; ".join(refused))
        return f"companion threads: SCHED_FIFO refused for {len(refused)} of {len(thread_ids)}"
    return f"{len(thread_ids)} companion threads at SCHED_FIFO priority {priority}"


def release_companions(thread_ids: list[int], syscalls: Syscalls = OS_SYSCALLS) -> None:
    """Back to ordinary scheduling (threads that have ended are skipped)."""
    for tid in thread_ids:
        try:
            syscalls.sched_setscheduler(tid, os.SCHED_OTHER, os.sched_param(0))
        except OSError:
            pass


def _set_fifo(priority: int, syscalls: Syscalls) -> str | None:
    """None when SCHED_FIFO was applied, else why not."""
    if priority == 0:
        return "SCHED_FIFO not asked"
    top = os.sched_get_priority_max(os.SCHED_FIFO)
    if not 1 <= priority <= top:
        log.warning("real-time priority %d is outside 1-%d: the loop runs without it", priority, top)
        return f"SCHED_FIFO priority {priority} is outside 1-{top}"
    try:
        syscalls.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except OSError as exc:
        log.warning("the loop runs without real-time priority: SCHED_FIFO refused (%s). It needs "
                    "root, CAP_SYS_NICE or LimitRTPRIO= in the service unit, and a real-time "
                    "budget in the container or cgroup", exc)
        return f"SCHED_FIFO refused: {exc}"
    return None


def _lock_memory(syscalls: Syscalls) -> tuple[bool, str]:
    try:
        syscalls.mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT)
        return True, "locked (current and future, as touched)"
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            return _lock_refused(exc)
    try:
        syscalls.mlockall(MCL_CURRENT | MCL_FUTURE)  # a kernel without MCL_ONFAULT
    except OSError as exc:
        return _lock_refused(exc)
    return True, "locked (current and future)"


def _lock_refused(exc: OSError) -> tuple[bool, str]:
    soft, _ = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    limit = "unlimited" if soft == resource.RLIM_INFINITY else f"{soft // 1024} KiB"
    log.warning("memory not locked: mlockall refused (%s); the lock limit is %s, raise it "
                "with LimitMEMLOCK=infinity in the service unit or run with CAP_IPC_LOCK", exc, limit)
    return False, f"not locked (mlockall refused: {exc}; lock limit {limit})"


def drop_realtime(syscalls: Syscalls = OS_SYSCALLS) -> SchedulingPolicy:
    """Back to SCHED_OTHER for this thread and unlock memory (tests, or a loop handing over)."""
    syscalls.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    try:
        syscalls.munlockall()
    except OSError as exc:
        log.warning("munlockall refused: %s", exc)
    return describe_policy(syscalls)


@dataclass(frozen=True)
class GcFreezeReport:
    collected: int  # unreachable objects found by the start-up collection
    frozen: int  # objects now in the permanent generation


def gc_freeze_after_startup() -> GcFreezeReport:
    """Collect once, then freeze everything alive (call once start-up is over, before the loop)."""
    collected = gc.collect()
    gc.freeze()
    return GcFreezeReport(collected, gc.get_freeze_count())


class TickGc:
    """Automatic gc off while the loop runs; young generations collected in the tick's slack."""

    def __init__(self, min_slack_s: float = 0.002, force_after: int = 50, max_generation: int = 1):
        self.min_slack_s = min_slack_s
        self.force_after = force_after
        self.max_generation = max_generation
        self.collections = [0, 0, 0]  # runs per generation
        self.forced = 0  # gen-0 runs made without slack
        self._was_enabled = True

    def __enter__(self) -> "TickGc":
        self._was_enabled = gc.isenabled()
        gc.disable()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._was_enabled:
            gc.enable()

    def after_tick(self, slack_s: float) -> int | None:
        """Collect if due and there is time; returns the generation collected, or None."""
        threshold0, threshold1, threshold2 = gc.get_threshold()
        count0, count1, count2 = gc.get_count()
        if count0 <= threshold0 or threshold0 == 0:
            return None
        if slack_s < self.min_slack_s:
            if count0 <= self.force_after * threshold0:
                return None
            self.forced += 1
            return self._collect(0)
        generation = 0
        if count1 > threshold1:
            generation = 2 if count2 > threshold2 else 1
        return self._collect(min(generation, self.max_generation))

    def collect_full(self) -> int:
        """A full collection, for an idle moment; returns the unreachable objects found."""
        self.collections[2] += 1
        return gc.collect(2)

    def _collect(self, generation: int) -> int:
        gc.collect(generation)
        self.collections[generation] += 1
        return generation
