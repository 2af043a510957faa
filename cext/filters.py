"""Filter design (scipy, at start-up) and checked wrappers of the Cython streaming filters.

`design_sos()` builds one cascade (Butterworth low-pass + optional notch) as scipy SOS rows;
`StreamingFilter` runs it per channel with carried state; `SpikeFilter` rejects spikes.
Not here: the per-frame pipeline (cext/pipeline.py) or config parsing (rig/gaitconfig.py).
"""
from __future__ import annotations

import numpy as np
from scipy import signal

from cext._filters import SosBank, SpikeBank


def design_sos(fs_hz: float, order: int, cutoff_hz: float, notch_hz: float = 0.0,
               notch_q: float = 30.0) -> np.ndarray:
    """(sections, 6) SOS: Butterworth low-pass, then a notch when notch_hz > 0."""
    if not 0 < cutoff_hz < fs_hz / 2:
        raise ValueError(f"low-pass cutoff {cutoff_hz} Hz must be in (0, {fs_hz / 2}) Hz")
    sos = signal.butter(order, cutoff_hz, fs=fs_hz, output="sos")
    if notch_hz > 0:
        if not notch_hz < fs_hz / 2:
            raise ValueError(f"notch {notch_hz} Hz must be below {fs_hz / 2} Hz")
        b, a = signal.iirnotch(notch_hz, notch_q, fs=fs_hz)
        sos = np.vstack([sos, signal.tf2sos(b, a)])
    return np.ascontiguousarray(sos, dtype=np.float64)


def group_delay_s(sos: np.ndarray, fs_hz: float, band_hz: tuple[float, float] = (0.5, 10.0)) -> float:
    """Mean group delay of the cascade over the gait band: the detector's constant-delay correction."""
    freqs = np.linspace(band_hz[0], band_hz[1], 20)
    _, gd = signal.group_delay(signal.sos2tf(sos), w=freqs, fs=fs_hz)
    return float(np.mean(gd)) / fs_hz


def frames(x: object, channels: int, name: str = "x") -> np.ndarray:
    """x as a C-contiguous float64 (n, channels) array, or a clear ValueError/TypeError."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be numeric, not {arr.dtype}")
    if arr.ndim == 1 and channels == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] != channels:
        raise ValueError(f"{name} must have shape (n, {channels}), not {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.float64)


class StreamingFilter:
    """The same SOS cascade on every channel, state carried between calls."""

    def __init__(self, sos: np.ndarray, channels: int):
        sos = np.asarray(sos, dtype=np.float64)
        if sos.ndim != 2 or sos.shape[1] != 6:
            raise ValueError(f"sos must have shape (sections, 6), not {sos.shape}")
        self.sos = sos
        self.channels = channels
        self._bank = SosBank(np.ascontiguousarray(np.repeat(sos[None], channels, axis=0)))

    def settle(self, level: np.ndarray) -> None:
        """Start from steady state at `level` per channel (no start-up transient)."""
        zi = signal.sosfilt_zi(self.sos)  # (sections, 2) for a unit step
        state = np.concatenate([(zi * float(v)).ravel() for v in np.broadcast_to(level, (self.channels,))])
        self._bank.set_state(np.ascontiguousarray(state))

    def __call__(self, x: object) -> np.ndarray:
        data = frames(x, self.channels)
        if not np.all(np.isfinite(data)):
            raise ValueError("samples must be finite (the pipeline holds bad samples; filters do not)")
        out = np.empty_like(data)
        self._bank.process(data, out)
        return out


class SpikeFilter:
    """Causal median-of-3/5 or Hampel spike rejection per channel; delays by `delay_samples`."""

    def __init__(self, channels: int, mode: str = "median3"):
        self._bank = SpikeBank(channels, mode)
        self.channels = channels
        self.delay_samples = self._bank.delay_samples

    def __call__(self, x: object) -> np.ndarray:
        data = frames(x, self.channels)
        out = np.empty_like(data)
        self._bank.process(data, out)
        return out
