"""Model of the safety I/O module and the hardware safety relay behind it (DESIGN.md 1.3).

A plain object with no I/O and no clock of its own, like rig/sim/vfd.py: the twin server calls
`touch` and `read_bits`/`write_bits` per Modbus request (discrete inputs FC 02, coils FC 01/05/15;
the module has no registers), the physics calls `step(now_s, dt_s)`. Addresses from `safety_io`.

Discrete inputs: e-stop chain closed (every e-stop button released), safety key present,
harness attached, drives enabled (the relay's STO feedback contact = `chain_closed`), winch
brake released (fed by the runner from the servo). Coils: controller-alive heartbeat, beacon.

The safety relay (`chain_closed`) opens at once when an e-stop is pressed or the key pulled,
and when the heartbeat watchdog expires: once the heartbeat coil has toggled for the first
time, no toggle for `heartbeat_timeout_s` opens it. Like a real relay with monitored manual
reset, it stays open after the cause has gone until a reset: `press_reset()` (the reset
button) or putting the safety key back in (key cycle). A reset is ignored unless every
cause is gone: e-stops released, key in, heartbeat alive (toggled within the time-out, or
never started since power-up). The sim powers up with the chain closed (operator already reset).

Not here: taking STO away from the drives (the runner reads `chain_closed` every step, or
registers `on_chain_change`), the controller's reaction to the inputs (safety/).
"""
from __future__ import annotations

from typing import Callable

from rig.config import SafetyIoConfig

ILLEGAL_FUNCTION = 1
ILLEGAL_ADDRESS = 2
BIT_COUNT = 16  # an ADAM-4051-class module: 16 channels of each kind

CAUSE_ESTOP, CAUSE_KEY, CAUSE_HEARTBEAT = "estop", "key", "heartbeat"


class SafetyIoModel:
    """Inputs, coils, heartbeat watchdog and the latching safety relay."""

    def __init__(self, cfg: SafetyIoConfig,
                 on_chain_change: Callable[[bool], None] | None = None):
        self.cfg = cfg
        self.on_chain_change = on_chain_change
        self.estop_released = True
        self.key_present = True
        self.harness_attached = True
        self.brake_released = False  # fed by the runner from the servo twin
        self.coils = [False] * BIT_COUNT
        self.stuck_inputs: dict[int, bool] = {}  # injected: input address -> value it reads
        self.open_causes: set[str] = set()  # why the relay last opened (kept until reset)
        self.chain_opened_at_s: float | None = None
        self._chain_closed = True
        self._now_s = 0.0
        self._last_toggle_s: float | None = None  # None: watchdog not armed yet

    # --- Modbus side -------------------------------------------------------------------------
    def touch(self, now_s: float) -> None:
        """A valid request arrived; its time stamps heartbeat toggles."""
        self._now_s = now_s

    def read(self, address: int, count: int) -> list[int] | int:
        return ILLEGAL_ADDRESS  # no registers on this module

    def write(self, address: int, values: list[int]) -> int | None:
        return ILLEGAL_ADDRESS

    def read_bits(self, kind: str, address: int, count: int) -> list[bool] | int:
        """Coil ("coil") or discrete input ("discrete") values, or a Modbus exception code."""
        if address < 0 or address + count > BIT_COUNT:
            return ILLEGAL_ADDRESS
        source = self.coils if kind == "coil" else self.inputs()
        return list(source[address:address + count])

    def write_bits(self, address: int, values: list[bool]) -> int | None:
        """Write coils; a changed heartbeat coil is a toggle (feeds the watchdog)."""
        if address < 0 or address + len(values) > BIT_COUNT:
            return ILLEGAL_ADDRESS
        for offset, value in enumerate(values):
            addr = address + offset
            if addr == self.cfg.coil_heartbeat and bool(value) != self.coils[addr]:
                self._last_toggle_s = self._now_s
            self.coils[addr] = bool(value)
        return None

    def inputs(self) -> list[bool]:
        """The 16 discrete inputs as the module reads them now."""
        c = self.cfg
        bits = [False] * BIT_COUNT
        for addr, value in ((c.input_estop_closed, self.estop_released),
                            (c.input_key_present, self.key_present),
                            (c.input_harness_attached, self.harness_attached),
                            (c.input_drives_enabled, self._chain_closed),
                            (c.input_brake_released, self.brake_released)):
            bits[addr] = value
        for addr, value in self.stuck_inputs.items():
            bits[addr] = value
        return bits

    # --- the world and fault injection ---------------------------------------------------------
    def press_estop(self) -> None:
        self.estop_released = False
        self._open(CAUSE_ESTOP)

    def release_estop(self) -> None:
        """The button is pulled back out: the chain stays open until a reset."""
        self.estop_released = True

    def pull_key(self) -> None:
        self.key_present = False
        self._open(CAUSE_KEY)

    def insert_key(self) -> None:
        """Key back in: turning it acts as the relay's reset (key cycle)."""
        was_present, self.key_present = self.key_present, True
        if not was_present:
            self.press_reset()

    def detach_harness(self) -> None:
        self.harness_attached = False

    def attach_harness(self) -> None:
        self.harness_attached = True

    def set_brake_released(self, released: bool) -> None:
        """The winch brake's state (from the servo twin), read back on its input."""
        self.brake_released = released

    def press_reset(self) -> bool:
        """The relay's reset button: closes the chain if every cause has gone; returns chain_closed."""
        if not self._chain_closed and self.causes_gone:
            self.open_causes.clear()
            self.chain_opened_at_s = None
            self._set_chain(True)
        return self._chain_closed

    # --- state -----------------------------------------------------------------------------------
    @property
    def chain_closed(self) -> bool:
        """True while the relay gives the drives their STO inputs and lifts the brake supply."""
        return self._chain_closed

    @property
    def heartbeat_alive(self) -> bool:
        """The heartbeat toggled within the time-out (or the watchdog was never armed)."""
        if self._last_toggle_s is None:
            return True
        return self._now_s - self._last_toggle_s <= self.cfg.heartbeat_timeout_s

    @property
    def last_heartbeat_s(self) -> float | None:
        """When the heartbeat coil last toggled (None: never since power-up)."""
        return self._last_toggle_s

    @property
    def causes_gone(self) -> bool:
        return self.estop_released and self.key_present and self.heartbeat_alive

    @property
    def beacon_on(self) -> bool:
        return self.coils[self.cfg.coil_beacon]

    @property
    def heartbeat_coil(self) -> bool:
        return self.coils[self.cfg.coil_heartbeat]

    def step(self, now_s: float, dt_s: float) -> None:
        """Run the heartbeat watchdog (called at the physics rate)."""
        self._now_s = now_s
        if not self.heartbeat_alive:
            self._open(CAUSE_HEARTBEAT)

    def _open(self, cause: str) -> None:
        self.open_causes.add(cause)
        if self._chain_closed:
            self.chain_opened_at_s = self._now_s
            self._set_chain(False)

    def _set_chain(self, closed: bool) -> None:
        self._chain_closed = closed
        if self.on_chain_change is not None:
            self.on_chain_change(closed)
