"""Treadmill belt: motor + belt inertia, friction, slip, and the patient's feet on it.

The drive (the VFD twin) supplies the synchronous speed (output frequency x mps_per_hz) and
whether torque is available (STO). With torque the motor is a stiff speed source: its force
grows with slip, `force = rated_force x slip / rated_slip`, up to the drive's current limit.
Without torque the belt coasts down on friction. A held belt (`held = True`) does not move and
the motor pushes at its current limit: the load the VFD twin turns into a stall / overcurrent.

`load_n` is the tangential force the motor supplies (positive in the direction of running),
for the drive's current model. Not here: ramps, the register map, faults (the VFD twin).
"""
from __future__ import annotations

from rig.sim.worldconfig import BeltConfig


class Belt:
    """One belt, stepped on virtual time. Speed positive = surface moving backwards (forward walking)."""

    def __init__(self, cfg: BeltConfig):
        self._mass = cfg.equivalent_mass_kg
        self._slip_gain = cfg.rated_force_n / cfg.rated_slip_mps  # N per m/s of slip
        self._max_force = cfg.max_force_n
        self._coulomb = cfg.friction_n
        self._viscous = cfg.viscous_n_s_per_m
        self._bed_mu = cfg.bed_friction_coeff
        self.speed_mps = 0.0
        self.position_m = 0.0  # surface travel since start
        self.load_n = 0.0
        self.sync_mps = 0.0
        self.torque_available = False
        self.held = False

    def step(self, dt: float, deck_load_n: float, feet_drag_n: float) -> None:
        """Advance by dt. `feet_drag_n`: force of the feet on the belt opposing its motion."""
        v = self.speed_mps
        sync = self.sync_mps
        if self.held:
            self.speed_mps = 0.0
            push = self._slip_gain * sync if self.torque_available else 0.0
            self.load_n = max(-self._max_force, min(self._max_force, push))
            return
        direction = v if v != 0.0 else (sync if self.torque_available else 0.0)
        sign = 1.0 if direction > 0.0 else (-1.0 if direction < 0.0 else 0.0)
        resist = sign * (self._coulomb + self._bed_mu * deck_load_n) + self._viscous * v + feet_drag_n
        if self.torque_available:
            v, force = self._driven(dt, v, sync, resist)
        else:
            force = 0.0
            if v != 0.0:  # coasting; Coulomb friction holds it once stopped
                v_new = v - dt * resist / self._mass
                v = v_new if v_new * v > 0.0 else 0.0
        self.speed_mps = v
        self.load_n = force
        self.position_m += v * dt

    def _driven(self, dt: float, v: float, sync: float, resist: float) -> tuple[float, float]:
        # implicit in the slip force so that a stiff motor is stable at any step
        k, m = self._slip_gain, self._mass
        v_new = (m * v + dt * (k * sync - resist)) / (m + dt * k)
        force = k * (sync - v_new)
        if abs(force) > self._max_force:
            force = self._max_force if force > 0.0 else -self._max_force
            v_new = v + dt * (force - resist) / m
        return v_new, force
