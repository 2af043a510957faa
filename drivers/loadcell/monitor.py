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


def _tail_run(condition: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Per column: how many rows at the end are True, continuing `previous` if all are."""
    reversed_rows = condition[::-1]
    trailing = np.argmin(reversed_rows, axis=0)  # index of the first False from the end
    return np.where(reversed_rows.all(axis=0), previous + len(condition), trailing)


class ChannelMonitor:
    """Run lengths and noise per channel; see the module docstring."""

    def __init__(self, checks: ChannelChecks = ChannelChecks()):
        self.checks = checks
        self.reset()

    def reset(self) -> None:
        """Forget everything (after a reconnect the old runs mean nothing)."""
        self._runs = np.zeros(3 * N_CHANNELS, np.int64)  # rail | zero | flat, per channel
        self._recent = np.zeros((0, N_CHANNELS), np.int64)
        self._noise = np.zeros(N_CHANNELS)
        self._updates = 0

    @property
    def rail_run(self) -> np.ndarray:
        return self._runs[:N_CHANNELS]

    @property
    def zero_run(self) -> np.ndarray:
        return self._runs[N_CHANNELS:2 * N_CHANNELS]

    @property
    def flat_run(self) -> np.ndarray:
        return self._runs[2 * N_CHANNELS:]

    def update(self, counts: np.ndarray) -> None:
        """Take in a batch of raw counts, shape (n, 5)."""
        if len(counts) == 0:
            return
        c = counts.astype(np.int64)
        previous = self._recent[-1:] if len(self._recent) else c[:1] + 1
        k = self.checks
        conditions = np.concatenate(((c >= k.rail_high_counts) | (c <= k.rail_low_counts), c == 0,
                                     np.diff(c, axis=0, prepend=previous) == 0), axis=1)
        self._runs = _tail_run(conditions, self._runs)  # one pass for all three checks
        self._recent = np.concatenate((self._recent, c))[-k.noise_window_samples:]
        self._updates += 1
        if self._updates % NOISE_EVERY_UPDATES == 0:  # a median is dear; noise is only an alarm
            self._noise = self._measure_noise()

    def _measure_noise(self) -> np.ndarray:
        if len(self._recent) < self.checks.noise_window_samples:
            return np.zeros(N_CHANNELS)
        return np.median(np.abs(np.diff(self._recent, axis=0)), axis=0)

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
        last = int(self._recent[-1, ch]) if len(self._recent) else 0
        if self.rail_run[ch] >= k.saturated_samples:
            side = "top" if last >= k.rail_high_counts else "bottom"
            return DeviceError(fault("loadcell_saturated").code,
                               f"load cell {name}: {self.rail_run[ch]} samples at the {side} rail ({last} counts)")
        if self.zero_run[ch] >= k.disconnected_samples:
            return DeviceError(fault("loadcell_disconnected").code,
                               f"load cell {name}: {self.zero_run[ch]} samples of exactly 0 counts")
        if self.flat_run[ch] >= k.flatline_samples:
            return DeviceError(fault("loadcell_flatlined").code,
                               f"load cell {name}: {self.flat_run[ch]} identical samples ({last} counts)")
        if noise > k.noise_limit_counts:
            return DeviceError(fault("loadcell_noisy").code,
                               f"load cell {name}: median sample-to-sample change {noise:.0f} counts "
                               f"(limit {k.noise_limit_counts:.0f})")
        return None
