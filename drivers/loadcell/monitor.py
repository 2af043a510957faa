"""Per-channel plausibility checks on raw counts: what the driver can tell without calibration.

`ChannelMonitor.update(counts)` is fed every drained batch and keeps, per channel, how many
samples in a row sat at a rail (saturated, or a broken wire pulling to a rail), read exactly 0
(an unplugged bridge: a live channel's noise never holds one value), or repeated the previous
value (flatlined: a stuck ADC or frozen firmware); and a short history to measure noise as the
median of |sample-to-sample difference| (robust to the board's rare single-sample spikes and to
the gait's own force changes, which are slow at 1 kHz).

Not here: drift and calibration errors. They need newtons and knowing the deck is empty, so
they belong to the calibrated pipeline / zero check, not to the raw stream.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from drivers.errors import DeviceError
from drivers.loadcell.codec import CHANNELS, N_CHANNELS
from safety.faults import fault

I32_MAX, I32_MIN = 2**31 - 1, -(2**31)
NOISE_EVERY_UPDATES = 10  # at a 200 Hz loop: noise re-measured every 50 ms


@dataclass(frozen=True)
class ChannelChecks:
    """Limits of the channel checks (candidates for config section [loadcell_board])."""

    rail_high_counts: int = I32_MAX  # at or above: top rail
    rail_low_counts: int = I32_MIN  # at or below: bottom rail
    saturated_samples: int = 5  # in a row at a rail
    disconnected_samples: int = 20  # in a row exactly 0
    flatline_samples: int = 50  # in a row identical
    noise_window_samples: int = 250
    noise_limit_counts: float = 1500.0  # median |diff|; 15 N at the nominal 0.01 N/count


class ChannelMonitor:
    """Run lengths and noise per channel; see the module docstring.

    A tick brings a handful of samples: the run lengths are counted in plain Python (a few
    dozen comparisons cost less than the numpy calls they would take); the noise history is a
    fixed numpy ring, measured every NOISE_EVERY_UPDATES updates."""

    def __init__(self, checks: ChannelChecks = ChannelChecks()):
        self.checks = checks
        self.reset()

    def reset(self) -> None:
        """Forget everything (after a reconnect the old runs mean nothing)."""
        self._rail = [0] * N_CHANNELS
        self._zero = [0] * N_CHANNELS
        self._flat = [0] * N_CHANNELS
        self._last: list[int | None] = [None] * N_CHANNELS
        self._ring = np.zeros((self.checks.noise_window_samples, N_CHANNELS), np.int64)
        self._seen = 0  # samples written to the ring since the reset
        self._noise = np.zeros(N_CHANNELS)
        self._updates = 0

    def update(self, counts: np.ndarray) -> None:
        """Take in a batch of raw counts, shape (n, 5)."""
        if len(counts) == 0:
            return
        self._count_runs(counts.tolist())
        self._remember(counts)
        self._updates += 1
        if self._updates % NOISE_EVERY_UPDATES == 0:  # a median is dear; noise is only an alarm
            self._noise = self._measure_noise()

    def _count_runs(self, rows: list[list[int]]) -> None:
        high, low = self.checks.rail_high_counts, self.checks.rail_low_counts
        rail, zero, flat, last = self._rail, self._zero, self._flat, self._last
        for row in rows:
            for ch, value in enumerate(row):
                rail[ch] = rail[ch] + 1 if (value >= high or value <= low) else 0
                zero[ch] = zero[ch] + 1 if value == 0 else 0
                flat[ch] = flat[ch] + 1 if value == last[ch] else 0
                last[ch] = value

    def _remember(self, counts: np.ndarray) -> None:
        size = len(self._ring)
        fresh = counts[-size:]
        i = self._seen % size
        head = min(len(fresh), size - i)  # up to the ring's end, the rest from its start
        self._ring[i:i + head] = fresh[:head]
        self._ring[:len(fresh) - head] = fresh[head:]
        self._seen += len(fresh)

    def _measure_noise(self) -> np.ndarray:
        size = len(self._ring)
        if self._seen < size:
            return np.zeros(N_CHANNELS)
        recent = np.roll(self._ring, -(self._seen % size), axis=0)  # oldest first
        return np.median(np.abs(np.diff(recent, axis=0)), axis=0)

    def noise_counts(self) -> np.ndarray:
        """Median |difference| over the recent window per channel (0 until the window is full),
        as of the last measurement (every NOISE_EVERY_UPDATES updates)."""
        return self._noise

    def faults(self) -> list[DeviceError]:
        """One DeviceError per channel that fails a check (the most telling check wins)."""
        found = []
        noise = self.noise_counts()
        for ch, name in enumerate(CHANNELS):
            error = self._channel_fault(ch, name, noise[ch])
            if error is not None:
                found.append(error)
        return found

    def _channel_fault(self, ch: int, name: str, noise: float) -> DeviceError | None:
        k = self.checks
        last = self._last[ch] or 0
        if self._rail[ch] >= k.saturated_samples:
            side = "top" if last >= k.rail_high_counts else "bottom"
            return DeviceError(fault("loadcell_saturated").code,
                               f"load cell {name}: {self._rail[ch]} samples at the {side} rail ({last} counts)")
        if self._zero[ch] >= k.disconnected_samples:
            return DeviceError(fault("loadcell_disconnected").code,
                               f"load cell {name}: {self._zero[ch]} samples of exactly 0 counts")
        if self._flat[ch] >= k.flatline_samples:
            return DeviceError(fault("loadcell_flatlined").code,
                               f"load cell {name}: {self._flat[ch]} identical samples ({last} counts)")
        if noise > k.noise_limit_counts:
            return DeviceError(fault("loadcell_noisy").code,
                               f"load cell {name}: median sample-to-sample change {noise:.0f} counts "
                               f"(limit {k.noise_limit_counts:.0f})")
        return None
