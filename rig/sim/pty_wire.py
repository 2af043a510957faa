"""A simulated serial cable: two pseudo-terminals joined by a relay that keeps the baud rate.

A pty passes bytes instantly whatever baud is set, so an RTU bus on a bare pty would be far
faster than the real RS-485 line. `PtyWire` opens two pty pairs, links the controller's end at
the configured device path (e.g. /tmp/rig-sim/rtu-bus) and hands the other end's name to the
simulated devices; a relay thread forwards bytes each way, holding each burst for its wire time
(bits per character x bytes / baud). Frames, gaps and answers then take as long as on a cable.

Not here: Modbus (the twin server on `device_end`), turnaround delays (the twins).
"""
from __future__ import annotations

import os
import selectors
import threading
import time
import tty
from pathlib import Path


def _open_raw_pty() -> tuple[int, int, str]:
    master, slave = os.openpty()
    tty.setraw(slave)
    tty.setraw(master)
    return master, slave, os.ttyname(slave)


class PtyWire:
    """Relay between the controller's pty (linked at `link_path`) and the devices' pty."""

    def __init__(self, link_path: str, baud: int, bits_per_char: int = 10):
        self.link_path = Path(link_path)
        self.char_s = bits_per_char / baud
        self._host_master, self._host_slave, self.host_end = _open_raw_pty()
        self._dev_master, self._dev_slave, self.device_end = _open_raw_pty()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._relay, name=f"wire {link_path}", daemon=True)
        self.bytes_to_devices = 0
        self.bytes_to_host = 0

    def start(self) -> None:
        self.link_path.parent.mkdir(parents=True, exist_ok=True)
        if self.link_path.is_symlink() or self.link_path.exists():
            self.link_path.unlink()
        self.link_path.symlink_to(self.host_end)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        if self.link_path.is_symlink():
            self.link_path.unlink()
        for fd in (self._host_master, self._host_slave, self._dev_master, self._dev_slave):
            try:
                os.close(fd)
            except OSError:
                pass

    def _relay(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self._host_master, selectors.EVENT_READ, self._dev_master)
        selector.register(self._dev_master, selectors.EVENT_READ, self._host_master)
        while not self._stop.is_set():
            for key, _ in selector.select(timeout=0.05):
                self._forward(key.fd, key.data)
        selector.close()

    def _forward(self, source: int, destination: int) -> None:
        try:
            data = os.read(source, 4096)
        except OSError:
            return
        time.sleep(len(data) * self.char_s)  # the bytes' time on the wire
        try:
            os.write(destination, data)
        except OSError:
            return
        if source == self._host_master:
            self.bytes_to_devices += len(data)
        else:
            self.bytes_to_host += len(data)
