"""The Cython gait detector against a pure-Python reference (events exactly, on real
recordings), and the pipeline's streaming invariance."""
import math
from pathlib import Path

import numpy as np
import pytest

from cext._detector import GaitDetector
from cext.pipeline import LoadcellPipeline
from rig.replay import read_recording

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "gait"
needs_data = pytest.mark.skipif(not (DATA / "GaCo01_01.csv.gz").exists(), reason="shared gait data absent")

RING, MASK = 1024, 1023
UNKNOWN, SINGLE, DOUBLE = 0, 1, 2
LEFT, RIGHT = 0, 1


class ReferenceDetector:
    """Scalar Python transcription of _detector.GaitDetector (same arithmetic, same order)."""

    def __init__(self, thr=20.0, delay=0.0, bw=700.0, fs=1000.0):
        self.thr, self.delay, self.bw = thr, delay, bw
        self.hs_frac, self.hs_min, self.hs_k, self.to_k = 0.11, 40.0, 1, 3
        self.guard_n, self.fitmax_n, self.fitmin_n, self.rise_n = 30, 150, 20, 80
        self.skip_n, self.boot_n = 30, 60
        self.contact_n, self.max_ds, self.side_margin, self.revert_s = 0.1 * bw, 1.5, 0.01, 0.3
        self.min_step_frac, self.load_alpha = 0.4, 1.0 / (2.0 * fs)
        self.settle_n, self.settle_m, self.turn_m, self.lead_tol_m = 30, 0.001, 0.005, 0.03
        self.tail_n, self.hold_n = 1.5 * thr, 45
        self.last_ev = -1e9
        self.rt, self.rf, self.rx, self.ry = ([0.0] * RING for _ in range(4))
        self.n = 0
        self.events = []
        self.forget()

    def forget(self):
        self.state, self.side, self.ymin, self.ymax, self.mid = UNKNOWN, LEFT, 1e9, -1e9, 0.0
        self.load, self.have_load = 0.0, 0
        self.step_s, self.have_step, self.last_hs = 0.0, 0, -1e9
        self.rx_p, self.ry_p, self.have_r = [0.3, 0.3], [0.1, -0.1], [0, 0]
        self.ylat, self.have_ylat = [0.0, 0.0], [0, 0]
        self.hs_time, self.hs_px, self.hs_py, self.hs_valid = [0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0, 0]
        self.above = self.below = self.frozen = self.creep = 0
        self.fit_reset(0)

    def fit_reset(self, start):
        self.f_lo = self.f_hi = start
        self.f_t0 = self.s_n = self.s_t = self.s_tt = self.s_x = self.s_tx = self.s_y = 0.0

    def fit_add(self, k, sign):
        i = k & MASK
        tau = self.rt[i] - self.f_t0
        x, y = self.rx[i], self.ry[i]
        self.s_n += sign
        self.s_t += sign * tau
        self.s_tt += sign * tau * tau
        self.s_x += sign * x
        self.s_tx += sign * tau * x
        self.s_y += sign * y

    def fit_advance(self, hi):
        while self.f_hi < hi:
            self.fit_add(self.f_hi, 1.0)
            self.f_hi += 1
        while self.f_hi - self.f_lo > self.fitmax_n:
            self.fit_add(self.f_lo, -1.0)
            self.f_lo += 1

    def fit_line(self):
        n = self.s_n
        den = n * self.s_tt - self.s_t * self.s_t
        bx = (n * self.s_tx - self.s_t * self.s_x) / den if den > 0.0 else 0.0
        return [(self.s_x - bx * self.s_t) / n, bx, self.s_y / n, 0.0]

    def step(self, t, fz, cx, cy):
        i = self.n & MASK
        self.rt[i], self.rf[i], self.rx[i], self.ry[i] = t, fz, cx, cy
        self.n += 1
        if not (fz > self.contact_n) or not math.isfinite(cx) or not math.isfinite(cy):
            self.state, self.ymin, self.ymax = UNKNOWN, 1e9, -1e9
            return
        if self.have_load:
            self.load += self.load_alpha * (fz - self.load)
        else:
            self.load, self.have_load = fz, 1
        [self.step_unknown, self.step_single, self.step_double][self.state](t, fz, cy)

    def step_unknown(self, t, fz, cy):
        self.ymin, self.ymax = min(self.ymin, cy), max(self.ymax, cy)
        if self.ymax - self.ymin < 0.04:
            return
        if not (self.have_ylat[0] and self.have_ylat[1]):
            self.mid = 0.5 * (self.ymin + self.ymax)
        if self.n < self.boot_n:
            return
        ys = [self.ry[k & MASK] for k in range(self.n - self.boot_n, self.n)]
        if max(ys) - min(ys) > 0.01:
            return
        self.enter_single(LEFT if cy > self.mid else RIGHT, self.n - self.boot_n)
        self.recover_toe_off(self.side)

    def recover_toe_off(self, s):
        k, lo = self.n - 1, max(self.n - RING + 1, 1)
        ys, fprev, t_now = self.ry[k & MASK], 0.0, self.rt[k & MASK]
        yo = self.ylat[1 - s] if self.have_ylat[1 - s] else (self.ymin if s == LEFT else self.ymax)
        if abs(yo - ys) < 0.04 or (yo - ys) * (self.mid - ys) <= 0.0:
            return
        while k > lo:
            f = self.rf[k & MASK] * (self.ry[k & MASK] - ys) / (yo - ys)
            if self.rt[k & MASK] <= self.last_ev or t_now - self.rt[k & MASK] > self.max_ds:
                return
            if f >= self.thr:
                if k < self.n - 1:
                    self.emit(self.rt[k & MASK] + (f - self.thr) / (f - fprev) * (
                        self.rt[(k + 1) & MASK] - self.rt[k & MASK]) - self.delay, 1, 1 - s, t_now)
                return
            fprev = f
            k -= 1

    def emit(self, t_s, kind, side, at):
        self.last_ev = t_s + self.delay
        self.events.append((t_s, kind, side, at))

    def enter_single(self, side, start):
        self.state, self.side = SINGLE, side
        self.fit_reset(start)
        self.f_t0 = self.rt[(self.n - 1) & MASK]
        self.above = self.frozen = self.creep = 0

    def swing_force(self, line, k, s):
        i = k & MASK
        tau = self.rt[i] - self.f_t0
        ex = self.rx[i] - (line[0] + line[1] * tau)
        ey = self.ry[i] - (line[2] + line[3] * tau)
        rx, ry = self.rx_p[s], self.ry_p[s]
        return self.rf[i] * (ex * rx + ey * ry) / (rx * rx + ry * ry)

    def side_pull(self, line, k, s):
        i = k & MASK
        ey = self.ry[i] - (line[2] + line[3] * (self.rt[i] - self.f_t0))
        ry = self.ry_p[s]
        return 0.0 if abs(ry) < 2.0 * self.side_margin else self.rf[i] * ey / ry

    def hs_candidate(self, t, line, s):
        f_new = self.swing_force(line, self.n - 1, s)
        conf = max(self.hs_frac * self.load, self.hs_min)
        if not f_new > self.thr:
            self.frozen = self.creep = 0
        elif not (self.frozen or self.creep):
            self.frozen, self.rise_k = 1, self.n - 1
        elif (self.frozen and f_new <= conf and self.n - 1 - self.rise_k > self.rise_n
              and self.side_pull(line, self.n - 1, s) <= self.thr):
            self.frozen, self.creep = 0, 1
        if self.have_step and t - self.last_hs < self.min_step_frac * self.step_s:
            return False
        return f_new > conf

    def step_single(self, t, fz, cy):
        o = self.side
        s = 1 - o
        if not self.frozen:
            self.fit_advance(self.n - self.guard_n)
        if self.s_n < self.fitmin_n:
            return
        line = self.fit_line()
        self.above = self.above + 1 if self.hs_candidate(t, line, s) else 0
        if self.above < self.hs_k:
            return
        t_hs, k = self.hs_crossing(line, s)
        ym = line[2] + line[3] * (self.rt[(self.f_hi - 1) & MASK] - self.f_t0)
        if abs(ym - self.mid) > self.side_margin:
            o = LEFT if ym > self.mid else RIGHT
            s = 1 - o
        self.heel_strike(t, t_hs, k, line, o, s)

    def hs_crossing(self, line, s):
        k, lo = self.n - 1, max(self.f_hi, self.n - RING + 1)
        force = self.side_pull if self.side_pull(line, k, s) > self.thr else self.swing_force
        fk, fp = force(line, k, s), 0.0
        while k > lo:
            fp = force(line, k - 1, s)
            if fp <= self.thr:
                break
            fk = fp
            k -= 1
        if k > lo:
            return self.rt[(k - 1) & MASK] + (self.thr - fp) / (fk - fp) * (
                self.rt[k & MASK] - self.rt[(k - 1) & MASK]), k
        return self.rt[k & MASK], k

    def heel_strike(self, t, t_hs, k, line, o, s):
        self.emit(t_hs - self.delay, 0, s, t)
        self.learn_stance(line, o, s)
        self.learn_step_time(t_hs)
        self.ds = line
        self.ds_t0, self.t_hs = self.f_t0, t_hs
        self.hs_time[s] = t_hs
        self.hs_px[s] = line[0] + line[1] * (t_hs - self.f_t0)
        self.hs_py[s] = line[2] + line[3] * (t_hs - self.f_t0)
        self.hs_valid[s], self.hs_valid[o] = 1, 0
        self.ds_ys = self.ylat[s] if self.have_ylat[s] else self.hs_py[s] + self.ry_p[s]
        self.ds_xmax, self.still = -1e9, 0
        self.below = self.lead_below = 0
        self.state, self.side, self.ds_start = DOUBLE, s, k

    def learn_step_time(self, t_hs):
        dt = t_hs - self.last_hs
        if 0.0 < dt < 2.0:
            if self.have_step:
                self.step_s += 0.2 * (dt - self.step_s)
            else:
                self.step_s, self.have_step = dt, 1
        self.last_hs = t_hs

    def learn_stance(self, line, o, s):
        if self.s_n < 0.5 * self.fitmax_n:
            return
        ym = line[2] + line[3] * (self.rt[(self.f_hi - 1) & MASK] - self.f_t0)
        if self.have_ylat[o]:
            self.ylat[o] += 0.5 * (ym - self.ylat[o])
        else:
            self.ylat[o], self.have_ylat[o] = ym, 1
        if self.have_ylat[s]:
            self.mid = 0.5 * (self.ylat[0] + self.ylat[1])
        if self.hs_valid[o]:
            lx = line[0] + line[1] * (self.hs_time[o] - self.f_t0) - self.hs_px[o]
            ly = line[2] + line[3] * (self.hs_time[o] - self.f_t0) - self.hs_py[o]
            if 0.05 < math.sqrt(lx * lx + ly * ly) < 1.5 and -0.05 < (ly if o == LEFT else -ly) < 0.5:
                if self.have_r[o]:
                    self.rx_p[o] += 0.3 * (lx - self.rx_p[o])
                    self.ry_p[o] += 0.3 * (ly - self.ry_p[o])
                else:
                    self.rx_p[o], self.ry_p[o], self.have_r[o] = lx, ly, 1

    def lat_force(self, k):
        i = k & MASK
        yo = self.ds[2] + self.ds[3] * (self.rt[i] - self.ds_t0)
        return self.rf[i] * (self.ry[i] - self.ds_ys) / (yo - self.ds_ys)

    def settle_lead(self, yo):
        k = self.n - 1
        x, y = self.rx[k & MASK], self.ry[k & MASK]
        self.ds_xmax = max(self.ds_xmax, x)
        if x > self.ds_xmax - self.turn_m or k - self.ds_start < self.settle_n:
            return
        if self.have_step and self.rt[k & MASK] - self.t_hs > self.step_s:
            return
        if abs(y - self.ry[(k - self.settle_n) & MASK]) > self.settle_m:
            self.still = 0
            return
        self.still += 1
        if self.have_ylat[self.side]:
            if abs(y - self.ds_ys) < self.lead_tol_m and (
                    self.lat_force(k) > self.tail_n or self.still >= self.hold_n):
                self.ds_ys = y
        elif (y - yo) / (self.ds_ys - yo) > 0.5:
            self.ds_ys = y

    def step_double(self, t, fz, cy):
        s = self.side
        if t - self.t_hs > self.max_ds:
            self.state = UNKNOWN
            return
        if self.n - self.ds_start < self.fitmin_n:
            return
        yo = self.ds[2] + self.ds[3] * (self.t_hs - self.ds_t0)
        if abs(self.ds_ys - yo) <= 2.0 * self.side_margin:
            return
        self.settle_lead(yo)
        f = self.lat_force(self.n - 1)
        if fz - f < self.thr:
            if t - self.t_hs < self.revert_s:
                self.enter_single(1 - s, self.n - 1)
                return
            self.lead_below += 1
        else:
            self.lead_below = 0
        self.below = self.below + 1 if f < self.thr else 0
        if self.lead_below >= self.to_k:
            self.toe_off(t, s)
        elif self.below >= self.to_k:
            self.toe_off(t, 1 - s)

    def ds_force(self, k, s):
        f = self.lat_force(k)
        return self.rf[k & MASK] - f if s == self.side else f

    def toe_off(self, t, s):
        k, lo = self.n - 1, max(self.ds_start, self.n - RING + 1)
        fprev = self.ds_force(k, s)
        t_to = self.rt[k & MASK]
        while k > lo:
            f = self.ds_force(k, s)
            if f >= self.thr:
                t_to = self.rt[k & MASK] + (f - self.thr) / (f - fprev) * (
                    self.rt[(k + 1) & MASK] - self.rt[k & MASK])
                break
            fprev = f
            k -= 1
        self.emit(t_to - self.delay, 1, s, t)
        self.enter_single(1 - s, self.n - 1 + self.skip_n)


def plate_signals(seconds: float = 25.0):
    data = read_recording(DATA / "GaCo02_01.csv.gz")[: int(seconds * 1000)]
    pipe = LoadcellPipeline(body_weight_n=900.0, initial_n=data[0, 1:6])
    out, _ = pipe.process(data[:, 0], data[:, 1:6])
    return data[:, 0].copy(), out[:, 5].copy(), out[:, 6].copy(), out[:, 7].copy()


@needs_data
def test_detector_matches_reference_exactly():
    t, fz, cx, cy = plate_signals()
    ref = ReferenceDetector(delay=0.016, bw=900.0)
    for sample in zip(t, fz, cx, cy):
        ref.step(*sample)
    fast = GaitDetector(delay_s=0.016, body_weight_n=900.0)
    events = fast.process(t, fz, cx, cy)
    assert len(ref.events) > 30
    assert events == ref.events  # same events, same floating-point times


@needs_data
def test_detector_chunking_invariant():
    t, fz, cx, cy = plate_signals(12.0)
    whole = GaitDetector(body_weight_n=900.0).process(t, fz, cx, cy)
    det, ticks = GaitDetector(body_weight_n=900.0), []
    for lo in range(0, t.size, 5):
        ticks += det.process(t[lo:lo + 5], fz[lo:lo + 5], cx[lo:lo + 5], cy[lo:lo + 5])
    assert ticks == whole and len(whole) > 10


@needs_data
def test_pipeline_ticks_equal_one_batch():
    data = read_recording(DATA / "GaCo01_01.csv.gz")[:15000]
    a = LoadcellPipeline(body_weight_n=1000.0, initial_n=data[0, 1:6])
    b = LoadcellPipeline(body_weight_n=1000.0, initial_n=data[0, 1:6])
    out_a, ev_a = a.process(data[:, 0], data[:, 1:6])
    outs, ev_b = [], []
    for lo in range(0, len(data), 5):
        o, e = b.process(data[lo:lo + 5, 0], data[lo:lo + 5, 1:6])
        outs.append(o)
        ev_b += e
    assert np.array_equal(np.vstack(outs), out_a, equal_nan=True)
    assert ev_a == ev_b and len(ev_a) > 10


@needs_data
def test_detector_matches_reference_through_turns():
    """GaCo01 to 82 s: turns, a stand on both feet and a pivot (the leading foot lifting again)."""
    data = read_recording(DATA / "GaCo01_01.csv.gz")[:82000]
    pipe = LoadcellPipeline(body_weight_n=1090.0, initial_n=data[0, 1:6])
    out, _ = pipe.process(data[:, 0], data[:, 1:6])
    t, fz, cx, cy = (np.ascontiguousarray(a) for a in (data[:, 0], out[:, 5], out[:, 6], out[:, 7]))
    ref = ReferenceDetector(delay=0.015, bw=1090.0)
    for sample in zip(t, fz, cx, cy):
        ref.step(*sample)
    events = GaitDetector(delay_s=0.015, body_weight_n=1090.0).process(t, fz, cx, cy)
    assert len(ref.events) > 200
    assert events == ref.events
