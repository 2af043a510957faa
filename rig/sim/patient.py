"""The simulated patient: gait timing, per-foot vertical GRF, centre of mass, scripted events.

Gait planning. Walking is planned one heel strike ahead: at each heel strike the landing foot's
toe off is fixed (next heel strike of the other foot + double support) and the heel strike
after next is planned from the belt speed (cadence, stance fraction and GRF valley follow speed;
stride time varies stride to stride; a hemiparetic option makes the paretic step time longer
and its stance shorter). Stance and double support are those seen through the 20 N truth
threshold: the planned contact is a few ms longer (`threshold_lag`).

Forces. A stance foot's force follows the templated double hump of `gait_template`; the sum S
of both feet's templates (x body weight) is the vertical acceleration the person produces,
`a = g (S - 1)`, which gives the 3-5 cm COM excursion, lowest in double support where S is
highest; a small smooth correction planned at each heel strike (`gait_balance`) keeps the mean
height. The ground carries whatever the harness does not:
`ground = m (g + a) - line force`, split between the feet in proportion to their templates,
never negative (a patient lifted by the harness accelerates upwards). Falling removes the legs'
support, so the COM falls onto the harness spring.

Each foot lands ahead of `com_x_m` and is carried back by the belt surface, its COP moving
from heel to forefoot; a foot's deck force crossing 20 N is logged as heel strike / toe off
(ground truth, as in the recordings' README).

Not here: the force template and COM regulation (`gait_template`, `gait_balance`), the deck
cells (the world splits the feet's forces), sensor noise (board twin).
"""
from __future__ import annotations

import math

import numpy as np

from rig.sim.gait_balance import correction_at, step_correction
from rig.sim.gait_template import (NEVER, STANCE, STATIC, SWING, Foot, plan_stance, plan_unloading,
                                   stance_weight, threshold_lag)
from rig.sim.worldconfig import PatientConfig

G_MPS2 = 9.81
TRUTH_THRESHOLD_N = 20.0
SIDES = ("left", "right")
_AR_RHO = 0.5  # stride-to-stride persistence of stride time


class Patient:
    """One patient, stepped by the world on virtual time (see the module docstring)."""

    def __init__(self, cfg: PatientConfig, rng: np.random.Generator, truth: list[tuple[float, str, str]]):
        self.cfg = cfg
        self._rng = rng
        self._truth = truth
        self.mass_kg = cfg.body_mass_kg
        self._weight_n = cfg.body_mass_kg * G_MPS2
        half = cfg.step_width_m / 2.0
        self._stand_x = cfg.com_x_m - 0.1 * cfg.foot_length_m
        self.feet = (Foot(0, +half, self._stand_x), Foot(1, -half, self._stand_x))
        gain = 1.0 if cfg.on_deck_at_start else 0.0
        for foot in self.feet:
            foot.deck_gain = gain
            foot.force_n = 0.5 * self._weight_n * gain
        self.on_deck = cfg.on_deck_at_start
        self.com_z_m = self.com_vz_mps = 0.0
        self._z_slow = self._vz_slow = 0.0  # low-passed COM state (standing posture)
        self._step_t0, self._inv_step = 0.0, 0.0  # the step being regulated (walking)
        self._corr = (0.0, 0.0)
        self.ground_n = self._weight_n
        self.feet_drag_n = 0.0
        self.walking = self._stopping = self.fallen = False
        self._queue: list[tuple[float, int]] = []  # planned heel strikes (t, side)
        self._next_gait_t = NEVER
        self._support = self._support_target = 1.0
        self._support_rate = 0.0
        self._pert_t0, self._pert_end = 0.0, -1.0
        self._stumble_pending = self._boost_next = False
        self._deck_ramps: list[tuple[float, float, int, float]] = []  # (t0, t1, side, target)
        self._stride_e = 0.0
        self._sway_m = 0.0
        self._noise: list[float] = []
        self._paretic = {"none": -1, "left": 0, "right": 1}[cfg.paretic_side]
        self._cv = cfg.paretic_stride_cv if self._paretic >= 0 else cfg.stride_cv
        # planned double support / measured one (a peak is ~1.1 body weights)
        self._ds_stretch = 1.0 / (1.0 - threshold_lag(TRUTH_THRESHOLD_N / (1.1 * self._weight_n)))

    # ---- gait parameters from speed -------------------------------------------------------
    def _nominal(self, speed_mps: float) -> tuple[float, float, float]:
        """(stride time s, stance fraction, GRF valley x BW) at a walking speed."""
        cfg = self.cfg
        v = max(abs(speed_mps), 0.4)  # nobody walks slower than ~70 steps/min
        cadence = cfg.cadence_spm_at_1mps * v ** cfg.cadence_speed_exponent * math.sqrt(0.9 / cfg.leg_length_m)
        stance = min(0.75, max(0.53, cfg.stance_fraction_at_1mps + cfg.stance_fraction_per_mps * (v - 1.0)))
        valley = min(0.95, max(0.5, cfg.grf_valley_bw_at_1mps + cfg.grf_valley_per_mps * (v - 1.0)))
        return 120.0 / cadence, stance, valley

    def _randn(self) -> float:
        if not self._noise:
            self._noise = self._rng.standard_normal(4096).tolist()
        return self._noise.pop()

    def _step_time(self, side: int, stride_s: float) -> float:
        """Time of the step that ends with `side` landing."""
        if self._paretic < 0:
            return 0.5 * stride_s
        sign = 1.0 if side == self._paretic else -1.0  # the paretic step is the longer one
        return 0.5 * stride_s * (1.0 + sign * self.cfg.step_time_asymmetry / 2.0)

    # ---- scripted events ------------------------------------------------------------------
    def fall(self, t: float) -> None:
        """Knees buckle: the legs' support vanishes over fall_buckle_s; gait stops."""
        self._truth.append((t, "fall", ""))
        self.fallen = True
        self._freeze_feet()
        self._support_target = self.cfg.fall_residual_support
        self._support_rate = (1.0 - self.cfg.fall_residual_support) / self.cfg.fall_buckle_s

    def recover(self, t: float) -> None:
        """Stand up again (after a fall): support returns over 1 s."""
        self._truth.append((t, "recover", ""))
        self._support_target, self._support_rate = 1.0, 1.0

    def stumble(self, t: float) -> None:
        """The next step is cut short with a hard landing and a COM dip."""
        self._truth.append((t, "stumble", ""))
        self._stumble_pending = True

    def step_off(self, t: float) -> None:
        """Step off the deck sideways (right foot, then left): the deck unloads."""
        self._truth.append((t, "step_off", ""))
        self._freeze_feet()
        self._deck_ramps = [(t, t + 0.2, 1, 0.0), (t + 0.6, t + 0.8, 0, 0.0)]
        self.on_deck = False

    def step_on(self, t: float) -> None:
        """Step onto the deck (left foot, then right) and stand."""
        self._truth.append((t, "step_on", ""))
        self._deck_ramps = [(t, t + 0.2, 0, 1.0), (t + 0.6, t + 0.8, 1, 1.0)]

    def _freeze_feet(self) -> None:
        """Stop walking where the feet are: stance feet become static, swing feet land."""
        self.walking = self._stopping = False
        self._queue.clear()
        self._next_gait_t = NEVER
        for foot in self.feet:
            if foot.mode == SWING:
                foot.x_land, foot.w = self._stand_x, 0.0
            else:
                foot.x_land = foot.x_m
            foot.mode, foot.leave_t = STATIC, NEVER

    # ---- gait planning --------------------------------------------------------------------
    def _start_walking(self, t: float, speed: float) -> None:
        stride_s, stance, _ = self._nominal(speed)
        first = self.feet[1]
        first.leave_t, first.leave_w0 = t + 0.15, first.w
        t_hs = first.leave_t + min(0.45, (1.0 - stance) * stride_s)
        self._queue = [(t_hs, 1), (t_hs + self._step_time(0, stride_s), 0)]
        self.walking, self._stopping = True, False
        self._next_gait_t = first.leave_t

    def _gait_events(self, t: float, speed: float, belt_pos: float) -> None:
        for foot in self.feet:
            if (foot.mode == STANCE and t >= foot.t_to) or (foot.mode == STATIC and t >= foot.leave_t):
                foot.mode, foot.leave_t = SWING, NEVER
        queue = self._queue
        while queue and queue[0][0] <= t:
            t_hs, side = queue.pop(0)
            self._land(t_hs, side, speed, belt_pos)
        pending = [q[0] for q in queue[:1]] + [f.t_to if f.mode == STANCE else f.leave_t for f in self.feet]
        self._next_gait_t = min(pending)

    def _land(self, t_hs: float, side: int, speed: float, belt_pos: float) -> None:
        foot, other = self.feet[side], self.feet[1 - side]
        stride_s, stance_frac, valley = self._nominal(speed)
        double_s = (stance_frac - 0.5) * stride_s * self._ds_stretch * (1.0 + 0.05 * self._randn())
        if self._stopping or not self._queue:
            self._land_static(foot)
            if self._queue:  # the last step: come to rest by the other foot's landing
                self._regulate_step(t_hs, self._queue[0][0], settle=True)
            return
        if other.mode == STATIC:  # first step from standing: the standing foot unloads
            plan_unloading(other, t_hs, t_hs + double_s, max(other.w, 0.5))
            other.x_land, other.belt_hs, other.cop_travel, other.ap = other.x_m, belt_pos, 0.0, 0.0
        boost, self._boost_next = self._boost_next, False
        if self._stumble_pending:
            self._trip(t_hs)
        t_next = self._queue[0][0]
        if side == 0:
            self._stride_e = _AR_RHO * self._stride_e + math.sqrt(1.0 - _AR_RHO**2) * self._randn()
        scale = self._cv / math.sqrt((1.0 + _AR_RHO) / 2.0)
        stride_s *= 1.0 + scale * self._stride_e
        step_s = self._step_time(side, stride_s) * (1.0 + 0.004 * self._randn())
        self._queue.append((t_next + step_s, side))
        self._begin_stance(foot, (t_hs, other.t_to, t_next, t_next + double_s), valley, speed, belt_pos)
        if boost:  # the hard landing after a trip
            foot.peak1 *= 1.3
        self._regulate_step(t_hs, t_next)

    def _regulate_step(self, t0: float, t1: float, settle: bool = False) -> None:
        """Plan the COM correction for the step t0..t1 (`gait_balance`)."""
        self._step_t0, self._inv_step = t0, 1.0 / (t1 - t0)
        gain = G_MPS2 * self.cfg.com_excursion_gain
        left, right = self.feet

        def accel(t: float) -> float:
            w_left, w_right = stance_weight(left, t), stance_weight(right, t)
            # a standing foot takes what the stepping one does not (`_static_weights`)
            total = max(w_left + w_right, 1.0) if STATIC in (left.mode, right.mode) else w_left + w_right
            return gain * (total - 1.0)

        self._corr = step_correction(accel, t0, t1 - t0, self.com_z_m, self.com_vz_mps, settle)

    def _begin_stance(self, foot: Foot, times: tuple[float, float, float, float], valley: float,
                      speed: float, belt_pos: float) -> None:
        """Plan the landing foot's force template and where it lands on the deck.

        `times`: heel strike, the other foot's toe off, its next heel strike, this toe off."""
        cfg = self.cfg
        t_hs, t_ds1, t_ss, t_to = times
        valley *= 1.0 + 0.03 * self._randn()
        # each foot carries the body for one step time (to the other foot's next heel strike)
        # over its stance, so the feet average one body weight whatever the timing
        plan_stance(foot, t_hs, t_ds1, t_ss, t_to, valley, cfg.grf_skew, t_ss - t_hs)
        direction = 1.0 if speed >= 0.0 else -1.0
        stance_len = abs(speed) * (t_to - t_hs)
        travel = 0.75 * cfg.foot_length_m
        foot.x_land = cfg.com_x_m + direction * (0.5 * stance_len - 0.5 * travel) + 0.01 * self._randn()
        foot.cop_travel = direction * travel
        half = cfg.step_width_m / 2.0
        foot.y = (half if foot.side == 0 else -half) + 0.01 * self._randn()
        foot.belt_hs = belt_pos
        foot.ap = cfg.ap_force_bw_at_1mps * min(2.0, abs(speed)) * direction

    def _land_static(self, foot: Foot) -> None:
        foot.mode, foot.leave_t, foot.w = STATIC, NEVER, 0.0
        foot.x_land = self._stand_x
        foot.y = self.cfg.step_width_m / 2.0 * (1.0 if foot.side == 0 else -1.0)
        if not self._queue:
            self.walking = self._stopping = False

    def _stumble_accel(self, t: float) -> float:
        """The stumble's COM dip (m/s^2): a half sine over 0.25 s from the tripped heel strike.
        Unplanned: the regulation recovers from it at the next heel strike."""
        if not self._pert_t0 <= t < self._pert_end:
            return 0.0
        return -self.cfg.stumble_accel_mps2 * math.sin(math.pi * (t - self._pert_t0) / 0.25)

    def _trip(self, t_hs: float) -> None:
        """Cut the next step short, land hard, dip the COM."""
        self._stumble_pending = False
        t_next, side = self._queue[0]
        self._queue[0] = (t_hs + 0.7 * (t_next - t_hs), side)
        self._boost_next = True
        self._pert_t0, self._pert_end = t_hs, t_hs + 0.25

    # ---- the per-tick hot path ------------------------------------------------------------
    def step(self, t: float, dt: float, speed: float, belt_pos: float, line_n: float) -> None:
        """Advance by dt: feet weights and forces, ground force, COM, belt drag, ground truth."""
        if t >= self._next_gait_t:
            self._gait_events(t, speed, belt_pos)
        self._walk_intent(t, speed)
        if self._deck_ramps:
            self._ramp_deck(t)
        left, right = self.feet
        drag_bw = 0.0
        for foot in self.feet:
            if foot.mode == STANCE:
                p = (t - foot.t_hs) * foot.inv_stance
                if p >= 1.0 or p < 0.0:
                    foot.w = 0.0
                    continue
                foot.w = stance_weight(foot, t)
                foot.x_m = foot.x_land - (belt_pos - foot.belt_hs) + foot.cop_travel * p
                drag_bw += foot.ap * math.sin(2.0 * math.pi * p) * foot.deck_gain  # brake, push
            elif foot.mode == SWING:
                foot.w = 0.0
        if left.mode == STATIC or right.mode == STATIC:
            self._static_weights(t, dt, left, right)
        self._body(t, dt, left.w + right.w, line_n, drag_bw)

    def _walk_intent(self, t: float, speed: float) -> None:
        speed = abs(speed)
        if self.walking:
            if speed < self.cfg.walk_stop_mps:
                self._stopping = True
        elif (speed > self.cfg.walk_start_mps and self.on_deck and not self.fallen
              and self._support >= 1.0 and not self._deck_ramps):
            self._start_walking(t, speed)

    def _static_weights(self, t: float, dt: float, left: Foot, right: Foot) -> None:
        if left.mode == STATIC and right.mode == STATIC:
            if left.leave_t < NEVER or right.leave_t < NEVER:
                leaving, staying = (left, right) if left.leave_t < right.leave_t else (right, left)
                leaving.w = leaving.leave_w0 * max(0.0, min(1.0, (leaving.leave_t - t) / 0.15))
                staying.w = 1.0 - leaving.w
            else:  # quiet standing: weight evens out between the feet
                left.w += (0.5 - left.w) * dt / 0.3
                right.w = 1.0 - left.w
        else:
            static, moving = (left, right) if left.mode == STATIC else (right, left)
            w = max(0.0, 1.0 - moving.w) if moving.mode == STANCE else 1.0
            if static.leave_t < NEVER:
                w *= max(0.0, min(1.0, (static.leave_t - t) / 0.05))
            static.w = w
        self._sway_m -= self._sway_m * dt - self.cfg.sway_m * math.sqrt(2.0 * dt) * self._randn()
        for foot in self.feet:
            if foot.mode == STATIC:
                foot.x_m = foot.x_land + self._sway_m

    def _body(self, t: float, dt: float, weight_sum: float, line_n: float, drag_bw: float) -> None:
        """Ground force, COM dynamics, per-foot deck forces and ground truth."""
        m = self.mass_kg
        if self._support != self._support_target:
            self._move_support(dt)
        # postural regulation keeps the mean COM height: per step while walking, slow otherwise
        if self.walking:
            c0, c1 = self._corr
            correction = correction_at(c0, c1, (t - self._step_t0) * self._inv_step)
        else:
            correction = -2.0 * self._z_slow - 2.8 * self._vz_slow
        a_des = G_MPS2 * self.cfg.com_excursion_gain * (weight_sum - 1.0) + correction
        if self._pert_t0 <= t < self._pert_end:
            a_des += self._stumble_accel(t)
        ground = self._support * m * (G_MPS2 + a_des) - line_n
        if ground < 0.0:
            ground = 0.0
        z = self.com_z_m
        if z < -self.cfg.fall_floor_drop_m:  # knees on the deck
            ground += max(0.0, 50000.0 * (-self.cfg.fall_floor_drop_m - z) - 2000.0 * self.com_vz_mps)
        self.com_vz_mps += ((ground + line_n) / m - G_MPS2) * dt
        self.com_z_m = z + self.com_vz_mps * dt
        self._z_slow += (self.com_z_m - self._z_slow) * dt * 2.0
        self._vz_slow += (self.com_vz_mps - self._vz_slow) * dt * 2.0
        self.ground_n = ground
        per_weight = ground / weight_sum if weight_sum > 1e-6 else 0.0
        self.feet_drag_n = drag_bw * per_weight
        for foot in self.feet:
            force = foot.w * per_weight * foot.deck_gain
            before = foot.force_n
            foot.force_n = force
            if (force >= TRUTH_THRESHOLD_N) != (before >= TRUTH_THRESHOLD_N):
                when = t - dt * (force - TRUTH_THRESHOLD_N) / (force - before)
                event = "heel_strike" if force > before else "toe_off"
                self._truth.append((when, event, SIDES[foot.side]))

    def _move_support(self, dt: float) -> None:
        step = self._support_rate * dt
        target = self._support_target
        self._support = min(target, self._support + step) if target > self._support else max(target, self._support - step)
        if self._support >= 1.0 and self.fallen:
            self.fallen = False

    def _ramp_deck(self, t: float) -> None:
        keep = []
        for t0, t1, side, target in self._deck_ramps:
            if t < t0:
                keep.append((t0, t1, side, target))
                continue
            frac = min(1.0, (t - t0) / (t1 - t0))
            self.feet[side].deck_gain = frac if target > 0.5 else 1.0 - frac
            if frac < 1.0:
                keep.append((t0, t1, side, target))
        self._deck_ramps = keep
        if not keep and all(f.deck_gain >= 1.0 for f in self.feet):
            self.on_deck = True
