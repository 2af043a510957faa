"""Harness winch servo driven through the CiA 402 profile mapped on Modbus registers (DESIGN.md 1.2).

At connect the driver zeroes the target velocity (a drive left enabled by an earlier run must
not keep hauling), selects profile velocity mode (6060 = 3) and writes the torque cap (6072
from `harness.max_torque_pct`), reading both back: a drive that refuses either is refused
(faults 406, 405). `enable()` walks the CiA 402 state machine one documented transition at a
time (shutdown -> switch on -> enable operation), `disable()` walks it back, `reset_fault()`
gives bit 7 a rising edge; each walk is bounded in time and in transactions. Velocities are in
m/s of cable, clamped to `harness.max_velocity_mps`, written (32-bit, high word first) only when
they change. `read_status()` reads statusword, position and velocity (contiguous objects in one
transaction), the error code when the statusword flags a fault or warning, and the torque on
the first read and then on every `round(poll_hz / torque_poll_hz)`-th (10 Hz by default: only
its plausibility check and the force estimate use it, and each read is a wake-up of the I/O
thread); between those reads the status carries the last torque read.

A statusword that matches no CiA 402 state is fault 402; readbacks the winch cannot have
(speed far above its maximum, torque above the cap it was given, position far outside its
travel) are fault 404. Link failures are 111 / 112 (113 at connect), from ModbusLink.
Not here: the force loop (controllers/), judging the status (safety/).
"""
from __future__ import annotations

import math
import time
from typing import Callable

from drivers.errors import CommsError, DeviceError, DeviceRejected
from drivers.harness_servo.protocol import OPERATION_ENABLED, HarnessStatus
from drivers.modbus_link import ModbusLink
from rig.config import HarnessConfig
from safety.faults import fault

# (state, mask, value) from IEC 61800-7-201 / CiA 402, statusword bits 0-6
STATE_PATTERNS = (
    ("not_ready_to_switch_on", 0x004F, 0x0000),
    ("switch_on_disabled", 0x004F, 0x0040),
    ("ready_to_switch_on", 0x006F, 0x0021),
    ("switched_on", 0x006F, 0x0023),
    ("operation_enabled", 0x006F, 0x0027),
    ("quick_stop_active", 0x006F, 0x0007),
    ("fault_reaction_active", 0x004F, 0x000F),
    ("fault", 0x004F, 0x0008),
)
POWERED_STATES = ("operation_enabled", "quick_stop_active")
CW_DISABLE_VOLTAGE, CW_QUICK_STOP, CW_SHUTDOWN = 0x0000, 0x0002, 0x0006
CW_SWITCH_ON, CW_ENABLE_OPERATION, CW_FAULT_RESET = 0x0007, 0x000F, 0x0080
ENABLE_STEPS = {"switch_on_disabled": CW_SHUTDOWN, "ready_to_switch_on": CW_SWITCH_ON,
                "switched_on": CW_ENABLE_OPERATION}
SW_FAULT, SW_WARNING, SW_TARGET_REACHED, SW_INTERNAL_LIMIT = 0x0008, 0x0080, 0x0400, 0x0800
MODE_PROFILE_VELOCITY = 3
POLL_S = 0.005  # between state reads while walking the state machine
IMPLAUSIBLE_VELOCITY_FACTOR = 5.0  # x max_velocity_mps: faster than a falling patient pulls the line
IMPLAUSIBLE_TORQUE_MARGIN_PCT = 5.0  # above the cap by more than this: the cap is not working
IMPLAUSIBLE_TRAVEL_MARGIN_M = 1.0  # this far outside the travel: encoder or scale is wrong


def cia402_state(statusword: int) -> str | None:
    """The CiA 402 state a statusword shows, or None if it matches none."""
    for name, mask, value in STATE_PATTERNS:
        if statusword & mask == value:
            return name
    return None


def decode_signed32(high: int, low: int) -> int:
    """Two registers, high word first, as a signed 32-bit value."""
    raw = ((high & 0xFFFF) << 16) | (low & 0xFFFF)
    return raw - (1 << 32) if raw & 0x80000000 else raw


def encode_signed32(value: int) -> list[int]:
    """A signed 32-bit value as two registers, high word first."""
    raw = value & 0xFFFFFFFF
    return [raw >> 16, raw & 0xFFFF]


def decode_signed16(value: int) -> int:
    return value - 0x10000 if value & 0x8000 else value


def read_plan(fields: dict[str, tuple[int, int]]) -> list[tuple[int, int, list[str]]]:
    """Group (address, count) fields into contiguous reads: [(address, count, field names)]."""
    plan: list[tuple[int, int, list[str]]] = []
    for name, (address, count) in sorted(fields.items(), key=lambda item: item[1][0]):
        if plan and plan[-1][0] + plan[-1][1] == address and plan[-1][1] + count <= 125:
            start, total, names = plan[-1]
            plan[-1] = (start, total + count, names + [name])
        else:
            plan.append((address, count, [name]))
    return plan


class Cia402Servo:
    """The harness winch driver (implements drivers.harness_servo.protocol.HarnessDrive)."""

    def __init__(self, harness: HarnessConfig, link: ModbusLink | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.cfg = harness
        self.regs = harness.registers
        self.clock = clock
        self.sleep = sleep
        self.link = link or ModbusLink(harness.link, "harness drive", fault("harness_comm_lost").code,
                                       fault("harness_comm_rejected").code, clock)
        self.health = self.link.health
        self._last_velocity_counts: int | None = None
        r = self.regs
        self._fields = {"statusword": (r.statusword, 1), "position": (r.position_actual, 2),
                        "velocity": (r.velocity_actual, 2)}
        self._plan = read_plan(self._fields)
        self._torque_every = max(1, round(harness.poll_hz / harness.torque_poll_hz))
        self._reads = 0  # status reads so far: the torque is read on every _torque_every-th
        self._torque_pct = 0.0

    # --- connect ---------------------------------------------------------------------------
    def connect(self) -> None:
        try:
            self.link.connect()
            self._write_velocity_counts(0)
            self._set_parameter(self.regs.mode_of_operation, MODE_PROFILE_VELOCITY,
                                "harness_mode_not_set", "mode of operation (6060)")
            self._set_parameter(self.regs.max_torque, round(self.cfg.max_torque_pct * 10),
                                "harness_force_cap_not_set", "max torque (6072)")
            self.read_status()
        except (CommsError, DeviceRejected) as exc:
            raise DeviceError(fault("harness_connect_failed").code, exc.detail) from exc

    def _set_parameter(self, address: int, value: int, fault_name: str, what: str) -> None:
        try:
            self.link.write_register(address, value)
        except DeviceRejected as exc:
            raise DeviceError(fault(fault_name).code,
                              f"harness drive refused {what} = {value}: {exc.detail}") from exc
        got = self.link.read_holding(address, 1)[0]
        if got != value:
            raise DeviceError(fault(fault_name).code,
                              f"harness drive {what} reads back {got}, wrote {value}")

    def close(self) -> None:
        self.link.close()

    # --- the state machine -----------------------------------------------------------------
    def enable(self, timeout_s: float = 1.0) -> HarnessStatus:
        self._write_velocity_counts(0)  # never enable onto a stale velocity
        return self._walk(timeout_s, self._enable_step, "harness_enable_failed", "enable")

    def disable(self, timeout_s: float = 1.0) -> HarnessStatus:
        self._write_velocity_counts(0)
        return self._walk(timeout_s, self._disable_step, "harness_disable_failed", "disable")

    def quick_stop(self) -> None:
        self._write_controlword(CW_QUICK_STOP)

    def reset_fault(self, timeout_s: float = 1.0) -> HarnessStatus:
        self._last_velocity_counts = None
        return self._walk(timeout_s, self._reset_step, "harness_drive_fault", "fault reset")

    def step_towards(self, goal: str, status: HarnessStatus) -> bool:
        """Write at most the next controlword towards `goal` without waiting; True once there.

        For the supervisor loop, which must never block: it calls this every tick with the
        newest status. Goals: "enabled" (raises DeviceError if the drive is faulted), "disabled",
        "fault_cleared".
        """
        steps = {"enabled": self._enable_step, "disabled": self._disable_step, "fault_cleared": self._reset_step}
        if goal not in steps:
            raise ValueError(f"unknown goal {goal!r}; goals: {', '.join(steps)}")
        if goal == "fault_cleared":
            self._last_velocity_counts = None
        return steps[goal](status)

    def _walk(self, timeout_s: float, step: Callable[[HarnessStatus], bool],
              fault_name: str, what: str) -> HarnessStatus:
        """Read the state, let `step` write the next command; until it says done, bounded
        by timeout_s and by the number of polls that fit in it (so a frozen clock ends too)."""
        deadline = self.clock() + timeout_s
        for _ in range(math.ceil(timeout_s / POLL_S) + 1):
            status = self.read_status()
            if step(status):
                return status
            if self.clock() >= deadline:
                break
            self.sleep(POLL_S)
        raise DeviceError(fault(fault_name).code,
                          f"harness drive: {what} not done within {timeout_s} s, stuck in {status.state} "
                          f"(statusword 0x{status.statusword:04X}, error code 0x{status.error_code:04X})")

    def _enable_step(self, status: HarnessStatus) -> bool:
        if status.state == OPERATION_ENABLED:
            return True
        if status.faulted:
            raise DeviceError(fault("harness_drive_fault").code,
                              f"harness drive is in {status.state}, error code 0x{status.error_code:04X}: "
                              "reset the fault before enabling")
        command = ENABLE_STEPS.get(status.state)
        if command is not None:
            self._write_controlword(command)
        return False  # not ready yet, or quick stop still ramping: wait

    def _disable_step(self, status: HarnessStatus) -> bool:
        if status.state not in POWERED_STATES:
            return True
        if status.state == OPERATION_ENABLED:
            self._write_controlword(CW_SHUTDOWN)
        return False  # quick stop active: let its ramp finish before the brake drops

    def _reset_step(self, status: HarnessStatus) -> bool:
        if not status.faulted:
            return True
        if status.state == "fault":  # a reset edge in fault reaction active is ignored: wait
            self._write_controlword(CW_DISABLE_VOLTAGE)
            self._write_controlword(CW_FAULT_RESET)
        return False

    def _write_controlword(self, value: int) -> None:
        self.link.write_register(self.regs.controlword, value)

    # --- velocity --------------------------------------------------------------------------
    def set_velocity(self, velocity_mps: float) -> None:
        limit = self.cfg.max_velocity_mps
        clamped = max(-limit, min(limit, velocity_mps))
        counts = round(clamped / self.cfg.velocity_mps_per_count)
        if counts != self._last_velocity_counts:
            self._write_velocity_counts(counts)

    def _write_velocity_counts(self, counts: int) -> None:
        self._last_velocity_counts = None  # unknown until the write succeeds
        self.link.write_registers(self.regs.target_velocity, encode_signed32(counts))
        self._last_velocity_counts = counts

    def forget_command(self) -> None:
        self._last_velocity_counts = None

    # --- status ----------------------------------------------------------------------------
    def read_status(self) -> HarnessStatus:
        raw = self._read_fields()
        statusword = raw["statusword"][0]
        state = cia402_state(statusword)
        if state is None:
            raise DeviceError(fault("harness_state_invalid").code,
                              f"harness drive statusword 0x{statusword:04X} matches no CiA 402 state")
        error_code = 0
        if statusword & (SW_FAULT | SW_WARNING):
            error_code = self.link.read_holding(self.regs.error_code, 1)[0]
        torque_pct = self._read_torque()
        status = HarnessStatus(
            t_s=self.clock(), state=state, statusword=statusword,
            position_m=decode_signed32(*raw["position"]) * self.cfg.position_m_per_count,
            velocity_mps=decode_signed32(*raw["velocity"]) * self.cfg.velocity_mps_per_count,
            torque_pct=torque_pct, force_estimate_n=torque_pct / 100.0 * self.cfg.rated_force_n,
            error_code=error_code, brake_released=state in POWERED_STATES,
            at_force_cap=bool(statusword & SW_INTERNAL_LIMIT),
            target_reached=bool(statusword & SW_TARGET_REACHED),
        )
        self._check_plausible(status)
        return status

    def _read_torque(self) -> float:
        """Torque in % rated: read on the first status read and every _torque_every-th after."""
        if self._reads % self._torque_every == 0:
            self._torque_pct = decode_signed16(self.link.read_holding(self.regs.torque_actual, 1)[0]) / 10.0
        self._reads += 1
        return self._torque_pct

    def _read_fields(self) -> dict[str, list[int]]:
        raw: dict[str, list[int]] = {}
        for address, count, names in self._plan:
            block = self.link.read_holding(address, count)
            for name in names:
                field_address, field_count = self._fields[name]
                raw[name] = block[field_address - address:field_address - address + field_count]
        return raw

    def _check_plausible(self, status: HarnessStatus) -> None:
        c = self.cfg
        problems = []
        if abs(status.velocity_mps) > IMPLAUSIBLE_VELOCITY_FACTOR * c.max_velocity_mps:
            problems.append(f"velocity {status.velocity_mps:.3f} m/s (maximum {c.max_velocity_mps})")
        if abs(status.torque_pct) > c.max_torque_pct + IMPLAUSIBLE_TORQUE_MARGIN_PCT:
            problems.append(f"torque {status.torque_pct:.1f} % above its cap {c.max_torque_pct} %")
        margin = IMPLAUSIBLE_TRAVEL_MARGIN_M
        if not c.travel_min_m - margin <= status.position_m <= c.travel_max_m + margin:
            problems.append(f"position {status.position_m:.4f} m (travel {c.travel_min_m}..{c.travel_max_m})")
        if problems:
            raise DeviceError(fault("harness_readback_implausible").code,
                              "harness drive reads " + "; ".join(problems))
