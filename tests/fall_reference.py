"""Pure-Python reference of the fall detector's per-sample kernel (cext/_collapse.pyx).

Written for clarity, not speed, the way safety/fall.py did this work before it moved to C:
the same rules in the same order, so tests/test_fall_kernel.py can require exact agreement.
"""
from __future__ import annotations

import math
from collections import deque
from itertools import islice

G_MPS2 = 9.80665


def med3(a: float, b: float, c: float) -> float:
    return max(min(a, b), min(max(a, b), c))


class CollapseWatchRef:
    """Same constructor, `feed`, `reset` and attributes as cext._collapse.CollapseWatch."""

    def __init__(self, window: int, confirm: int, body_weight_n: float, sample_rate_hz: float,
                 collapse_drop_bw: float, collapse_accel_g: float, collapse_fresh_ratio: float,
                 collapse_fraction: float, cell_loaded_bw: float, rising_limit_mps: float,
                 weight_tau_s: float, velocity_tau_s: float):
        self.w, self.confirm, self.bw, self.fs = window, confirm, body_weight_n, sample_rate_hz
        self.drop_bw, self.accel_g, self.fresh, self.fraction = (
            collapse_drop_bw, collapse_accel_g, collapse_fresh_ratio, collapse_fraction)
        self.loaded_bw, self.rising_limit = cell_loaded_bw, rising_limit_mps
        self.weight_tau, self.velocity_tau = weight_tau_s, velocity_tau_s
        self.reset()

    def reset(self) -> None:
        self.raw: list[list[float]] = []
        self.samples: deque[tuple[float, ...]] = deque(maxlen=2 * self.w + 1)
        self.mean_total, self.velocity, self.run = self.bw, 0.0, 0
        self.since_s = self.onset_s = self.deck_before_n = 0.0
        self.now_t = self.now_deck = self.now_total = 0.0

    def feed(self, t, line, cells, testing: bool) -> bool:
        lines, decks, found = [], [], False
        for j in range(len(t)):
            sample = self.despike(float(t[j]), [float(line[j])] + [float(c) for c in cells[j]])
            lines.append(sample[1])
            decks.append(sample[6])
            if testing and not found:
                found = self.add(sample)
        self.line_mean, self.line_max, self.line_last = sum(lines) / len(lines), max(lines), lines[-1]
        self.deck_mean, self.deck_min, self.last_t = sum(decks) / len(decks), min(decks), float(t[-1])
        return found

    def despike(self, t: float, raw: list[float]) -> tuple[float, ...]:
        if not math.isfinite(sum(raw)):
            last = self.raw[-1] if self.raw else [0.0] * 5
            raw = [x if math.isfinite(x) else last[i] for i, x in enumerate(raw)]
        self.raw = (self.raw + [raw])[-3:]
        if len(self.raw) == 3:
            forces = [med3(a, b, c) for a, b, c in zip(*self.raw)]
            t -= 1.0 / self.fs
        else:
            forces = raw
        deck = forces[1] + forces[2] + forces[3] + forces[4]
        return (t, *forces, deck, forces[0] + deck)

    def add(self, sample: tuple[float, ...]) -> bool:
        self.samples.append(sample)
        rising = self.rising(sample[7])
        hit = len(self.samples) == self.samples.maxlen and not rising and self.collapsed()
        self.run = self.run + 1 if hit else 0
        if self.run == 1:
            window = list(islice(self.samples, self.w, None))
            peak = max(window, key=lambda s: s[6])
            self.since_s, self.onset_s, self.deck_before_n = window[-1][0], peak[0], peak[6]
        if self.run >= self.confirm:
            self.now_t, self.now_deck, self.now_total = sample[0], sample[6], sample[7]
            return True
        return False

    def rising(self, total: float) -> bool:
        self.mean_total += (total - self.mean_total) / (self.weight_tau * self.fs)
        accel = (total - self.mean_total) / self.bw * G_MPS2
        self.velocity += (accel - self.velocity / self.velocity_tau) / self.fs
        return self.velocity > self.rising_limit

    def collapsed(self) -> bool:
        bw, w, samples = self.bw, self.w, self.samples
        before, now = samples[w], samples[-1]
        drop = before[6] - now[6]
        if drop < self.drop_bw * bw or now[7] > (1.0 - self.accel_g) * bw:
            return False
        earlier = max(s[6] for s in islice(samples, 0, w + 1))
        if earlier - before[6] > self.fresh * drop:
            return False
        loaded = [(b, n) for b, n in zip(before[2:6], now[2:6]) if b >= self.loaded_bw * bw]
        return bool(loaded) and all(b - n >= self.fraction * b for b, n in loaded)
