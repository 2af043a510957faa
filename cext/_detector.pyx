# cython: language_level=3
"""Online gait events: heel strike / toe off per side from one force plate under both feet
(`GaitDetector`), and steps without sides from the harness force alone (`HarnessSteps`).

Causal and streaming: samples go in one at a time (`step`, from the pipeline kernel) or in
arrays (`process`, for tests); events are buffered until `drain`.
Not here: filtering, calibration, COP (they feed this), figures (cext/gaitfigures.py).
"""
from libc.math cimport fabs, sqrt, isfinite

from cext._filters cimport SosBank


cdef class GaitDetector:
    """Heel strike / toe off per side from Fz and the COP of one plate under both feet.

    Single support: the stance foot's COP is fitted (x by a least-squares line, y by its mean,
    over the last `fit_max_s`, ending `fit_guard_s` ago) and extrapolated; the other foot's force is the
    moment of the COP's departure from it over the expected landing offset. A heel strike is
    that force holding above max(`hs_confirm_min_n`, `hs_confirm_frac` x the deck load) for
    `hs_confirm_samples`, at least `min_step_frac` x the running step time after the last
    one; it is timed where the force crossed `threshold_n`, that force taken from the
    COP's lateral departure alone (F y_dep / y_offset) where the feet stand apart and it
    has passed `threshold_n` by then (along the belt the COP rolls from heel to toe and the
    landing offset varies with step length; sideways nothing moves a foot), else from the
    departure projected on the offset. The deck load (a slow mean of
    Fz) scales the confirmation, so it holds at any unloading, and a stance foot's COP
    wobble (a few centimetres) stays below it. The fit holds still from that crossing on, but
    a landing loads its foot fast: a departure still short of the confirmation after
    `hs_rise_max_s` that pulls the COP no more than `threshold_n` sideways (a landing foot
    stands a step's width beside the other) is the stance foot's COP off its line (a wobble
    the fit took in), so the fit follows it again; otherwise a heel strike would be timed
    at the wobble, long before the landing.
    Double support: the trailing foot's force is separated laterally,
    F_trail = Fz (y_cop - y_lead) / (y_trail - y_lead), with the trailing foot's line and the
    leading foot's lateral position from its previous stances (or the learned landing offset).
    Step width varies by centimetres from step to step, so once the COP has passed its
    forward-most point (the butterfly's turn: the trailing foot is all but off) and has stopped
    moving laterally (less than `settle_m` over `settle_s`) within `lead_tol_m` of where the
    leading foot stood before (or beyond half-way to it, before that is known), the leading
    foot's position is taken from the COP itself; but where a learned lateral position
    exists, only if that position would leave the trailing foot more than `tail_frac` x
    `threshold_n`, or after the COP has stayed still for `settle_hold_s` (a foot peeling off
    slowly holds ~20 N for tens of ms while the COP barely moves: taking the COP then would
    time its toe off at the start of that tail); not after the double support has lasted a
    running step time (standing on both feet in a turn or a pause: no weight transfer to read).
    Toe off is where the force fell through `threshold_n` (scanned back over the double
    support). Either foot may leave: in a turn the leading foot can lift again while the
    trailing one stays (its force, Fz minus the trailing foot's, falls through the threshold
    more than `revert_s` after its heel strike; sooner, its landing was no heel strike).
    When single support is first found (start-up, after a reset or an irregular step), the
    other foot's toe off is recovered by the same lateral split if the COP came across
    from it within `max_double_s` and after the last event. Times are in the filtered signal's time base; `delay_s` (the filters' group
    delay) is subtracted from every emitted `t_s`.
    """

    def __cinit__(self, double threshold_n=20.0, double delay_s=0.0, double body_weight_n=700.0,
                  double fs_hz=1000.0, double hs_confirm_frac=0.11, double hs_confirm_min_n=40.0,
                  int hs_confirm_samples=1, int to_confirm_samples=3, double fit_guard_s=0.03,
                  double fit_max_s=0.15, double fit_min_s=0.02, double ss_skip_s=0.03,
                  double contact_frac=0.1, double max_double_s=1.5, double bootstrap_s=0.06,
                  double side_margin_m=0.01, double revert_s=0.3, double min_step_frac=0.4,
                  double load_tau_s=2.0, double settle_s=0.03, double settle_m=0.001,
                  double turn_m=0.005, double lead_tol_m=0.03, double tail_frac=1.5,
                  double settle_hold_s=0.045, double cross_m=0.05, double max_width_m=0.5,
                  double hs_rise_max_s=0.08):
        self.thr, self.delay, self.bw = threshold_n, delay_s, body_weight_n
        self.hs_frac, self.hs_min = hs_confirm_frac, hs_confirm_min_n
        self.hs_k, self.to_k = hs_confirm_samples, to_confirm_samples
        self.guard_n = <int> (fit_guard_s * fs_hz + 0.5)
        self.fitmax_n = <int> (fit_max_s * fs_hz + 0.5)
        self.fitmin_n = <int> (fit_min_s * fs_hz + 0.5)
        self.skip_n = <int> (ss_skip_s * fs_hz + 0.5)
        self.boot_n = <int> (bootstrap_s * fs_hz + 0.5)
        self.contact_n = contact_frac * body_weight_n
        self.max_ds, self.side_margin, self.revert_s = max_double_s, side_margin_m, revert_s
        self.min_step_frac = min_step_frac
        self.settle_n = <int> (settle_s * fs_hz + 0.5)
        self.settle_m, self.turn_m, self.lead_tol_m = settle_m, turn_m, lead_tol_m
        self.tail_n = tail_frac * threshold_n
        self.hold_n = <int> (settle_hold_s * fs_hz + 0.5)
        self.cross_m, self.max_width = cross_m, max_width_m
        self.rise_n = <int> (hs_rise_max_s * fs_hz + 0.5)
        self.load_alpha = 1.0 / (load_tau_s * fs_hz)
        self.n = 0
        self.ev_n = 0
        self.lost_events = 0
        self.last_ev = -1e9  # kept across forget(): no event is timed twice
        self.forget()

    def reset(self):
        """Forget the gait (after a gap or bad data); the history ring is kept."""
        self.forget()

    cdef void forget(self) noexcept nogil:
        cdef int j
        self.state = UNKNOWN
        self.side = LEFT
        self.ymin, self.ymax, self.mid = 1e9, -1e9, 0.0
        self.load, self.have_load = 0.0, 0
        self.step_s, self.have_step, self.last_hs = 0.0, 0, -1e9
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
        self.above = self.below = self.frozen = self.creep = 0
        self.fit_reset(0)

    @property
    def state_name(self) -> str:
        return ("unknown", "single", "double")[self.state]

    @property
    def deck_load_n(self) -> float:
        return self.load

    @property
    def step_time_s(self) -> float:
        return self.step_s if self.have_step else float("nan")

    # ---- events
    cdef void emit(self, double t_s, int kind, int side, double at) noexcept nogil:
        if self.ev_n >= EV_CAP:
            self.lost_events += 1
            return
        if kind != STEP:
            self.last_ev = t_s + self.delay
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
    cdef void fit_reset(self, long start) noexcept nogil:
        self.f_lo = start
        self.f_hi = start
        self.f_t0 = 0.0
        self.s_n = self.s_t = self.s_tt = 0.0
        self.s_x = self.s_tx = self.s_y = 0.0

    cdef void fit_add(self, long k, double sign) noexcept nogil:
        cdef int i = k & MASK
        cdef double tau = self.rt[i] - self.f_t0
        cdef double x = self.rx[i]
        self.s_n += sign
        self.s_t += sign * tau
        self.s_tt += sign * tau * tau
        self.s_x += sign * x
        self.s_tx += sign * tau * x
        self.s_y += sign * self.ry[i]

    cdef void fit_advance(self, long hi) noexcept nogil:
        while self.f_hi < hi:
            self.fit_add(self.f_hi, 1.0)
            self.f_hi += 1
        while self.f_hi - self.f_lo > self.fitmax_n:
            self.fit_add(self.f_lo, -1.0)
            self.f_lo += 1

    cdef void fit_line(self, double* line) noexcept nogil:
        """line = (ax, bx, ay, 0): x = ax + bx * (t - f_t0), y = ay.

        The belt carries the stance foot backwards, so x is a line; nothing carries it
        sideways, so y is its mean: a lateral slope would only fit the tail of the COP's
        move across after a toe off (or a stance wobble) and, extrapolated, look like a
        landing on the other side.
        """
        cdef double n = self.s_n
        cdef double den = n * self.s_tt - self.s_t * self.s_t
        cdef double bx = 0.0
        if den > 0.0:
            bx = (n * self.s_tx - self.s_t * self.s_x) / den
        line[0] = (self.s_x - bx * self.s_t) / n
        line[1] = bx
        line[2] = self.s_y / n
        line[3] = 0.0

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
        if self.have_load:
            self.load += self.load_alpha * (fz - self.load)
        else:
            self.load, self.have_load = fz, 1
        if self.state == UNKNOWN:
            self.step_unknown(cy)
        elif self.state == SINGLE:
            self.step_single(t)
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
        self.recover_toe_off(self.side)

    cdef void recover_toe_off(self, int s) noexcept nogil:
        """Single support of s found from UNKNOWN: if the COP came across from the other
        foot within `max_ds`, time that foot's toe off by the lateral split, with s where the
        COP has settled and the other foot at its learned lateral position (else at the far
        end of the COP's lateral range)."""
        cdef long k = self.n - 1, lo = self.n - RING + 1
        cdef double ys = self.ry[k & MASK], yo, f, fprev = 0.0, t_now = self.rt[k & MASK]
        if self.have_ylat[1 - s]:
            yo = self.ylat[1 - s]
        else:
            yo = self.ymin if s == LEFT else self.ymax
        if fabs(yo - ys) < 0.04 or (yo - ys) * (self.mid - ys) <= 0.0:
            return
        if lo < 1:
            lo = 1
        while k > lo:
            f = self.rf[k & MASK] * (self.ry[k & MASK] - ys) / (yo - ys)
            if self.rt[k & MASK] <= self.last_ev or t_now - self.rt[k & MASK] > self.max_ds:
                return
            if f >= self.thr:
                if k < self.n - 1:
                    self.emit(self.rt[k & MASK] + (f - self.thr) / (f - fprev) * (
                        self.rt[(k + 1) & MASK] - self.rt[k & MASK]) - self.delay, TOE_OFF, 1 - s, t_now)
                return
            fprev = f
            k -= 1

    cdef void enter_single(self, int side, long start) noexcept nogil:
        self.state = SINGLE
        self.side = side
        self.fit_reset(start)
        self.f_t0 = self.rt[(self.n - 1) & MASK]
        self.above = 0
        self.frozen = self.creep = 0

    cdef double swing_force(self, double* line, long k, int s) noexcept nogil:
        cdef int i = k & MASK
        cdef double tau = self.rt[i] - self.f_t0
        cdef double ex = self.rx[i] - (line[0] + line[1] * tau)
        cdef double ey = self.ry[i] - (line[2] + line[3] * tau)
        cdef double rx = self.rx_p[s], ry = self.ry_p[s]
        return self.rf[i] * (ex * rx + ey * ry) / (rx * rx + ry * ry)

    cdef double side_pull(self, double* line, long k, int s) noexcept nogil:
        """Foot s's force from the COP's lateral departure alone (a landing foot stands a
        step's width beside the stance foot); 0 where that width is too small to tell."""
        cdef int i = k & MASK
        cdef double ey = self.ry[i] - (line[2] + line[3] * (self.rt[i] - self.f_t0))
        cdef double ry = self.ry_p[s]
        if fabs(ry) < 2.0 * self.side_margin:
            return 0.0
        return self.rf[i] * ey / ry

    cdef bint hs_candidate(self, double t, double* line, int s) noexcept nogil:
        """The departure at the newest sample is a landing foot (not yet confirmed)."""
        cdef double f_new = self.swing_force(line, self.n - 1, s)
        cdef double conf = self.hs_frac * self.load
        if conf < self.hs_min:
            conf = self.hs_min
        if not f_new > self.thr:
            self.frozen = self.creep = 0
        elif not (self.frozen or self.creep):
            self.frozen, self.rise_k = 1, self.n - 1  # hold the fit still while the new foot loads
        elif (self.frozen and f_new <= conf and self.n - 1 - self.rise_k > self.rise_n
              and self.side_pull(line, self.n - 1, s) <= self.thr):
            # too slow for a landing and no pull sideways towards the new foot: the stance
            # foot's COP has drifted off its line along the belt (a wobble the fit took in, a
            # curve): let the fit follow it until the departure is back below threshold
            self.frozen, self.creep = 0, 1
        if self.have_step and t - self.last_hs < self.min_step_frac * self.step_s:
            return 0
        return f_new > conf

    cdef void step_single(self, double t) noexcept nogil:
        cdef int o = self.side
        cdef int s = 1 - o
        cdef double line[4]
        cdef double ym, t_hs
        cdef long k
        if not self.frozen:
            self.fit_advance(self.n - self.guard_n)
        if self.s_n < self.fitmin_n:
            return
        self.fit_line(line)
        if self.hs_candidate(t, line, s):
            self.above += 1
        else:
            self.above = 0
        if self.above < self.hs_k:
            return
        # heel strike confirmed: timed with the offset that confirmed it (should the side
        # change below, the other side's offset points the other way)
        t_hs = self.hs_crossing(line, s, &k)
        # the stance foot's side from where it stands
        ym = line[2] + line[3] * (self.rt[(self.f_hi - 1) & MASK] - self.f_t0)
        if fabs(ym - self.mid) > self.side_margin:
            o = LEFT if ym > self.mid else RIGHT
            s = 1 - o
        self.heel_strike(t, t_hs, k, line, o, s)

    cdef double hs_crossing(self, double* line, int s, long* at) noexcept nogil:
        """Scan back to where foot s's force crossed the threshold: its time, index in at.

        Timed on the lateral departure alone (`side_pull`) where the feet stand far enough
        apart for it and it has passed the threshold by now: along the belt, a foot's COP
        rolls from heel to toe, so the departure along x mixes the landing foot's load with
        the stance foot's roll-over and a landing offset learned on other steps (it varies
        with step length); sideways nothing moves either foot. Otherwise on `swing_force`.
        """
        cdef long k = self.n - 1
        cdef long lo = self.f_hi
        cdef bint lateral = self.side_pull(line, k, s) > self.thr
        cdef double fk = self.timing_force(line, k, s, lateral), fp = 0.0
        if lo < self.n - RING + 1:
            lo = self.n - RING + 1
        while k > lo:
            fp = self.timing_force(line, k - 1, s, lateral)
            if fp <= self.thr:
                break
            fk = fp
            k -= 1
        at[0] = k
        if k > lo:
            return self.rt[(k - 1) & MASK] + (self.thr - fp) / (fk - fp) * (
                self.rt[k & MASK] - self.rt[(k - 1) & MASK])
        return self.rt[k & MASK]

    cdef double timing_force(self, double* line, long k, int s, bint lateral) noexcept nogil:
        if lateral:
            return self.side_pull(line, k, s)
        return self.swing_force(line, k, s)

    cdef void heel_strike(self, double t, double t_hs, long k, double* line, int o,
                          int s) noexcept nogil:
        """Foot s landed at t_hs (ring index k) beside o: emit, learn, enter double support."""
        self.emit(t_hs - self.delay, HEEL_STRIKE, s, t)
        self.learn_stance(line, o, s)
        self.learn_step_time(t_hs)
        self.ds_ax, self.ds_bx, self.ds_ay, self.ds_by = line[0], line[1], line[2], line[3]
        self.ds_t0 = self.f_t0
        self.t_hs = t_hs
        self.hs_time[s] = t_hs
        self.hs_px[s] = line[0] + line[1] * (t_hs - self.f_t0)
        self.hs_py[s] = line[2] + line[3] * (t_hs - self.f_t0)
        self.hs_valid[s] = 1
        self.hs_valid[o] = 0
        self.ds_ys = self.ylat[s] if self.have_ylat[s] else self.hs_py[s] + self.ry_p[s]
        self.ds_xmax = -1e9
        self.below = self.lead_below = self.still = 0
        self.state = DOUBLE
        self.side = s
        self.ds_start = k

    cdef void learn_step_time(self, double t_hs) noexcept nogil:
        cdef double dt = t_hs - self.last_hs
        if 0.0 < dt < 2.0:
            if self.have_step:
                self.step_s += 0.2 * (dt - self.step_s)
            else:
                self.step_s, self.have_step = dt, 1
        self.last_hs = t_hs

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
            if 0.05 < d < 1.5 and self.possible_offset(ly, o):
                if self.have_r[o]:
                    self.rx_p[o] += 0.3 * (lx - self.rx_p[o])
                    self.ry_p[o] += 0.3 * (ly - self.ry_p[o])
                else:
                    self.rx_p[o] = lx
                    self.ry_p[o] = ly
                    self.have_r[o] = 1

    cdef bint possible_offset(self, double ly, int s) noexcept nogil:
        """A landing offset a person can take: foot s lands on its own side of the other
        (a crossed step by at most `cross_m`) and less than `max_width_m` beside it. Standing
        and shifting weight before walking starts must not teach the detector otherwise."""
        if s == RIGHT:
            ly = -ly
        return -self.cross_m < ly < self.max_width

    cdef double lat_force(self, long k) noexcept nogil:
        cdef int i = k & MASK
        cdef double yo = self.ds_ay + self.ds_by * (self.rt[i] - self.ds_t0)
        return self.rf[i] * (self.ry[i] - self.ds_ys) / (yo - self.ds_ys)

    cdef void settle_lead(self, double yo) noexcept nogil:
        """Past the COP's forward turn and laterally still: the leading foot stands here.

        With a learned lateral position of the leading foot, a settled COP overrides it only
        where that position would leave the trailing foot more than `tail_n` (a foot peeling
        off slowly holds a few newtons for tens of ms, and that tail is not a narrower step),
        or once the COP has been still for `hold_n` samples (a tail would have ended).
        Not once the double support has lasted a step time: that is no step's weight
        transfer but standing on both feet (a turn, a pause), and a still COP there says
        nothing of where the leading foot stands.
        """
        cdef long k = self.n - 1
        cdef double x = self.rx[k & MASK], y = self.ry[k & MASK]
        if x > self.ds_xmax:
            self.ds_xmax = x
        if x > self.ds_xmax - self.turn_m or k - self.ds_start < self.settle_n:
            return
        if self.have_step and self.rt[k & MASK] - self.t_hs > self.step_s:
            return
        if fabs(y - self.ry[(k - self.settle_n) & MASK]) > self.settle_m:
            self.still = 0
            return
        self.still += 1
        if self.have_ylat[self.side]:
            if fabs(y - self.ds_ys) < self.lead_tol_m and (  # within a step's width variability
                    self.lat_force(k) > self.tail_n or self.still >= self.hold_n):
                self.ds_ys = y
        elif (y - yo) / (self.ds_ys - yo) > 0.5:  # no prior yet: beyond half-way will do
            self.ds_ys = y

    cdef void step_double(self, double t, double fz) noexcept nogil:
        cdef int s = self.side
        cdef double yo, f
        if t - self.t_hs > self.max_ds:
            self.state = UNKNOWN
            return
        if self.n - self.ds_start < self.fitmin_n:
            return
        yo = self.ds_ay + self.ds_by * (self.t_hs - self.ds_t0)
        if fabs(self.ds_ys - yo) <= 2.0 * self.side_margin:
            return  # feet not apart laterally: no lateral separation possible
        self.settle_lead(yo)
        f = self.lat_force(self.n - 1)
        if fz - f < self.thr:
            if t - self.t_hs < self.revert_s:
                self.enter_single(1 - s, self.n - 1)  # the new load vanished: no heel strike after all
                return
            self.lead_below += 1  # the leading foot lifts again (a pivot in a turn)
        else:
            self.lead_below = 0
        if f < self.thr:
            self.below += 1
        else:
            self.below = 0
        if self.lead_below >= self.to_k:
            self.toe_off(t, s)
        elif self.below >= self.to_k:
            self.toe_off(t, 1 - s)

    cdef double ds_force(self, long k, int s) noexcept nogil:
        """Foot s's force in double support by the lateral split."""
        cdef double f = self.lat_force(k)
        if s == self.side:
            return self.rf[k & MASK] - f
        return f

    cdef void toe_off(self, double t, int s) noexcept nogil:
        """Foot s (trailing, or the leading one lifting again) is off: scan back to where its
        force fell through the threshold; the other foot stands alone."""
        cdef long k = self.n - 1
        cdef long lo = self.ds_start
        cdef double f, fprev = self.ds_force(k, s)
        cdef double t_to = self.rt[k & MASK]
        if lo < self.n - RING + 1:
            lo = self.n - RING + 1
        while k > lo:
            f = self.ds_force(k, s)
            if f >= self.thr:
                t_to = self.rt[k & MASK] + (f - self.thr) / (f - fprev) * (
                    self.rt[(k + 1) & MASK] - self.rt[k & MASK])
                break
            fprev = f
            k -= 1
        self.emit(t_to - self.delay, TOE_OFF, s, t)
        self.enter_single(1 - s, self.n - 1 + self.skip_n)

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

    cdef int step(self, double t, double harness_n, double* step_t) noexcept nogil:
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

