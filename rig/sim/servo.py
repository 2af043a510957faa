"""Model of the harness servo drive (CiA 402 over Modbus holding registers, DESIGN.md 1.2).

A plain object with no I/O and no clock of its own, like rig/sim/vfd.py: the twin server calls
`touch`/`read`/`write` per Modbus request, the physics calls `step(now_s, dt_s)`. Addresses come
from `harness.registers`; 32-bit objects are two registers, HIGH word first.

What it does: the CiA 402 power state machine driven by the controlword (commands evaluated
when the controlword is written; fault reset on the rising edge of bit 7), the statusword of
each state (IEC 61800-7-201 patterns), profile velocity mode only (6060 = 3, anything else is
exception 3), the 6072 torque cap, error code 603F, STO from the safety relay (lost while the
power stage is on -> fault), its own comm-loss watchdog (no request for `comm_timeout_s` while
the power stage is on -> fault 0x8130), and a spring-applied brake that is released only while
the power stage is on (operation enabled, or quick stop active while it ramps down) and STO ok.

What it does not do: cable, drum and spring physics. It exposes what the world needs
(`velocity_command_mps`, `enabled`, `brake_released`, `force_limit_n`, `sto_ok`) and takes
what the world computes (`set_actuals`). Until a world calls `set_actuals`, a minimal fallback
(velocity follows the command within an acceleration limit, no load) keeps it testable alone.
The statusword constants are deliberately not shared with the driver: an independent twin.
Sign: velocity positive = hauling cable in (the world's convention).
"""
from __future__ import annotations

from dataclasses import dataclass

from rig.config import HarnessConfig

ILLEGAL_ADDRESS = 2
ILLEGAL_VALUE = 3

MODE_PROFILE_VELOCITY = 3
MAX_TORQUE_LIMIT = 3000  # 6072 accepts 0..300.0 % rated
FACTORY_MAX_TORQUE = 3000

ERROR_NONE = 0x0000
ERROR_EXTERNAL = 0x9000  # CiA 301 emergency: external error (used by fault injection)
ERROR_COMM_LOSS = 0x8130  # CiA 301: life guard / heartbeat error
ERROR_STO = 0xFF02  # manufacturer-specific: STO opened while the power stage was on

NOT_READY, SWITCH_ON_DISABLED, READY, SWITCHED_ON = (
    "not_ready_to_switch_on", "switch_on_disabled", "ready_to_switch_on", "switched_on")
OPERATION_ENABLED, QUICK_STOP_ACTIVE, FAULT_REACTION_ACTIVE, FAULT = (
    "operation_enabled", "quick_stop_active", "fault_reaction_active", "fault")

# statusword bits 0-6 of each state: ready, switched on, op enabled, fault, voltage, quick stop (1 = off), SOD
STATE_BITS = {
    NOT_READY: 0x0000, SWITCH_ON_DISABLED: 0x0040, READY: 0x0031, SWITCHED_ON: 0x0033,
    OPERATION_ENABLED: 0x0037, QUICK_STOP_ACTIVE: 0x0017, FAULT_REACTION_ACTIVE: 0x001F, FAULT: 0x0008,
}
BIT_REMOTE, BIT_TARGET_REACHED, BIT_INTERNAL_LIMIT, BIT_SPEED_ZERO = 0x0200, 0x0400, 0x0800, 0x1000
POWERED = (OPERATION_ENABLED, QUICK_STOP_ACTIVE)

STANDSTILL_MPS = 0.005
TARGET_WINDOW_MPS = 0.01
FAULT_REACTION_S = 0.01  # brake drops, power stage off, then "fault"
DRIVE_MAX_VELOCITY_MPS = 2.0  # the drive's own profile-velocity ceiling


@dataclass
class ServoState:
    """Everything the drive remembers; read by tests and the sim's ground truth."""

    state: str = NOT_READY
    controlword: int = 0
    mode: int = 0
    target_counts: int = 0  # 60FF, signed
    max_torque: int = FACTORY_MAX_TORQUE  # 6072, 0.1 % rated
    error_code: int = ERROR_NONE
    sto_ok: bool = True
    position_m: float = 0.0
    velocity_mps: float = 0.0
    line_force_n: float = 0.0
    motor_force_n: float = 0.0
    boot_elapsed_s: float = 0.0
    reaction_elapsed_s: float = 0.0
    last_comm_s: float | None = None
    world_attached: bool = False


class ServoModel:
    """The drive's behaviour, addressed through its holding registers."""

    def __init__(self, harness: HarnessConfig, boot_s: float = 0.05, comm_timeout_s: float = 0.5,
                 fallback_accel_mps2: float = 2.0, quick_stop_decel_mps2: float = 4.0):
        self.cfg = harness
        self.regs = harness.registers
        self.boot_s = boot_s
        self.comm_timeout_s = comm_timeout_s  # 0 disables the drive's comm-loss watchdog
        self.fallback_accel_mps2 = fallback_accel_mps2
        self.quick_stop_decel_mps2 = quick_stop_decel_mps2
        self.state = ServoState()
        self.parameter_lock = False  # injected: 6072 writes acknowledged but not stored
        self.statusword_override: int | None = None  # injected: garbage statusword on the wire
        self.fault_cause_present = False  # injected: a fault reset will not clear the fault
        self.accepted_modes: tuple[int, ...] = (MODE_PROFILE_VELOCITY,)  # () = a drive without pv mode

    def clear_fault_cause(self) -> None:
        """The injected persistent fault's cause is gone: a fault reset will now work."""
        self.fault_cause_present = False

    # --- Modbus side -------------------------------------------------------------------------
    def touch(self, now_s: float) -> None:
        """A valid request reached this drive: feed the comm-loss watchdog."""
        self.state.last_comm_s = now_s

    def read(self, address: int, count: int) -> list[int] | int:
        """Register values, or a Modbus exception code."""
        image = self._register_image()
        values = []
        for addr in range(address, address + count):
            if addr not in image:
                return ILLEGAL_ADDRESS
            values.append(image[addr] & 0xFFFF)
        return values

    def write(self, address: int, values: list[int]) -> int | None:
        """Apply written values; return a Modbus exception code or None."""
        r = self.regs
        if address == r.target_velocity and len(values) >= 2:  # the usual 32-bit write in one go
            self.state.target_counts = _signed32(values[0], values[1])
            address, values = address + 2, values[2:]
        for offset, value in enumerate(values):
            error = self._write_one(address + offset, int(value) & 0xFFFF)
            if error:
                return error
        return None

    def _register_image(self) -> dict[int, int]:
        s, r = self.state, self.regs
        image = {
            r.controlword: s.controlword,
            r.statusword: self.statusword,
            r.mode_of_operation: s.mode,
            r.torque_actual: round(self.torque_pct * 10),
            r.max_torque: s.max_torque,
            r.error_code: s.error_code,
        }
        for addr, value in ((r.target_velocity, s.target_counts),
                            (r.position_actual, round(s.position_m / self.cfg.position_m_per_count)),
                            (r.velocity_actual, round(s.velocity_mps / self.cfg.velocity_mps_per_count))):
            image[addr], image[addr + 1] = _split32(value)
        return image

    def _write_one(self, addr: int, value: int) -> int | None:
        s, r = self.state, self.regs
        if addr == r.controlword:
            self._write_controlword(value)
        elif addr == r.mode_of_operation:
            if value not in self.accepted_modes:
                return ILLEGAL_VALUE
            s.mode = value
        elif addr in (r.target_velocity, r.target_velocity + 1):
            high, low = _split32(s.target_counts)
            high, low = (value, low) if addr == r.target_velocity else (high, value)
            s.target_counts = _signed32(high, low)
        elif addr == r.max_torque:
            if value > MAX_TORQUE_LIMIT:
                return ILLEGAL_VALUE
            if not self.parameter_lock:
                s.max_torque = value
        else:
            return ILLEGAL_ADDRESS  # unknown, or a read-only object
        return None

    # --- the CiA 402 state machine ------------------------------------------------------------
    def _write_controlword(self, value: int) -> None:
        s = self.state
        rising_reset = bool(value & 0x0080) and not s.controlword & 0x0080
        s.controlword = value
        if s.state == FAULT:
            if rising_reset:
                self._try_fault_reset()
            return
        target = self._command_target(value)
        if target is not None:
            s.state = target

    def _command_target(self, cw: int) -> str | None:
        """Transitions 2-12 of IEC 61800-7-201 for the command in `cw`, or None (no change)."""
        state = self.state.state
        if state in (NOT_READY, FAULT_REACTION_ACTIVE, FAULT) or cw & 0x0080:
            return None
        if cw & 0x0082 == 0x0000:  # disable voltage
            return SWITCH_ON_DISABLED
        if cw & 0x0086 == 0x0002:  # quick stop
            return QUICK_STOP_ACTIVE if state == OPERATION_ENABLED else (
                None if state == QUICK_STOP_ACTIVE else SWITCH_ON_DISABLED)
        if state == QUICK_STOP_ACTIVE:
            return None  # quick stop option 2: finishes the ramp, then switch on disabled
        if cw & 0x0087 == 0x0006:  # shutdown
            return READY if self.state.sto_ok else None
        if cw & 0x008F == 0x0007 and state in (READY, OPERATION_ENABLED):  # switch on / disable op
            return SWITCHED_ON
        if cw & 0x008F == 0x000F and state == SWITCHED_ON:  # enable operation
            return OPERATION_ENABLED
        return None

    def _try_fault_reset(self) -> None:
        s = self.state
        if not s.sto_ok or self.fault_cause_present:
            return  # the cause is still there: the fault stays
        s.error_code = ERROR_NONE
        s.state = SWITCH_ON_DISABLED

    @property
    def statusword(self) -> int:
        """6041 as the drive reports it now."""
        if self.statusword_override is not None:
            return self.statusword_override
        s = self.state
        word = STATE_BITS[s.state] | BIT_REMOTE
        if abs(s.velocity_mps) < STANDSTILL_MPS:
            word |= BIT_SPEED_ZERO
        if abs(s.velocity_mps - self.velocity_command_mps) < TARGET_WINDOW_MPS:
            word |= BIT_TARGET_REACHED
        if s.state in POWERED and abs(s.motor_force_n) >= self.force_limit_n * 0.999:
            word |= BIT_INTERNAL_LIMIT
        return word

    # --- faults and the outside world --------------------------------------------------------
    def inject_fault(self, error_code: int = ERROR_EXTERNAL, persistent: bool = False) -> None:
        """The drive trips: fault reaction (brake drops, power off), then fault.

        A persistent fault keeps its cause (fault reset is refused) until `clear_fault_cause()`.
        """
        s = self.state
        s.error_code = error_code
        self.fault_cause_present = self.fault_cause_present or persistent
        if s.state not in (FAULT_REACTION_ACTIVE, FAULT):
            s.state = FAULT_REACTION_ACTIVE
            s.reaction_elapsed_s = 0.0

    def set_sto(self, ok: bool) -> None:
        """Safe torque off from the safety relay: no torque while False; lost while powered = fault."""
        s = self.state
        s.sto_ok = ok
        if ok:
            return
        if s.state in POWERED:
            self.inject_fault(ERROR_STO)
        elif s.state in (READY, SWITCHED_ON):
            s.state = SWITCH_ON_DISABLED

    def set_actuals(self, position_m: float, velocity_mps: float, line_force_n: float,
                    motor_force_n: float | None = None) -> None:
        """What the world computed this step; from the first call on, the fallback is off."""
        s = self.state
        s.world_attached = True
        s.position_m, s.velocity_mps, s.line_force_n = position_m, velocity_mps, line_force_n
        s.motor_force_n = line_force_n if motor_force_n is None else motor_force_n

    @property
    def enabled(self) -> bool:
        """The power stage is on (operation enabled, or quick stop ramping down)."""
        return self.state.state in POWERED and self.state.sto_ok

    @property
    def brake_released(self) -> bool:
        """The spring-applied brake is lifted only while the power stage holds the load."""
        return self.enabled

    @property
    def sto_ok(self) -> bool:
        return self.state.sto_ok

    @property
    def velocity_command_mps(self) -> float:
        """What the drive's velocity loop is asked for (0 unless operation enabled in mode 3)."""
        s = self.state
        if s.state != OPERATION_ENABLED or s.mode != MODE_PROFILE_VELOCITY or not s.sto_ok:
            return 0.0
        v = s.target_counts * self.cfg.velocity_mps_per_count
        return max(-DRIVE_MAX_VELOCITY_MPS, min(DRIVE_MAX_VELOCITY_MPS, v))

    @property
    def force_limit_n(self) -> float:
        """The 6072 torque cap as line force."""
        return self.state.max_torque / 1000.0 * self.cfg.rated_force_n

    @property
    def torque_pct(self) -> float:
        """6077 torque actual, % rated (0 without power)."""
        if not self.enabled:
            return 0.0
        return 100.0 * self.state.motor_force_n / self.cfg.rated_force_n

    # --- dynamics ------------------------------------------------------------------------------
    def step(self, now_s: float, dt_s: float) -> None:
        """Advance the drive by dt_s (called at the physics rate)."""
        s = self.state
        if s.state == NOT_READY:
            s.boot_elapsed_s += dt_s
            if s.boot_elapsed_s >= self.boot_s:
                s.state = SWITCH_ON_DISABLED
        self._check_watchdog(now_s)
        if s.state == FAULT_REACTION_ACTIVE:
            s.reaction_elapsed_s += dt_s
            if s.reaction_elapsed_s >= FAULT_REACTION_S:
                s.state = FAULT
        if not s.world_attached:
            self._fallback_motion(dt_s)
        if s.state == QUICK_STOP_ACTIVE and abs(s.velocity_mps) < STANDSTILL_MPS:
            s.state = SWITCH_ON_DISABLED  # quick stop finished: power off, brake drops

    def _check_watchdog(self, now_s: float) -> None:
        s = self.state
        if self.comm_timeout_s <= 0 or s.last_comm_s is None or s.state not in POWERED:
            return
        if now_s - s.last_comm_s > self.comm_timeout_s:
            self.inject_fault(ERROR_COMM_LOSS)

    def _fallback_motion(self, dt_s: float) -> None:
        """No world attached: an unloaded drum following the command within an acceleration limit."""
        s = self.state
        if not self.brake_released:
            s.velocity_mps = 0.0
            return
        accel = self.quick_stop_decel_mps2 if s.state == QUICK_STOP_ACTIVE else self.fallback_accel_mps2
        dv = accel * dt_s
        s.velocity_mps += max(-dv, min(dv, self.velocity_command_mps - s.velocity_mps))
        s.position_m += s.velocity_mps * dt_s


def _split32(value: int) -> tuple[int, int]:
    raw = value & 0xFFFFFFFF
    return raw >> 16, raw & 0xFFFF


def _signed32(high: int, low: int) -> int:
    raw = ((high & 0xFFFF) << 16) | (low & 0xFFFF)
    return raw - (1 << 32) if raw & 0x80000000 else raw
