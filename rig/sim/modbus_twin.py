"""Serve a device model on a real Modbus transport (pymodbus server), with link fault injection.

`TwinEndpoint` puts one register model on Modbus TCP (loopback). Each request reaches the
model through pymodbus' SimDevice action hook, under the sim's world lock, so the answer
reflects the physics at that instant. A model that also implements `BitModel` (`read_bits`,
`write_bits`) gets real coils (FC 01/05/15) and discrete inputs (FC 02) of its own: the device
is then built with pymodbus' four separate blocks and bit addressing.
Link faults (`LinkFaults`) act on the wire: a dropped answer, a late answer, a corrupted
frame, or a Modbus exception instead of data.

`TwinServerThread` runs every endpoint on one asyncio loop in a background thread.
Not here: what a device does (rig/sim/vfd.py ...), physics stepping (rig/sim/runner.py).
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Protocol

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # its packet traces are ours to log, not its

WRITE_CODES = (5, 6, 15, 16, 23)
MAX_PENDING_IDS = 64
BIT_KINDS = {1: "coil", 5: "coil", 15: "coil", 2: "discrete"}


class RegisterModel(Protocol):
    """What a twin answers: holding-register reads and writes, and a watchdog feed."""

    def touch(self, now_s: float) -> None: ...
    def read(self, address: int, count: int) -> list[int] | int: ...
    def write(self, address: int, values: list[int]) -> int | None: ...


class BitModel(Protocol):
    """Optional: coils and discrete inputs; kind is "coil" or "discrete"."""

    def read_bits(self, kind: str, address: int, count: int) -> list[bool] | int: ...
    def write_bits(self, address: int, values: list[bool]) -> int | None: ...


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
    bit_count: int = 16  # coils and discrete inputs served (multiple of 16), for a BitModel
    turnaround_s: float = 0.0  # answer delay of a drive on a serial line (set by rig/sim/rtu_bus.py)
    requests: int = 0
    _server: ModbusTcpServer | None = None
    _pending_ids: deque = field(default_factory=deque)  # transaction ids of requests not yet answered

    async def _action(self, fc: int, start: int, address: int, count: int,
                      registers: list[int], values: list | None) -> ExcCodes | None:
        delay_s = self.faults.delay_s + self.turnaround_s
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        if self.faults.exception_code:
            return ExcCodes(self.faults.exception_code)
        with self.lock:
            self.requests += 1
            self.model.touch(self.clock())
            if fc in BIT_KINDS and self.serves_bits:
                return self._bits(BIT_KINDS[fc], start, address, count, registers, values)
            if fc in WRITE_CODES:
                error = self.model.write(address, [int(v) for v in values or []])
                return ExcCodes(error) if error else None
            result = self.model.read(address, count)
        if isinstance(result, int):
            return ExcCodes(result)
        registers[address - start:address - start + count] = result
        return None

    @property
    def serves_bits(self) -> bool:
        return hasattr(self.model, "read_bits")

    def _bits(self, kind: str, start: int, address: int, count: int,
              registers: list[int], values: list | None) -> ExcCodes | None:
        """Called under the lock. With bit addressing pymodbus hands over `address` in bits but
        `count` in 16-bit registers (those covering the request), and for a read expects those
        registers filled; for a write, `values` are exactly the written bits."""
        model: BitModel = self.model  # type: ignore[assignment]
        if values is not None:
            if kind != "coil":
                return ExcCodes.ILLEGAL_FUNCTION
            error = model.write_bits(address, [bool(v) for v in values])
            return ExcCodes(error) if error else None
        first_register = address // 16
        bits = model.read_bits(kind, first_register * 16, count * 16)
        if isinstance(bits, int):
            return ExcCodes(bits)
        offset = first_register - start
        registers[offset:offset + count] = _pack_bits(bits)
        return None

    def trace_pdu(self, sending: bool, pdu):
        """Each answer leaves with its own request's transaction id, as a real device's does.

        pymodbus's server stamps an answer with the id of the newest request on the connection,
        which is wrong once answers are delayed (a late answer would pass for a current one).
        Answers leave in the order the requests came (one delay for all), so a queue of ids
        pairs them."""
        if not sending:
            if len(self._pending_ids) > MAX_PENDING_IDS:
                self._pending_ids.clear()  # requests that were never answered (a dropped client)
            self._pending_ids.append(pdu.transaction_id)
        elif self._pending_ids:
            pdu.transaction_id = self._pending_ids.popleft()
        return pdu

    def trace_packet(self, sending: bool, data: bytes) -> bytes:
        if not sending:
            return data
        if self.faults.drop_responses:
            return b""
        if self.faults.corrupt_responses and len(data) > 8:
            # byte 8 is the answer's byte count; pymodbus ignores it in FC 01/02 answers, so
            # garble their MBAP length instead (a flipped data bit is undetectable on TCP)
            at = 5 if data[7] in (1, 2) else 8
            return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:]
        return data

    def build_device(self) -> SimDevice:
        """The pymodbus device: shared registers, or (coils, discrete inputs, holding, input) for a BitModel."""
        lo, hi = self.address_span
        registers = [SimData(lo, count=hi - lo + 1, values=0, datatype=DataType.REGISTERS)]
        simdata: list[SimData] | tuple[list[SimData], ...] = registers
        if self.serves_bits:
            bits = [SimData(0, count=self.bit_count, values=False, datatype=DataType.BITS)]
            simdata = (bits, list(bits), registers, list(registers))
        return SimDevice(id=self.unit, simdata=simdata, action=self._action)

    def build_server(self) -> ModbusTcpServer:
        return ModbusTcpServer(self.build_device(), address=(self.host, self.port),
                               trace_packet=self.trace_packet, trace_pdu=self.trace_pdu)


def _pack_bits(bits: list[bool]) -> list[int]:
    """Bits, lowest address first, into 16-bit registers (bit 0 = lowest address)."""
    return [sum(1 << i for i, bit in enumerate(bits[n:n + 16]) if bit) for n in range(0, len(bits), 16)]


class TwinServerThread:
    """Runs the TCP endpoints' servers and the RTU buses on one asyncio loop in a daemon thread.

    `tcp` endpoints each get a listener; `buses` (rig/sim/rtu_bus.py) serve their own units.
    """

    def __init__(self, tcp: list[TwinEndpoint], buses: list | None = None):
        self.buses = list(buses or [])
        self.tcp = {e.name: e for e in tcp}
        self.endpoints = dict(self.tcp)
        for bus in self.buses:
            self.endpoints.update({e.name: e for e in bus.endpoints.values()})
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="twin-servers", daemon=True)

    def start(self) -> None:
        self._thread.start()
        for name in self.tcp:
            self._call(self._start(name))
        for bus in self.buses:
            self._call(bus.start())

    def stop(self) -> None:
        for name in self.tcp:
            self._call(self._stop(name))
        for bus in self.buses:
            self._call(bus.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def set_link_down(self, name: str, down: bool) -> None:
        """Kill (or revive) a device's link: a TCP listener closes; an RTU unit stops answering."""
        endpoint = self.endpoints[name]
        endpoint.faults.down = down
        if name in self.tcp:
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
