"""systemd's notify protocol (sd_notify) without dependencies: ready, watchdog, status, stopping.

`Notifier.from_env()` reads NOTIFY_SOCKET (a path, or '@name' for an abstract socket) and sends
newline-separated assignments ("READY=1", "WATCHDOG=1", "STATUS=...") as datagrams on a
non-blocking AF_UNIX socket. Without NOTIFY_SOCKET (not started by systemd, tests, a terminal)
every call is a no-op that returns False. Nothing here raises into the loop: a failed send is
counted in `errors` and described in `last_error`.

The watchdog: systemd sets WATCHDOG_USEC (and WATCHDOG_PID) when the unit has WatchdogSec=;
`watchdog_interval_s()` is half of it, as systemd recommends, and `watchdog_if_due(now_s)`
pings at most that often, on the caller's clock, so calling it every tick costs a comparison.
Ping from the loop (or from whatever proves the loop is alive), never from a free-running timer
thread, or a hung loop keeps the service looking healthy. Use NotifyAccess=main in the unit:
the simulated rig's child processes inherit NOTIFY_SOCKET.

Not here: the service unit, restart policy, the hardware heartbeat coil (safety I/O).
"""
from __future__ import annotations

import os
import socket
from typing import Mapping


def watchdog_interval_s(environ: Mapping[str, str] = os.environ, pid: int | None = None) -> float | None:
    """Half of WATCHDOG_USEC in seconds; None when systemd expects no watchdog from this process."""
    usec = environ.get("WATCHDOG_USEC", "")
    owner = environ.get("WATCHDOG_PID", "")
    if owner and owner != str(os.getpid() if pid is None else pid):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 2e6 if value > 0 else None


def _address(notify_socket: str) -> str | None:
    if notify_socket.startswith("@"):
        return "\0" + notify_socket[1:]  # abstract namespace
    if notify_socket.startswith("/"):
        return notify_socket
    return None


class Notifier:
    """Sends notifications to systemd; every method is safe to call from the loop."""

    def __init__(self, notify_socket: str | None, watchdog_s: float | None = None):
        self.notify_socket = notify_socket or None
        self.address = _address(notify_socket) if notify_socket else None
        self.watchdog_s = watchdog_s
        self.sent = 0
        self.errors = 0
        self.last_error = ""
        self._socket: socket.socket | None = None
        self._last_ping_s: float | None = None
        if self.notify_socket and self.address is None:
            self._fail(f"NOTIFY_SOCKET={notify_socket!r} is neither a path nor an '@' abstract name")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ, pid: int | None = None) -> "Notifier":
        """A notifier for the socket systemd gave this process (a no-op one when there is none)."""
        return cls(environ.get("NOTIFY_SOCKET"), watchdog_interval_s(environ, pid))

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def ready(self, status: str | None = None) -> bool:
        """Start-up is over (Type=notify units stay 'activating' until this)."""
        return self.notify("READY=1", *_status(status))

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def watchdog_if_due(self, now_s: float) -> bool:
        """Ping if the watchdog is on and half its timeout has passed since the last ping."""
        if self.watchdog_s is None:
            return False
        if self._last_ping_s is not None and now_s - self._last_ping_s < self.watchdog_s:
            return False
        self._last_ping_s = now_s
        return self.watchdog()

    def status(self, text: str) -> bool:
        """A one-line status shown by `systemctl status`."""
        return self.notify(*_status(text))

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def notify(self, *assignments: str) -> bool:
        """Send assignments as one datagram; True if it was sent."""
        if self.address is None or not assignments:
            return False
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._socket.setblocking(False)  # a busy systemd must not stall the loop
            self._socket.sendto("\n".join(assignments).encode(), self.address)
        except OSError as exc:
            self._fail(f"cannot notify systemd at {self.notify_socket}: {exc}")
            return False
        self.sent += 1
        return True

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def _fail(self, message: str) -> None:
        self.errors += 1
        self.last_error = message


def _status(text: str | None) -> tuple[str, ...]:
    if text is None:
        return ()
    return ("STATUS=" + " ".join(text.splitlines()),)  # one assignment per line in the protocol
