"""One Modbus device's link: a client, serialised access, explicit time-outs, health.

The client is the lean TCP client (drivers/modbus_tcp.py) on Modbus TCP and pymodbus's serial
client on RTU; both answer the same calls.

Every call either returns valid data or raises a `DeviceError` with the device's fault codes:
`CommsError(comm_lost_code)` for time-outs, dropped links and garbled answers,
`DeviceRejected(rejected_code)` for Modbus exception responses (`isError()`). Worst-case
blocking of one call is (retries + 1) x timeout_s, plus one reconnect attempt. An answer that
came later than that (pymodbus keeps reading while stale answers to earlier requests trickle
in, so a device answering 200 ms late could block a call that long and still "succeed") is
discarded as a comm failure once the link is up: the device is not keeping to its budget and
its data is old (the first answers after connecting are allowed to be slow).

Not here: what the registers mean (the device drivers).
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from pymodbus.client import ModbusSerialClient, ModbusTcpClient
from pymodbus.exceptions import ModbusException

from drivers.errors import CommsError, DeviceRejected
from drivers.modbus_tcp import LeanTcpClient
from rig.config import LinkConfig

LATE_MARGIN_S = 0.05  # scheduling slack on top of the link's own budget before an answer counts as late
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # failures are raised and logged by us, with context


@dataclass
class LinkHealth:
    """What safety and the panel need to judge a link."""

    state: str = "never"  # never | up | down
    last_good_s: float | None = None
    transactions: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    timeouts: int = 0
    rejections: int = 0
    last_error: str = ""

    def age_s(self, now_s: float) -> float:
        """Time since the last good answer (inf if none yet)."""
        return float("inf") if self.last_good_s is None else now_s - self.last_good_s


def make_client(link: LinkConfig) -> LeanTcpClient | ModbusSerialClient:
    """A sync client for the link, with its explicit time-out and retry budget."""
    if link.transport == "tcp":
        return LeanTcpClient(link.host, port=link.port, timeout=link.timeout_s, retries=link.retries)
    return pymodbus_client(link)


def pymodbus_client(link: LinkConfig) -> ModbusTcpClient | ModbusSerialClient:
    """pymodbus's own sync client for the link (RTU's client; `rig bench modbus` compares TCP's)."""
    if link.transport == "tcp":
        return ModbusTcpClient(link.host, port=link.port, timeout=link.timeout_s,
                               retries=link.retries, reconnect_delay=0.0)
    return ModbusSerialClient(link.device, baudrate=link.baud, parity=link.parity,
                              stopbits=link.stopbits, bytesize=8, timeout=link.timeout_s,
                              retries=link.retries, reconnect_delay=0.0)


class ModbusLink:
    """Register access to one unit, raising DeviceError on anything but a valid answer."""

    def __init__(self, link: LinkConfig, name: str, comm_lost_code: int, rejected_code: int,
                 clock: Callable[[], float] = time.monotonic,
                 client: Any = None, bus_lock: threading.Lock | None = None):
        self.link = link
        self.name = name
        self.comm_lost_code = comm_lost_code
        self.rejected_code = rejected_code
        self.clock = clock
        self.client = client or make_client(link)
        self.lock = bus_lock or threading.Lock()
        self.health = LinkHealth()
        self.budget_s = (link.retries + 1) * link.timeout_s + LATE_MARGIN_S

    def connect(self) -> None:
        """Open the link; raise CommsError if the device cannot be reached."""
        with self.lock:
            ok = self.client.connect()
        if not ok:
            self._failed(CommsError(self.comm_lost_code, f"{self.name}: cannot connect to {self._where()}"))

    def close(self) -> None:
        with self.lock:
            self.client.close()

    def read_holding(self, address: int, count: int) -> list[int]:
        response = self._transact("read", address, lambda: self.client.read_holding_registers(
            address, count=count, device_id=self.link.unit))
        registers = list(getattr(response, "registers", []) or [])
        if len(registers) < count:
            self._failed(CommsError(self.comm_lost_code,
                                    f"{self.name}: short answer at 0x{address:04X}: {len(registers)} of {count}"))
        return registers[:count]

    def write_register(self, address: int, value: int) -> None:
        self._transact("write", address, lambda: self.client.write_register(
            address, value & 0xFFFF, device_id=self.link.unit))

    def write_registers(self, address: int, values: list[int]) -> None:
        self._transact("write", address, lambda: self.client.write_registers(
            address, [v & 0xFFFF for v in values], device_id=self.link.unit))

    def read_discrete_inputs(self, address: int, count: int) -> list[bool]:
        """FC 02: `count` inputs from `address`."""
        return self._read_bits("read inputs", address, count, lambda: self.client.read_discrete_inputs(
            address, count=count, device_id=self.link.unit))

    def read_coils(self, address: int, count: int) -> list[bool]:
        """FC 01: `count` coils from `address`."""
        return self._read_bits("read coils", address, count, lambda: self.client.read_coils(
            address, count=count, device_id=self.link.unit))

    def write_coil(self, address: int, value: bool) -> None:
        """FC 05: one coil."""
        self._transact("write coil", address, lambda: self.client.write_coil(
            address, bool(value), device_id=self.link.unit))

    def _read_bits(self, what: str, address: int, count: int, call: Callable[[], Any]) -> list[bool]:
        bits = list(getattr(self._transact(what, address, call), "bits", []) or [])
        if len(bits) < count:  # answers come padded to whole bytes, never short
            self._failed(CommsError(self.comm_lost_code,
                                    f"{self.name}: short answer at {address}: {len(bits)} of {count} bits"))
        return [bool(bit) for bit in bits[:count]]

    def _where(self) -> str:
        link = self.link
        return f"{link.host}:{link.port}" if link.transport == "tcp" else f"{link.device}@{link.baud}"

    def _transact(self, what: str, address: int, call: Callable[[], Any]) -> Any:
        with self.lock:
            started = time.perf_counter()  # real time: blocking is what the budget limits
            try:
                if not self.client.connected:
                    self.client.connect()
                response = call()
            except (ModbusException, OSError, ValueError, AttributeError) as exc:
                self.health.timeouts += 1
                self._failed(CommsError(self.comm_lost_code,
                                        f"{self.name}: {what} 0x{address:04X} failed: {type(exc).__name__}: {exc}"))
            took_s = time.perf_counter() - started
        if took_s > self.budget_s and self.health.state == "up":  # connecting is outside the loop's budget
            self.health.timeouts += 1
            self._failed(CommsError(self.comm_lost_code,
                                    f"{self.name}: {what} 0x{address:04X} answered after {took_s * 1000:.0f} ms, "
                                    f"past its {self.budget_s * 1000:.0f} ms budget: the answer was discarded"))
        if response.isError():
            code = getattr(response, "exception_code", 0)
            self.health.rejections += 1
            self._failed(DeviceRejected(self.rejected_code,
                                        f"{self.name}: {what} 0x{address:04X} rejected with Modbus exception {code}",
                                        code))
        self._succeeded()
        return response

    def _succeeded(self) -> None:
        h = self.health
        h.state = "up"
        h.last_good_s = self.clock()
        h.transactions += 1
        h.consecutive_failures = 0

    def _failed(self, error: Exception) -> None:
        h = self.health
        h.transactions += 1
        h.failures += 1
        h.consecutive_failures += 1
        h.last_error = str(error)
        if not isinstance(error, DeviceRejected):
            h.state = "down"
        raise error
