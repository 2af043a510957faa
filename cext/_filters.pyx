# cython: language_level=3
"""Streaming filters: per-channel second-order-section cascades and causal spike rejection.

Every kernel is a `nogil` loop over raw C arrays owned by a cdef class; state lives in those
arrays between calls, so one call of 100,000 frames and 20,000 calls of 5 frames give
bit-identical output. `cext.filters` wraps them with checks; `cext._core.Pipeline` calls
`step` per frame.
Not here: filter design (scipy, at start-up, in `cext.filters`), devices, file formats.
"""
from libc.math cimport fabs, fmin, fmax
from libc.stdlib cimport malloc, calloc, free
from libc.string cimport memcpy

SPIKE_MODES = {"none": 0, "median3": 1, "median5": 2, "hampel": 3}


cdef class SosBank:
    """Per-channel cascades of biquads (direct form II transposed, as scipy's sosfilt)."""

    def __cinit__(self, double[:, :, ::1] sos):
        cdef int c, s, j
        self.n_ch = sos.shape[0]
        self.n_sec = sos.shape[1]
        if sos.shape[2] != 6 or self.n_ch < 1 or self.n_sec < 1:
            raise ValueError("sos must have shape (channels, sections, 6)")
        self.coef = <double*> malloc(self.n_ch * self.n_sec * 5 * sizeof(double))
        self.zi = <double*> calloc(self.n_ch * self.n_sec * 2, sizeof(double))
        if self.coef == NULL or self.zi == NULL:
            raise MemoryError()
        for c in range(self.n_ch):
            for s in range(self.n_sec):
                if sos[c, s, 3] != 1.0:
                    raise ValueError("sos a0 must be 1")
                for j, col in enumerate((0, 1, 2, 4, 5)):
                    self.coef[(c * self.n_sec + s) * 5 + j] = sos[c, s, col]

    def __dealloc__(self):
        free(self.coef)
        free(self.zi)

    @property
    def channels(self) -> int:
        return self.n_ch

    @property
    def sections(self) -> int:
        return self.n_sec

    cdef void step(self, double* x) noexcept nogil:
        """Filter one frame in place (x has n_ch values)."""
        cdef int c, s
        cdef double v, y
        cdef double* k = self.coef
        cdef double* z = self.zi
        for c in range(self.n_ch):
            v = x[c]
            for s in range(self.n_sec):
                y = k[0] * v + z[0]
                z[0] = k[1] * v - k[3] * y + z[1]
                z[1] = k[2] * v - k[4] * y
                v = y
                k += 5
                z += 2
            x[c] = v

    def process(self, const double[:, ::1] x, double[:, ::1] out):
        """Filter frames x (n, channels) into out (n, channels); state carries over."""
        cdef Py_ssize_t i, n = x.shape[0]
        if x.shape[1] != self.n_ch or out.shape[1] != self.n_ch or out.shape[0] != n:
            raise ValueError("shape mismatch")
        with nogil:
            for i in range(n):
                memcpy(&out[i, 0], &x[i, 0], self.n_ch * sizeof(double))
                self.step(&out[i, 0])

    def get_state(self):
        return [self.zi[i] for i in range(self.n_ch * self.n_sec * 2)]

    def set_state(self, double[::1] zi):
        if zi.shape[0] != self.n_ch * self.n_sec * 2:
            raise ValueError("state has the wrong length")
        for i in range(zi.shape[0]):
            self.zi[i] = zi[i]


cdef inline double median_small(double* v, int n) noexcept nogil:
    """Median of n <= 7 values (insertion sort on a copy)."""
    cdef double a[MAX_WIN]
    cdef int i, j
    cdef double key
    for i in range(n):
        key = v[i]
        j = i - 1
        while j >= 0 and a[j] > key:
            a[j + 1] = a[j]
            j -= 1
        a[j + 1] = key
    return a[n >> 1]


cdef class SpikeBank:
    """Causal spike rejection per channel: median of 3 or 5, or Hampel (7 samples, 3 MAD).

    The window starts filled with the first sample, so the output has no start-up transient.
    """

    def __cinit__(self, int channels, str mode="median3", double hampel_sigmas=3.0):
        if mode not in SPIKE_MODES:
            raise ValueError(f"spike filter {mode!r} is not one of {', '.join(SPIKE_MODES)}")
        if not 1 <= channels <= MAX_CH:
            raise ValueError(f"channels must be 1..{MAX_CH}")
        self.n_ch = channels
        self.mode = SPIKE_MODES[mode]
        self.win = (1, 3, 5, 7)[self.mode]
        self.primed = 0
        self.k_mad = hampel_sigmas * 1.4826

    @property
    def delay_samples(self) -> int:
        return self.win >> 1

    cdef void step(self, double* x) noexcept nogil:
        """Filter one frame in place. Median of 3 is branch-free (the default, per frame)."""
        cdef int c
        cdef double* h
        cdef double a, b, v
        if self.mode == 0:
            return
        if self.mode != 1:
            self.step_window(x)
            return
        for c in range(self.n_ch):
            h = self.hist + c * MAX_WIN
            v = x[c]
            if not self.primed:
                h[0] = v
                h[1] = v
            a = h[0]
            b = h[1]
            h[0] = b
            h[1] = v
            x[c] = fmax(fmin(a, b), fmin(fmax(a, b), v))
        self.primed = 1

    cdef void step_window(self, double* x) noexcept nogil:
        """Median of 5 or Hampel over a shifted window."""
        cdef int c, j, w = self.win, half = self.win >> 1
        cdef double* h
        cdef double med, mad
        cdef double dev[MAX_WIN]
        for c in range(self.n_ch):
            h = self.hist + c * MAX_WIN
            if not self.primed:
                for j in range(w):
                    h[j] = x[c]
            else:
                for j in range(w - 1):
                    h[j] = h[j + 1]
                h[w - 1] = x[c]
            med = median_small(h, w)
            if self.mode == 3:
                for j in range(w):
                    dev[j] = fabs(h[j] - med)
                mad = median_small(dev, w)
                x[c] = med if fabs(h[half] - med) > self.k_mad * mad else h[half]
            else:
                x[c] = med
        self.primed = 1

    def process(self, const double[:, ::1] x, double[:, ::1] out):
        """Filter frames x (n, channels) into out (n, channels); state carries over."""
        cdef Py_ssize_t i, n = x.shape[0]
        if x.shape[1] != self.n_ch or out.shape[1] != self.n_ch or out.shape[0] != n:
            raise ValueError("shape mismatch")
        with nogil:
            for i in range(n):
                memcpy(&out[i, 0], &x[i, 0], self.n_ch * sizeof(double))
                self.step(&out[i, 0])
