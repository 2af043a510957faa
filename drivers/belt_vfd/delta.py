"""Delta MS300 / C2000 belt VFD over Modbus (DESIGN.md 1.1), addresses from `belt.registers`.

At connect the driver writes the ramp times and the comm-loss watchdog (Pr.09-03 time-out,
Pr.09-02 reaction) and reads them back: a drive whose watchdog is off is refused with fault 302,
because the belt would keep running if the controller died. Commands are written only when
they change; reads keep the drive's watchdog fed.
"""
from __future__ import annotations

import time
from typing import Callable

from drivers.belt_vfd.protocol import BeltStatus
from drivers.errors import DeviceError
from drivers.modbus_link import ModbusLink
from rig.config import BeltConfig
from safety.faults import fault

CONTROL_STOP, CONTROL_RUN_FORWARD, CONTROL_RUN_REVERSE = 0x0001, 0x0012, 0x0022
FAULT_RESET_BIT = 0x0002
RUN_STATES = ("stopped", "decelerating", "standby", "running")
REACTION_CODES = {"ramp_stop": 1, "coast": 2}
REACTION_NONE = 3
IMPLAUSIBLE_MARGIN = 1.1  # readback above 110 % of the drive's maximum cannot be real


class DeltaVfd:
    """The belt drive driver (implements drivers.belt_vfd.protocol.BeltDrive)."""

    def __init__(self, belt: BeltConfig, link: ModbusLink | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.cfg = belt
        self.regs = belt.registers
        self.clock = clock
        self.link = link or ModbusLink(belt.link, "belt drive", fault("belt_comm_lost").code,
                                       fault("belt_comm_rejected").code, clock)
        self.health = self.link.health
        self._last_command: tuple[int, int] | None = None
        self._decel_centi_s: int | None = round(belt.drive_decel_s * 100)  # written at connect

    # --- connect ---------------------------------------------------------------------------
    def connect(self) -> None:
        try:
            self.link.connect()
            self._write_parameters()
        except DeviceError as exc:
            if exc.code == fault("belt_watchdog_disabled").code:
                raise
            raise DeviceError(fault("belt_connect_failed").code, exc.detail) from exc
        self._verify_watchdog()

    def _wanted_parameters(self) -> dict[int, int]:
        c, r = self.cfg, self.regs
        return {
            r.accel_time: round(c.drive_accel_s * 100),
            r.decel_time: round(c.drive_decel_s * 100),
            r.comm_timeout: round(c.comm_timeout_s * 10),
            r.comm_loss_reaction: REACTION_CODES[c.comm_loss_reaction],
        }

    def _write_parameters(self) -> None:
        for address, value in self._wanted_parameters().items():
            self.link.write_register(address, value)

    def _verify_watchdog(self) -> None:
        r = self.regs
        timeout = self.link.read_holding(r.comm_timeout, 1)[0]
        reaction = self.link.read_holding(r.comm_loss_reaction, 1)[0]
        if timeout == 0 or reaction == REACTION_NONE:
            raise DeviceError(fault("belt_watchdog_disabled").code,
                              f"belt drive reads back Pr.09-03={timeout} Pr.09-02={reaction}: "
                              "belt drive comm-loss stop is disabled")
        for address, value in self._wanted_parameters().items():
            got = self.link.read_holding(address, 1)[0]
            if got != value:
                raise DeviceError(fault("belt_comm_rejected").code,
                                  f"belt drive parameter 0x{address:04X} reads back {got}, wrote {value}")

    def close(self) -> None:
        self.link.close()

    # --- commands --------------------------------------------------------------------------
    def set_speed(self, speed_mps: float) -> None:
        hz = min(abs(speed_mps) / self.cfg.mps_per_hz, self.cfg.max_frequency_hz)
        centi_hz = round(hz * 100)
        if centi_hz == 0:
            control = CONTROL_STOP
        else:
            control = CONTROL_RUN_REVERSE if speed_mps < 0 else CONTROL_RUN_FORWARD
        self._command(centi_hz, control)

    def stop(self) -> None:
        self._command(0, CONTROL_STOP)

    def set_stop_deceleration(self, decel_mps2: float) -> None:
        """The ramp the drive stops at (Pr.01-11, time from maximum frequency to 0), if changed.

        The drive ramps every stop itself, including its comm-loss stop: the controller keeps the
        fast-stop deceleration in it and writes the gentler one only for a normal stop.
        """
        full_scale_mps = self.cfg.max_frequency_hz * self.cfg.mps_per_hz
        centi_s = max(1, min(60000, round(full_scale_mps / decel_mps2 * 100)))
        if centi_s == self._decel_centi_s:
            return
        self._decel_centi_s = None  # unknown until the write succeeds
        self.link.write_register(self.regs.decel_time, centi_s)
        self._decel_centi_s = centi_s

    def _command(self, centi_hz: int, control: int) -> None:
        """Write what changed: the frequency alone during a ramp, else both in one request
        when the map has them adjacent (control word first, as the Delta map does)."""
        last, r = self._last_command, self.regs
        if last == (centi_hz, control):
            return
        self._last_command = None  # unknown until the writes succeed
        if last is not None and last[1] == control:
            self.link.write_register(r.frequency_command, centi_hz)
        elif r.frequency_command == r.control + 1:
            self.link.write_registers(r.control, [control, centi_hz])
        else:
            self.link.write_register(r.frequency_command, centi_hz)
            self.link.write_register(r.control, control)
        self._last_command = (centi_hz, control)

    def reset_fault(self) -> None:
        self.link.write_register(self.regs.fault_control, FAULT_RESET_BIT)
        self._last_command = None

    def forget_command(self) -> None:
        """Make the next command be written even if unchanged (after a link or drive fault)."""
        self._last_command = None
        self._decel_centi_s = None

    # --- status ----------------------------------------------------------------------------
    def read_status(self) -> BeltStatus:
        r = self.regs
        block = self.link.read_holding(r.fault_warning, r.output_current - r.fault_warning + 1)
        fault_word, status, command, output, current = (block[a - r.fault_warning] for a in (
            r.fault_warning, r.status, r.frequency_readback, r.output_frequency, r.output_current))
        return self._decode(fault_word, status, command, output, current)

    def read_motor_rpm(self) -> int:
        """Motor speed from the drive (diagnostics; not part of the regular poll)."""
        return self.link.read_holding(self.regs.motor_speed, 1)[0]

    def _decode(self, fault_word: int, status: int, command: int, output: int,
                current: int) -> BeltStatus:
        reverse = ((status >> 3) & 0b11) == 0b11
        output_hz = output / 100.0
        if output_hz > self.cfg.max_frequency_hz * IMPLAUSIBLE_MARGIN:
            raise DeviceError(fault("belt_speed_implausible").code,
                              f"belt drive output frequency reads {output_hz:.2f} Hz, "
                              f"above its maximum {self.cfg.max_frequency_hz} Hz")
        signed_hz = -output_hz if reverse else output_hz
        return BeltStatus(
            t_s=self.clock(), run_state=RUN_STATES[status & 0b11], reverse=reverse,
            command_hz=command / 100.0, output_hz=signed_hz,
            speed_mps=signed_hz * self.cfg.mps_per_hz, current_a=current / 100.0,
            fault_code=fault_word & 0xFF, warning_code=fault_word >> 8,
        )
