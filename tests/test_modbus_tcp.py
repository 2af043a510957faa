"""The lean Modbus TCP client: against an independent server (modbus-tk), and against a scripted
server for what real links do wrong: late answers, exception answers, garbage, half answers,
wrong unit, a wrong write echo, a dropped connection."""
from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time

import pytest

from drivers.modbus_tcp import LeanTcpClient, ModbusWireError
from rig.sim.lockstep import free_port


# --- an independent peer ---------------------------------------------------------------------
@pytest.fixture
def tk_server():
    import modbus_tk.defines as cst
    from modbus_tk import modbus_tcp
    port = free_port()
    server = modbus_tcp.TcpServer(port=port, address="127.0.0.1")
    slave = server.add_slave(7)
    slave.add_block("regs", cst.HOLDING_REGISTERS, 0, 100)
    slave.add_block("coils", cst.COILS, 0, 16)
    slave.add_block("inputs", cst.DISCRETE_INPUTS, 0, 16)
    slave.set_values("inputs", 0, [1, 0, 1, 1, 0, 0, 0, 0, 1])
    server.start()  # listens from its own thread: wait until it takes connections
    deadline = time.monotonic() + 5.0
    probe = LeanTcpClient("127.0.0.1", port)
    while not probe.connect():
        assert time.monotonic() < deadline, "modbus-tk server did not start listening"
        time.sleep(0.01)
    probe.close()
    yield port, slave
    server.stop()


def test_reads_and_writes_an_independent_server(tk_server):
    port, slave = tk_server
    client = LeanTcpClient("127.0.0.1", port, timeout=1.0)
    assert client.connect()
    assert not client.write_register(3, 0xBEEF, device_id=7).isError()
    assert not client.write_registers(10, [1, 0xFFFF, 300], device_id=7).isError()
    assert client.read_holding_registers(3, count=1, device_id=7).registers == [0xBEEF]
    assert client.read_holding_registers(10, count=3, device_id=7).registers == [1, 0xFFFF, 300]
    assert slave.get_values("regs", 10, 3) == (1, 0xFFFF, 300)
    assert not client.write_coil(2, True, device_id=7).isError()
    assert client.read_coils(0, count=3, device_id=7).bits[:3] == [False, False, True]
    assert client.read_discrete_inputs(0, count=9, device_id=7).bits[:9] == [
        True, False, True, True, False, False, False, False, True]
    client.close()


def test_an_exception_answer_is_an_answer_with_its_code(tk_server):
    port, _ = tk_server
    client = LeanTcpClient("127.0.0.1", port, timeout=1.0)
    answer = client.read_holding_registers(500, count=2, device_id=7)  # outside the block
    assert answer.isError() and answer.exception_code == 2  # illegal data address
    client.close()


# --- a scripted server -----------------------------------------------------------------------
class Scripted:
    """Accepts connections; answers each request with what `respond(tid, unit, pdu)` returns
    (a list of byte strings, each sent separately; [] sends nothing)."""

    def __init__(self, respond):
        self.respond = respond
        self.port = free_port()
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self.connections = 0
        self.requests: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn):
        with conn, contextlib.suppress(OSError):  # the client hangs up mid-test
            while True:
                header = conn.recv(7)
                if len(header) < 7:
                    return
                tid, _, length, unit = struct.unpack(">HHHB", header)
                pdu = conn.recv(length - 1)
                self.requests.append(pdu)
                for chunk in self.respond(tid, unit, pdu):
                    conn.sendall(chunk)

    def close(self):
        self.listener.close()


def frame(tid: int, unit: int, pdu: bytes) -> bytes:
    return struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu


def registers(*values: int) -> bytes:
    return struct.pack(f">BB{len(values)}H", 3, 2 * len(values), *values)


@pytest.fixture
def scripted():
    servers = []

    def make(respond):
        servers.append(Scripted(respond))
        return servers[-1]
    yield make
    for server in servers:
        server.close()


def test_a_late_answer_to_an_earlier_call_is_skipped_not_taken(scripted):
    calls = []

    def respond(tid, unit, pdu):
        calls.append(tid)
        if len(calls) == 1:
            return []  # the first call times out ...
        # ... its answer comes late, just before the answer to the next call
        return [frame(calls[0], unit, registers(111)), frame(tid, unit, registers(222))]
    server = scripted(respond)
    client = LeanTcpClient("127.0.0.1", server.port, timeout=0.1, retries=0)
    with pytest.raises(ModbusWireError):
        client.read_holding_registers(0, count=1, device_id=1)
    assert client.read_holding_registers(0, count=1, device_id=1).registers == [222]
    assert server.connections == 1  # a clean time-out keeps the connection


def test_no_answer_within_the_budget_is_a_wire_error(scripted):
    server = scripted(lambda tid, unit, pdu: [])
    client = LeanTcpClient("127.0.0.1", server.port, timeout=0.05, retries=2)
    with pytest.raises(ModbusWireError, match="no answer within 50 ms"):
        client.read_holding_registers(0, count=1)
    assert len(server.requests) == 3  # the first attempt and two retries


def test_half_an_answer_closes_the_connection_and_the_next_call_reconnects(scripted):
    answers = iter([lambda tid, unit: [frame(tid, unit, registers(5))[:9]],  # cut short
                    lambda tid, unit: [frame(tid, unit, registers(6))]])
    server = scripted(lambda tid, unit, pdu: next(answers)(tid, unit))
    client = LeanTcpClient("127.0.0.1", server.port, timeout=0.1, retries=0)
    with pytest.raises(ModbusWireError):
        client.read_holding_registers(0, count=1)
    assert not client.connected
    assert client.read_holding_registers(0, count=1).registers == [6]
    assert server.connections == 2


@pytest.mark.parametrize("bad, message", [
    (lambda tid, unit: struct.pack(">HHHB", tid, 9, 5, unit) + registers(1), "not a Modbus TCP answer"),
    (lambda tid, unit: frame(tid, unit + 1, registers(1)), "answer from unit 2, asked unit 1"),
    (lambda tid, unit: frame(tid, unit, bytes([4, 2, 0, 1])), "answer to function 4, asked function 3"),
    (lambda tid, unit: frame(tid, unit, bytes([3, 4, 0, 1])), "byte count does not match"),
    (lambda tid, unit: frame(tid, unit, registers(1, 2)), "2 registers in the answer, asked 1"),
])
def test_a_garbled_answer_is_a_wire_error_naming_what_is_wrong(scripted, bad, message):
    server = scripted(lambda tid, unit, pdu: [bad(tid, unit)])
    client = LeanTcpClient("127.0.0.1", server.port, timeout=0.2, retries=0)
    with pytest.raises(ModbusWireError, match=message):
        client.read_holding_registers(0, count=1, device_id=1)


def test_a_write_whose_echo_differs_is_a_wire_error(scripted):
    server = scripted(lambda tid, unit, pdu: [frame(tid, unit, bytes([6, 0, 9, 0, 1]))])
    client = LeanTcpClient("127.0.0.1", server.port, timeout=0.2, retries=0)
    with pytest.raises(ModbusWireError, match="write echo"):
        client.write_register(8, 1)


def test_a_closed_connection_is_a_wire_error_then_a_reconnect(scripted):
    server = scripted(lambda tid, unit, pdu: [])
    client = LeanTcpClient("127.0.0.1", server.port, timeout=0.2, retries=0)
    assert client.connect()
    client._sock.shutdown(socket.SHUT_RD)  # the peer's end as seen by us: nothing more will come
    with pytest.raises(ModbusWireError, match="closed the connection"):
        client.read_holding_registers(0, count=1)
    assert not client.connected


def test_nobody_listening_is_a_wire_error():
    client = LeanTcpClient("127.0.0.1", free_port(), timeout=0.1, retries=0)
    assert not client.connect()
    with pytest.raises(ModbusWireError, match="cannot connect"):
        client.read_holding_registers(0, count=1)


def test_a_retry_takes_the_late_answer_to_its_own_first_attempt(scripted):
    calls = []

    def respond(tid, unit, pdu):
        calls.append(tid)
        # the first attempt's answer comes only after the retry was sent; the retry's never
        return [] if len(calls) == 1 else [frame(calls[0], unit, registers(333))]
    server = scripted(respond)
    client = LeanTcpClient("127.0.0.1", server.port, timeout=0.1, retries=1)
    assert client.read_holding_registers(0, count=1).registers == [333]
