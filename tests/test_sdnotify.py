"""systemd notify: the exact datagrams on a real AF_UNIX socket, and silence without systemd."""
import os
import socket
import uuid

import pytest

from rig.sdnotify import Notifier, watchdog_interval_s


@pytest.fixture
def systemd(tmp_path):
    """A datagram socket where systemd's would be; yields (NOTIFY_SOCKET value, receive())."""
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(2)
        yield str(path), lambda: sock.recv(4096)


def test_ready_watchdog_status_stopping_send_exactly_the_protocol(systemd):
    address, receive = systemd
    notifier = Notifier.from_env({"NOTIFY_SOCKET": address})
    assert notifier.enabled
    assert notifier.ready()
    assert receive() == b"READY=1"
    assert notifier.watchdog()
    assert receive() == b"WATCHDOG=1"
    assert notifier.status("walking at 1.0 m/s, 30 % unloading")
    assert receive() == b"STATUS=walking at 1.0 m/s, 30 % unloading"
    assert notifier.stopping()
    assert receive() == b"STOPPING=1"
    assert (notifier.sent, notifier.errors) == (4, 0)
    notifier.close()


def test_ready_with_a_status_is_one_datagram_and_a_status_is_one_line(systemd):
    address, receive = systemd
    notifier = Notifier.from_env({"NOTIFY_SOCKET": address})
    notifier.ready(status="idle\nno patient")
    assert receive() == b"READY=1\nSTATUS=idle no patient"


def test_an_abstract_socket_is_reached_by_its_at_name():
    name = f"rig-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2)
        notifier = Notifier.from_env({"NOTIFY_SOCKET": "@" + name})
        assert notifier.watchdog()
        assert sock.recv(4096) == b"WATCHDOG=1"


def test_without_systemd_every_call_is_a_quiet_no_op():
    notifier = Notifier.from_env({})
    assert not notifier.enabled
    assert not any([notifier.ready(), notifier.watchdog(), notifier.status("x"), notifier.stopping(),
                    notifier.watchdog_if_due(100.0)])
    assert (notifier.sent, notifier.errors, notifier.last_error) == (0, 0, "")


def test_a_vanished_systemd_is_counted_never_raised(tmp_path):
    notifier = Notifier.from_env({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    assert not notifier.watchdog()
    assert not notifier.watchdog()
    assert notifier.errors == 2
    assert notifier.last_error.startswith(f"cannot notify systemd at {tmp_path / 'gone'}: [Errno 2]")


def test_an_unusable_notify_socket_value_is_reported():
    notifier = Notifier.from_env({"NOTIFY_SOCKET": "relative/path"})
    assert not notifier.enabled and not notifier.ready()
    assert notifier.errors == 1 and "neither a path nor an '@' abstract name" in notifier.last_error


@pytest.mark.parametrize("environ,expect", [
    ({"WATCHDOG_USEC": "10000000"}, 5.0),
    ({"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "4242"}, 1.5),
    ({"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "4243"}, None),  # meant for another process
    ({"WATCHDOG_USEC": "0"}, None),
    ({"WATCHDOG_USEC": "soon"}, None),
    ({}, None),
])
def test_watchdog_interval_is_half_the_timeout_for_this_process_only(environ, expect):
    assert watchdog_interval_s(environ, pid=4242) == expect


def test_watchdog_pid_defaults_to_this_process():
    assert watchdog_interval_s({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())}) == 1.0


def test_watchdog_if_due_pings_at_most_once_per_interval(systemd):
    address, receive = systemd
    notifier = Notifier.from_env({"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "2000000"})
    pinged = [t for t in (0.0, 0.005, 0.5, 0.999, 1.0, 1.5, 2.0, 2.001) if notifier.watchdog_if_due(t)]
    assert pinged == [0.0, 1.0, 2.0]
    assert [receive() for _ in pinged] == [b"WATCHDOG=1"] * 3


def test_watchdog_if_due_is_silent_when_systemd_wants_no_watchdog(systemd):
    address, _ = systemd
    notifier = Notifier.from_env({"NOTIFY_SOCKET": address})
    assert not notifier.watchdog_if_due(0.0) and notifier.sent == 0
