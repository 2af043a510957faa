"""Harness unloading control: the winch velocity command that holds the line force on target.

`UnloadingController.step()` runs once per supervisor tick (200 Hz). The safety machine
passes a mode:
- "slack": nothing controlled, command 0;
- "pretension": take up the slack gently (at most `haul_in_mps`) and keep `pretension_n`;
  "track" takes up a line gone slack just as gently (a slack line hauled in fast jerks the
  patient when it goes taut);
- "track": ramp the target towards fraction x body weight (at most `ramp_n_per_s`) and close
  the force loop; in "static" mode the winch position is held once on target;
- "release": ramp the target down to 0, then pay line out until it is slack;
- "hold": a fault is active: the winch holds (command 0, never paying out), the target freezes.

The force loop (track, release) commands winch velocity (+ = hauling in): PI on the error of
the filtered line force, plus a feed-forward of the patient's vertical velocity, predicted
`lead_s` ahead to cover the filter's delay, the tick and the drive. Through the series-elastic
line the force is k x (cable hauled in - patient height): a winch that moves with the patient
keeps it constant. The patient's height is estimated as winch position (delayed like the
filtered force) - force / k; optionally the deck force adds the patient's vertical
acceleration, a = (deck + line) / m - g. Then anti-windup, velocity and acceleration limits;
near the drive's torque cap (`force_cap_n`, the hard limit the drive enforces) it never hauls in.

Pure: numbers in, numbers out; no clock, device or I/O. Not here: when each mode applies (the
safety machine), the drive's torque cap register (drivers/harness_servo), config (rig/controlconfig.py).
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

G_MPS2 = 9.81
MODES = ("slack", "pretension", "track", "release", "hold")
CAP_MARGIN = 0.95  # stop hauling in above this share of the force cap
ERROR_SMOOTHING_S = 0.3  # on_target judges the error averaged over about this long


@dataclass(frozen=True)
class UnloadingParams:
    """Everything the unloading controller needs (SI units; forces in N, gains per N).

    kp_mps_per_n / ki_mps_per_n_s: PI from force error to winch velocity. feedforward_gain:
    share of the patient's predicted vertical velocity fed forward (0 = off, 1 = all).
    line_stiffness_n_per_m: the series-elastic element, for the feed-forward. sensor_delay_s:
    delay of the filtered line force (the load-cell pipeline's group delay); lead_s: how far
    ahead the feed-forward predicts (that delay + one tick + the drive's lag). min_fraction is
    the prescription's floor (1 - weight-bearing limit); max_fraction the highest allowed.
    """

    body_weight_n: float
    ramp_n_per_s: float
    pretension_n: float = 30.0
    slack_n: float = 8.0
    kp_mps_per_n: float = 0.002
    ki_mps_per_n_s: float = 0.005
    feedforward_gain: float = 1.0
    line_stiffness_n_per_m: float = 8000.0
    max_velocity_mps: float = 0.4
    max_accel_mps2: float = 6.0
    force_cap_n: float = 900.0
    mode: str = "dynamic"
    fraction: float = 0.3
    min_fraction: float = 0.0
    max_fraction: float = 0.8
    on_target_tolerance_n: float = 15.0
    haul_in_mps: float = 0.03
    pay_out_mps: float = 0.03
    slack_payout_m: float = 0.03
    sensor_delay_s: float = 0.015
    lead_s: float = 0.003
    static_hold_after_s: float = 0.5
    static_position_gain_per_s: float = 5.0

    def __post_init__(self) -> None:
        positive = ("body_weight_n", "ramp_n_per_s", "line_stiffness_n_per_m", "max_velocity_mps",
                    "max_accel_mps2", "force_cap_n", "haul_in_mps", "pay_out_mps")
        for name in positive:
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise ValueError(f"unloading parameter {name} must be a positive number, not {getattr(self, name)}")
        if self.mode not in ("dynamic", "static"):
            raise ValueError(f"unloading mode must be 'dynamic' or 'static', not {self.mode!r}")
        if not 0.0 <= self.min_fraction <= self.fraction <= self.max_fraction <= 1.0:
            raise ValueError(f"unloading fractions must satisfy 0 <= min {self.min_fraction} <= fraction "
                             f"{self.fraction} <= max {self.max_fraction} <= 1")
        if not 0.0 <= self.slack_n < self.pretension_n < self.force_cap_n:
            raise ValueError(f"need 0 <= slack_n {self.slack_n} < pretension_n {self.pretension_n} "
                             f"< force_cap_n {self.force_cap_n}")


class MotionEstimate:
    """The patient's vertical velocity, predicted ahead, from the winch, the line and the deck.

    From the line: height = winch position (delayed like the filtered force) - force / k, and
    its rate. With the deck force, the acceleration (deck + line) / m - g (its slow bias
    removed) is integrated and pulled towards the line's rate over `BLEND_S`: the deck gives
    the fast part without the line's damping error, the line keeps it from drifting.
    """

    BLEND_S = 0.5
    BIAS_S = 3.0

    def __init__(self, params: UnloadingParams) -> None:
        self.p = params
        self.mass_kg = params.body_weight_n / G_MPS2
        self._positions: deque[float] = deque()
        self._z_m: float | None = None
        self.vz_mps = 0.0  # at the sensors' delay
        self.az_mps2 = 0.0
        self._bias_mps2 = 0.0

    def update(self, dt_s: float, line_force_n: float, winch_position_m: float,
               deck_force_n: float | None) -> float:
        """One tick of new readings; returns the predicted vertical velocity (m/s, + = up)."""
        delay_ticks = max(0, round(self.p.sensor_delay_s / dt_s))
        self._positions.append(winch_position_m)
        while len(self._positions) > delay_ticks + 1:
            self._positions.popleft()
        z_m = self._positions[0] - line_force_n / self.p.line_stiffness_n_per_m
        if self._z_m is not None:
            vz_line = (z_m - self._z_m) / dt_s
            if deck_force_n is None:
                self._from_line(dt_s, vz_line)
            else:
                self._blend(dt_s, vz_line, (deck_force_n + line_force_n) / self.mass_kg - G_MPS2)
        self._z_m = z_m
        # the estimate describes the patient sensor_delay_s ago: predict to lead_s from now
        return self.vz_mps + self.az_mps2 * (self.p.sensor_delay_s + self.p.lead_s)

    def _from_line(self, dt_s: float, vz_line: float) -> None:
        smoothing = dt_s / (dt_s + 0.02)  # a differentiated velocity needs smoothing
        self.az_mps2 += smoothing * ((vz_line - self.vz_mps) / dt_s - self.az_mps2)
        self.vz_mps = vz_line

    def _blend(self, dt_s: float, vz_line: float, az_deck: float) -> None:
        self._bias_mps2 += dt_s / self.BIAS_S * (az_deck - self._bias_mps2)
        self.az_mps2 = az_deck - self._bias_mps2
        self.vz_mps += self.az_mps2 * dt_s + dt_s / self.BLEND_S * (vz_line - self.vz_mps)


class UnloadingController:
    """Winch velocity command for the harness; see the module docstring."""

    def __init__(self, params: UnloadingParams) -> None:
        self.p = params
        self.fraction = params.fraction
        self.target_n = 0.0
        self._target_rate_n_per_s = 0.0
        self.command_mps = 0.0
        self.motion = MotionEstimate(params)
        self._integral_mps = 0.0
        self._force_n = 0.0
        self._error_avg_n = 0.0
        self._last_mode = "slack"
        self._settled_s = 0.0  # time on target (static hold) or at pretension
        self._hold_position_m: float | None = None
        self._payout_from_m: float | None = None
        self._released = False

    # ---- operator side ----------------------------------------------------------------------
    @property
    def goal_n(self) -> float:
        """Where the target is heading in "track": fraction x body weight."""
        return self.fraction * self.p.body_weight_n

    def set_fraction(self, fraction: float) -> str:
        """Ask for a new unloading fraction (0..1); return "" or the refusal in plain words."""
        p = self.p
        if not math.isfinite(fraction):
            return "the unloading must be a number"
        pct = 100.0 * fraction
        if fraction < p.min_fraction:
            return (f"{pct:.0f} % unloading is below the prescription's minimum {100 * p.min_fraction:.0f} % "
                    f"(weight bearing at most {100 * (1 - p.min_fraction):.0f} % of body weight)")
        if fraction > p.max_fraction:
            return f"{pct:.0f} % unloading is above the maximum {100 * p.max_fraction:.0f} %"
        if fraction * p.body_weight_n > CAP_MARGIN * p.force_cap_n:
            return (f"{pct:.0f} % unloading needs {fraction * p.body_weight_n:.0f} N, more than the winch "
                    f"may pull ({CAP_MARGIN * p.force_cap_n:.0f} N)")
        self.fraction = float(fraction)
        return ""

    # ---- the tick -----------------------------------------------------------------------------
    def step(self, dt_s: float, mode: str, line_force_n: float, winch_position_m: float,
             winch_velocity_mps: float, deck_force_n: float | None = None) -> float:
        """One tick: returns the winch velocity command (m/s, + = hauling in).

        line_force_n: the filtered line force; deck_force_n (optional): the filtered total
        vertical deck force, which sharpens the feed-forward.
        """
        if mode not in MODES:
            raise ValueError(f"unknown harness mode {mode!r}; known: {', '.join(MODES)}")
        if dt_s <= 0.0:
            return self.command_mps
        self._force_n = line_force_n
        if mode != self._last_mode:
            self._enter(mode)
        predicted_vz = self.motion.update(dt_s, line_force_n, winch_position_m, deck_force_n)
        handler = {"slack": self._slack, "pretension": self._pretension, "track": self._track,
                   "release": self._release, "hold": self._hold}[mode]
        command = handler(dt_s, line_force_n, winch_position_m, predicted_vz)
        self.command_mps = command
        return command

    def _enter(self, mode: str) -> None:
        """Bumpless mode change: no integrator or position latch carried across."""
        self._integral_mps = 0.0
        self._settled_s = 0.0
        self._hold_position_m = None
        self._payout_from_m = None
        self._released = False
        if mode in ("slack", "hold"):
            self.command_mps = 0.0
        self._last_mode = mode

    def _slack(self, dt_s: float, force_n: float, position_m: float, vz: float) -> float:
        self.target_n = 0.0
        self._integral_mps = 0.0
        return 0.0

    def _hold(self, dt_s: float, force_n: float, position_m: float, vz: float) -> float:
        self._integral_mps = 0.0  # the target stays frozen; the drive holds the drum still
        return 0.0

    def _pretension(self, dt_s: float, force_n: float, position_m: float, vz: float) -> float:
        self._ramp_target(self.p.pretension_n, dt_s)
        tolerance = max(0.25 * self.p.pretension_n, 3.0)
        near = abs(force_n - self.p.pretension_n) <= tolerance
        self._settled_s = self._settled_s + dt_s if near else 0.0
        if force_n < self.p.slack_n:
            return self._limit(self.p.haul_in_mps, dt_s, self.p.haul_in_mps)
        return self._pi(self.target_n - force_n, dt_s, self.p.haul_in_mps)

    def _track(self, dt_s: float, force_n: float, position_m: float, vz: float) -> float:
        self._ramp_target(self.goal_n, dt_s)
        error_n = self.target_n - force_n
        self._average_error(error_n, dt_s)
        if force_n < self.p.slack_n:  # the patient stepped towards the winch or off the deck:
            return self._limit(self.p.haul_in_mps, dt_s, self.p.haul_in_mps)  # take up gently, no jerk
        if self.p.mode == "static":
            held = self._static_hold(dt_s, error_n, position_m)
            if held is not None:
                return held
        return self._force_loop(error_n, dt_s, vz)

    def _release(self, dt_s: float, force_n: float, position_m: float, vz: float) -> float:
        self._ramp_target(0.0, dt_s)
        if self.target_n > 0.0 and self._payout_from_m is None:
            return self._force_loop(self.target_n - force_n, dt_s, vz)
        if self._payout_from_m is None or force_n >= self.p.slack_n:
            self._payout_from_m = position_m  # pay out a little more once the line goes slack
        if self._payout_from_m - position_m >= self.p.slack_payout_m:
            self._released = True
            return self._limit(0.0, dt_s, self.p.max_velocity_mps)
        return self._limit(-self.p.pay_out_mps, dt_s, self.p.max_velocity_mps)

    # ---- pieces -------------------------------------------------------------------------------
    def _ramp_target(self, goal_n: float, dt_s: float) -> None:
        step_n = self.p.ramp_n_per_s * dt_s
        change_n = max(-step_n, min(step_n, goal_n - self.target_n))
        self.target_n += change_n
        self._target_rate_n_per_s = change_n / dt_s

    def _average_error(self, error_n: float, dt_s: float) -> None:
        self._error_avg_n += dt_s / (dt_s + ERROR_SMOOTHING_S) * (error_n - self._error_avg_n)

    def _static_hold(self, dt_s: float, error_n: float, position_m: float) -> float | None:
        """Static mode: once on target for a while, hold the winch where it is."""
        settled = self.target_n == self.goal_n and abs(error_n) <= self.p.on_target_tolerance_n
        if self.target_n != self.goal_n:
            self._hold_position_m = None
        if self._hold_position_m is None:
            self._settled_s = self._settled_s + dt_s if settled else 0.0
            if self._settled_s < self.p.static_hold_after_s:
                return None
            self._hold_position_m = position_m
            self._integral_mps = 0.0
        command = self.p.static_position_gain_per_s * (self._hold_position_m - position_m)
        return self._limit(command, dt_s, self.p.max_velocity_mps)

    def _force_loop(self, error_n: float, dt_s: float, vz: float) -> float:
        # the patient's motion, plus the line a ramping target needs (ramp rate / stiffness)
        feedforward = self.p.feedforward_gain * vz + self._target_rate_n_per_s / self.p.line_stiffness_n_per_m
        return self._pi(error_n, dt_s, self.p.max_velocity_mps, feedforward)

    def _pi(self, error_n: float, dt_s: float, max_mps: float, offset_mps: float = 0.0) -> float:
        """PI plus offset, limited; anti-windup: the integral does not grow while a limit
        (velocity, acceleration, force cap) holds the command back in the error's direction."""
        p = self.p
        integral = self._integral_mps + p.ki_mps_per_n_s * error_n * dt_s
        wanted = offset_mps + p.kp_mps_per_n * error_n + integral
        command = self._limit(wanted, dt_s, max_mps)
        if (wanted - command) * error_n <= 1e-12:
            self._integral_mps = integral
        return command

    def _limit(self, command_mps: float, dt_s: float, max_mps: float) -> float:
        """Velocity, acceleration and force-cap limits on a command."""
        p = self.p
        step = p.max_accel_mps2 * dt_s
        command = max(self.command_mps - step, min(self.command_mps + step, command_mps))
        command = max(-max_mps, min(max_mps, command))
        if self._force_n >= CAP_MARGIN * p.force_cap_n:
            command = min(command, 0.0)  # at the cap: the drive yields, we must not pull harder
        return command

    # ---- status ---------------------------------------------------------------------------------
    def on_target(self, tolerance_n: float | None = None) -> bool:
        """The target has reached fraction x body weight and the line force (averaged over
        ~0.3 s, so the gait's swing does not flicker it) is within tolerance of it."""
        tolerance = self.p.on_target_tolerance_n if tolerance_n is None else tolerance_n
        return (self._last_mode == "track" and self.target_n == self.goal_n
                and abs(self._error_avg_n) <= tolerance)

    @property
    def pretensioned(self) -> bool:
        """In "pretension", the line force has stayed near pretension_n for 0.3 s."""
        return self._last_mode == "pretension" and self._settled_s >= 0.3

    @property
    def slack(self) -> bool:
        """The line is slack: below slack_n, and (in "release") the extra line is paid out."""
        if self._last_mode == "release":
            return self._released
        return self._force_n < self.p.slack_n

    @property
    def holding_position(self) -> bool:
        """Static mode has latched the winch position."""
        return self._hold_position_m is not None
