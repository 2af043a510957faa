# cython: language_level=3
"""The per-sample part of the fall detector (safety/fall.py): spike removal and the
"legs give way" collapse test, one load-cell sample at a time, in C.

`CollapseWatch.feed(t, line, cells, testing)` takes a tick's unfiltered samples (times, line
force, four deck cells, newtons). Each sample is despiked (median of three per channel, centred
one sample back; a non-finite value is replaced by the channel's last good one); while `testing`
it is added to the collapse window and tested, until a collapse is confirmed. Per call it
leaves the tick's figures (mean / max / last line force, mean / min deck load) and, once
confirmed, the collapse's start, onset and the confirming sample, as attributes.

The rules, their reasons and their limits are documented in safety/fall.py, which owns
everything per tick (the hang check, the height, the timeline, the words). A pure-Python
reference of this kernel is in tests/fall_reference.py; tests/test_fall_kernel.py checks the
two agree exactly. Not here: anything about a tick, a clock or a device.
"""
from libc.math cimport isfinite

cdef enum:
    MAXW = 257          # the largest collapse window (samples, 2 w + 1)
    COLS = 8            # t, line, 4 cells, deck, total
cdef double G_MPS2 = 9.80665


cdef inline double med3(double a, double b, double c) noexcept nogil:
    cdef double lo = a if a < b else b
    cdef double hi = b if a < b else a
    if c < hi:
        hi = c
    return lo if lo > hi else hi


cdef class CollapseWatch:
    """See the module docstring; thresholds as in safety.fall.FallLimits, forces in newtons."""

    cdef int w, size, confirm
    cdef double bw, fs, drop_n, total_limit_n, fresh_ratio, fraction, loaded_n
    cdef double rising_limit, weight_den, velocity_tau
    cdef double ring[MAXW][COLS]
    cdef int head, count                # ring: next slot, samples held
    cdef double raw[3][5]               # the last (up to) three cleaned raw samples, oldest first
    cdef int nraw
    cdef double mean_total, velocity
    cdef public int run                 # consecutive collapsed samples
    cdef public double since_s, onset_s, deck_before_n
    cdef public double now_t, now_deck, now_total
    cdef public double line_mean, line_max, line_last, deck_mean, deck_min, last_t

    def __cinit__(self, int window, int confirm, double body_weight_n, double sample_rate_hz,
                  double collapse_drop_bw, double collapse_accel_g, double collapse_fresh_ratio,
                  double collapse_fraction, double cell_loaded_bw, double rising_limit_mps,
                  double weight_tau_s, double velocity_tau_s):
        if window < 1 or 2 * window + 1 > MAXW:
            raise ValueError(f"collapse window must be 1..{(MAXW - 1) // 2} samples, not {window}")
        if confirm < 1:
            raise ValueError(f"confirmation must be at least one sample, not {confirm}")
        self.w, self.size, self.confirm = window, 2 * window + 1, confirm
        self.bw, self.fs = body_weight_n, sample_rate_hz
        self.drop_n = collapse_drop_bw * body_weight_n
        self.total_limit_n = (1.0 - collapse_accel_g) * body_weight_n
        self.fresh_ratio, self.fraction = collapse_fresh_ratio, collapse_fraction
        self.loaded_n = cell_loaded_bw * body_weight_n
        self.rising_limit = rising_limit_mps
        self.weight_den = weight_tau_s * sample_rate_hz
        self.velocity_tau = velocity_tau_s
        self.reset()

    def reset(self):
        """Forget every sample; the total force's average starts at body weight."""
        self.head = self.count = self.nraw = self.run = 0
        self.mean_total, self.velocity = self.bw, 0.0
        self.since_s = self.onset_s = self.deck_before_n = 0.0
        self.now_t = self.now_deck = self.now_total = 0.0

    cdef double* at(self, int k) noexcept nogil:
        """The k-th sample of the window, oldest first."""
        return self.ring[(self.head - self.count + k + MAXW) % MAXW]

    cdef void despike(self, double t, double* raw, double* s) noexcept nogil:
        """Median of three per channel into s = (t, line, 4 cells, deck, total)."""
        cdef int i
        cdef double total = 0.0
        for i in range(5):
            total += raw[i]
        if not isfinite(total):
            for i in range(5):
                if not isfinite(raw[i]):
                    raw[i] = self.raw[self.nraw - 1][i] if self.nraw else 0.0
        if self.nraw == 3:
            for i in range(5):
                self.raw[0][i], self.raw[1][i] = self.raw[1][i], self.raw[2][i]
        else:
            self.nraw += 1
        for i in range(5):
            self.raw[self.nraw - 1][i] = raw[i]
        s[0] = t
        if self.nraw == 3:
            for i in range(5):
                s[1 + i] = med3(self.raw[0][i], self.raw[1][i], self.raw[2][i])
            s[0] = t - 1.0 / self.fs
        else:
            for i in range(5):
                s[1 + i] = raw[i]
        s[6] = s[2] + s[3] + s[4] + s[5]
        s[7] = s[1] + s[6]

    cdef bint rising(self, double total) noexcept nogil:
        """The body moving up faster than the limit (see safety/fall.py)."""
        self.mean_total += (total - self.mean_total) / self.weight_den
        cdef double accel = (total - self.mean_total) / self.bw * G_MPS2
        self.velocity += (accel - self.velocity / self.velocity_tau) / self.fs
        return self.velocity > self.rising_limit

    cdef bint collapsed(self) noexcept nogil:
        """The collapse test on the newest sample (cheapest tests first)."""
        cdef double* before = self.at(self.w)
        cdef double* now = self.at(self.size - 1)
        cdef double drop = before[6] - now[6]
        cdef double earlier
        cdef int k, loaded = 0
        if drop < self.drop_n or now[7] > self.total_limit_n:
            return 0
        earlier = self.at(0)[6]
        for k in range(1, self.w + 1):
            if self.at(k)[6] > earlier:
                earlier = self.at(k)[6]
        if earlier - before[6] > self.fresh_ratio * drop:
            return 0
        for k in range(2, 6):
            if before[k] >= self.loaded_n:
                loaded += 1
                if not before[k] - now[k] >= self.fraction * before[k]:
                    return 0
        return loaded > 0

    cdef void start(self) noexcept nogil:
        """A collapse run begins: its onset is where the deck's load was highest in the window."""
        cdef int k, peak = self.w
        for k in range(self.w + 1, self.size):
            if self.at(k)[6] > self.at(peak)[6]:
                peak = k
        self.since_s = self.at(self.size - 1)[0]
        self.onset_s, self.deck_before_n = self.at(peak)[0], self.at(peak)[6]

    cdef bint add(self, double* s) noexcept nogil:
        """Add a sample to the window; True once `confirm` consecutive samples collapsed."""
        cdef int i
        for i in range(COLS):
            self.ring[self.head][i] = s[i]
        self.head = (self.head + 1) % MAXW
        if self.count < self.size:
            self.count += 1
        cdef bint up = self.rising(s[7])
        cdef bint hit = self.count == self.size and not up and self.collapsed()
        self.run = self.run + 1 if hit else 0
        if self.run == 1:
            self.start()
        if self.run >= self.confirm:
            self.now_t, self.now_deck, self.now_total = s[0], s[6], s[7]
            return 1
        return 0

    def feed(self, const double[::1] t, const double[:] line, const double[:, :] cells,
             bint testing):
        """A tick's samples; True if a collapse was confirmed (testing stops there)."""
        cdef Py_ssize_t j, n = t.shape[0]
        cdef double raw[5]
        cdef double s[COLS]
        cdef double line_sum = 0.0, deck_sum = 0.0
        cdef bint found = 0
        if n == 0 or line.shape[0] != n or cells.shape[0] != n or cells.shape[1] != 4:
            raise ValueError("collapse watch needs n times, n line forces and n x 4 cells, n > 0")
        with nogil:
            for j in range(n):
                raw[0] = line[j]
                raw[1], raw[2], raw[3], raw[4] = cells[j, 0], cells[j, 1], cells[j, 2], cells[j, 3]
                self.despike(t[j], raw, s)
                line_sum += s[1]
                deck_sum += s[6]
                if j == 0 or s[1] > self.line_max:
                    self.line_max = s[1]
                if j == 0 or s[6] < self.deck_min:
                    self.deck_min = s[6]
                if testing and not found:
                    found = self.add(s)
            self.line_mean, self.deck_mean = line_sum / n, deck_sum / n
            self.line_last, self.last_t = s[1], t[n - 1]
        return bool(found)
