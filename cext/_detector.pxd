# cython: language_level=3
"""C-level interface of the gait event detectors (cext/_detector.pyx)."""
from cext._filters cimport SosBank

cdef enum:
    RING = 1024
    MASK = 1023
    EV_CAP = 4096

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


cdef class GaitDetector:
    # parameters
    cdef double thr, delay, bw, hs_frac, hs_min, contact_n, max_ds, side_margin, revert_s
    cdef double min_step_frac, load_alpha, settle_m, turn_m, lead_tol_m, tail_n
    cdef double cross_m, max_width
    cdef int hs_k, to_k, rise_n, guard_n, fitmax_n, fitmin_n, skip_n, boot_n, settle_n, hold_n
    # history ring
    cdef double rt[RING]
    cdef double rf[RING]
    cdef double rx[RING]
    cdef double ry[RING]
    cdef long n
    # state machine and what it has learned of this walker
    cdef int state, side, above, below, lead_below, frozen, creep, still
    cdef long rise_k
    cdef double ymin, ymax, mid
    cdef double load, step_s, last_hs, last_ev
    cdef int have_load, have_step
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
    cdef double f_t0, s_n, s_t, s_tt, s_x, s_tx, s_y
    # double support
    cdef double ds_ax, ds_bx, ds_ay, ds_by, ds_t0, t_hs, ds_ys, ds_xmax
    cdef long ds_start
    # emitted events
    cdef double ev_t[EV_CAP]
    cdef double ev_at[EV_CAP]
    cdef int ev_kind[EV_CAP]
    cdef int ev_side[EV_CAP]
    cdef int ev_n
    cdef public long lost_events
    cdef void forget(self) noexcept nogil
    cdef void emit(self, double t_s, int kind, int side, double at) noexcept nogil
    cdef void fit_reset(self, long start) noexcept nogil
    cdef void fit_add(self, long k, double sign) noexcept nogil
    cdef void fit_advance(self, long hi) noexcept nogil
    cdef void fit_line(self, double* line) noexcept nogil
    cdef void step(self, double t, double fz, double cx, double cy) noexcept nogil
    cdef void step_unknown(self, double cy) noexcept nogil
    cdef void enter_single(self, int side, long start) noexcept nogil
    cdef void recover_toe_off(self, int s) noexcept nogil
    cdef double swing_force(self, double* line, long k, int s) noexcept nogil
    cdef double side_pull(self, double* line, long k, int s) noexcept nogil
    cdef bint hs_candidate(self, double t, double* line, int s) noexcept nogil
    cdef void step_single(self, double t) noexcept nogil
    cdef double timing_force(self, double* line, long k, int s, bint lateral) noexcept nogil
    cdef double hs_crossing(self, double* line, int s, long* at) noexcept nogil
    cdef void heel_strike(self, double t, double t_hs, long k, double* line, int o, int s) noexcept nogil
    cdef void learn_step_time(self, double t_hs) noexcept nogil
    cdef void learn_stance(self, double* line, int o, int s) noexcept nogil
    cdef bint possible_offset(self, double ly, int s) noexcept nogil
    cdef double lat_force(self, long k) noexcept nogil
    cdef void settle_lead(self, double yo) noexcept nogil
    cdef void step_double(self, double t, double fz) noexcept nogil
    cdef double ds_force(self, long k, int s) noexcept nogil
    cdef void toe_off(self, double t, int s) noexcept nogil


cdef class HarnessSteps:
    cdef SosBank band
    cdef double min_step_s, max_step_s, last_t, env, env_alpha, hyst_frac, hyst_min
    cdef int armed, have_last
    cdef int step(self, double t, double harness_n, double* step_t) noexcept nogil
