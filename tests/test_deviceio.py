"""The devices' I/O threads: jobs run in order, newest per key, safe states first; a blocked
device never blocks the loop's poll; nothing is sent unless the loop posts it."""
from __future__ import annotations

import threading

import pytest

from drivers.errors import CommsError
from rig.config import parse_config
from rig.deviceio import IoWorker
from rig.devices import RigDevices


@pytest.fixture
def worker():
    w = IoWorker("test").start()
    yield w
    w.stop(1.0)


def test_jobs_run_in_posting_order_and_a_repost_replaces_the_waiting_job(worker):
    gate, ran = threading.Event(), []
    worker.post("block", gate.wait)
    worker.post("speed", lambda: ran.append("speed 1"))
    worker.post("read", lambda: ran.append("read"))
    worker.post("speed", lambda: ran.append("speed 2"))  # newest set-point wins, keeps its place
    gate.set()
    assert worker.wait_idle(2.0)
    assert ran == ["speed 2", "read"]
    assert worker.jobs_replaced == 1


def test_first_puts_a_job_ahead_of_everything_waiting(worker):
    gate, ran = threading.Event(), []
    worker.post("block", gate.wait)
    worker.post("command", lambda: ran.append("command"))
    worker.post("safe", lambda: ran.append("safe"), first=True)
    gate.set()
    assert worker.wait_idle(2.0)
    assert ran == ["safe", "command"]


def test_dropped_jobs_never_run(worker):
    gate, ran = threading.Event(), []
    worker.post("block", gate.wait)
    worker.post("command", lambda: ran.append("command"))
    worker.drop("command")
    gate.set()
    assert worker.wait_idle(2.0)
    assert ran == []


def test_a_job_posted_without_waking_waits_for_wake(worker):
    ran = threading.Event()
    worker.post("read", ran.set, wake=False)
    assert not ran.wait(0.2)  # queued, the thread still asleep
    worker.wake()
    assert ran.wait(2.0)


def test_a_waking_post_sends_the_queued_jobs_too(worker):
    ran = []
    worker.post("read", lambda: ran.append("read"), wake=False)
    worker.post("safe", lambda: ran.append("safe"), first=True)
    assert worker.wait_idle(2.0)
    assert ran == ["safe", "read"]


def test_a_failing_job_does_not_end_the_thread(worker):
    ran = []
    worker.post("bad", lambda: 1 / 0)
    worker.post("good", lambda: ran.append("good"))
    assert worker.wait_idle(2.0)
    assert ran == ["good"] and worker.running


def test_wait_idle_says_false_while_a_job_is_stuck(worker):
    gate = threading.Event()
    worker.post("block", gate.wait)
    assert not worker.wait_idle(0.05)
    gate.set()
    assert worker.wait_idle(2.0)


def test_stop_runs_what_was_posted_then_ends():
    w, ran = IoWorker("test").start(), []
    w.post("safe", lambda: ran.append("safe"))
    assert w.stop(2.0)
    assert ran == ["safe"] and not w.running


# --- RigDevices on its I/O threads, with spy drivers (what is sent, and when) ------------------
class SpyBelt:
    def __init__(self):
        self.gate = threading.Event()
        self.gate.set()
        self.reading = threading.Event()  # set once a read is on the wire
        self.calls: list[str] = []

    def connect(self):
        pass

    def close(self):
        pass

    def read_status(self):
        self.calls.append("read")
        self.reading.set()
        if not self.gate.wait(5.0):
            raise CommsError(101, "belt drive: no answer")
        return "status"

    def set_stop_deceleration(self, decel):
        self.calls.append(f"decel {decel}")

    def set_speed(self, mps):
        self.calls.append(f"speed {mps}")

    def stop(self):
        self.calls.append("stop")


class Quiet:
    """A device that answers at once and records nothing."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


class NoCells(Quiet):
    def drain(self):
        return None

    def active_faults(self, now_s):
        return []


@pytest.fixture
def devices():
    config = parse_config("[loop]\nrate_hz = 200.0\n[belt]\npoll_hz = 200.0\n[belt.link]\ntimeout_s = 0.002\n")
    belt = SpyBelt()
    d = RigDevices(config, belt, Quiet(), Quiet(), NoCells(), clock=lambda: 1.0)
    d.connect()
    yield d, belt
    belt.gate.set()
    d.close()


def test_a_device_that_does_not_answer_never_blocks_the_poll(devices):
    d, belt = devices
    belt.gate.clear()  # the drive goes silent mid-transaction
    d.poll(0.0, 0)
    d.send()
    assert belt.reading.wait(2.0)
    d.poll(0.005, 1)  # returns although the first read is still waiting for its answer
    d.send()
    d.poll(0.010, 2)
    d.send()
    assert d.belt.value is None and belt.calls.count("read") == 1
    belt.gate.set()
    assert d.wait_idle(2.0)
    d.poll(0.015, 3)
    assert d.belt.value == "status" and d.belt.last_good_s == 1.0


def test_the_ticks_transactions_go_out_at_send_not_while_it_runs(devices):
    d, belt = devices
    d.poll(0.0, 0)
    d.command(0, 0.5, 0.0, "disabled", 1.0)
    assert not belt.reading.wait(0.2) and belt.calls == []  # the loop is still in its tick
    d.send()
    assert belt.reading.wait(2.0) and d.wait_idle(2.0)
    assert belt.calls == ["read", "decel 1.0", "speed 0.5"]


def test_answers_reach_the_loop_at_the_next_poll_not_between_ticks(devices):
    d, _ = devices
    d.poll(0.0, 0)
    assert d.wait_idle(2.0)
    assert d.belt.value is None  # answered, but the loop's view changes only at its own poll
    d.poll(0.005, 1)
    assert d.belt.value == "status"


def test_nothing_is_sent_unless_the_loop_posts_it(devices):
    d, belt = devices
    d.poll(0.0, 0)
    d.command(0, 0.5, 0.0, "disabled", 1.0)
    assert d.wait_idle(2.0)
    sent = list(belt.calls)
    assert sent == ["read", "decel 1.0", "speed 0.5"]
    assert d.wait_idle(0.1) and belt.calls == sent  # a dead loop leaves the drives' watchdogs to act


def test_a_safe_state_overtakes_the_waiting_set_point(devices):
    d, belt = devices
    belt.gate.clear()
    d.poll(0.0, 0)  # the read blocks the belt's thread
    d.send()
    assert belt.reading.wait(2.0)
    d.command(0, 1.0, 0.0, "disabled", 1.0)
    stop = dict(d.safe_state_actions())["belt: stop"]
    stop()
    belt.gate.set()
    assert d.wait_idle(2.0)
    assert belt.calls == ["read", "stop"]  # the speed set-point waiting behind the read was dropped


def test_a_failed_write_reaches_the_loop_as_the_devices_error(devices):
    d, belt = devices

    def broken(mps):
        raise CommsError(101, "belt drive: write 0x2000 failed")
    belt.set_speed = broken
    d.command(0, 1.0, 0.0, "disabled", 1.0)
    assert d.wait_idle(2.0)
    d.poll(0.0, 1)
    assert d.belt.error is not None and d.belt.error.code == 101


def test_an_unchanged_belt_command_goes_out_once(devices):
    d, belt = devices
    for _ in range(3):
        d.command(0, 0.5, 0.0, "disabled", 1.0)
        assert d.wait_idle(2.0)
    assert belt.calls == ["decel 1.0", "speed 0.5"]


def test_a_belt_command_that_failed_goes_out_again(devices):
    d, belt = devices
    real, tries = belt.set_speed, []

    def flaky(mps):
        tries.append(mps)
        if len(tries) == 1:
            raise CommsError(101, "belt drive: write 0x2000 timed out")
        real(mps)
    belt.set_speed = flaky
    for _ in range(3):
        d.command(0, 0.5, 0.0, "disabled", 1.0)
        assert d.wait_idle(2.0)
    assert tries == [0.5, 0.5] and belt.calls.count("speed 0.5") == 1


def test_the_heartbeat_toggles_at_its_own_rate_not_every_tick():
    config = parse_config("[loop]\nrate_hz = 200.0\n[safety_io]\nheartbeat_hz = 25.0\n")
    toggles = []

    class Module(Quiet):
        def toggle_heartbeat(self):
            toggles.append(1)
    d = RigDevices(config, Quiet(), Quiet(), Module(), NoCells())
    d.connect()
    try:
        for tick in range(80):  # 0.4 s of ticks
            d.heartbeat(tick)
            assert d.wait_idle(2.0)
    finally:
        d.close()
    assert len(toggles) == 10
