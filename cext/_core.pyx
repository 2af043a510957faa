# cython: language_level=3
"""The load-cell pipeline kernel: one checked entry point from Python arrays to filtered
forces, COP, body-weight support and gait events, per frame in one `nogil` loop.

`Pipeline.process(t_s, raw)` is what the live loop and `rig replay` call (through
`cext.pipeline.LoadcellPipeline`, a subclass that builds the parts from config). It checks
its input in C: wrong types or shapes raise TypeError / ValueError, timestamps that are not
finite or do not increase raise ValueError before any frame is processed; non-finite samples
are held at the channel's last good value, flagged and counted; gaps are counted and a long
one restarts the detector. Nothing in here allocates per frame.
The kernels live in cext/_filters.pyx, cext/_forceplate.pyx and cext/_detector.pyx (their C
interfaces in the .pxd files beside them).
Not here: filter design and config (cext/pipeline.py), devices, files.
"""
cimport numpy as cnp
from libc.math cimport isfinite
from libc.string cimport memcpy

from cext._filters cimport SosBank, SpikeBank
from cext._forceplate cimport ForcePlate
from cext._detector cimport GaitDetector, HarnessSteps, EV_CAP, STEP, NO_SIDE

import numpy as np


cnp.import_array()

EVENT_NAMES = ("heel_strike", "toe_off", "step")
SIDE_NAMES = ("left", "right")
cdef enum:
    N_CH = 5
    N_OUT = 10
    CHUNK = 16384  # frames per nogil run: well under EV_CAP events


cdef cnp.ndarray as_times(object t_s):
    """t_s as a C-contiguous float64 vector (no copy when it already is one)."""
    cdef cnp.ndarray arr
    if type(t_s) is cnp.ndarray:
        arr = <cnp.ndarray> t_s
        if (cnp.PyArray_TYPE(arr) == cnp.NPY_DOUBLE and cnp.PyArray_NDIM(arr) == 1
                and cnp.PyArray_IS_C_CONTIGUOUS(arr)):
            return arr
    obj = np.asarray(t_s)
    if obj.dtype.kind not in "fiu" or obj.ndim != 1:
        raise TypeError(f"t_s must be a 1-d numeric array, not {obj.dtype} {obj.shape}")
    return np.ascontiguousarray(obj, dtype=np.float64)


cdef cnp.ndarray as_frames(object raw, Py_ssize_t n):
    """raw as a C-contiguous float64 (n, 5) array, or a clear TypeError / ValueError."""
    cdef cnp.ndarray arr
    if type(raw) is cnp.ndarray:
        arr = <cnp.ndarray> raw
        if (cnp.PyArray_TYPE(arr) == cnp.NPY_DOUBLE and cnp.PyArray_NDIM(arr) == 2
                and arr.shape[1] == N_CH and cnp.PyArray_IS_C_CONTIGUOUS(arr)
                and arr.shape[0] == n):
            return arr
    obj = np.asarray(raw)
    if obj.dtype.kind not in "fiu":
        raise TypeError(f"raw must be numeric, not {obj.dtype}")
    if obj.ndim != 2 or obj.shape[1] != N_CH:
        raise ValueError(f"raw must have shape (n, {N_CH}), not {obj.shape}")
    if obj.shape[0] != n:
        raise ValueError(f"{n} timestamps for {obj.shape[0]} frames")
    return np.ascontiguousarray(obj, dtype=np.float64)


cdef Py_ssize_t first_bad_time(const double* t, Py_ssize_t n, double last, bint have_last) noexcept nogil:
    """Index of the first timestamp that is not finite or does not increase, else -1."""
    cdef Py_ssize_t i
    cdef double prev = last
    cdef bint have = have_last
    for i in range(n):
        if not isfinite(t[i]) or (have and not t[i] > prev):
            return i
        prev = t[i]
        have = True
    return -1


cdef class Pipeline:
    """Per frame: hold bad samples, calibrate, reject spikes, low-pass + notch, Fz / COP /
    body-weight support, gait events (deck) or steps (harness only).

    Output columns of `process`: harness, FL, FR, RL, RR (filtered N), fz, cop_x, cop_y, bws,
    flags (bit c set: channel c was not finite and held at its last good value).
    Build it with `assemble` (cext.pipeline.LoadcellPipeline does).
    """

    cdef SpikeBank spikes
    cdef SosBank sos
    cdef ForcePlate plate
    cdef GaitDetector gait
    cdef HarnessSteps harness
    cdef object event_type
    cdef double last_good[5]
    cdef int have_good, use_deck
    cdef double t_prev, gap_s, reset_gap_s
    cdef int have_t
    cdef public long bad_samples, gaps, resets

    def assemble(self, SpikeBank spikes not None, SosBank sos not None, ForcePlate plate not None,
                 GaitDetector gait not None, HarnessSteps harness not None, event_type,
                 double fs_hz=1000.0, double reset_gap_s=0.05, bint use_deck=True):
        """Wire the parts; event_type(t_s, event, side, detected_at_s) builds each event."""
        if spikes.n_ch != N_CH or sos.n_ch != N_CH:
            raise ValueError("the pipeline filters 5 channels")
        self.spikes, self.sos, self.plate = spikes, sos, plate
        self.gait, self.harness, self.event_type = gait, harness, event_type
        self.gap_s = 1.5 / fs_hz
        self.reset_gap_s = reset_gap_s
        self.use_deck = use_deck
        self.have_good = self.have_t = 0
        self.bad_samples = self.gaps = self.resets = 0

    @property
    def last_t(self):
        return self.t_prev if self.have_t else None

    cdef int hold_bad(self, double* x) noexcept nogil:
        """Replace non-finite samples by the channel's last good value; their flag bits."""
        cdef int c, flags = 0
        for c in range(N_CH):
            if isfinite(x[c]):
                self.last_good[c] = x[c]
            else:
                flags |= 1 << c
                x[c] = self.last_good[c] if self.have_good else 0.0
        if flags:
            self.bad_samples += 1
        else:
            self.have_good = 1
        return flags

    cdef void track_time(self, double t) noexcept nogil:
        if self.have_t and t - self.t_prev > self.gap_s:
            self.gaps += 1
            if t - self.t_prev > self.reset_gap_s:
                self.gait.forget()
                self.resets += 1
        self.t_prev = t
        self.have_t = 1

    cdef void frame(self, double t, double* x, double* out) noexcept nogil:
        cdef int flags = self.hold_bad(x)
        cdef double step_t
        self.track_time(t)
        self.plate.calibrate(x)
        self.spikes.step(x)
        self.sos.step(x)
        memcpy(out, x, N_CH * sizeof(double))
        self.plate.plate(x, out + N_CH)
        out[9] = flags
        if self.use_deck:
            if flags == 0:
                self.gait.step(t, out[5], out[6], out[7])
            else:
                self.gait.forget()
        if self.harness.step(t, x[0], &step_t):
            self.gait.emit(step_t - self.gait.delay, STEP, NO_SIDE, t)

    cdef list drain(self):
        cdef GaitDetector g = self.gait
        cdef int i
        if g.ev_n == 0:
            return []
        make = self.event_type
        out = [make(g.ev_t[i], EVENT_NAMES[g.ev_kind[i]],
                    SIDE_NAMES[g.ev_side[i]] if g.ev_side[i] >= 0 else "", g.ev_at[i])
               for i in range(g.ev_n)]
        g.ev_n = 0
        return out

    def process(self, t_s, raw):
        """Frames (n, 5) of counts with times (n,) -> outputs (n, 10) and the events completed."""
        cdef cnp.ndarray t = as_times(t_s)
        cdef Py_ssize_t n = cnp.PyArray_DIM(t, 0)
        cdef cnp.ndarray x = as_frames(raw, n)
        cdef cnp.npy_intp dims[2]
        if self.sos is None:
            raise RuntimeError("pipeline used before assemble()")
        self.check_times(<const double*> cnp.PyArray_DATA(t), n)
        dims[0] = n
        dims[1] = N_OUT
        out = cnp.PyArray_EMPTY(2, dims, cnp.NPY_DOUBLE, 0)
        events = self.run(<const double*> cnp.PyArray_DATA(t), <const double*> cnp.PyArray_DATA(x),
                          <double*> cnp.PyArray_DATA(out), n)
        return out, events

    cdef check_times(self, const double* t, Py_ssize_t n):
        cdef Py_ssize_t bad = first_bad_time(t, n, self.t_prev, self.have_t)
        if bad < 0:
            return
        if not isfinite(t[bad]):
            raise ValueError(f"timestamp {bad} is not finite ({t[bad]})")
        if bad == 0:
            raise ValueError(f"timestamps must increase: t={t[0]} after {self.t_prev} from the previous call")
        raise ValueError(f"timestamps must increase: frame {bad} has t={t[bad]} after {t[bad - 1]}")

    cdef list run(self, const double* t, const double* raw, double* out, Py_ssize_t n):
        cdef Py_ssize_t i, lo = 0, hi
        cdef double x[5]
        cdef list events = self.drain()
        while lo < n:
            hi = min(lo + CHUNK, n)
            with nogil:
                for i in range(lo, hi):
                    memcpy(x, raw + i * N_CH, N_CH * sizeof(double))
                    self.frame(t[i], x, out + i * N_OUT)
            if self.gait.ev_n:
                events += self.drain()
            lo = hi
        return events
