"""What the rest of the rig may ask of the harness winch drive, whatever its make (a Protocol).

Sign convention (shared with the simulated world): velocity and position positive = cable
hauled in (line shortened, patient lifted); negative = paying out.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from drivers.modbus_link import LinkHealth

OPERATION_ENABLED = "operation_enabled"
FAULT_STATES = ("fault_reaction_active", "fault")


@dataclass(frozen=True)
class HarnessStatus:
    """One reading of the drive, in SI units."""

    t_s: float
    state: str  # CiA 402 state name, e.g. "operation_enabled", "fault"
    statusword: int
    position_m: float
    velocity_mps: float
    torque_pct: float  # % of rated torque, signed
    force_estimate_n: float  # torque_pct x rated_force_n: the motor's pull on the line
    error_code: int  # 603F, 0 = none
    brake_released: bool  # as the drive's state implies (the safety I/O reads the brake itself)
    at_force_cap: bool  # statusword bit 11: the torque cap is limiting
    target_reached: bool  # statusword bit 10

    @property
    def enabled(self) -> bool:
        return self.state == OPERATION_ENABLED

    @property
    def faulted(self) -> bool:
        return self.state in FAULT_STATES


class HarnessDrive(Protocol):
    """A harness winch servo. Every method raises drivers.errors.DeviceError instead of failing quietly."""

    health: LinkHealth

    def connect(self) -> None:
        """Open the link, zero the velocity, set profile velocity mode and the torque cap, verify both."""

    def close(self) -> None: ...

    def enable(self, timeout_s: float = 1.0) -> HarnessStatus:
        """Walk the drive to operation enabled (brake released) with zero velocity."""

    def disable(self, timeout_s: float = 1.0) -> HarnessStatus:
        """Zero the velocity and switch the power stage off (the brake holds)."""

    def quick_stop(self) -> None:
        """Quick stop: the drive ramps to standstill, then switches off (the brake holds)."""

    def reset_fault(self, timeout_s: float = 1.0) -> HarnessStatus:
        """Fault reset; raises if the drive stays faulted (its cause is still there)."""

    def step_towards(self, goal: str, status: HarnessStatus) -> bool:
        """One non-blocking step towards "enabled" | "disabled" | "fault_cleared"; True once there."""

    def set_velocity(self, velocity_mps: float) -> None:
        """Winch velocity (+ hauls in), clamped to the configured maximum."""

    def forget_command(self) -> None:
        """Write the next velocity even if unchanged (after a link or drive fault)."""

    def read_status(self) -> HarnessStatus: ...
