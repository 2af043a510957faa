"""One Modbus client per bus, shared by every device on it, with serialised access.

On RS-485 several drives share one serial line: they must share one client (one open port)
and take turns, or their frames collide. `BusPool.link()` hands each device a `ModbusLink`
whose client and lock are those of its bus: keyed by the serial device for RTU, by
host:port:unit for TCP (where each device has its own connection).
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable

from drivers.modbus_link import ModbusLink, make_client
from rig.config import LinkConfig


class BusPool:
    """The open buses of one rig."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._buses: dict[str, tuple[Any, threading.Lock]] = {}

    @staticmethod
    def key(link: LinkConfig) -> str:
        if link.transport == "rtu":
            return f"rtu:{link.device}"
        return f"tcp:{link.host}:{link.port}:{link.unit}"

    def _bus(self, link: LinkConfig) -> tuple[Any, threading.Lock]:
        key = self.key(link)
        if key not in self._buses:
            self._buses[key] = (make_client(link), threading.Lock())
        return self._buses[key]

    def client(self, link: LinkConfig) -> Any:
        """The bus's own client (an RTU line has one port: a second client could not open it)."""
        return self._bus(link)[0]

    def link(self, link: LinkConfig, name: str, comm_lost_code: int, rejected_code: int) -> ModbusLink:
        """A ModbusLink for one device, on the client of its bus."""
        client, lock = self._bus(link)
        return ModbusLink(link, name, comm_lost_code, rejected_code, self.clock, client=client, bus_lock=lock)

    def close(self) -> None:
        for client, lock in self._buses.values():
            with lock:
                client.close()
        self._buses.clear()
