"""A lean Modbus TCP client for the loop's hot path: one request, one answer, nothing else.

The rig's three TCP devices are polled some 800 times a second between them, so the client's
own cost is the loop's CPU. This one builds each request with one `struct.pack`, sends it with
one syscall, reads the 7-byte MBAP header and the PDU, and checks them: transaction id
(answers to earlier calls' timed-out requests are skipped, never taken for this one; a
retry takes the late answer to its own call's first attempt: the same request), protocol 0,
unit, function code and the echo of writes. A poll costs about two thirds of the CPU of the
same reads on pymodbus's client (`rig bench modbus` prints both).

Its methods and answers mirror the part of pymodbus's sync client that `ModbusLink` uses
(`read_holding_registers`, `write_register(s)`, `read_coils`, `read_discrete_inputs`,
`write_coil`; answers with `registers` / `bits`, `isError()`, `exception_code`), so the link
takes either. Failures raise `ModbusWireError` (time-out, closed connection, a garbled or
mismatched answer); an exception response is an answer, with `isError()` true.

Time-outs: `timeout` per attempt, `retries` extra attempts; the first request on a new
connection may take up to FIRST_ANSWER_S (connecting is outside the loop's budget too). A
time-out with nothing of the answer received keeps the connection (the late answer is skipped
by its transaction id); one in the middle of an answer, or a garbled answer, closes it, and
the next call reconnects.

Not here: RTU (pymodbus's serial client, on buses polled at tens of hertz), serialised access
and health (drivers/modbus_link.py).
"""
from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass, field

MBAP = struct.Struct(">HHHB")  # transaction id, protocol id (0), length (unit + PDU), unit
MAX_PDU = 253
FIRST_ANSWER_S = 0.5  # the first answer on a new connection may be slow (the device sets the connection up)
RECV_BYTES = 512  # more than the longest answer: one recv takes a whole answer (and any late one before it)


class ModbusWireError(OSError):
    """No valid answer: time-out, connection lost, or an answer that is not ours or not Modbus."""


@dataclass
class Answer:
    """One answer, as the link reads it."""

    function_code: int
    registers: list[int] = field(default_factory=list)
    bits: list[bool] = field(default_factory=list)
    exception_code: int = 0

    def isError(self) -> bool:  # noqa: N802 - the name pymodbus's answers use
        return self.exception_code != 0


class LeanTcpClient:
    """A blocking Modbus TCP client for one connection (see the module docstring)."""

    def __init__(self, host: str, port: int = 502, timeout: float = 0.05, retries: int = 1):
        self.host, self.port = host, port
        self.timeout, self.retries = timeout, retries
        self._sock: socket.socket | None = None
        self._buf = bytearray()  # received, not yet read (the rest of a recv)
        self._sock_timeout = timeout
        self._fresh = True  # no request yet on this connection
        self._waiting_s = timeout
        self._tid = 0

    # --- connection ----------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._sock is not None

    def connect(self) -> bool:
        if self._sock is not None:
            return True
        try:
            sock = socket.create_connection((self.host, self.port), timeout=max(self.timeout, 0.5))
        except OSError:
            return False
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._fresh = True
        self._arm_timeout(max(self.timeout, FIRST_ANSWER_S))
        return True

    def _arm_timeout(self, timeout_s: float) -> None:
        self._sock.settimeout(timeout_s)
        self._sock_timeout = timeout_s

    def close(self) -> None:
        self._buf.clear()
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    # --- the functions the rig uses --------------------------------------------------------
    def read_holding_registers(self, address: int, count: int = 1, device_id: int = 1) -> Answer:
        code, data = self._execute(device_id, struct.pack(">BHH", 3, address, count))
        if code:
            return Answer(3, exception_code=code)
        if len(data) != 2 * count:
            raise ModbusWireError(f"{len(data) // 2} registers in the answer, asked {count}")
        return Answer(3, registers=list(struct.unpack(f">{count}H", data)))

    def write_register(self, address: int, value: int, device_id: int = 1) -> Answer:
        return self._write(device_id, struct.pack(">BHH", 6, address, value & 0xFFFF))

    def write_registers(self, address: int, values: list[int], device_id: int = 1) -> Answer:
        words = [v & 0xFFFF for v in values]
        return self._write(device_id, struct.pack(f">BHHB{len(words)}H", 16, address, len(words),
                                                  2 * len(words), *words))

    def write_coil(self, address: int, value: bool, device_id: int = 1) -> Answer:
        return self._write(device_id, struct.pack(">BHH", 5, address, 0xFF00 if value else 0x0000))

    def read_coils(self, address: int, count: int = 1, device_id: int = 1) -> Answer:
        return self._bits(device_id, 1, address, count)

    def read_discrete_inputs(self, address: int, count: int = 1, device_id: int = 1) -> Answer:
        return self._bits(device_id, 2, address, count)

    def _write(self, unit: int, pdu: bytes) -> Answer:
        code, echo = self._execute(unit, pdu)
        if not code and echo != pdu[1:5]:  # a write answers with its own address and value / count
            raise ModbusWireError(f"write echo {echo.hex()} does not match the request {pdu[1:5].hex()}")
        return Answer(pdu[0], exception_code=code)

    def _bits(self, unit: int, function: int, address: int, count: int) -> Answer:
        code, data = self._execute(unit, struct.pack(">BHH", function, address, count))
        if code:
            return Answer(function, exception_code=code)
        if len(data) != (count + 7) // 8:
            raise ModbusWireError(f"{len(data)} bytes of bits in the answer, asked {count} bits")
        return Answer(function, bits=[bool(data[i // 8] >> (i % 8) & 1) for i in range(8 * len(data))])

    # --- one transaction -----------------------------------------------------------------
    def _execute(self, unit: int, pdu: bytes) -> tuple[int, bytes]:
        last: ModbusWireError | None = None
        sent: set[int] = set()  # this call's attempts: a late answer to any of them answers it
        for _ in range(self.retries + 1):
            if not self.connect():
                raise ModbusWireError(f"cannot connect to {self.host}:{self.port}")
            try:
                return self._attempt(unit, pdu, sent)
            except ModbusWireError as exc:
                last = exc
        raise last if last is not None else ModbusWireError("no attempt made")

    def _attempt(self, unit: int, pdu: bytes, sent: set[int]) -> tuple[int, bytes]:
        self._tid = (self._tid + 1) & 0xFFFF
        tid = self._tid
        sent.add(tid)
        timeout_s = max(self.timeout, FIRST_ANSWER_S) if self._fresh else self.timeout
        self._fresh = False  # only the first request on a connection waits longer
        self._waiting_s = timeout_s
        deadline = time.monotonic() + timeout_s
        if self._sock_timeout != timeout_s:
            self._arm_timeout(timeout_s)
        try:
            self._sock.sendall(MBAP.pack(tid, 0, len(pdu) + 1, unit) + pdu)
        except OSError as exc:
            self.close()
            raise ModbusWireError(f"send failed: {exc}") from None
        while True:
            header = self._recv(MBAP.size, deadline, first=True)
            got_tid, protocol, length, got_unit = MBAP.unpack(header)
            if protocol != 0 or not 2 <= length <= MAX_PDU + 1:
                self.close()
                raise ModbusWireError(f"not a Modbus TCP answer (protocol {protocol}, length {length})")
            body = self._recv(length - 1, deadline, first=False)
            if got_tid in sent:
                break  # the same request's answer; one to an earlier call that timed out is skipped
        if got_unit != unit:
            raise ModbusWireError(f"answer from unit {got_unit}, asked unit {unit}")
        return self._parse(pdu, body)

    def _recv(self, n: int, deadline: float, first: bool) -> bytes:
        """n bytes before the deadline; a time-out mid-answer closes the connection (out of step).

        One `recv` usually brings the whole answer; what it brought beyond n waits in a buffer."""
        buf = self._buf
        while len(buf) < n:
            left = deadline - time.monotonic()
            try:
                if left <= 0:
                    raise socket.timeout()
                if left < self._sock_timeout:  # (only on a slow answer: settimeout costs syscalls)
                    self._sock.settimeout(left)
                    self._sock_timeout = left
                chunk = self._sock.recv(RECV_BYTES)
            except (socket.timeout, TimeoutError):
                if buf or not first:
                    self.close()
                raise ModbusWireError(f"no answer within {self._waiting_s * 1000:.0f} ms") from None
            except OSError as exc:
                self.close()
                raise ModbusWireError(f"receive failed: {exc}") from None
            if not chunk:
                self.close()
                raise ModbusWireError("the device closed the connection")
            buf += chunk
        data = bytes(buf[:n])
        del buf[:n]
        return data

    def _parse(self, request: bytes, body: bytes) -> tuple[int, bytes]:
        """(exception code or 0, the data: a read's bytes after its byte count, a write's echo)."""
        function = request[0]
        if len(body) == 2 and body[0] == function | 0x80:
            return body[1], b""
        if not body or body[0] != function:
            self.close()
            raise ModbusWireError(f"answer to function {body[0] if body else '?'}, asked function {function}")
        if function in (5, 6, 16):
            return 0, body[1:]
        if len(body) < 2 or body[1] != len(body) - 2:
            self.close()
            raise ModbusWireError(f"answer's byte count does not match its {len(body) - 2} data bytes")
        return 0, body[2:]
