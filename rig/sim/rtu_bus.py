"""Twins on a simulated Modbus RTU line: several units, one serial server, real wire time.

`RtuBus` serves the endpoints whose links name the same serial device on one pymodbus RTU
server. By default it also lays the cable: a `PtyWire` links the controller's end at the
configured device path and paces bytes at the baud rate. With `server_port` given instead, it
opens an existing serial port (e.g. one end of a socat-linked pty pair, for outside peers).
Per-unit link faults apply on the shared line: a dropped or "down" unit simply does not answer,
as a dead drive on RS-485 would not.
"""
from __future__ import annotations

import asyncio

from pymodbus.server import ModbusSerialServer

from rig.sim.modbus_twin import TwinEndpoint
from rig.sim.pty_wire import PtyWire

TURNAROUND_S = 0.001  # a drive's delay between the end of a request and its answer


class RtuBus:
    """One RTU line with its units."""

    def __init__(self, device_path: str, baud: int, parity: str, stopbits: int,
                 endpoints: list[TwinEndpoint], server_port: str | None = None):
        self.device_path = device_path
        self.baud, self.parity, self.stopbits = baud, parity, stopbits
        self.endpoints = {e.unit: e for e in endpoints}
        for endpoint in endpoints:
            endpoint.turnaround_s = TURNAROUND_S
        self.wire = None if server_port else PtyWire(device_path, baud, 10 + (parity != "N") + (stopbits - 1))
        self.server_port = server_port or self.wire.device_end
        self._server: ModbusSerialServer | None = None

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        if not sending or not data:
            return data
        endpoint = self.endpoints.get(data[0])
        if endpoint is None:
            return data
        if endpoint.faults.down:
            return b""
        return endpoint.trace_packet(sending, data)

    async def start(self) -> None:
        if self.wire is not None:
            self.wire.start()
        self._server = ModbusSerialServer(
            [e.build_device() for e in self.endpoints.values()], port=self.server_port,
            baudrate=self.baud, parity=self.parity, stopbits=self.stopbits,
            ignore_missing_devices=True, trace_packet=self._trace_packet,
        )
        if not await self._server.listen():
            raise OSError(f"sim RTU bus: cannot open {self.server_port}")

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.shutdown()
        if self.wire is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.wire.stop)
