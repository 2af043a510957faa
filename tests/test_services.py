"""The loop's services: systemd READY / WATCHDOG sent from the loop itself, gc out of the tick."""
import gc
import socket
import sys

import pytest

from rig.clock import VirtualClock
from rig.config import LoopConfig
from rig.loop import FixedRateLoop
from rig.sdnotify import Notifier
from rig.services import SWITCH_INTERVAL_S, LoopServices

NO_REALTIME = LoopConfig(realtime_priority=0, lock_memory=False)  # leave pytest's own thread alone


@pytest.fixture
def systemd(tmp_path):
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.setblocking(False)

        got: list[bytes] = []

        def received() -> list[bytes]:  # drained often: a datagram socket queues only ~10
            while True:
                try:
                    got.append(sock.recv(4096))
                except BlockingIOError:
                    return got
        yield str(path), received


def test_loop_sends_ready_once_then_watchdog_pings_at_half_the_timeout(systemd):
    address, received = systemd
    notifier = Notifier(address, watchdog_s=0.05)  # WATCHDOG_USEC=100 ms: ping every 50 ms
    clock = VirtualClock(start_s=0.0)
    loop = FixedRateLoop(200.0, clock)
    with LoopServices(NO_REALTIME, notifier) as services:
        loop.run(lambda now, streak: received(), lambda: clock.now() >= 0.5, services.after_tick)
    messages = received()
    assert messages[0].startswith(b"READY=1\nSTATUS=loop running")
    assert messages.count(b"WATCHDOG=1") in (10, 11)  # 0.5 s of loop, one ping per 50 ms
    assert messages[-1] == b"STOPPING=1"


def test_a_loop_that_stalls_stops_the_watchdog_pings(systemd):
    address, received = systemd
    notifier = Notifier(address, watchdog_s=0.05)
    clock = VirtualClock(start_s=0.0)
    loop = FixedRateLoop(200.0, clock)
    stalled = lambda now, streak: clock.sleep_until(now + 1.0) if now > 0.1 else received()  # noqa: E731
    with LoopServices(NO_REALTIME, notifier) as services:
        loop.run(stalled, lambda: clock.now() >= 1.0, services.after_tick)
    pings = received().count(b"WATCHDOG=1")
    assert pings <= 4  # the pings stopped with the tick: systemd sees a silent, stuck service


def test_gc_is_off_inside_and_restored_after_and_the_switch_interval_short():
    before = sys.getswitchinterval()
    assert gc.isenabled()
    with LoopServices(NO_REALTIME, Notifier(None)) as services:
        assert not gc.isenabled()
        assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_S)
        assert services.report is not None and not services.report.fifo
    assert gc.isenabled()
    assert sys.getswitchinterval() == pytest.approx(before)
