"""Model of the belt VFD (Delta MS300 register subset, DESIGN.md 1.1): what the twin answers.

A plain object with no I/O and no clock of its own: the twin server calls `read`/`write` for each
Modbus request and `step(now_s, dt_s)` from the physics thread. Register addresses come from the
rig config (`belt.registers`), so a remapped drive is a config change for the twin too.

Behaviour: run / stop / direction from the control word; output frequency ramps towards the
command at max_frequency / Pr.01-10 (up) and / Pr.01-11 (down), the motor follows with a
first-order lag; a fault or lost STO makes the motor coast; the comm-loss watchdog (Pr.09-03,
Pr.09-02) reacts like the real drive (CE10). Factory defaults: watchdog off, reaction "none".
"""
from __future__ import annotations

from dataclasses import dataclass

from rig.config import BeltConfig, SimBeltConfig

ILLEGAL_ADDRESS = 2
ILLEGAL_VALUE = 3

FAULT_NONE = 0
FAULT_OC_ACCEL = 1  # ocA: over-current during acceleration
FAULT_OC_CONSTANT = 3  # ocn: over-current at constant speed
FAULT_EXTERNAL = 49  # EF: external fault (used by fault injection)
FAULT_CE10 = 58  # CE10: Modbus transmission time-out
WARNING_CE10 = 58

REACTION_WARN, REACTION_RAMP_STOP, REACTION_COAST, REACTION_NONE = 0, 1, 2, 3
STATUS_STOPPED, STATUS_DECEL, STATUS_STANDBY, STATUS_RUNNING = 0b00, 0b01, 0b10, 0b11
COAST_TIME_CONSTANT_S = 1.5  # belt + motor spinning down on friction alone
OVERCURRENT_TRIP_S = 1.0


@dataclass
class VfdState:
    """Everything the drive remembers; read by tests and the sim's ground truth."""

    run_command: bool = False
    reverse: bool = False
    frequency_command_hz: float = 0.0
    output_hz: float = 0.0  # signed: negative is reverse
    motor_hz: float = 0.0  # signed, lags output_hz
    coasting: bool = False
    fault_code: int = FAULT_NONE
    warning_code: int = 0
    sto_ok: bool = True
    current_a: float = 0.0
    external_load_a: float = 0.0  # from the world model (belt load)
    overcurrent_s: float = 0.0
    last_comm_s: float | None = None
    ce10_stopping: bool = False  # comm loss with "ramp stop": ramping down, CE10 latches at zero


class VfdModel:
    """The drive's behaviour, addressed through its holding registers."""

    def __init__(self, belt: BeltConfig, sim: SimBeltConfig):
        self.regs = belt.registers
        self.max_hz = belt.max_frequency_hz
        self.sim = sim
        self.state = VfdState()
        self.parameter_lock = False  # injected: parameter writes are acknowledged but not stored
        self.params = {  # drive parameters with their factory defaults (raw register units)
            self.regs.accel_time: 1000,
            self.regs.decel_time: 1000,
            self.regs.comm_timeout: 0,
            self.regs.comm_loss_reaction: REACTION_NONE,
        }

    # --- Modbus side -------------------------------------------------------------------------
    def touch(self, now_s: float) -> None:
        """A valid request reached this drive: feed the comm-loss watchdog."""
        self.state.last_comm_s = now_s
        if self.state.warning_code == WARNING_CE10:
            self.state.warning_code = 0

    def read(self, address: int, count: int) -> list[int] | int:
        """Register values, or a Modbus exception code."""
        values = []
        for addr in range(address, address + count):
            value = self._read_one(addr)
            if value is None:
                return ILLEGAL_ADDRESS
            values.append(value & 0xFFFF)
        return values

    def write(self, address: int, values: list[int]) -> int | None:
        """Apply written values; return a Modbus exception code or None."""
        for offset, value in enumerate(values):
            error = self._write_one(address + offset, int(value))
            if error:
                return error
        return None

    def _read_one(self, addr: int) -> int | None:
        s, r = self.state, self.regs
        readers = {
            r.control: lambda: self._control_word(),
            r.frequency_command: lambda: round(s.frequency_command_hz * 100),
            r.fault_control: lambda: 0,
            r.fault_warning: lambda: (s.warning_code << 8) | s.fault_code,
            r.status: lambda: self._status_word(),
            r.frequency_readback: lambda: round(s.frequency_command_hz * 100),
            r.output_frequency: lambda: round(abs(s.output_hz) * 100),
            r.output_current: lambda: round(s.current_a * 100),
            r.motor_speed: lambda: round(abs(s.motor_hz) * 30),  # 4-pole motor
        }
        if addr in readers:
            return readers[addr]()
        return self.params.get(addr)

    def _write_one(self, addr: int, value: int) -> int | None:
        r = self.regs
        if addr == r.control:
            return self._write_control(value)
        if addr == r.frequency_command:
            if value > round(self.max_hz * 100):
                return ILLEGAL_VALUE
            self.state.frequency_command_hz = value / 100.0
            return None
        if addr == r.fault_control:
            if value & 0b10:
                self.reset_fault()
            return None
        if addr in self.params:
            return self._write_param(addr, value)
        return ILLEGAL_ADDRESS

    def _write_param(self, addr: int, value: int) -> int | None:
        r = self.regs
        valid = {
            r.accel_time: 1 <= value <= 60000,
            r.decel_time: 1 <= value <= 60000,
            r.comm_timeout: 0 <= value <= 1000,
            r.comm_loss_reaction: 0 <= value <= 3,
        }
        if not valid[addr]:
            return ILLEGAL_VALUE
        if not self.parameter_lock:
            self.params[addr] = value
        return None

    def _write_control(self, value: int) -> int | None:
        run_bits, dir_bits = value & 0b11, (value >> 4) & 0b11
        if run_bits == 0b01:
            self.state.run_command = False
        elif run_bits == 0b10:
            self.state.run_command = True
        if dir_bits == 0b01:
            self.state.reverse = False
        elif dir_bits == 0b10:
            self.state.reverse = True
        return None

    def _control_word(self) -> int:
        run = 0b10 if self.state.run_command else 0b01
        direction = 0b10 if self.state.reverse else 0b01
        return run | (direction << 4)

    def _status_word(self) -> int:
        s = self.state
        moving = abs(s.output_hz) > 1e-3  # the drive reports its output; a coasting motor is not "running"
        if s.run_command and self._may_run():
            run_state = STATUS_RUNNING if s.frequency_command_hz > 0 else STATUS_STANDBY
        else:
            run_state = STATUS_DECEL if moving else STATUS_STOPPED
        direction = 0b11 if s.output_hz < 0 or (s.output_hz == 0 and s.reverse) else 0b00
        return run_state | (direction << 3)

    # --- faults and the outside world --------------------------------------------------------
    def reset_fault(self) -> None:
        """Fault reset (0x2002 bit 1): clears the fault if its cause has gone."""
        if self.state.sto_ok and self.state.overcurrent_s == 0.0:
            self.state.fault_code = FAULT_NONE
            self.state.ce10_stopping = False
            self.state.run_command = False  # a drive never restarts by itself after a fault

    def inject_fault(self, code: int = FAULT_EXTERNAL) -> None:
        """The drive trips: output off, motor coasts, fault code shown."""
        self.state.fault_code = code
        self.state.run_command = False

    def set_sto(self, ok: bool) -> None:
        """Safe torque off from the safety relay: no torque while False."""
        self.state.sto_ok = ok

    def _may_run(self) -> bool:
        return self.state.fault_code == FAULT_NONE and self.state.sto_ok

    # --- dynamics ------------------------------------------------------------------------------
    def step(self, now_s: float, dt_s: float) -> None:
        """Advance the drive by dt_s (called at the physics rate)."""
        self._check_watchdog(now_s)
        s = self.state
        s.coasting = not self._may_run()
        if s.coasting:
            s.output_hz = 0.0
            s.motor_hz -= s.motor_hz * min(1.0, dt_s / COAST_TIME_CONSTANT_S)
        else:
            self._ramp(dt_s)
            self._latch_ce10_at_zero()
            tau = self.sim.motor_time_constant_s
            s.motor_hz += (s.output_hz - s.motor_hz) * min(1.0, dt_s / tau)
        self._update_current(dt_s)

    def _target_hz(self) -> float:
        s = self.state
        if not s.run_command or s.ce10_stopping:
            return 0.0
        return -s.frequency_command_hz if s.reverse else s.frequency_command_hz

    def _ramp(self, dt_s: float) -> None:
        s = self.state
        target = self._target_hz()
        speeding_up = abs(target) > abs(s.output_hz) and target * s.output_hz >= 0
        ramp_s = self.params[self.regs.accel_time if speeding_up else self.regs.decel_time] / 100.0
        max_step = self.max_hz / ramp_s * dt_s
        s.output_hz += max(-max_step, min(max_step, target - s.output_hz))

    def _update_current(self, dt_s: float) -> None:
        s, sim = self.state, self.sim
        if s.coasting:
            s.current_a = 0.0
            s.overcurrent_s = 0.0  # output off: no over-current left, so a reset is accepted
            return
        accelerating = abs(self._target_hz()) > abs(s.output_hz) + 1e-6
        s.current_a = (sim.no_load_current_a + sim.current_per_hz_a * abs(s.motor_hz)
                       + (sim.accel_current_a if accelerating else 0.0) + s.external_load_a)
        if s.current_a > 1.5 * sim.rated_current_a:
            s.overcurrent_s += dt_s
            if s.overcurrent_s >= OVERCURRENT_TRIP_S:
                self.inject_fault(FAULT_OC_ACCEL if accelerating else FAULT_OC_CONSTANT)
        else:
            s.overcurrent_s = 0.0

    def _check_watchdog(self, now_s: float) -> None:
        s = self.state
        timeout_s = self.params[self.regs.comm_timeout] / 10.0
        if timeout_s <= 0 or s.last_comm_s is None or now_s - s.last_comm_s <= timeout_s:
            return
        reaction = self.params[self.regs.comm_loss_reaction]
        if reaction == REACTION_NONE:
            return
        s.warning_code = WARNING_CE10
        if s.fault_code != FAULT_NONE or reaction == REACTION_WARN:
            return
        s.run_command = False
        if reaction == REACTION_COAST:
            s.fault_code = FAULT_CE10  # output off at once: the motor coasts
        else:
            s.ce10_stopping = True

    def _latch_ce10_at_zero(self) -> None:
        s = self.state
        if s.ce10_stopping and s.output_hz == 0.0:
            s.ce10_stopping = False
            s.fault_code = FAULT_CE10

    @property
    def belt_speed_hz(self) -> float:
        """Signed motor frequency (the belt's speed before the mps_per_hz scale)."""
        return self.state.motor_hz
