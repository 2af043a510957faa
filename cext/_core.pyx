# cython: language_level=3
"""Cython core of the load-cell pipeline: streaming filters, force-plate maths, gait events.

Every kernel is a `nogil` loop over raw C arrays owned by a cdef class; state lives in those
arrays between calls, so one call of 100,000 frames and 20,000 calls of 5 frames give
bit-identical output. The Python wrappers in `cext.filters`, `cext.gait` and `cext.pipeline`
check dtypes, shapes and timestamps and own these objects; call them, not this module.

Not here: filter design (scipy, at start-up, in `cext.filters`), devices, file formats.
"""
from libc.math cimport fabs, sqrt, isfinite, NAN
from libc.stdlib cimport malloc, calloc, free
from libc.string cimport memcpy

cdef enum:
    RING = 1024
    MASK = 1023
    EV_CAP = 4096
    MAX_CH = 8
    MAX_WIN = 7

cdef enum:
    UNKNOWN = 0
    SINGLE = 1
    DOUBLE = 2

cdef enum:
    HEEL_STRIKE = 0
    TOE_OFF = 1
    STEP = 2
    LEFT = 0
    RIGHT = 1
    NO_SIDE = -1

SPIKE_MODES = {"none": 0, "median3": 1, "median5": 2, "hampel": 3}
SPIKE_DELAY = {"none": 0, "median3": 1, "median5": 2, "hampel": 3}


# ---------------------------------------------------------------- second-order sections
cdef class SosBank:
    """Per-channel cascades of biquads (direct form II transposed, as scipy's sosfilt)."""

    cdef int n_ch, n_sec
    cdef double* coef     # [ch][sec][b0 b1 b2 a1 a2]
    cdef double* zi       # [ch][sec][2]

    def __cinit__(self, double[:, :, ::1] sos):
        cdef int c, s
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
                self.coef[(c * self.n_sec + s) * 5 + 0] = sos[c, s, 0]
                self.coef[(c * self.n_sec + s) * 5 + 1] = sos[c, s, 1]
                self.coef[(c * self.n_sec + s) * 5 + 2] = sos[c, s, 2]
                self.coef[(c * self.n_sec + s) * 5 + 3] = sos[c, s, 4]
                self.coef[(c * self.n_sec + s) * 5 + 4] = sos[c, s, 5]

    def __dealloc__(self):
        free(self.coef)
        free(self.zi)

    @property
    def channels(self) -> int:
        return self.n_ch

    @property
    def sections(self) -> int:
        return self.n_sec

    cdef inline void step(self, double* x) noexcept nogil:
        """Filter one frame in place (x has n_ch values)."""
        cdef int c, s
        cdef double v, y
        cdef double* k
        cdef double* z
        for c in range(self.n_ch):
            v = x[c]
            for s in range(self.n_sec):
                k = self.coef + (c * self.n_sec + s) * 5
                z = self.zi + (c * self.n_sec + s) * 2
                y = k[0] * v + z[0]
                z[0] = k[1] * v - k[3] * y + z[1]
                z[1] = k[2] * v - k[4] * y
                v = y
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


# ---------------------------------------------------------------- spike rejection
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
    """Causal spike rejection per channel: median of 3 or 5, or Hampel (7 samples, 3 MAD)."""

    cdef int n_ch, mode, win, count
    cdef double hist[MAX_CH * MAX_WIN]   # [ch][win], oldest first
    cdef double k_mad

    def __cinit__(self, int channels, str mode="median3", double hampel_sigmas=3.0):
        if mode not in SPIKE_MODES:
            raise ValueError(f"spike filter {mode!r} is not one of {', '.join(SPIKE_MODES)}")
        if not 1 <= channels <= MAX_CH:
            raise ValueError(f"channels must be 1..{MAX_CH}")
        self.n_ch = channels
        self.mode = SPIKE_MODES[mode]
        self.win = (1, 3, 5, 7)[self.mode]
        self.count = 0
        self.k_mad = hampel_sigmas * 1.4826

    @property
    def delay_samples(self) -> int:
        return self.win >> 1

    cdef inline void step(self, double* x) noexcept nogil:
        cdef int c, j, w = self.win, half = self.win >> 1
        cdef double* h
        cdef double med, mad, centre
        cdef double dev[MAX_WIN]
        if w == 1:
            return
        for c in range(self.n_ch):
            h = self.hist + c * MAX_WIN
            if self.count == 0:
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
                centre = h[half]
                x[c] = med if fabs(centre - med) > self.k_mad * mad else centre
            else:
                x[c] = med
        self.count = 1

    def process(self, const double[:, ::1] x, double[:, ::1] out):
        cdef Py_ssize_t i, n = x.shape[0]
        if x.shape[1] != self.n_ch or out.shape[1] != self.n_ch or out.shape[0] != n:
            raise ValueError("shape mismatch")
        with nogil:
            for i in range(n):
                memcpy(&out[i, 0], &x[i, 0], self.n_ch * sizeof(double))
                self.step(&out[i, 0])


# ---------------------------------------------------------------- force plate maths
cdef class ForcePlate:
    """Calibration (counts -> N), Fz, centre of pressure and body-weight support."""

    cdef double zero[5]
    cdef double gain[5]
    cdef double cell_x[4]
    cdef double cell_y[4]
    cdef public double body_weight_n
    cdef public double cop_min_n

    def __cinit__(self, zero_counts, n_per_count, cells_xy, double body_weight_n=0.0,
                  double cop_min_n=20.0):
        for i in range(5):
            self.zero[i] = zero_counts[i]
            self.gain[i] = n_per_count[i]
        for i in range(4):
            self.cell_x[i] = cells_xy[i][0]
            self.cell_y[i] = cells_xy[i][1]
        self.body_weight_n = body_weight_n
        self.cop_min_n = cop_min_n

    cdef inline void calibrate(self, double* x) noexcept nogil:
        cdef int c
        for c in range(5):
            x[c] = (x[c] - self.zero[c]) * self.gain[c]

    cdef inline void plate(self, double* f, double* out) noexcept nogil:
        """f: 5 forces (harness, FL, FR, RL, RR) -> out: fz, cop_x, cop_y, bws."""
        cdef double fz = f[1] + f[2] + f[3] + f[4]
        out[0] = fz
        if fz > self.cop_min_n:
            out[1] = (f[1] * self.cell_x[0] + f[2] * self.cell_x[1]
                      + f[3] * self.cell_x[2] + f[4] * self.cell_x[3]) / fz
            out[2] = (f[1] * self.cell_y[0] + f[2] * self.cell_y[1]
                      + f[3] * self.cell_y[2] + f[4] * self.cell_y[3]) / fz
        else:
            out[1] = NAN
            out[2] = NAN
        out[3] = f[0] / self.body_weight_n if self.body_weight_n > 0.0 else NAN

    def calibrate_frames(self, const double[:, ::1] counts, double[:, ::1] out):
        cdef Py_ssize_t i
        with nogil:
            for i in range(counts.shape[0]):
                memcpy(&out[i, 0], &counts[i, 0], 5 * sizeof(double))
                self.calibrate(&out[i, 0])

    def plate_frames(self, const double[:, ::1] forces, double[:, ::1] out):
        cdef Py_ssize_t i
        cdef double tmp[5]
        with nogil:
            for i in range(forces.shape[0]):
                memcpy(tmp, &forces[i, 0], 5 * sizeof(double))
                self.plate(tmp, &out[i, 0])


# ---------------------------------------------------------------- gait event detector
cdef class GaitDetector:
    """Heel strike / toe off per side from Fz and the COP of one plate under both feet.

    Single support: the stance foot's COP is fitted by a line (least squares over the last
    `fit_max_s`, ending `fit_guard_s` ago) and extrapolated; the other foot's force is the
    moment of the COP's departure from it over the expected landing offset. Heel strike is
    confirmed above `hs_confirm` and timed where that force crossed `threshold_n`.
    Double support: the trailing foot's force is separated laterally,
    F_trail = Fz (y_cop - y_lead) / (y_trail - y_lead), with the trailing foot's line and the
    leading foot's lateral position from its previous stances; toe off is where it fell
    through `threshold_n`. Times are in the filtered signal's time base; `delay_s` (the
    filters' group delay) is subtracted from every emitted `t_s`.
    """

    # parameters
    cdef double thr, delay, bw, hs_frac, hs_min, contact_n, max_ds, side_margin, revert_s
    cdef int hs_k, to_k, guard_n, fitmax_n, fitmin_n, skip_n, boot_n
    # history ring
    cdef double rt[RING]
    cdef double rf[RING]
    cdef double rx[RING]
    cdef double ry[RING]
    cdef long n
    # state machine
    cdef int state, side, above, below, frozen
    cdef double ymin, ymax, mid
    cdef double rx_p[2]
    cdef double ry_p[2]
    cdef int have_r[2]
    cdef double ylat[2]
    cdef int have_ylat[2]
    cdef double hs_time[2]
    cdef double hs_px[2]
    cdef double hs_py[2]
    cdef int hs_valid[2]
    # stance-foot line fit (sliding sums over ring samples [f_lo, f_hi))
    cdef long f_lo, f_hi
    cdef double f_t0, s_n, s_t, s_tt, s_x, s_tx, s_y, s_ty
    # double support
    cdef double ds_ax, ds_bx, ds_ay, ds_by, ds_t0, t_hs
    cdef long ds_start
    # emitted events
    cdef double ev_t[EV_CAP]
    cdef double ev_at[EV_CAP]
    cdef int ev_kind[EV_CAP]
    cdef int ev_side[EV_CAP]
    cdef int ev_n
    cdef public long lost_events

    def __cinit__(self, double threshold_n=20.0, double delay_s=0.0, double body_weight_n=700.0,
                  double fs_hz=1000.0, double hs_confirm_frac=0.05, double hs_confirm_min_n=40.0,
                  int hs_confirm_samples=3, int to_confirm_samples=3, double fit_guard_s=0.03,
                  double fit_max_s=0.15, double fit_min_s=0.02, double ss_skip_s=0.03,
                  double contact_frac=0.1, double max_double_s=1.5, double bootstrap_s=0.06,
                  double side_margin_m=0.01, double revert_s=0.3):
        self.thr = threshold_n
        self.delay = delay_s
        self.bw = body_weight_n
        self.hs_frac = hs_confirm_frac
        self.hs_min = hs_confirm_min_n
        self.hs_k = hs_confirm_samples
        self.to_k = to_confirm_samples
        self.guard_n = <int> (fit_guard_s * fs_hz + 0.5)
        self.fitmax_n = <int> (fit_max_s * fs_hz + 0.5)
        self.fitmin_n = <int> (fit_min_s * fs_hz + 0.5)
        self.skip_n = <int> (ss_skip_s * fs_hz + 0.5)
        self.boot_n = <int> (bootstrap_s * fs_hz + 0.5)
        self.contact_n = contact_frac * body_weight_n
        self.max_ds = max_double_s
        self.side_margin = side_margin_m
        self.revert_s = revert_s
        self.n = 0
        self.ev_n = 0
        self.lost_events = 0
        self.forget()

    def reset(self):
        """Forget the gait (after a gap or bad data); the history ring is kept."""
        self.forget()

    cdef void forget(self) noexcept nogil:
        cdef int j
        self.state = UNKNOWN
        self.side = LEFT
        self.ymin = 1e9
        self.ymax = -1e9
        self.mid = 0.0
        for j in range(2):
            self.rx_p[j] = 0.3
            self.ry_p[j] = 0.1 if j == LEFT else -0.1
            self.have_r[j] = 0
            self.ylat[j] = 0.0
            self.have_ylat[j] = 0
            self.hs_time[j] = 0.0
            self.hs_px[j] = 0.0
            self.hs_py[j] = 0.0
            self.hs_valid[j] = 0
        self.above = 0
        self.below = 0
        self.frozen = 0
        self.fit_reset(0)

    @property
    def state_name(self) -> str:
        return ("unknown", "single", "double")[self.state]

    # ---- events
    cdef inline void emit(self, double t_s, int kind, int side, double at) noexcept nogil:
        if self.ev_n >= EV_CAP:
            self.lost_events += 1
            return
        self.ev_t[self.ev_n] = t_s
        self.ev_kind[self.ev_n] = kind
        self.ev_side[self.ev_n] = side
        self.ev_at[self.ev_n] = at
        self.ev_n += 1

    def drain(self):
        """Events since the last drain: list of (t_s, kind, side, detected_at_s)."""
        out = [(self.ev_t[i], self.ev_kind[i], self.ev_side[i], self.ev_at[i])
               for i in range(self.ev_n)]
        self.ev_n = 0
        return out

    # ---- line fit of the stance foot's COP
    cdef inline void fit_reset(self, long start) noexcept nogil:
        self.f_lo = start
        self.f_hi = start
        self.f_t0 = 0.0
        self.s_n = 0.0
        self.s_t = 0.0
        self.s_tt = 0.0
        self.s_x = 0.0
        self.s_tx = 0.0
        self.s_y = 0.0
        self.s_ty = 0.0

    cdef inline void fit_add(self, long k, double sign) noexcept nogil:
        cdef int i = k & MASK
        cdef double tau = self.rt[i] - self.f_t0
        cdef double x = self.rx[i]
        cdef double y = self.ry[i]
        self.s_n += sign
        self.s_t += sign * tau
        self.s_tt += sign * tau * tau
        self.s_x += sign * x
        self.s_tx += sign * tau * x
        self.s_y += sign * y
        self.s_ty += sign * tau * y

    cdef inline void fit_advance(self, long hi) noexcept nogil:
        while self.f_hi < hi:
            self.fit_add(self.f_hi, 1.0)
            self.f_hi += 1
        while self.f_hi - self.f_lo > self.fitmax_n:
            self.fit_add(self.f_lo, -1.0)
            self.f_lo += 1

    cdef inline void fit_line(self, double* line) noexcept nogil:
        """line = (ax, bx, ay, by): x = ax + bx * (t - f_t0)."""
        cdef double n = self.s_n
        cdef double den = n * self.s_tt - self.s_t * self.s_t
        cdef double bx, by
        if den <= 0.0:
            line[0] = self.s_x / n
            line[1] = 0.0
            line[2] = self.s_y / n
            line[3] = 0.0
            return
        bx = (n * self.s_tx - self.s_t * self.s_x) / den
        by = (n * self.s_ty - self.s_t * self.s_y) / den
        line[0] = (self.s_x - bx * self.s_t) / n
        line[1] = bx
        line[2] = (self.s_y - by * self.s_t) / n
        line[3] = by

    # ---- per sample
    cdef void step(self, double t, double fz, double cx, double cy) noexcept nogil:
        cdef int i = self.n & MASK
        self.rt[i] = t
        self.rf[i] = fz
        self.rx[i] = cx
        self.ry[i] = cy
        self.n += 1
        if not (fz > self.contact_n) or not isfinite(cx) or not isfinite(cy):
            self.state = UNKNOWN
            self.ymin = 1e9
            self.ymax = -1e9
            return
        if self.state == UNKNOWN:
            self.step_unknown(cy)
        elif self.state == SINGLE:
            self.step_single(t, fz)
        else:
            self.step_double(t, fz)

    cdef void step_unknown(self, double cy) noexcept nogil:
        cdef double lo = 1e9, hi = -1e9, y
        cdef long k
        if cy < self.ymin:
            self.ymin = cy
        if cy > self.ymax:
            self.ymax = cy
        if self.ymax - self.ymin < 0.04:
            return
        if not (self.have_ylat[0] and self.have_ylat[1]):
            self.mid = 0.5 * (self.ymin + self.ymax)
        if self.n < self.boot_n:
            return
        for k in range(self.n - self.boot_n, self.n):
            y = self.ry[k & MASK]
            if y < lo:
                lo = y
            if y > hi:
                hi = y
        if hi - lo > 0.01:
            return
        self.enter_single(LEFT if cy > self.mid else RIGHT, self.n - self.boot_n)

    cdef inline void enter_single(self, int side, long start) noexcept nogil:
        self.state = SINGLE
        self.side = side
        self.fit_reset(start)
        self.f_t0 = self.rt[(self.n - 1) & MASK]
        self.above = 0
        self.frozen = 0

    cdef inline double swing_force(self, double* line, long k, int s) noexcept nogil:
        cdef int i = k & MASK
        cdef double tau = self.rt[i] - self.f_t0
        cdef double ex = self.rx[i] - (line[0] + line[1] * tau)
        cdef double ey = self.ry[i] - (line[2] + line[3] * tau)
        cdef double rx = self.rx_p[s], ry = self.ry_p[s]
        return self.rf[i] * (ex * rx + ey * ry) / (rx * rx + ry * ry)

    cdef void step_single(self, double t, double fz) noexcept nogil:
        cdef int o = self.side
        cdef int s = 1 - o
        cdef double line[4]
        cdef double f_new, conf, ym, fk, fp = 0.0, t_hs, lx, ly
        cdef long k, lo
        if not self.frozen:
            self.fit_advance(self.n - self.guard_n)
        if self.s_n < self.fitmin_n:
            return
        self.fit_line(line)
        f_new = self.swing_force(line, self.n - 1, s)
        conf = self.hs_frac * self.bw
        if conf < self.hs_min:
            conf = self.hs_min
        self.frozen = f_new > self.thr
        if f_new > conf:
            self.above += 1
        else:
            self.above = 0
        if self.above < self.hs_k:
            return
        # heel strike confirmed; the stance foot's side from where it stands
        ym = line[2] + line[3] * (self.rt[(self.f_hi - 1) & MASK] - self.f_t0)
        if fabs(ym - self.mid) > self.side_margin:
            o = LEFT if ym > self.mid else RIGHT
            s = 1 - o
        # scan back for the threshold crossing
        k = self.n - 1
        lo = self.f_hi
        if lo < self.n - RING + 1:
            lo = self.n - RING + 1
        fk = f_new
        while k > lo:
            fp = self.swing_force(line, k - 1, s)
            if fp <= self.thr:
                break
            fk = fp
            k -= 1
        if k > lo:
            t_hs = self.rt[(k - 1) & MASK] + (self.thr - fp) / (fk - fp) * (
                self.rt[k & MASK] - self.rt[(k - 1) & MASK])
        else:
            t_hs = self.rt[k & MASK]
        self.emit(t_hs - self.delay, HEEL_STRIKE, s, t)
        self.learn_stance(line, o, s)
        self.ds_ax = line[0]
        self.ds_bx = line[1]
        self.ds_ay = line[2]
        self.ds_by = line[3]
        self.ds_t0 = self.f_t0
        self.t_hs = t_hs
        self.hs_time[s] = t_hs
        self.hs_px[s] = line[0] + line[1] * (t_hs - self.f_t0)
        self.hs_py[s] = line[2] + line[3] * (t_hs - self.f_t0)
        self.hs_valid[s] = 1
        self.hs_valid[o] = 0
        self.below = 0
        self.state = DOUBLE
        self.side = s
        self.ds_start = k

    cdef void learn_stance(self, double* line, int o, int s) noexcept nogil:
        """After a full stance of o: its lateral position and where it had landed."""
        cdef double ym, lx, ly, d
        if self.s_n < 0.5 * self.fitmax_n:
            return
        ym = line[2] + line[3] * (self.rt[(self.f_hi - 1) & MASK] - self.f_t0)
        if self.have_ylat[o]:
            self.ylat[o] += 0.5 * (ym - self.ylat[o])
        else:
            self.ylat[o] = ym
            self.have_ylat[o] = 1
        if self.have_ylat[s]:
            self.mid = 0.5 * (self.ylat[0] + self.ylat[1])
        if self.hs_valid[o]:
            lx = line[0] + line[1] * (self.hs_time[o] - self.f_t0) - self.hs_px[o]
            ly = line[2] + line[3] * (self.hs_time[o] - self.f_t0) - self.hs_py[o]
            d = sqrt(lx * lx + ly * ly)
            if 0.05 < d < 1.5:
                if self.have_r[o]:
                    self.rx_p[o] += 0.3 * (lx - self.rx_p[o])
                    self.ry_p[o] += 0.3 * (ly - self.ry_p[o])
                else:
                    self.rx_p[o] = lx
                    self.ry_p[o] = ly
                    self.have_r[o] = 1

    cdef inline double lat_force(self, long k) noexcept nogil:
        cdef int i = k & MASK
        cdef double yo = self.ds_ay + self.ds_by * (self.rt[i] - self.ds_t0)
        cdef double ys = self.ylat[self.side]
        return self.rf[i] * (self.ry[i] - ys) / (yo - ys)

    cdef void step_double(self, double t, double fz) noexcept nogil:
        cdef int s = self.side
        cdef int o = 1 - s
        cdef double yo, f, fprev, t_to
        cdef long k, lo
        if t - self.t_hs > self.max_ds:
            self.state = UNKNOWN
            return
        if self.n - self.ds_start < self.fitmin_n:
            return
        yo = self.ds_ay + self.ds_by * (self.t_hs - self.ds_t0)
        if not self.have_ylat[s]:
            self.ylat[s] = 2.0 * self.mid - yo
        if fabs(self.ylat[s] - yo) <= 2.0 * self.side_margin:
            return  # feet not apart laterally: no lateral separation possible
        f = self.lat_force(self.n - 1)
        if fz - f < self.thr and t - self.t_hs < self.revert_s:
            self.enter_single(o, self.n - 1)  # the new load vanished: no heel strike after all
            return
        if f < self.thr:
            self.below += 1
        else:
            self.below = 0
        if self.below < self.to_k:
            return
        k = self.n - 1
        lo = self.ds_start
        if lo < self.n - RING + 1:
            lo = self.n - RING + 1
        fprev = f
        t_to = self.rt[k & MASK]
        while k > lo:
            f = self.lat_force(k)
            if f >= self.thr:
                t_to = self.rt[k & MASK] + (f - self.thr) / (f - fprev) * (
                    self.rt[(k + 1) & MASK] - self.rt[k & MASK])
                break
            fprev = f
            k -= 1
        self.emit(t_to - self.delay, TOE_OFF, o, t)
        self.enter_single(s, self.n - 1 + self.skip_n)

    def process(self, const double[::1] t, const double[::1] fz, const double[::1] cx,
                const double[::1] cy):
        """Run samples through the detector; returns the events they completed."""
        cdef Py_ssize_t i, n = t.shape[0]
        if fz.shape[0] != n or cx.shape[0] != n or cy.shape[0] != n:
            raise ValueError("t, fz, cx, cy must have the same length")
        with nogil:
            for i in range(n):
                self.step(t[i], fz[i], cx[i], cy[i])
        return self.drain()


# ---------------------------------------------------------------- harness-only cadence
cdef class HarnessSteps:
    """Steps without sides from the harness force alone (deck unavailable).

    The line force swings once per step with the centre of mass; a band-pass (designed in
    Python) keeps that swing, and each upward crossing of +hysteresis after one of
    -hysteresis is a step. The hysteresis follows the swing's own amplitude.
    """

    cdef SosBank band
    cdef double min_step_s, max_step_s, last_t, env, env_alpha, hyst_frac, hyst_min
    cdef int armed, have_last

    def __cinit__(self, SosBank band, double fs_hz=1000.0, double min_step_s=0.25,
                  double max_step_s=2.5, double hyst_frac=0.3, double hyst_min_n=1.0):
        self.band = band
        self.min_step_s = min_step_s
        self.max_step_s = max_step_s
        self.env = 0.0
        self.env_alpha = 1.0 / (2.0 * fs_hz)
        self.hyst_frac = hyst_frac
        self.hyst_min = hyst_min_n
        self.armed = 0
        self.have_last = 0

    cdef inline int step(self, double t, double harness_n, double* step_t) noexcept nogil:
        """1 when a step completes at this sample (its time in step_t)."""
        cdef double v = harness_n
        cdef double h
        self.band.step(&v)
        self.env += self.env_alpha * (fabs(v) - self.env)
        h = self.hyst_frac * self.env
        if h < self.hyst_min:
            h = self.hyst_min
        if v < -h:
            self.armed = 1
        elif v > h and self.armed:
            self.armed = 0
            if self.have_last and t - self.last_t < self.min_step_s:
                return 0
            self.have_last = 1
            self.last_t = t
            step_t[0] = t
            return 1
        return 0


# ---------------------------------------------------------------- the whole pipeline
cdef class Pipeline:
    """Per frame: hold bad samples, calibrate, reject spikes, low-pass + notch, Fz / COP /
    body-weight support, gait events (deck) or steps (harness only).

    Output columns of `process`: harness, FL, FR, RL, RR (filtered N), fz, cop_x, cop_y, bws,
    flags (bit c set: channel c was not finite and held at its last good value).
    """

    cdef SpikeBank spikes
    cdef SosBank sos
    cdef ForcePlate plate
    cdef GaitDetector gait
    cdef HarnessSteps harness
    cdef double last_good[5]
    cdef int have_good, use_deck
    cdef double t_prev, gap_s, reset_gap_s
    cdef int have_t
    cdef public long bad_samples, gaps, resets

    def __cinit__(self, SpikeBank spikes, SosBank sos, ForcePlate plate, GaitDetector gait,
                  HarnessSteps harness, double fs_hz=1000.0, double reset_gap_s=0.05,
                  bint use_deck=True):
        if spikes.n_ch != 5 or sos.n_ch != 5:
            raise ValueError("the pipeline filters 5 channels")
        self.spikes = spikes
        self.sos = sos
        self.plate = plate
        self.gait = gait
        self.harness = harness
        self.have_good = 0
        self.have_t = 0
        self.gap_s = 1.5 / fs_hz
        self.reset_gap_s = reset_gap_s
        self.use_deck = use_deck
        self.bad_samples = 0
        self.gaps = 0
        self.resets = 0

    @property
    def last_t(self):
        return self.t_prev if self.have_t else None

    cdef inline void frame(self, double t, double* x, double* out) noexcept nogil:
        cdef int c, flags = 0
        cdef double step_t
        for c in range(5):
            if isfinite(x[c]):
                self.last_good[c] = x[c]
            else:
                flags |= 1 << c
                x[c] = self.last_good[c] if self.have_good else 0.0
        if flags:
            self.bad_samples += 1
        else:
            self.have_good = 1
        if self.have_t and t - self.t_prev > self.gap_s:
            self.gaps += 1
            if t - self.t_prev > self.reset_gap_s:
                self.gait.forget()
                self.resets += 1
        self.t_prev = t
        self.have_t = 1
        self.plate.calibrate(x)
        self.spikes.step(x)
        self.sos.step(x)
        for c in range(5):
            out[c] = x[c]
        self.plate.plate(x, out + 5)
        out[9] = flags
        if self.use_deck and flags == 0:
            self.gait.step(t, out[5], out[6], out[7])
        elif self.use_deck:
            self.gait.forget()
        if self.harness.step(t, x[0], &step_t):
            self.gait.emit(step_t - self.gait.delay, STEP, NO_SIDE, t)

    def process(self, const double[::1] t, const double[:, ::1] raw, double[:, ::1] out):
        """raw (n, 5) counts -> out (n, 10); returns the events completed in this call."""
        cdef Py_ssize_t i, n = t.shape[0]
        cdef double x[5]
        if raw.shape[0] != n or raw.shape[1] != 5 or out.shape[0] != n or out.shape[1] != 10:
            raise ValueError("shape mismatch")
        with nogil:
            for i in range(n):
                memcpy(x, &raw[i, 0], 5 * sizeof(double))
                self.frame(t[i], x, &out[i, 0])
        return self.gait.drain()
