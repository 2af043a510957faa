"""The load-cell stream driver: a reader thread on pyserial feeding a ring the loop drains.

`LoadcellStream(cfg)` implements drivers.loadcell.protocol.LoadcellBoard. `connect()` opens
the port and starts one reader thread, which sends identify + start, decodes whatever arrives
(codec.FrameDecoder) and writes samples into a preallocated ring (numpy arrays). The loop calls
`drain()` each tick and gets every new sample with its board timestamp.

Lock-free-enough ring: one producer (reader thread) and one consumer (the loop). The producer
fills slots, then publishes the new total in one attribute store; the consumer copies the
slots between its own total and that one. If the consumer falls a whole ring behind, the
oldest samples are dropped and counted (`health.overruns`), never read torn.

Link loss: a read error or a vanished port (unplug) marks the link down at once and closes
the port; the same thread retries opening the configured device path every
`reconnect_period_s`, then identifies and restarts the board.

Who reads: while the board streams and the loop drains at least every `handover_s` (20 ms),
`drain()` itself reads what the port holds (one non-blocking read, then decoding) before it
copies the ring, and the reader thread only wakes every `handover_s` to look after the link.
A thread reading a 1 kHz stream on its own wakes several hundred times a second, and each
wake-up costs some 50-80 us of CPU on a small machine, most of the stream's cost; the loop
wakes anyway, and its samples are then as fresh as they can be. Until the board streams
(connecting, identify), or when nobody drains (a stalled loop, a tool that only connects),
the reader thread reads as before: after each read that returned data it pauses
`read_pause_s` (2 ms), so one wake-up carries ~2-3 frames and the port's buffer never fills.
Both readers take one lock around read + decode, so frames stay in order whoever reads.
A board that is connected but silent gets identify + start again every `restart_after_s`.
Nothing above the driver restarts.
Board time stays monotonic across reconnects (codec.FrameDecoder.restart).

Not here: wire format (codec.py), channel checks (monitor.py), calibration and filtering.
"""
from __future__ import annotations

import collections
import logging
import os
import select
import threading
import time
from typing import Callable

import numpy as np
import serial

from drivers.errors import DeviceError
from drivers.loadcell.codec import (N_CHANNELS, FrameDecoder, IdentFrame, SampleFrame,
                                    identify_command, start_command, stop_command)
from drivers.loadcell.monitor import ChannelChecks, ChannelMonitor
from drivers.loadcell.protocol import SampleBatch, StreamHealth
from rig.config import LoadcellBoardConfig
from safety.faults import fault

log = logging.getLogger(__name__)

RATE_WINDOW_S = 1.0  # corrupt / lost fractions are judged over this much recent time
RATE_MIN_EVENTS = 50  # ... and only once this many frames passed in that window
READ_BYTES = 65536  # one non-blocking read takes everything the port holds
CORRUPT_LIMIT = 0.01  # bad frames / all frames above this: fault 133
LOST_LIMIT = 0.01  # lost samples / expected samples above this: fault 134


def hung_up(fd: int) -> bool:
    """The port's other end is gone (a pulled cable, a closed pseudo-terminal)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return any(events & (select.POLLHUP | select.POLLERR | select.POLLNVAL) for _, events in poller.poll(0))


def ring_copy(ring: np.ndarray, start: int, stop: int) -> np.ndarray:
    """ring[start:stop] with indices taken modulo the ring's length (stop - start <= length), copied."""
    size = len(ring)
    i, j = start % size, stop % size
    if stop - start < size and i <= j:
        return ring[i:j].copy()
    return np.concatenate((ring[i:], ring[:j]))


class LoadcellStream:
    """Serial stream driver for the DESIGN.md 3 board; see the module docstring."""

    def __init__(self, cfg: LoadcellBoardConfig, clock: Callable[[], float] = time.monotonic,
                 checks: ChannelChecks = ChannelChecks(), ring_samples: int = 8192,
                 reconnect_period_s: float = 0.05, restart_after_s: float = 0.25,
                 read_pause_s: float = 0.002, handover_s: float = 0.02):
        self.cfg = cfg
        self.clock = clock
        self.health = StreamHealth()
        self.monitor = ChannelMonitor(checks)
        self.reconnect_period_s = reconnect_period_s
        self.restart_after_s = restart_after_s
        self.read_pause_s = read_pause_s
        self.handover_s = handover_s
        self._read_lock = threading.Lock()  # one reader at a time: read + decode + ring write
        self._last_drain_s: float | None = None
        self._decoder = FrameDecoder()
        self._ring_t_s = np.zeros(ring_samples)
        self._ring_counts = np.zeros((ring_samples, N_CHANNELS), np.int32)
        self._ring_seq = np.zeros(ring_samples, np.uint32)
        self._written = 0  # total samples ever written (producer only)
        self._read = 0  # total samples ever drained (consumer only)
        self._monitored_reconnects = 0
        self._port: serial.Serial | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()  # the reader's idle wait ends early: link lost, closing
        self._identified = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_command_s = 0.0
        self._window: collections.deque[tuple[float, int, int, int]] = collections.deque()

    # --- lifecycle (any thread) -----------------------------------------------------------
    def connect(self, timeout_s: float = 1.0) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._identified.clear()
        self._thread = threading.Thread(target=self._run, name="loadcell-reader", daemon=True)
        self._thread.start()
        if not self._identified.wait(timeout_s):
            detail = self.health.last_error or "no answer to identify"
            self.close()
            raise DeviceError(fault("loadcell_connect_failed").code,
                              f"load-cell board on {self.cfg.device}: {detail} within {timeout_s:.2f} s")

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        if self._port is not None:
            self._send(stop_command())
            with self._read_lock:  # not under a drain() that is reading
                self._close_port()
        self.health.state = "closed"

    @property
    def reader_native_id(self) -> int | None:
        """OS thread id of the reader (benchmarks read its CPU time from /proc)."""
        return None if self._thread is None else self._thread.native_id

    # --- reader thread --------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            if self._port is None and not self._open():
                self._stop.wait(self.reconnect_period_s)
                continue
            if self.health.state != "up":
                self._read_once()  # connecting: wait for the board's answer
            elif self._loop_reads():
                self._wake.wait(self.handover_s)  # drain() reads; only the link needs looking after
                self._wake.clear()
            else:
                self._read_available()  # nobody drains: keep the port's buffer from filling
                self._stop.wait(self.read_pause_s)
            self._restart_if_silent()

    def _loop_reads(self) -> bool:
        return self._last_drain_s is not None and self.clock() - self._last_drain_s <= self.handover_s

    def _open(self) -> bool:
        port = None
        try:
            port = serial.Serial(self.cfg.device, self.cfg.baud, timeout=0.05, write_timeout=0.2)
            port.reset_input_buffer()  # whatever the board sent while nobody listened is stale
            os.set_blocking(port.fd, False)  # pyserial opens it so; the loop's read must never wait
        except (serial.SerialException, OSError, ValueError) as exc:
            if port is not None:
                port.close()
            self._note_error(f"cannot open {self.cfg.device}: {exc}")
            return False
        if self.health.state in ("up", "down", "connecting") and self.health.last_good_s is not None:
            self.health.reconnects += 1
        self._port = port
        self.health.state = "connecting"
        self._decoder.restart(self._continue_from_s())
        self._request_stream()
        return True

    def _continue_from_s(self) -> float | None:
        """Board time to give the first sample after a reconnect: last + time spent away."""
        h = self.health
        if h.last_sample_t_s is None or h.last_good_s is None:
            return None
        return h.last_sample_t_s + max(self.clock() - h.last_good_s, 1e-6)

    def _request_stream(self) -> None:
        self._last_command_s = self.clock()
        self._send(identify_command() + start_command(self.cfg.rate_hz))

    def _send(self, data: bytes) -> None:
        try:
            self._port.write(data)
        except (serial.SerialException, OSError, AttributeError) as exc:
            self._note_error(f"write to {self.cfg.device} failed: {exc}")

    def _read_once(self) -> None:
        """Wait (up to the port's 50 ms time-out) for what the board sends; take it in."""
        port = self._port
        try:
            data = port.read(port.in_waiting or 1)
        except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
            with self._read_lock:
                self._link_lost(f"read from {self.cfg.device} failed: {exc}")
            return
        if data:
            with self._read_lock:
                self._ingest(data)
            time.sleep(self.read_pause_s)  # let a few samples gather: one wake-up per ~2 frames, not per frame

    def _read_available(self) -> None:
        """Take in whatever the port holds now, without waiting (its file is non-blocking)."""
        with self._read_lock:
            port = self._port
            if port is None:
                return
            try:
                data = os.read(port.fd, READ_BYTES)
            except BlockingIOError:
                return
            except (OSError, TypeError, AttributeError) as exc:  # a vanished port (EIO), a closed file
                self._link_lost(f"read from {self.cfg.device} failed: {exc}")
                return
            if not data:  # nothing there, or a hung-up port: a raw-mode tty reads 0 bytes for both
                if hung_up(port.fd):
                    self._link_lost(f"read from {self.cfg.device} failed: the port hung up")
                return
            self._ingest(data)

    def _restart_if_silent(self) -> None:
        if self.clock() - self._last_command_s > self.restart_after_s and self.stale(self.clock()):
            self._request_stream()  # silent board (reset, lost our start): ask again

    def _link_lost(self, detail: str) -> None:
        self.health.read_errors += 1
        self._note_error(detail)
        self._close_port()
        self.health.state = "down"
        self._wake.set()  # the reader reconnects (when drain() found the loss)
        log.warning("load-cell board link lost: %s", detail)

    def _close_port(self) -> None:
        port, self._port = self._port, None
        try:
            port.close()
        except (serial.SerialException, OSError, AttributeError):
            pass

    def _note_error(self, detail: str) -> None:
        self.health.last_error = detail

    def _ingest(self, data: bytes) -> None:
        frames = self._decoder.feed(data)
        got_sample = False
        for frame in frames:
            if type(frame) is SampleFrame:
                self._push(frame)
                got_sample = True
            elif type(frame) is IdentFrame:
                self.health.board_id = frame.text
                self._identified.set()
        if frames:
            self.health.state = "up"
        self._publish_counters(got_sample)

    def _push(self, frame: SampleFrame) -> None:
        i = self._written % len(self._ring_seq)
        self._ring_t_s[i] = frame.t_s
        self._ring_counts[i] = frame.counts
        self._ring_seq[i] = frame.seq
        self._written += 1  # publish after the slot is complete

    def _publish_counters(self, got_sample: bool) -> None:
        d, h = self._decoder, self.health
        h.samples, h.crc_errors, h.malformed = d.samples, d.crc_errors, d.malformed
        h.lost_samples, h.seq_restarts = d.lost_samples, d.seq_restarts
        if got_sample:
            h.last_sample_t_s = float(self._ring_t_s[(self._written - 1) % len(self._ring_seq)])
            h.last_good_s = self.clock()

    # --- the loop's side --------------------------------------------------------------------
    def read_pending(self) -> None:
        """Take in what the port holds now, if the board streams (drain() does this first)."""
        if self.health.state == "up":
            self._read_available()

    def drain(self) -> SampleBatch:
        self._last_drain_s = self.clock()
        self.read_pending()
        size = len(self._ring_seq)
        written, start = self._written, self._read
        if written - start > size:
            self.health.overruns += written - start - size
            start = written - size
        batch = SampleBatch(ring_copy(self._ring_t_s, start, written), ring_copy(self._ring_counts, start, written),
                            ring_copy(self._ring_seq, start, written))
        overwritten = self._written - start - size  # slots the producer reused while we copied
        if overwritten > 0:
            self.health.overruns += overwritten
            batch = SampleBatch(batch.t_s[overwritten:], batch.counts[overwritten:], batch.seq[overwritten:])
        self._read = written
        if self.health.reconnects != self._monitored_reconnects:  # old runs mean nothing now
            self._monitored_reconnects = self.health.reconnects
            self.monitor.reset()
        self.monitor.update(batch.counts)
        return batch

    def stale(self, now_s: float) -> bool:
        return self.health.state != "up" or self.health.age_s(now_s) > self.cfg.stale_after_s

    def active_faults(self, now_s: float) -> list[DeviceError]:
        h = self.health
        if h.state in ("never", "down", "closed"):
            return [DeviceError(fault("loadcell_comm_lost").code,
                                f"load-cell board on {self.cfg.device} is {h.state}: {h.last_error}")]
        found = []
        if self.stale(now_s):
            found.append(DeviceError(fault("loadcell_stream_stale").code,
                                     f"no load-cell sample for {h.age_s(now_s) * 1e3:.0f} ms "
                                     f"(limit {self.cfg.stale_after_s * 1e3:.0f} ms)"))
        found += self._rate_faults(now_s)
        if not found:
            found += self.monitor.faults()  # channel checks mean something only on live data
        return found

    def _rate_faults(self, now_s: float) -> list[DeviceError]:
        h, window = self.health, self._window
        window.append((now_s, h.samples, h.bad_frames, h.lost_samples))
        while len(window) > 2 and now_s - window[1][0] >= RATE_WINDOW_S:
            window.popleft()
        _, samples0, bad0, lost0 = window[0]
        good, bad, lost = h.samples - samples0, h.bad_frames - bad0, h.lost_samples - lost0
        found = []
        if good + bad >= RATE_MIN_EVENTS and bad > CORRUPT_LIMIT * (good + bad):
            found.append(DeviceError(fault("loadcell_frames_corrupt").code,
                                     f"{bad} of {good + bad} load-cell frames damaged in the last "
                                     f"{now_s - window[0][0]:.2f} s ({h.crc_errors} CRC, "
                                     f"{h.malformed} malformed in all)"))
        if good + lost >= RATE_MIN_EVENTS and lost > LOST_LIMIT * (good + lost):
            found.append(DeviceError(fault("loadcell_samples_lost").code,
                                     f"{lost} of {good + lost} load-cell samples lost in the last "
                                     f"{now_s - window[0][0]:.2f} s"))
        return found
