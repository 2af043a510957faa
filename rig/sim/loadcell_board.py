"""Twin of the load-cell front-end board (DESIGN.md 3) on a pseudo-terminal, with fault injection.

Two layers:
- `LoadcellBoardModel`: the board itself, pure (no I/O, no clock). `sample(t_s, forces_n)`
  turns the true forces (harness, deck FL, FR, RL, RR; newtons) into raw counts with the board's
  own calibration, noise, 50 Hz hum, slow drift and rare spikes (seeded numpy Generator: the
  same seed and the same calls give the same bytes), and returns the wire bytes of every sample
  due on its own sample clock up to t_s. `receive(bytes)` takes host commands and returns the
  answers. The encoder, CRC and command decoder here are written independently of the host's
  codec (drivers/loadcell/codec.py) so that each checks the other.
- `LoadcellBoardTwin`: puts a model on a pseudo-terminal (raw mode) whose slave is symlinked at
  the configured device path, so the host opens it with pyserial like a USB port. A small
  thread answers commands; samples are written from the thread that calls `sample()`.
  `unplug()` closes the pty and removes the link (the host sees the port vanish); `replug()`
  powers the board up again on a fresh pty at the same path.

Who drives time: the sim's physics thread calls `twin.sample(world.t_s, forces)` after each
world step (samples are due on the board's own clock, so any physics rate works; a zero-order
hold of the forces between steps). Without physics, `BoardClockThread` calls it from the
monotonic clock with forces from a callable.

Not here: the physics (rig/sim/world.py), the host side (drivers/loadcell/).
"""
from __future__ import annotations

import math
import os
import select
import struct
import threading
import time
import tty
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

DEFAULT_DEVICE = "/tmp/rig-sim/loadcell"
N_CHANNELS = 5
U32_MASK = 0xFFFFFFFF
I32_MAX, I32_MIN = 2**31 - 1, -(2**31)
SAMPLE_HEADER = struct.Struct("<BII5i")
BLOCK_SAMPLES = 1024  # random numbers are drawn in blocks of this many samples
TX_LIMIT_BYTES = 16384  # the board's USB FIFO: beyond this, new frames are dropped


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
        table.append(crc & 0xFFFF)
    return table


_TABLE = _crc_table()


def board_crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE, table-driven (the board firmware's way)."""
    crc = 0xFFFF
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _TABLE[(crc >> 8) ^ byte]
    return crc


def board_cobs_encode(data: bytes) -> bytes:
    """COBS, the classic byte loop (code byte patched when a block closes); no delimiter."""
    out = bytearray(b"\x00")
    code_at, code = 0, 1
    for byte in data:
        if byte:
            out.append(byte)
            code += 1
        if not byte or code == 0xFF:
            out[code_at] = code
            code_at, code = len(out), 1
            out.append(0)
    out[code_at] = code
    return bytes(out)


def board_cobs_decode(data: bytes) -> bytes | None:
    """The board's decoder for host commands; None if invalid."""
    out = bytearray()
    i = 0
    while i < len(data):
        code = data[i]
        if code == 0 or i + code > len(data):
            return None
        out += data[i + 1:i + code]
        i += code
        if code < 0xFF and i < len(data):
            out.append(0)
    return bytes(out)


def board_frame(payload: bytes) -> bytes:
    """payload + CRC, COBS-encoded, delimited: one frame as the board sends it."""
    return board_cobs_encode(payload + struct.pack("<H", board_crc16(payload))) + b"\x00"


@dataclass(frozen=True)
class BoardParams:
    """The board's true behaviour (defaults of a healthy board; not the host's calibration)."""

    n_per_count: tuple[float, ...] = (0.01, 0.01, 0.01, 0.01, 0.01)
    zero_counts: tuple[int, ...] = (412_000, 268_500, 731_200, 155_800, 590_300)
    noise_n_rms: float = 1.5
    hum_n: float = 3.0  # amplitude of the mains pick-up
    hum_hz: float = 50.0
    drift_n_rms: float = 1.0  # spread of the slow (thermal) drift, an Ornstein-Uhlenbeck process
    drift_time_constant_s: float = 120.0
    spike_rate_per_s: float = 0.02  # per channel: rare single-sample spikes
    spike_n: tuple[float, float] = (200.0, 600.0)
    board_id: str = "RIG-SIM LC5 ADS1256 fw1.0"
    t_us_at_power_on: int = 0  # the board's u32 clock at power-up (tests start near a wrap)
    seq_at_power_on: int = 0
    max_catch_up_samples: int = 200  # more samples due than this in one call: the rest are skipped


@dataclass
class BoardFaults:
    """Injected misbehaviour; channels are 0 harness, 1 FL, 2 FR, 3 RL, 4 RR."""

    stuck: set[int] = field(default_factory=set)  # counts frozen at their last value
    saturated: set[int] = field(default_factory=set)  # counts at the i32 top rail
    drifting: dict[int, float] = field(default_factory=dict)  # channel -> N/s of extra drift
    noisy: dict[int, float] = field(default_factory=dict)  # channel -> extra N RMS of noise
    disconnected: dict[int, int] = field(default_factory=dict)  # channel -> counts read (0 or a rail)
    silent: bool = False  # firmware hung: no samples (the clock runs, seq does not)
    corrupt_fraction: float = 0.0  # frames sent with a bad CRC
    drop_fraction: float = 0.0  # samples never sent (the host sees seq gaps)

    def clear(self) -> None:
        self.stuck.clear(), self.saturated.clear(), self.drifting.clear()
        self.noisy.clear(), self.disconnected.clear()
        self.silent = False
        self.corrupt_fraction = self.drop_fraction = 0.0


@dataclass
class BoardStats:
    frames_sent: int = 0
    frames_corrupted: int = 0
    samples_dropped: int = 0
    samples_skipped: int = 0  # fell behind by more than max_catch_up_samples
    commands: int = 0
    bad_commands: int = 0


class LoadcellBoardModel:
    """The board's behaviour; see the module docstring."""

    def __init__(self, params: BoardParams = BoardParams(), seed: int = 1):
        self.params = params
        self.faults = BoardFaults()
        self.stats = BoardStats()
        self._rng = np.random.default_rng(seed)
        self._hum_phase = self._rng.uniform(0, 2 * math.pi, N_CHANNELS)
        self._n_per_count = np.array(params.n_per_count, float)
        self._zero = np.array(params.zero_counts, np.int64)
        self._drift_n = np.zeros(N_CHANNELS)
        self._fault_drift_n = np.zeros(N_CHANNELS)
        self._block_at = BLOCK_SAMPLES
        self.power_on()

    def power_on(self) -> None:
        """Power-up state: not streaming, clock and sequence from their power-on values."""
        self.streaming = False
        self.rate_hz = 1000
        self._power_on_us: int | None = None
        self._start_us: int | None = None
        self._k = 0
        self._seq = self.params.seq_at_power_on
        self._last_counts = self._zero.copy()
        self._rx = bytearray()

    @property
    def power_on_t_s(self) -> float | None:
        """Sim time at power-up (first sample() call): board time t_us counts from here, so
        ground-truth times map to board time as t_us = t_us_at_power_on + (t - power_on_t_s)."""
        return None if self._power_on_us is None else self._power_on_us * 1e-6

    # --- host commands ----------------------------------------------------------------------
    def receive(self, data: bytes) -> bytes:
        """Bytes from the host; returns the board's answers (wire bytes)."""
        self._rx += data
        replies = bytearray()
        while b"\x00" in self._rx:
            frame, _, rest = bytes(self._rx).partition(b"\x00")
            self._rx = bytearray(rest)
            replies += self._command(frame)
        del self._rx[:-256]  # garbage without delimiters never grows without bound
        return bytes(replies)

    def _command(self, encoded: bytes) -> bytes:
        payload = board_cobs_decode(encoded) if encoded else None
        if not payload or len(payload) < 3 or board_crc16(payload[:-2]) != int.from_bytes(payload[-2:], "little"):
            self.stats.bad_commands += encoded != b""
            return b""
        self.stats.commands += 1
        kind, body = payload[0], payload[1:-2]
        if kind == 0x10 and len(body) == 2 and 1 <= int.from_bytes(body, "little") <= 4000:
            self.streaming, self.rate_hz, self._start_us = True, int.from_bytes(body, "little"), None
        elif kind == 0x11:
            self.streaming = False
        elif kind == 0x12:
            return board_frame(b"\x02" + self.params.board_id.encode("utf-8"))
        else:
            self.stats.bad_commands += 1
        return b""

    # --- sampling ---------------------------------------------------------------------------
    def sample(self, t_s: float, forces_n: Sequence[float]) -> bytes:
        """Wire bytes of every sample due up to t_s, with these true forces (N, 5 channels)."""
        now_us = round(t_s * 1e6)
        if self._power_on_us is None:
            self._power_on_us = now_us
        if not self.streaming:
            return b""
        if self._start_us is None:
            self._start_us, self._k = now_us, 0
        forces = np.asarray(forces_n, float)
        out = bytearray()
        for _ in range(self.params.max_catch_up_samples):
            due_us = self._start_us + self._k * 1_000_000 // self.rate_hz
            if due_us > now_us:
                return bytes(out)
            out += self._sample_at(due_us, forces)
            self._k += 1
        self._skip_to(now_us)
        return bytes(out)

    def _skip_to(self, now_us: int) -> None:
        k_now = (now_us - self._start_us) * self.rate_hz // 1_000_000 + 1
        skipped = max(0, k_now - self._k)
        self.stats.samples_skipped += skipped
        self._seq = (self._seq + skipped) & U32_MASK
        self._k = k_now

    def _sample_at(self, due_us: int, forces: np.ndarray) -> bytes:
        if self.faults.silent:
            return b""
        normals, uniforms = self._draws()
        counts = self._counts(due_us * 1e-6, forces, normals, uniforms)
        seq, self._seq = self._seq, (self._seq + 1) & U32_MASK
        if uniforms[5] < self.faults.drop_fraction:
            self.stats.samples_dropped += 1
            return b""
        t_us = (self.params.t_us_at_power_on + due_us - self._power_on_us) & U32_MASK
        payload = bytearray(SAMPLE_HEADER.pack(0x01, seq, t_us, *counts))
        crc = board_crc16(payload)
        if uniforms[6] < self.faults.corrupt_fraction:
            payload[1 + int(uniforms[7] * 28)] ^= 0x10  # the wire flipped a bit: CRC no longer matches
            self.stats.frames_corrupted += 1
        self.stats.frames_sent += 1
        return board_cobs_encode(bytes(payload) + struct.pack("<H", crc)) + b"\x00"

    def _draws(self) -> tuple[np.ndarray, np.ndarray]:
        """One sample's random numbers, from blocks drawn in a fixed order (deterministic)."""
        if self._block_at == BLOCK_SAMPLES:
            self._normals = self._rng.standard_normal((BLOCK_SAMPLES, 3 * N_CHANNELS))
            self._uniforms = self._rng.random((BLOCK_SAMPLES, 8 + N_CHANNELS))
            self._block_at = 0
        i = self._block_at
        self._block_at += 1
        return self._normals[i], self._uniforms[i]

    def _counts(self, t_s: float, forces: np.ndarray, normals: np.ndarray, uniforms: np.ndarray) -> list[int]:
        force = forces + self._imperfections(t_s, normals, uniforms) + self._injected_n(normals)
        counts = np.clip(np.rint(force / self._n_per_count) + self._zero, I32_MIN, I32_MAX).astype(np.int64)
        f = self.faults
        for ch in f.stuck:
            counts[ch] = self._last_counts[ch]
        for ch in f.saturated:
            counts[ch] = I32_MAX
        for ch, value in f.disconnected.items():
            counts[ch] = value
        self._last_counts = counts
        return counts.tolist()

    def last_forces_n(self) -> list[float]:
        """The newest sample as a host with the board's true calibration reads it (noise and all)."""
        return ((np.asarray(self._last_counts, np.int64) - self._zero) * self._n_per_count).tolist()

    def _imperfections(self, t_s: float, normals: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
        p = self.params
        dt_s = 1.0 / self.rate_hz
        decay = dt_s / p.drift_time_constant_s
        self._drift_n += -self._drift_n * decay + p.drift_n_rms * math.sqrt(2 * decay) * normals[10:15]
        hum = p.hum_n * np.sin(2 * math.pi * p.hum_hz * t_s + self._hum_phase)
        low_n, high_n = p.spike_n
        size_n = np.sign(uniforms[:5] - 0.5) * (low_n + uniforms[:5] * (high_n - low_n))
        spikes = np.where(uniforms[8:13] < p.spike_rate_per_s * dt_s, size_n, 0.0)
        return p.noise_n_rms * normals[:5] + hum + self._drift_n + spikes

    def _injected_n(self, normals: np.ndarray) -> np.ndarray:
        extra = np.zeros(N_CHANNELS)
        for ch, rms_n in self.faults.noisy.items():
            extra[ch] += rms_n * normals[5 + ch]
        for ch, rate_n_per_s in self.faults.drifting.items():
            self._fault_drift_n[ch] += rate_n_per_s / self.rate_hz
        if not self.faults.drifting:
            self._fault_drift_n[:] = 0.0
        return extra + self._fault_drift_n


class LoadcellBoardTwin:
    """A board model on a pseudo-terminal linked at `device_path`; see the module docstring."""

    def __init__(self, device_path: str = DEFAULT_DEVICE, model: LoadcellBoardModel | None = None):
        self.device_path = device_path
        self.model = model or LoadcellBoardModel()
        self.faults = self.model.faults
        self.lock = threading.Lock()
        self.tx_dropped_frames = 0
        self._tx = bytearray()
        self._master: int | None = None
        self._slave: int | None = None
        self._serve_stop = threading.Event()
        self._server: threading.Thread | None = None

    @property
    def plugged(self) -> bool:
        return self._master is not None

    def start(self) -> None:
        self.replug()

    def stop(self) -> None:
        self.unplug()

    def replug(self) -> None:
        """Plug in (power up): a fresh pty, the link at device_path, the command server."""
        if self.plugged:
            return
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._make_link(os.ttyname(slave))
        with self.lock:
            self.model.power_on()
            self._tx.clear()
            self._master, self._slave = master, slave
        self._serve_stop.clear()
        self._server = threading.Thread(target=self._serve, args=(master,), name="loadcell-twin", daemon=True)
        self._server.start()

    def unplug(self) -> None:
        """Pull the cable: the pty closes and the device path vanishes."""
        if not self.plugged:
            return
        self._serve_stop.set()
        self._server.join(timeout=2.0)
        with self.lock:
            master, slave, self._master, self._slave = self._master, self._slave, None, None
        os.close(master)
        os.close(slave)
        if os.path.islink(self.device_path):
            os.unlink(self.device_path)

    def _make_link(self, slave_name: str) -> None:
        os.makedirs(os.path.dirname(self.device_path) or ".", exist_ok=True)
        if os.path.islink(self.device_path):
            os.unlink(self.device_path)
        elif os.path.exists(self.device_path):
            raise FileExistsError(f"{self.device_path} exists and is not a symlink: not replacing it")
        os.symlink(slave_name, self.device_path)

    def sample(self, t_s: float, forces_n: Sequence[float]) -> None:
        """Called by the physics thread after each step (no-op while unplugged)."""
        with self.lock:
            if self._master is None:
                return
            self._transmit(self.model.sample(t_s, forces_n))

    def _transmit(self, data: bytes) -> None:
        if data:
            if len(self._tx) + len(data) > TX_LIMIT_BYTES:
                self.tx_dropped_frames += data.count(0)  # host not reading: whole frames lost
            else:
                self._tx += data
        if self._tx:
            try:
                del self._tx[:os.write(self._master, self._tx)]
            except (BlockingIOError, InterruptedError):
                pass

    def _serve(self, master: int) -> None:
        while not self._serve_stop.is_set():
            readable, _, _ = select.select([master], [], [], 0.02)
            if not readable:
                continue
            try:
                data = os.read(master, 4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                time.sleep(0.01)
                continue
            with self.lock:
                self._transmit(self.model.receive(data))

    def __enter__(self) -> "LoadcellBoardTwin":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class BoardClockThread:
    """Drives `twin.sample()` from a clock with forces from a callable (no physics attached)."""

    def __init__(self, twin: LoadcellBoardTwin, forces_n: Callable[[], Sequence[float]],
                 period_s: float = 0.001, clock: Callable[[], float] = time.monotonic):
        self.twin, self.forces_n, self.period_s, self.clock = twin, forces_n, period_s, clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="loadcell-board-clock", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)

    @property
    def native_id(self) -> int | None:
        return self._thread.native_id

    def _run(self) -> None:
        while not self._stop.is_set():
            self.twin.sample(self.clock(), self.forces_n())
            time.sleep(self.period_s)
