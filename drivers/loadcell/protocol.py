"""What the rest of the rig may ask of a load-cell board, whatever its make (a Protocol).

A board streams raw ADC counts of five channels (harness, deck FL, FR, RL, RR) with its own
sample clock. The loop drains what arrived since its last tick as one `SampleBatch`; safety
and the panel judge the link from `StreamHealth` and `active_faults()`.

Not here: calibration (counts -> newtons, from the rig's calibration file), filtering.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from drivers.errors import DeviceError
from drivers.loadcell.codec import CHANNELS, N_CHANNELS


@dataclass(frozen=True)
class SampleBatch:
    """Samples in arrival order: board time (s, unwrapped, monotonic), raw counts, sequence."""

    t_s: np.ndarray  # (n,) float64
    counts: np.ndarray  # (n, 5) int32, columns in CHANNELS order
    seq: np.ndarray  # (n,) uint32, the board's sample numbers

    @property
    def n(self) -> int:
        return len(self.t_s)

    @staticmethod
    def empty() -> "SampleBatch":
        return SampleBatch(np.zeros(0), np.zeros((0, N_CHANNELS), np.int32), np.zeros(0, np.uint32))


@dataclass
class StreamHealth:
    """Link state and counters; written by the reader thread, read by anyone."""

    state: str = "never"  # never | connecting (port open, nothing valid yet) | up | down | closed
    board_id: str = ""
    last_good_s: float | None = None  # host clock at the last valid sample
    last_sample_t_s: float | None = None  # board time of the newest sample
    samples: int = 0
    crc_errors: int = 0
    malformed: int = 0
    lost_samples: int = 0  # sequence gaps
    seq_restarts: int = 0
    overruns: int = 0  # samples the loop did not drain before the ring wrapped
    reconnects: int = 0
    read_errors: int = 0
    last_error: str = ""
    channels: tuple[str, ...] = field(default=CHANNELS)

    def age_s(self, now_s: float) -> float:
        """Time since the last valid sample (inf if none yet)."""
        return float("inf") if self.last_good_s is None else now_s - self.last_good_s

    @property
    def bad_frames(self) -> int:
        return self.crc_errors + self.malformed


class LoadcellBoard(Protocol):
    """A streaming load-cell front-end. Nothing here blocks the loop for long or raises on data."""

    health: StreamHealth

    def connect(self, timeout_s: float = 1.0) -> None:
        """Open the port, identify the board and start it; raise DeviceError if it does not answer.
        After this the driver keeps the stream alive itself (reconnects after an unplug)."""

    def close(self) -> None:
        """Stop the board's stream and the reader; idempotent."""

    def drain(self) -> SampleBatch:
        """Every sample that arrived since the last drain (never blocks)."""

    def stale(self, now_s: float) -> bool:
        """True if the link is down or no sample arrived for `stale_after_s`."""

    def active_faults(self, now_s: float) -> list[DeviceError]:
        """The catalogue faults that hold now (link, stream, channels), each with its detail."""
