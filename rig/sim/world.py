"""The simulated world: belt, harness and patient stepped together on virtual time.

One `World` owns the physics; whoever runs the sim steps it (`step(dt_s)`, >= 1 kHz) in its
own thread, and the device twins exchange values with it only: the VFD twin calls
`set_belt_drive()` and reads `belt_speed_mps` / `belt_load_n`; the servo twin calls
`set_winch()` and reads the winch outputs; the load-cell board twin reads `deck_forces_n` and
`line_force_n` (true physical forces: its own gain, offset, noise, hum and spikes are added
there). Scripted events (`schedule()`) make the patient fall, stumble, step off or on, or the
belt be held. Every heel strike, toe off and scripted event is logged as ground truth.

The world never reads the wall clock: `t_s` advances only by `step()`. For a given seed and
the same inputs at the same virtual times it is identical, noise included.

Not here: the device protocols and state machines (the twins), sensor imperfections (the
board twin), fault injection plumbing (it calls `schedule()` / `hold_belt()`).
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from rig.sim.harness_physics import Harness
from rig.sim.patient import Patient
from rig.sim.physics_belt import Belt
from rig.sim.worldconfig import WorldConfig

DEFAULT_DECK_CELLS_M: tuple[tuple[float, float], ...] = ((0.75, 0.30), (0.75, -0.30), (-0.75, 0.30), (-0.75, -0.30))
EVENTS = ("fall", "recover", "stumble", "step_off", "step_on", "hold_belt", "release_belt",
          "harness_detach", "harness_attach")


@dataclass(frozen=True)
class WorldSnapshot:
    """Everything the world knows at one instant (SI units; forces are the true ones)."""

    t_s: float
    deck_fl_n: float
    deck_fr_n: float
    deck_rl_n: float
    deck_rr_n: float
    line_force_n: float
    belt_speed_mps: float
    belt_load_n: float
    belt_position_m: float
    winch_position_m: float  # cable hauled in, positive = line shortened
    winch_velocity_mps: float  # positive = hauling in
    winch_torque_pct: float
    brake_engaged: bool
    com_z_m: float  # relative to quiet standing, positive up
    com_vz_mps: float
    ground_force_n: float  # total on the feet, deck or not
    foot_left_n: float  # each foot's own force on the deck
    foot_right_n: float
    cop_x_m: float  # from the four cells, as the rig computes it (0 when unloaded)
    cop_y_m: float
    patient: str  # standing | walking | fallen | off_deck
    belt_held: bool
    harness_attached: bool

    @property
    def fz_n(self) -> float:
        return self.deck_fl_n + self.deck_fr_n + self.deck_rl_n + self.deck_rr_n


class World:
    """Belt + harness + patient; see the module docstring."""

    def __init__(self, cfg: WorldConfig | None = None,
                 deck_cells_m: tuple[tuple[float, float], ...] = DEFAULT_DECK_CELLS_M):
        self.cfg = cfg or WorldConfig()
        self.deck_cells_m = tuple(tuple(c) for c in deck_cells_m)
        (flx, fly), (frx, fry), (rlx, rly), (rrx, rry) = self.deck_cells_m
        self._x_front, self._x_rear = (flx + frx) / 2.0, (rlx + rrx) / 2.0
        self._y_left, self._y_right = (fly + rly) / 2.0, (fry + rry) / 2.0
        self._truth: list[tuple[float, str, str]] = []
        self._rng = np.random.default_rng(self.cfg.seed)
        self.belt = Belt(self.cfg.belt)
        self.harness = Harness(self.cfg.harness)
        self.patient = Patient(self.cfg.patient, self._rng, self._truth)
        self._t = 0.0
        self._events: list[tuple[float, int, str]] = []
        self._event_seq = 0
        self.deck_forces_n: tuple[float, float, float, float] = self._split()
        self._publish()

    # ---- inputs -----------------------------------------------------------------------------
    def set_belt_drive(self, speed_mps: float, torque_available: bool) -> None:
        """Synchronous belt speed from the drive (output Hz x mps_per_hz); False = STO off, coast."""
        self.belt.sync_mps = float(speed_mps)
        self.belt.torque_available = bool(torque_available)

    def set_winch(self, velocity_cmd_mps: float, enabled: bool, brake_released: bool,
                  force_limit_n: float, torque_available: bool = True) -> None:
        """Servo command: velocity (+ = haul in), drive enabled, brake released, torque cap, STO."""
        self.harness.command = (float(velocity_cmd_mps), bool(enabled), bool(brake_released),
                                float(force_limit_n), bool(torque_available))

    def hold_belt(self, held: bool) -> None:
        """Something holds the belt (fault injection): it stops and the motor stalls."""
        self.belt.held = bool(held)

    def schedule(self, t_s: float | None, event: str) -> None:
        """Schedule a scripted event (one of EVENTS) at virtual time t_s, or None for now."""
        if event not in EVENTS:
            raise ValueError(f"unknown world event {event!r}; known: {', '.join(EVENTS)}")
        when = self._t if t_s is None else float(t_s)
        self._event_seq += 1
        heapq.heappush(self._events, (when, self._event_seq, event))

    # ---- stepping ---------------------------------------------------------------------------
    def step(self, dt_s: float) -> None:
        """Advance the world by dt_s (virtual time)."""
        t = self._t + dt_s
        self._t = t
        if self._events and self._events[0][0] <= t:
            self._fire_events(t)
        patient, harness, belt = self.patient, self.harness, self.belt
        line_n = harness.line_force(patient.com_z_m, patient.com_vz_mps)
        patient.step(t, dt_s, belt.speed_mps, belt.position_m, line_n)
        harness.step(dt_s, line_n)
        self.deck_forces_n = self._split()
        belt.step(dt_s, patient.feet[0].force_n + patient.feet[1].force_n, patient.feet_drag_n)
        self._publish()

    def run(self, duration_s: float, dt_s: float = 0.001) -> None:
        """Step for duration_s (tests, recordings)."""
        for _ in range(int(round(duration_s / dt_s))):
            self.step(dt_s)

    def _fire_events(self, t: float) -> None:
        while self._events and self._events[0][0] <= t:
            when, _, event = heapq.heappop(self._events)
            self._apply(event, t)

    def _apply(self, event: str, t: float) -> None:
        patient = self.patient
        actions = {
            "fall": lambda: patient.fall(t), "recover": lambda: patient.recover(t),
            "stumble": lambda: patient.stumble(t), "step_off": lambda: patient.step_off(t),
            "step_on": lambda: patient.step_on(t),
            "hold_belt": lambda: self.hold_belt(True), "release_belt": lambda: self.hold_belt(False),
            "harness_detach": lambda: setattr(self.harness, "attached", False),
            "harness_attach": lambda: setattr(self.harness, "attached", True),
        }
        actions[event]()
        if event not in ("fall", "recover", "stumble", "step_off", "step_on"):
            self._truth.append((t, event, ""))

    def _split(self) -> tuple[float, float, float, float]:
        """Each foot's force onto the four cells by the lever rule (rigid deck)."""
        fl = fr = rl = rr = 0.0
        span_x = self._x_front - self._x_rear
        span_y = self._y_left - self._y_right
        for foot in self.patient.feet:
            force = foot.force_n
            if force == 0.0:
                continue
            fx = (foot.x_m - self._x_rear) / span_x
            fy = (foot.y - self._y_right) / span_y
            front, left = force * fx, fy
            fl += front * left
            fr += front - front * left
            rl += (force - front) * left
            rr += (force - front) * (1.0 - left)
        return fl, fr, rl, rr

    def _publish(self) -> None:
        # one tuple per step, replaced in a single assignment: readers in other threads see
        # one consistent instant
        p, h, b = self.patient, self.harness, self.belt
        self._out = (self._t, self.deck_forces_n, h.line_force_n, b.speed_mps, b.load_n, b.position_m,
                     h.position_m, h.velocity_mps, h.motor_force_n, h.brake_engaged, p.com_z_m,
                     p.com_vz_mps, p.ground_n, p.feet[0].force_n, p.feet[1].force_n)

    # ---- outputs ----------------------------------------------------------------------------
    @property
    def t_s(self) -> float:
        return self._t

    @property
    def line_force_n(self) -> float:
        return self._out[2]

    @property
    def belt_speed_mps(self) -> float:
        return self._out[3]

    @property
    def belt_load_n(self) -> float:
        return self._out[4]

    @property
    def winch_position_m(self) -> float:
        return self._out[6]

    @property
    def winch_velocity_mps(self) -> float:
        return self._out[7]

    @property
    def winch_torque_pct(self) -> float:
        return 100.0 * self._out[8] / self.cfg.harness.rated_force_n

    @property
    def truth(self) -> list[tuple[float, str, str]]:
        """Ground-truth events so far: (t_s, event, side), side '' for whole-body events."""
        return sorted(self._truth)

    def snapshot(self) -> WorldSnapshot:
        """An immutable record of the world at the last step."""
        out = self._out
        fl, fr, rl, rr = out[1]
        fz = fl + fr + rl + rr
        cop_x = cop_y = 0.0
        if fz > 1.0:
            cells = self.deck_cells_m
            cop_x = sum(f * c[0] for f, c in zip(out[1], cells)) / fz
            cop_y = sum(f * c[1] for f, c in zip(out[1], cells)) / fz
        return WorldSnapshot(out[0], fl, fr, rl, rr, out[2], out[3], out[4], out[5], out[6], out[7],
                             100.0 * out[8] / self.cfg.harness.rated_force_n, out[9], out[10], out[11],
                             out[12], out[13], out[14], cop_x, cop_y, self._patient_state(),
                             self.belt.held, self.harness.attached)

    def _patient_state(self) -> str:
        p = self.patient
        if p.fallen:
            return "fallen"
        if not p.on_deck:
            return "off_deck"
        return "walking" if p.walking else "standing"
