"""Harness: servo winch drum, cable, series-elastic element and spring-applied brake.

The line runs from the drum through the series-elastic element (spring + some damping) to the
patient's pelvis. Its stretch is `winch_position_m - com_z_m + preload`, where
`winch_position_m` is cable HAULED IN (positive = line shortened, patient lifted; velocity
positive = hauling in) and `com_z_m` the patient's centre of mass height relative to quiet
standing. Line force = spring (+ damper while taut), never negative: a slack line carries 0.

The drive runs profile velocity: the reference follows the command within an acceleration
limit, a PI velocity loop produces the motor force, capped by the torque limit the drive was
given (and the drive's own maximum); when the cap is reached the drum yields. The spring-
applied brake holds the drum whenever the drive is not enabled, the brake is not released or
STO is off.

Not here: the CiA 402 state machine and registers (the servo twin), the force control loop
(controllers/).
"""
from __future__ import annotations

from rig.sim.worldconfig import HarnessConfig


class Harness:
    """Winch + line, stepped on virtual time."""

    def __init__(self, cfg: HarnessConfig):
        self._k = cfg.stiffness_n_per_m
        self._c = cfg.damping_n_s_per_m
        self._mass = cfg.drum_mass_kg
        self._kv = cfg.velocity_gain_n_s_per_m
        self._ki = cfg.velocity_integral_n_per_m
        self._accel = cfg.accel_limit_mps2
        self._rated = cfg.rated_force_n
        self._drive_max = cfg.max_force_n
        self._preload_m = cfg.initial_line_force_n / cfg.stiffness_n_per_m
        self.position_m = 0.0
        self.velocity_mps = 0.0
        self.motor_force_n = 0.0
        self.line_force_n = cfg.initial_line_force_n
        self.attached = True
        self.brake_engaged = True
        self._ref_mps = 0.0
        self._integral_n = 0.0
        # (velocity_cmd_mps, enabled, brake_released, force_limit_n, torque_available)
        self.command: tuple[float, bool, bool, float, bool] = (0.0, False, False, 0.0, False)

    @property
    def torque_pct(self) -> float:
        return 100.0 * self.motor_force_n / self._rated

    def line_force(self, com_z_m: float, com_vz_mps: float) -> float:
        """Spring (+ damper) force for the patient's current height; caches it in line_force_n."""
        stretch = self.position_m - com_z_m + self._preload_m
        force = 0.0
        if self.attached and stretch > 0.0:
            force = self._k * stretch + self._c * (self.velocity_mps - com_vz_mps)
            if force < 0.0:
                force = 0.0
        self.line_force_n = force
        return force

    def step(self, dt: float, line_force_n: float) -> None:
        """Advance the drum by dt under the current command and line load."""
        v_cmd, enabled, released, limit_n, torque_ok = self.command
        if not (enabled and released and torque_ok):
            self._hold(line_force_n)
            return
        self.brake_engaged = False
        ref = self._ref_mps
        dv = self._accel * dt
        ref += max(-dv, min(dv, v_cmd - ref))
        self._ref_mps = ref
        cap = min(limit_n, self._drive_max)
        err = ref - self.velocity_mps
        force = self._kv * err + self._integral_n
        if -cap < force < cap:
            self._integral_n += self._ki * err * dt  # anti-windup: integrate only unsaturated
        else:
            force = cap if force > 0.0 else -cap
        self.motor_force_n = force
        self.velocity_mps += dt * (force - line_force_n) / self._mass
        self.position_m += self.velocity_mps * dt

    def _hold(self, line_force_n: float) -> None:
        # brake holds; the servo's integrator is preloaded with the line force so that
        # releasing the brake does not drop the patient (bumpless brake release)
        self.brake_engaged = True
        self.velocity_mps = 0.0
        self.motor_force_n = 0.0
        self._ref_mps = 0.0
        self._integral_n = line_force_n
