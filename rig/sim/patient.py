"""The simulated patient: gait timing, per-foot vertical GRF, centre of mass, scripted events.

Model. Walking is planned one heel strike ahead: at each heel strike the landing foot's toe-off
is fixed (next heel strike of the other foot + double support) and the heel strike after next
is planned from the belt speed (cadence, stance fraction, GRF valley follow speed; stride time
varies stride to stride; a hemiparetic option makes the paretic step time longer and its stance
shorter). A foot in stance has a double-hump weight `f(p) = a1 sin(pi p) + a2 sin(2 pi p) +
a3 sin(3 pi p)` over its stance phase p, with a1, a3 solved so that the valley is the
configured one and the two feet's weights average to one body weight over a stride.

The sum S of the feet's weights is the vertical acceleration the person produces,
`a = g (S - 1)` (plus a slow postural correction so the COM does not drift), which gives the
3-5 cm COM excursion. The ground carries whatever the harness does not:
`ground = m (g + a) - line force`, split between the feet in proportion to their weights, never
negative (a patient lifted by the harness accelerates upwards). Falling removes the legs'
support, so the COM falls onto the harness spring.

Each foot lands ahead of `com_x_m` and is carried back by the belt surface, its COP moving
from heel to forefoot; a foot's deck force crossing 20 N is logged as heel strike / toe off
(ground truth, as in the recordings' README).

Not here: the deck cells (the world splits the feet's forces), sensor noise (board twin).
"""
from __future__ import annotations

import math

import numpy as np

from rig.sim.worldconfig import PatientConfig

G_MPS2 = 9.81
TRUTH_THRESHOLD_N = 20.0
SIDES = ("left", "right")
SWING, STANCE, STATIC = 0, 1, 2  # STATIC: standing / shuffling foot, weight from the other
_WARP = 0.0  # stance phase warp (0 = off; 0.3 tried: weakens the 2nd hump, see report)


def _warp(p: float) -> float:
    return p + _WARP * math.sin(2.0 * math.pi * p) / (2.0 * math.pi)


def _basis_means(n: int = 2000) -> tuple[float, float, float]:
    """Means over the stance of sin(k pi q(p)), k = 1, 2, 3 (for the impulse balance)."""
    qs = [_warp((i + 0.5) / n) for i in range(n)]
    return tuple(sum(math.sin(k * math.pi * q) for q in qs) / n for k in (1, 2, 3))  # type: ignore[return-value]


_M1, _M2, _M3 = _basis_means()
_AR_RHO = 0.5  # stride-to-stride persistence of stride time
_NEVER = math.inf


class _Foot:
    __slots__ = ("side", "mode", "t_hs", "t_to", "inv_stance", "k1", "k2", "k3", "x_land", "y",
                 "belt_hs", "cop_travel", "w", "leave_t", "leave_w0", "deck_gain", "force_n",
                 "x_m", "ap")

    def __init__(self, side: int, y: float, x: float):
        self.side, self.mode, self.y, self.x_land, self.x_m = side, STATIC, y, x, x
        self.t_hs = self.t_to = self.leave_t = _NEVER
        self.inv_stance = self.k1 = self.k2 = self.k3 = self.belt_hs = self.cop_travel = 0.0
        self.w = self.leave_w0 = 0.5
        self.deck_gain, self.force_n, self.ap = 1.0, 0.0, 0.0


def _stance_weight(foot: _Foot, t: float) -> float:
    """A stance foot's weight (x body weight, before unloading) at time t."""
    p = (t - foot.t_hs) * foot.inv_stance
    if foot.mode != STANCE or not 0.0 <= p < 1.0:
        return 0.0
    q = math.pi * (p + _WARP * math.sin(2.0 * math.pi * p) / (2.0 * math.pi))
    s, c = math.sin(q), math.cos(q)
    return s * (foot.k1 + 2.0 * c * foot.k2 + (3.0 - 4.0 * s * s) * foot.k3)


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
        self.feet = (_Foot(0, +half, self._stand_x), _Foot(1, -half, self._stand_x))
        gain = 1.0 if cfg.on_deck_at_start else 0.0
        for foot in self.feet:
            foot.deck_gain = gain
            foot.force_n = 0.5 * self._weight_n * gain
        self.on_deck = cfg.on_deck_at_start
        self.com_z_m = self.com_vz_mps = 0.0
        self._z_slow = self._vz_slow = 0.0  # low-passed COM state (standing posture)
        self._z_step = self._vz_step = 0.0  # COM state averaged over the last step (walking)
        self._acc_z = self._acc_vz = 0.0
        self._acc_n = 0
        self._step_corr = 0.0
        self.ground_n = self._weight_n
        self.feet_drag_n = 0.0
        self.walking = self._stopping = self.fallen = False
        self._queue: list[tuple[float, int]] = []  # planned heel strikes (t, side)
        self._next_gait_t = _NEVER
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
        self._next_gait_t = _NEVER
        for foot in self.feet:
            if foot.mode == SWING:
                foot.x_land, foot.w = self._stand_x, 0.0
            else:
                foot.x_land = foot.x_m
            foot.mode, foot.leave_t = STATIC, _NEVER

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
                foot.mode, foot.leave_t = SWING, _NEVER
        queue = self._queue
        while queue and queue[0][0] <= t:
            t_hs, side = queue.pop(0)
            self._land(t_hs, side, speed, belt_pos)
        pending = [q[0] for q in queue[:1]] + [f.t_to if f.mode == STANCE else f.leave_t for f in self.feet]
        self._next_gait_t = min(pending)

    def _land(self, t_hs: float, side: int, speed: float, belt_pos: float) -> None:
        foot, other = self.feet[side], self.feet[1 - side]
        if self._acc_n:  # step-averaged COM: the step-frequency ripple cancels exactly
            self._z_step, self._vz_step = self._acc_z / self._acc_n, self._acc_vz / self._acc_n
            self._acc_z = self._acc_vz = 0.0
            self._acc_n = 0
        stride_s, stance_frac, valley = self._nominal(speed)
        double_s = (stance_frac - 0.5) * stride_s * (1.0 + 0.05 * self._randn())
        if self._stopping or not self._queue:
            self._land_static(foot)
            return
        if other.mode == STATIC and other.leave_t == _NEVER:  # first step from standing
            other.leave_t, other.leave_w0 = t_hs + double_s, other.w
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
        self._begin_stance(foot, t_hs, t_next + double_s, (t_next - t_hs, valley, speed, belt_pos), boost)
        self._balance_step(t_hs, t_next)

    def _balance_step(self, t0: float, t1: float) -> None:
        """Choose this step's small constant acceleration offset (the person's regulation).

        With jittered step times the humps alone leave the COM with a velocity error of
        ~0.1 m/s per step and it wanders by centimetres. Over the step, v(tau) = v0 + A(tau) +
        c tau with A the humps' own velocity change; c is set so that the mean velocity over the
        step is the one that returns the mean height to 0, which also makes the end velocity
        independent of v0 (one-step deadbeat)."""
        if any(f.mode == STATIC for f in self.feet):
            self._step_corr = 0.0
            return
        n = 48
        h = (t1 - t0) / n
        gain = G_MPS2 * self.cfg.com_excursion_gain
        velocity, mean_velocity = 0.0, 0.0
        for i in range(n):
            t = t0 + (i + 0.5) * h
            accel = gain * (_stance_weight(self.feet[0], t) + _stance_weight(self.feet[1], t) - 1.0)
            mean_velocity += velocity + 0.5 * accel * h
            velocity += accel * h
        mean_velocity /= n
        target = -0.3 * self._z_step / (t1 - t0)  # 30 % of the height error per step
        self._step_corr = (target - self.com_vz_mps - mean_velocity) / (t1 - t0)

    def _begin_stance(self, foot: _Foot, t_hs: float, t_to: float,
                      gait: tuple[float, float, float, float], boost: bool) -> None:
        cfg = self.cfg
        step_s, valley, speed, belt_pos = gait
        stance_s = t_to - t_hs
        # mean weight over the stance = step / stance: each foot carries the body for one step
        # time, so the feet average one body weight whatever the timing (asymmetric, tripped)
        mean_w = step_s / stance_s
        valley = min(valley * (1.0 + 0.03 * self._randn()), 0.9 * mean_w / _M1)
        a3 = max(0.0, (mean_w - _M1 * valley - _M2 * cfg.grf_skew) / (_M1 + _M3))
        a1 = valley + a3
        if boost:  # the hard landing after a trip
            a1 *= 1.3
        direction = 1.0 if speed >= 0.0 else -1.0
        stance_len = abs(speed) * stance_s
        travel = 0.75 * cfg.foot_length_m
        foot.mode, foot.t_hs, foot.t_to, foot.inv_stance = STANCE, t_hs, t_to, 1.0 / stance_s
        foot.k1, foot.k2, foot.k3 = a1, cfg.grf_skew, a3
        foot.x_land = cfg.com_x_m + direction * (0.5 * stance_len - 0.5 * travel) + 0.01 * self._randn()
        foot.cop_travel = direction * travel
        half = cfg.step_width_m / 2.0
        foot.y = (half if foot.side == 0 else -half) + 0.01 * self._randn()
        foot.belt_hs = belt_pos
        foot.ap = cfg.ap_force_bw_at_1mps * min(2.0, abs(speed)) * direction

    def _land_static(self, foot: _Foot) -> None:
        foot.mode, foot.leave_t, foot.w = STATIC, _NEVER, 0.0
        foot.x_land = self._stand_x
        foot.y = self.cfg.step_width_m / 2.0 * (1.0 if foot.side == 0 else -1.0)
        if not self._queue:
            self.walking = self._stopping = False

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
                q = math.pi * p + 0.5 * _WARP * math.sin(2.0 * math.pi * p)
                s = math.sin(q)
                c = math.cos(q)
                foot.w = s * (foot.k1 + 2.0 * c * foot.k2 + (3.0 - 4.0 * s * s) * foot.k3)
                foot.x_m = foot.x_land - (belt_pos - foot.belt_hs) + foot.cop_travel * p
                drag_bw += foot.ap * 2.0 * s * c * foot.deck_gain
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

    def _static_weights(self, t: float, dt: float, left: _Foot, right: _Foot) -> None:
        if left.mode == STATIC and right.mode == STATIC:
            if left.leave_t < _NEVER or right.leave_t < _NEVER:
                leaving, staying = (left, right) if left.leave_t < right.leave_t else (right, left)
                leaving.w = leaving.leave_w0 * max(0.0, min(1.0, (leaving.leave_t - t) / 0.15))
                staying.w = 1.0 - leaving.w
            else:  # quiet standing: weight evens out between the feet
                left.w += (0.5 - left.w) * dt / 0.3
                right.w = 1.0 - left.w
        else:
            static, moving = (left, right) if left.mode == STATIC else (right, left)
            w = max(0.0, 1.0 - moving.w) if moving.mode == STANCE else 1.0
            if static.leave_t < _NEVER:
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
            correction = self._step_corr
        else:
            correction = -2.0 * self._z_slow - 2.8 * self._vz_slow
        a_des = G_MPS2 * self.cfg.com_excursion_gain * (weight_sum - 1.0) + correction
        if self._pert_t0 <= t < self._pert_end:
            a_des -= self.cfg.stumble_accel_mps2 * math.sin(math.pi * (t - self._pert_t0) / 0.25)
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
        self._acc_z += self.com_z_m
        self._acc_vz += self.com_vz_mps
        self._acc_n += 1
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
