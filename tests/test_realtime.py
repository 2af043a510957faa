"""Real-time settings: refusals are reported in words, success is read back from the kernel,
and the tick's garbage collection happens only where the loop says it has time."""
import errno
import gc
import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from rig.realtime import (
    MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT, SchedulingPolicy, Syscalls, TickGc, apply_companions, apply_realtime,
    describe_policy, drop_realtime, gc_freeze_after_startup, release_companions,
)

ROOT = Path(__file__).resolve().parents[1]


class FakeKernel:
    """Scheduler and memory lock of one thread, refusing what it is told to refuse."""

    def __init__(self, refuse_fifo: OSError | None = None, refuse_lock: OSError | None = None):
        self.policy, self.priority, self.lock_flags = os.SCHED_OTHER, 0, None
        self.refuse_fifo, self.refuse_lock = refuse_fifo, refuse_lock
        self.set_calls = 0

    def syscalls(self) -> Syscalls:
        return Syscalls(self.set, lambda pid: self.policy, lambda pid: os.sched_param(self.priority),
                        self.lock, self.unlock)

    def set(self, pid: int, policy: int, param: os.sched_param) -> None:
        self.set_calls += 1
        if self.refuse_fifo and policy == os.SCHED_FIFO:
            raise self.refuse_fifo
        self.policy, self.priority = policy, param.sched_priority

    def lock(self, flags: int) -> None:
        if self.refuse_lock:
            raise self.refuse_lock
        self.lock_flags = flags

    def unlock(self) -> None:
        self.lock_flags = None


def test_refusals_fall_back_with_a_warning_and_say_why(caplog):
    kernel = FakeKernel(refuse_fifo=PermissionError(1, "Operation not permitted"),
                        refuse_lock=OSError(12, "Cannot allocate memory"))
    with caplog.at_level(logging.WARNING, logger="rig.realtime"):
        report = apply_realtime(80, lock_memory=True, syscalls=kernel.syscalls())
    assert report.scheduling == "SCHED_OTHER (SCHED_FIFO refused: [Errno 1] Operation not permitted)"
    assert report.policy == SchedulingPolicy("SCHED_OTHER", 0) and not report.fifo
    assert not report.memory_locked
    assert report.memory.startswith("not locked (mlockall refused: [Errno 12] Cannot allocate memory; lock limit ")
    warnings = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert "SCHED_FIFO refused" in warnings and "LimitRTPRIO" in warnings
    assert "mlockall refused" in warnings and "LimitMEMLOCK" in warnings


def test_success_is_read_back_from_the_kernel():
    kernel = FakeKernel()
    report = apply_realtime(80, lock_memory=True, syscalls=kernel.syscalls())
    assert (kernel.policy, kernel.priority) == (os.SCHED_FIFO, 80)
    assert kernel.lock_flags == MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT
    assert report.fifo and report.policy == SchedulingPolicy("SCHED_FIFO", 80)
    assert str(report) == "SCHED_FIFO priority 80; memory locked (current and future, as touched)"
    assert drop_realtime(kernel.syscalls()) == SchedulingPolicy("SCHED_OTHER", 0)
    assert kernel.lock_flags is None


@pytest.mark.parametrize("priority,reason", [
    (0, "SCHED_OTHER (SCHED_FIFO not asked)"),
    (150, "SCHED_OTHER (SCHED_FIFO priority 150 is outside 1-99)"),
    (-3, "SCHED_OTHER (SCHED_FIFO priority -3 is outside 1-99)"),
])
def test_priority_zero_or_out_of_range_asks_nothing(priority, reason):
    kernel = FakeKernel()
    report = apply_realtime(priority, lock_memory=False, syscalls=kernel.syscalls())
    assert kernel.set_calls == 0 and kernel.lock_flags is None
    assert report.scheduling == reason and report.memory == "not locked (not asked)"


def test_the_real_call_reports_what_the_kernel_applied_to_that_thread_only():
    """Either outcome is fine (root here, maybe not in CI); the report must match the kernel.
    Runs in its own thread, which sleeps and is put back to SCHED_OTHER before it ends."""
    seen: dict = {}

    def worker() -> None:
        report = apply_realtime(5, lock_memory=False)
        seen["report"] = report
        seen["kernel"] = (os.sched_getscheduler(0), os.sched_getparam(0).sched_priority)
        seen["restored"] = drop_realtime()

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(10)
    report = seen["report"]
    if seen["kernel"] == (os.SCHED_FIFO, 5):
        assert report.fifo and report.scheduling == "SCHED_FIFO priority 5"
    else:
        assert not report.fifo and report.scheduling.startswith("SCHED_OTHER (SCHED_FIFO refused: ")
    assert seen["restored"] == SchedulingPolicy("SCHED_OTHER", 0)
    assert describe_policy() == SchedulingPolicy("SCHED_OTHER", 0)  # this thread never changed


def test_the_real_mlockall_reports_what_the_kernel_locked():
    """In a small child process: mlockall is process-wide and would pin all of pytest."""
    code = ("import json\nfrom rig.realtime import apply_realtime\n"
            "r = apply_realtime(0, lock_memory=True)\n"
            "lck = [l for l in open('/proc/self/status') if l.startswith('VmLck:')][0].split()[1]\n"
            "print(json.dumps([r.memory_locked, r.memory, int(lck)]))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=60, check=True)
    locked, memory, vmlck_kb = json.loads(out.stdout.splitlines()[-1])
    assert locked == (vmlck_kb > 0)
    assert memory == "locked (current and future, as touched)" if locked else memory.startswith("not locked (mlockall refused")


class OldKernel(FakeKernel):
    """A kernel before 4.4: MCL_ONFAULT is an invalid flag."""

    def lock(self, flags: int) -> None:
        if flags & MCL_ONFAULT:
            raise OSError(errno.EINVAL, "Invalid argument")
        super().lock(flags)


def test_a_kernel_without_lock_on_fault_locks_everything_mapped():
    kernel = OldKernel()
    report = apply_realtime(80, lock_memory=True, syscalls=kernel.syscalls())
    assert kernel.lock_flags == MCL_CURRENT | MCL_FUTURE
    assert report.memory_locked and report.memory == "locked (current and future)"


def test_freeze_after_startup_moves_the_live_objects_out_of_reach():
    try:
        report = gc_freeze_after_startup()
        assert report.frozen == gc.get_freeze_count() > 1000
        assert report.collected >= 0
        assert gc.get_count()[2] == 0
    finally:
        gc.unfreeze()


def _allocate(n: int) -> list:
    return [[] for _ in range(n)]  # n tracked objects, kept alive: gen-0 count grows by about n


def _make_gen0_due() -> list:
    keep = []
    while gc.get_count()[0] <= gc.get_threshold()[0]:
        keep.append([])
    return keep


@pytest.fixture
def generations_seen():
    seen: list[int] = []

    def callback(phase: str, info: dict) -> None:
        if phase == "start":
            seen.append(info["generation"])

    gc.callbacks.append(callback)
    yield seen
    gc.callbacks.remove(callback)


def test_the_guard_turns_automatic_gc_off_and_restores_it():
    assert gc.isenabled()
    with TickGc():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with TickGc():
            pass
        assert not gc.isenabled()  # it was off before: it stays off
    finally:
        gc.enable()


def test_gen0_is_collected_only_when_due_and_the_tick_has_slack(generations_seen):
    threshold0 = gc.get_threshold()[0]
    with TickGc(min_slack_s=0.002) as guard:
        gc.collect(0)
        keep = _allocate(threshold0 // 2)
        assert guard.after_tick(slack_s=0.010) is None  # not due yet
        keep += _allocate(threshold0)
        assert guard.after_tick(slack_s=0.001) is None  # due, but no time
        assert gc.get_count()[0] > threshold0
        assert guard.after_tick(slack_s=0.010) == 0
        assert gc.get_count()[0] < threshold0
    assert generations_seen[-1] == 0 and guard.collections == [1, 0, 0] and len(keep) > threshold0


def test_without_slack_for_too_long_gen0_is_forced(generations_seen):
    threshold0 = gc.get_threshold()[0]
    with TickGc(min_slack_s=0.002, force_after=2) as guard:
        gc.collect(0)
        keep = _allocate(int(1.5 * threshold0))
        assert guard.after_tick(slack_s=0.0) is None
        keep += _allocate(threshold0)
        assert guard.after_tick(slack_s=0.0) == 0
    assert guard.forced == 1 and generations_seen[-1] == 0 and keep


@pytest.mark.parametrize("max_generation,expect", [(1, 1), (0, 0)])
def test_gen1_follows_the_collectors_own_rule_up_to_the_cap(generations_seen, max_generation, expect):
    threshold1 = gc.get_threshold()[1]
    with TickGc(max_generation=max_generation) as guard:
        gc.collect(1)
        keep = []
        for _ in range(threshold1 + 1):  # gen-0 runs, each counted in gen 1
            keep += _make_gen0_due()
            assert guard.after_tick(slack_s=0.010) == 0
        keep += _make_gen0_due()
        assert guard.after_tick(slack_s=0.010) == expect
    assert generations_seen[-1] == expect and keep


class ThreadsKernel:
    """sched_setscheduler per thread id, refusing the ids it is told to refuse."""

    def __init__(self, refuse: set[int] = frozenset()):
        self.policies: dict[int, tuple[int, int]] = {}
        self.refuse = refuse

    def syscalls(self) -> Syscalls:
        return Syscalls(self.set, None, None, None, None)

    def set(self, tid: int, policy: int, param: os.sched_param) -> None:
        if tid in self.refuse:
            raise PermissionError(1, "Operation not permitted")
        self.policies[tid] = (policy, param.sched_priority)


def test_companion_threads_go_one_priority_below_the_loop_and_back_on_release():
    kernel = ThreadsKernel()
    said = apply_companions([11, 12], 50, kernel.syscalls())
    assert kernel.policies == {11: (os.SCHED_FIFO, 49), 12: (os.SCHED_FIFO, 49)}
    assert said == "2 companion threads at SCHED_FIFO priority 49"
    release_companions([11, 12], kernel.syscalls())
    assert kernel.policies == {11: (os.SCHED_OTHER, 0), 12: (os.SCHED_OTHER, 0)}


def test_a_refused_companion_is_said_and_the_others_still_raised(caplog):
    kernel = ThreadsKernel(refuse={12})
    said = apply_companions([11, 12], 50, kernel.syscalls())
    assert kernel.policies == {11: (os.SCHED_FIFO, 49)}
    assert said == "companion threads: SCHED_FIFO refused for 1 of 2"
    assert "12: [Errno 1] Operation not permitted" in caplog.text


def test_no_companions_are_raised_without_a_real_time_loop():
    kernel = ThreadsKernel()
    assert apply_companions([11], 1, kernel.syscalls()) == "companion threads: ordinary scheduling"
    assert kernel.policies == {}
