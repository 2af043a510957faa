"""The session recording writer: the calibrated stream and an event log, off the loop thread.

The loop calls `SessionRecorder.push(t_s, forces_n, belt_mps)` every tick (the tick's samples,
forces in newtons: harness, deck FL, FR, RL, RR) and `note(t_s, kind, text)` for faults, falls,
state changes and commands. A writer thread writes the stream in the format of DESIGN.md
section 6 (`rig replay` reads it back; gzip when the name ends in .gz) and the notes to
NAME.events.csv (`t_s,kind,text`).

How it stays out of the loop's way:
- `push` copies the samples into a preallocated ring (the bounded queue between the two
  threads: one producer, one consumer, two counters, no lock, no allocation). When the ring is
  full it drops the whole push and counts its samples in `dropped_samples`.
- `note` puts one tuple on a `queue.SimpleQueue` (never blocks); notes are rare.
- Nothing raises into the loop: bad input is counted in `rejected_samples`, write errors in
  `write_errors`, and the last problem is kept in plain words in `last_error`.
The ring's counters rely on CPython's GIL (each read or write of an int attribute is atomic and
the numpy copy of a few rows completes before the counter moves). The writer holds the GIL
while it formats, about 3 us a row: it takes what is there every `poll_s` (default 0.05 s, ~50
rows at 1 kHz, ~0.15 ms), so it never keeps the loop waiting longer than that.

What survives a crash: the writer buffers about `flush_interval_s` (default 1 s) of formatted
rows, then writes them in one piece and flushes. A .gz recording is written as one complete gzip
member per flush (gzip readers, Python's included, read the members one after another), so a
file cut by a crash still reads back up to the last flush. Notes are flushed as they are
written: the last fault before a crash is the line most worth keeping.
Every row written has a finite time later than the previous row's (after rounding to the
0.1 ms of the format): `rig replay` refuses anything else, so such rows are rejected here.

Not here: choosing file names or deciding what to note (the supervisor), reading recordings
(rig/replay.py), fsync (a process crash keeps what was flushed; power loss may not).
"""
from __future__ import annotations

import csv
import gzip
import io
import math
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable

import numpy as np

RECORDING_HEADER = "t_s,harness_n,deck_fl_n,deck_fr_n,deck_rl_n,deck_rr_n,belt_mps"
EVENTS_HEADER = "t_s,kind,text"
COLUMNS = 7  # t_s, 5 forces, belt_mps
_STOP = None  # sentinel on the notes queue: wake the writer for its last pass


class RecorderError(OSError):
    """The recording could not be started; the message says which file and why."""


@dataclass(frozen=True)
class RecorderStats:
    """What became of everything the loop handed over."""

    written: int  # samples in the recording file (handed to the OS)
    dropped: int  # samples dropped because the ring was full (or pushed after close)
    rejected: int  # samples with a bad shape, a non-finite or a non-increasing time
    lost: int  # samples in a block whose write failed
    events_written: int
    events_dropped: int
    write_errors: int
    last_error: str  # "" when nothing went wrong


def events_path_for(recording: str | Path) -> Path:
    """`walk.csv.gz` -> `walk.events.csv`, next to the recording."""
    path = Path(recording)
    name = path.name
    for suffix in (".csv.gz", ".csv", ".gz"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return path.with_name(name + ".events.csv")


def format_rows(rows: list[list[float]]) -> str:
    """Rows of (t, 5 forces, belt) as recording lines, with the precision of world_record."""
    return "".join(f"{t:.4f},{h:.2f},{fl:.2f},{fr:.2f},{rl:.2f},{rr:.2f},{b:.3f}\n"
                   for t, h, fl, fr, rl, rr, b in rows)


def format_event(t_s: float, kind: str, text: str) -> str:
    """One `t_s,kind,text` line, quoted as CSV needs (a fault text may hold commas)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow((f"{t_s:.4f}", kind, text))
    return out.getvalue()


class SessionRecorder:
    """Records one session: `start()`, then `push`/`note` from the loop, then `close()`."""

    def __init__(self, path: str | Path, *, capacity_samples: int = 10_000,
                 max_pending_events: int = 1_000, flush_interval_s: float = 1.0,
                 poll_s: float = 0.05, overwrite: bool = False,
                 clock: Callable[[], float] = time.monotonic):
        self.path = Path(path)
        self.events_path = events_path_for(self.path)
        self.flush_interval_s = flush_interval_s
        self.poll_s = poll_s
        self._overwrite = overwrite
        self._clock = clock
        self._ring = np.zeros((capacity_samples, COLUMNS))
        self._produced = 0  # written only by the loop thread
        self._consumed = 0  # written only by the writer thread
        self._notes: queue.SimpleQueue = queue.SimpleQueue()
        self._max_pending_events = max_pending_events
        self._closed = False
        self._thread: threading.Thread | None = None
        self._files: tuple[BinaryIO, BinaryIO] | None = None
        self._pending: list[str] = []
        self._pending_samples = 0
        self._last_t = -math.inf
        self._last_flush = 0.0
        # each counter has one writing thread (+= is not atomic across threads)
        self.dropped_samples = 0  # loop
        self._rejected_by_push = 0  # loop
        self._rejected_by_writer = 0
        self.lost_samples = 0
        self.written_samples = 0
        self.events_written = 0
        self._events_refused = 0  # loop
        self._events_unformattable = 0
        self.write_errors = 0
        self.last_error = ""

    @property
    def rejected_samples(self) -> int:
        """Samples with a bad shape, a non-finite or a non-increasing time."""
        return self._rejected_by_push + self._rejected_by_writer

    @property
    def events_dropped(self) -> int:
        """Notes refused (queue full, after close) or that could not be formatted."""
        return self._events_refused + self._events_unformattable

    # ----- session start (outside the tick: may raise) -----

    def start(self) -> "SessionRecorder":
        """Open both files, write their headers and start the writer thread.

        Raises RecorderError (e.g. the recording exists and overwrite is False, or the folder
        cannot be written); after this nothing raises.
        """
        self.open_files()
        self._thread = threading.Thread(target=self._run, name="session-recorder", daemon=True)
        self._thread.start()
        return self

    def open_files(self) -> None:
        """Open the files and write the headers (start() does this; tests may drive pump())."""
        mode = "wb" if self._overwrite else "xb"
        try:
            stream = open(self.path, mode)
        except OSError as exc:
            raise RecorderError(f"cannot start the recording {self.path}: {_reason(exc)}") from exc
        try:
            events = open(self.events_path, mode)
        except OSError as exc:
            stream.close()
            raise RecorderError(f"cannot start the event log {self.events_path}: {_reason(exc)}") from exc
        self._files = (stream, events)
        self._write(stream, self._encode(RECORDING_HEADER + "\n"), 0)
        self._write(events, (EVENTS_HEADER + "\n").encode(), 0)
        self._last_flush = self._clock()

    # ----- loop side: never blocks, never raises -----

    def push(self, t_s: np.ndarray, forces_n: np.ndarray, belt_mps: float) -> None:
        """Queue one tick's samples: t_s (n,), forces_n (n, 5) in newtons, the belt speed."""
        try:
            n = len(t_s)
            if self._closed or n > len(self._ring) - (self._produced - self._consumed):
                self.dropped_samples += n
                return
            start = self._produced % len(self._ring)
            first = min(n, len(self._ring) - start)
            self._copy_in(self._ring[start:start + first], t_s[:first], forces_n[:first], belt_mps)
            if first < n:
                self._copy_in(self._ring[: n - first], t_s[first:], forces_n[first:], belt_mps)
            self._produced += n
        except Exception as exc:  # noqa: BLE001 - the loop must never see a recorder problem
            self._rejected_by_push += _length(t_s)
            self.last_error = f"samples not recorded: {exc}"

    @staticmethod
    def _copy_in(rows: np.ndarray, t_s: np.ndarray, forces_n: np.ndarray, belt_mps: float) -> None:
        if len(forces_n) != len(rows):
            raise ValueError(f"{len(rows)} times but {len(forces_n)} rows of forces")
        rows[:, 0] = t_s
        rows[:, 1:6] = forces_n
        rows[:, 6] = belt_mps

    def note(self, t_s: float, kind: str, text: str) -> None:
        """Queue one event-log line (kind: fault, fall, state, command ...)."""
        if self._closed or self._notes.qsize() >= self._max_pending_events:
            self._events_refused += 1
            return
        self._notes.put((t_s, kind, text))

    # ----- session end -----

    def close(self, timeout_s: float = 5.0) -> RecorderStats:
        """Stop taking samples, let the writer drain and close the files; returns the stats."""
        self._closed = True
        if self._thread is not None:
            self._notes.put(_STOP)
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                self.last_error = f"the recording writer did not finish within {timeout_s:g} s"
                return self.stats()
        elif self._files is not None:
            self._final_pass()
        return self.stats()

    def stats(self) -> RecorderStats:
        return RecorderStats(written=self.written_samples, dropped=self.dropped_samples,
                             rejected=self.rejected_samples, lost=self.lost_samples,
                             events_written=self.events_written, events_dropped=self.events_dropped,
                             write_errors=self.write_errors, last_error=self.last_error)

    # ----- writer side -----

    def _run(self) -> None:
        while not self._closed:
            try:
                self.pump(wait_s=self.poll_s)
            except Exception as exc:  # noqa: BLE001 - keep recording whatever went wrong once
                self._error(f"the recording writer met a problem: {exc}")
                time.sleep(self.poll_s)
        self._final_pass()

    def _final_pass(self) -> None:
        self.pump(wait_s=0.0)
        self.flush()
        for handle in self._files or ():
            try:
                handle.close()
            except OSError as exc:
                self._error(f"cannot close {handle.name}: {_reason(exc)}")
        self._files = None

    def pump(self, wait_s: float = 0.0) -> None:
        """One writer pass: wait up to wait_s for a note, write notes, take samples, flush if due."""
        self._write_notes(wait_s)
        self._take_samples()
        if self._clock() - self._last_flush >= self.flush_interval_s:
            self.flush()

    def flush(self) -> None:
        """Write the buffered rows in one piece and hand them to the OS."""
        self._last_flush = self._clock()
        if not self._pending or self._files is None:
            return
        text, count = "".join(self._pending), self._pending_samples
        self._pending, self._pending_samples = [], 0
        if self._write(self._files[0], self._encode(text), count):
            self.written_samples += count

    def _write_notes(self, wait_s: float) -> None:
        lines = []
        try:
            item = self._notes.get(timeout=wait_s) if wait_s > 0 else self._notes.get_nowait()
            while True:
                if item is not _STOP:
                    lines.append(self._event_line(item))
                item = self._notes.get_nowait()
        except queue.Empty:
            pass
        lines = [line for line in lines if line]
        if lines and self._files is not None:
            if self._write(self._files[1], "".join(lines).encode(), 0):
                self.events_written += len(lines)

    def _event_line(self, item: tuple[float, str, str]) -> str:
        try:
            return format_event(*item)
        except (TypeError, ValueError) as exc:
            self._events_unformattable += 1
            self.last_error = f"event not recorded: {exc}"
            return ""

    def _take_samples(self) -> None:
        produced = self._produced
        if produced == self._consumed:
            return
        start = self._consumed % len(self._ring)
        end = start + (produced - self._consumed)
        if end <= len(self._ring):
            rows = self._ring[start:end].tolist()
        else:
            rows = self._ring[start:].tolist() + self._ring[: end - len(self._ring)].tolist()
        self._consumed = produced  # the copy is made: the loop may reuse these rows
        kept = self._keep_increasing(rows)
        self._pending.append(format_rows(kept))
        self._pending_samples += len(kept)

    def _keep_increasing(self, rows: list[list[float]]) -> list[list[float]]:
        kept = []
        for row in rows:
            t = round(row[0], 4)  # what the file will say, as `rig replay` parses it
            if math.isfinite(t) and t > self._last_t:
                kept.append(row)
                self._last_t = t
        if len(kept) < len(rows):
            self._rejected_by_writer += len(rows) - len(kept)
            self.last_error = "samples not recorded: their time was not later than the previous sample's"
        return kept

    def _encode(self, text: str) -> bytes:
        data = text.encode()
        if self.path.name.endswith(".gz"):
            return gzip.compress(data, compresslevel=6, mtime=0)  # one complete member per flush
        return data

    def _write(self, handle: BinaryIO, data: bytes, samples: int) -> bool:
        try:
            handle.write(data)
            handle.flush()
            return True
        except (OSError, ValueError) as exc:  # ValueError: the file is closed
            self.lost_samples += samples
            self._error(f"cannot write {handle.name}: {_reason(exc)}")
            return False

    def _error(self, message: str) -> None:
        self.write_errors += 1
        self.last_error = message


def _reason(exc: Exception) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


def _length(t_s: object) -> int:
    try:
        return len(t_s)  # type: ignore[arg-type]
    except TypeError:
        return 1
