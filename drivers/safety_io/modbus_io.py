"""Safety I/O module (ADAM-4051 class) over Modbus: discrete inputs and coils (DESIGN.md 1.3).

`read_inputs()` reads every configured input in one FC 02 transaction. `toggle_heartbeat()`
writes the opposite of the coil's last written value (FC 05) on every call; after a failed
write the same new value is written again, so each successful write is a real toggle for the
module's watchdog. `set_beacon()` writes only on change.

The inputs are checked against what the safety relay can physically show: STO feedback with an
e-stop pressed or the key out (a welded relay or a wiring fault), or the winch brake released
while the drives have no STO, is fault 124 once it has lasted `IMPLAUSIBLE_FOR_S` (a relay
drops out and a spring brake engages in tens of milliseconds, so a single reading in between
is normal). Link failures are 121 / 122 (123 at connect).
Not here: deciding what the inputs mean for the session (safety/).
"""
from __future__ import annotations

import time
from typing import Callable

from drivers.errors import CommsError, DeviceError, DeviceRejected
from drivers.modbus_link import ModbusLink
from drivers.safety_io.protocol import SafetyInputs
from rig.config import SafetyIoConfig
from safety.faults import fault

IMPLAUSIBLE_FOR_S = 0.1
INPUT_FIELDS = ("estop_closed", "key_present", "harness_attached", "drives_enabled", "brake_released")


class ModbusSafetyIo:
    """The safety I/O driver (implements drivers.safety_io.protocol.SafetyIo)."""

    def __init__(self, cfg: SafetyIoConfig, link: ModbusLink | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.cfg = cfg
        self.clock = clock
        self.link = link or ModbusLink(cfg.link, "safety I/O", fault("safety_io_comm_lost").code,
                                       fault("safety_io_comm_rejected").code, clock)
        self.health = self.link.health
        self._addresses = {name: getattr(cfg, f"input_{name}") for name in INPUT_FIELDS}
        self._first_input = min(self._addresses.values())
        self._input_count = max(self._addresses.values()) - self._first_input + 1
        self._heartbeat = False
        self._beacon: bool | None = None
        self._implausible_since_s: float | None = None

    def connect(self) -> None:
        try:
            self.link.connect()
            self._heartbeat = self.link.read_coils(self.cfg.coil_heartbeat, 1)[0]
            self.read_inputs()
        except (CommsError, DeviceRejected) as exc:
            raise DeviceError(fault("safety_io_connect_failed").code, exc.detail) from exc

    def close(self) -> None:
        self.link.close()

    def read_inputs(self) -> SafetyInputs:
        bits = self.link.read_discrete_inputs(self._first_input, self._input_count)
        values = {name: bits[address - self._first_input] for name, address in self._addresses.items()}
        inputs = SafetyInputs(t_s=self.clock(), **values)
        self._check_plausible(inputs)
        return inputs

    def toggle_heartbeat(self) -> None:
        value = not self._heartbeat
        self.link.write_coil(self.cfg.coil_heartbeat, value)
        self._heartbeat = value

    def set_beacon(self, on: bool) -> None:
        if self._beacon == on:
            return
        self._beacon = None  # unknown until the write succeeds
        self.link.write_coil(self.cfg.coil_beacon, on)
        self._beacon = on

    def _check_plausible(self, inputs: SafetyInputs) -> None:
        problems = self.implausible(inputs)
        if not problems:
            self._implausible_since_s = None
            return
        if self._implausible_since_s is None:
            self._implausible_since_s = inputs.t_s
        if inputs.t_s - self._implausible_since_s >= IMPLAUSIBLE_FOR_S:
            raise DeviceError(fault("safety_io_inputs_implausible").code,
                              f"safety I/O inputs {inputs}: " + "; ".join(problems))

    @staticmethod
    def implausible(inputs: SafetyInputs) -> list[str]:
        """What in these inputs the safety relay cannot show (empty if all is consistent)."""
        problems = []
        if inputs.drives_enabled and not (inputs.estop_closed and inputs.key_present):
            problems.append("drives enabled (STO feedback) while an e-stop is pressed or the key is out")
        if inputs.brake_released and not inputs.drives_enabled:
            problems.append("winch brake released while the drives have no STO")
        return problems
