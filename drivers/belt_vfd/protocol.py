"""What the rest of the rig may ask of a belt drive, whatever its make (a Protocol)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from drivers.modbus_link import LinkHealth


@dataclass(frozen=True)
class BeltStatus:
    """One reading of the drive, in SI units; speeds are signed (negative = reverse)."""

    t_s: float
    run_state: str  # stopped | decelerating | standby | running
    reverse: bool
    command_hz: float
    output_hz: float
    speed_mps: float
    current_a: float
    fault_code: int
    warning_code: int

    @property
    def faulted(self) -> bool:
        return self.fault_code != 0

    @property
    def at_rest(self) -> bool:
        return self.run_state in ("stopped", "standby") and abs(self.output_hz) < 0.05


class BeltDrive(Protocol):
    """A belt VFD. Every method raises drivers.errors.DeviceError instead of failing quietly."""

    health: LinkHealth

    def connect(self) -> None:
        """Open the link, write and verify the comm-loss watchdog and ramp parameters."""

    def close(self) -> None: ...

    def set_speed(self, speed_mps: float) -> None:
        """Run at |speed_mps|, forward if positive, reverse if negative; 0 stops (ramp)."""

    def stop(self) -> None:
        """Ramp to a stop at the drive's deceleration."""

    def set_stop_deceleration(self, decel_mps2: float) -> None:
        """The deceleration of the drive's own stop ramp (normal stop or fast stop)."""

    def reset_fault(self) -> None: ...

    def forget_command(self) -> None:
        """Write the next command even if unchanged (after a fault, the drive may have dropped it)."""

    def read_status(self) -> BeltStatus: ...
