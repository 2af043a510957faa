"""What the rest of the rig may ask of the safety I/O module, whatever its make (a Protocol).

The module only reports the hardware safety chain and carries the controller's heartbeat; the
chain itself makes the rig safe without software (DESIGN.md 1).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from drivers.modbus_link import LinkHealth


@dataclass(frozen=True)
class SafetyInputs:
    """One reading of the module's inputs."""

    t_s: float
    estop_closed: bool  # every e-stop button released
    key_present: bool
    harness_attached: bool
    drives_enabled: bool  # the safety relay's STO feedback: the chain is closed and reset
    brake_released: bool

    @property
    def chain_ok(self) -> bool:
        """The drives may have torque: e-stops released, key in, relay closed."""
        return self.estop_closed and self.key_present and self.drives_enabled


class SafetyIo(Protocol):
    """A safety I/O module. Every method raises drivers.errors.DeviceError instead of failing quietly."""

    health: LinkHealth

    def connect(self) -> None:
        """Open the link, learn the heartbeat coil's state, read the inputs once."""

    def close(self) -> None: ...

    def read_inputs(self) -> SafetyInputs: ...

    def toggle_heartbeat(self) -> None:
        """Flip the controller-alive coil (call every loop tick)."""

    def set_beacon(self, on: bool) -> None: ...
