"""Serve a device model on a real Modbus transport (pymodbus server), with link fault injection.

`TwinEndpoint` puts one register model on Modbus TCP (loopback). Each request reaches the
model through pymodbus' SimDevice action hook, under the sim's world lock, so the answer
reflects the physics at that instant. Link faults (`LinkFaults`) act on the wire: a dropped
answer, a late answer, a corrupted frame, or a Modbus exception instead of data.

`TwinServerThread` runs every endpoint on one asyncio loop in a background thread.
Not here: what a device does (rig/sim/vfd.py ...), physics stepping (rig/sim/runner.py).
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # its packet traces are ours to log, not its

WRITE_CODES = (5, 6, 15, 16, 23)


class RegisterModel(Protocol):
    """What a twin answers: holding-register reads and writes, and a watchdog feed."""

    def touch(self, now_s: float) -> None: ...
    def read(self, address: int, count: int) -> list[int] | int: ...
    def write(self, address: int, values: list[int]) -> int | None: ...


@dataclass
class LinkFaults:
    """Injected misbehaviour of one device's link, as seen on the wire."""

    down: bool = False  # listener closed, connections dropped
    drop_responses: bool = False  # requests are read, answers never sent
    delay_s: float = 0.0  # every answer this late
    corrupt_responses: bool = False  # answers sent with a flipped byte
    exception_code: int = 0  # answer every request with this Modbus exception

    def clear(self) -> None:
        self.down = self.drop_responses = self.corrupt_responses = False
        self.delay_s = 0.0
        self.exception_code = 0


@dataclass
class TwinEndpoint:
    """One device model served on Modbus TCP."""

    name: str
    model: RegisterModel
    host: str
    port: int
    unit: int
    lock: threading.Lock
    clock: Callable[[], float] = time.monotonic
    address_span: tuple[int, int] = (0x0000, 0xFFFF)
    faults: LinkFaults = field(default_factory=LinkFaults)
    requests: int = 0
    _server: ModbusTcpServer | None = None

    async def _action(self, fc: int, start: int, address: int, count: int,
                      registers: list[int], values: list | None) -> ExcCodes | None:
        if self.faults.delay_s > 0:
            await asyncio.sleep(self.faults.delay_s)
        if self.faults.exception_code:
            return ExcCodes(self.faults.exception_code)
        with self.lock:
            self.requests += 1
            self.model.touch(self.clock())
            if fc in WRITE_CODES:
                error = self.model.write(address, [int(v) for v in values or []])
                return ExcCodes(error) if error else None
            result = self.model.read(address, count)
        if isinstance(result, int):
            return ExcCodes(result)
        registers[address - start:address - start + count] = result
        return None

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        if not sending:
            return data
        if self.faults.drop_responses:
            return b""
        if self.faults.corrupt_responses and len(data) > 8:
            return data[:8] + bytes([data[8] ^ 0xFF]) + data[9:]
        return data

    def build_server(self) -> ModbusTcpServer:
        lo, hi = self.address_span
        device = SimDevice(
            id=self.unit,
            simdata=[SimData(lo, count=hi - lo + 1, values=0, datatype=DataType.REGISTERS)],
            action=self._action,
        )
        return ModbusTcpServer(device, address=(self.host, self.port), trace_packet=self._trace_packet)


class TwinServerThread:
    """Runs the endpoints' servers on one asyncio loop in a daemon thread."""

    def __init__(self, endpoints: list[TwinEndpoint]):
        self.endpoints = {e.name: e for e in endpoints}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="twin-servers", daemon=True)

    def start(self) -> None:
        self._thread.start()
        for name in self.endpoints:
            self._call(self._start(name))

    def stop(self) -> None:
        for name in self.endpoints:
            self._call(self._stop(name))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def set_link_down(self, name: str, down: bool) -> None:
        """Close (or reopen) a device's listener: the controller sees a dead link."""
        endpoint = self.endpoints[name]
        endpoint.faults.down = down
        self._call(self._stop(name) if down else self._start(name))

    def _call(self, coro) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    async def _start(self, name: str) -> None:
        endpoint = self.endpoints[name]
        if endpoint._server is not None:
            return
        server = endpoint.build_server()
        if not await server.listen():
            raise OSError(f"sim {name}: cannot listen on {endpoint.host}:{endpoint.port} (port in use?)")
        endpoint._server = server

    async def _stop(self, name: str) -> None:
        endpoint = self.endpoints[name]
        server, endpoint._server = endpoint._server, None
        if server is not None:
            await server.shutdown()
