"""The supervisor: one tick of the rig (read, filter, judge, step states, control, command, publish).

`Supervisor.tick(now_s, overrun_streak)` is called by the fixed-rate loop. In order:
1. take in what the devices answered since the last tick, ask those due again (on their own
   I/O threads: no round trip blocks the tick) and drain the load-cell samples (rig/devices.py);
2. run the samples through the Cython pipeline (filtered forces, Fz, COP, gait events) and
   the fall detector;
3. evaluate every interlock on one `InterlockInputs` snapshot (safety/interlocks.py, pure);
4. step the safety machine (safety/states.py) and apply queued operator commands;
5. trip every device to its safe state on entering a fault state (safety/trip.py);
6. compute the belt command (zero outside `walking`; the drive ramps every stop at the normal
   or fast-stop deceleration) and the winch velocity (unloading force loop, or the fall catch,
   never paying out during a fault), post them to the devices, toggle the heartbeat;
7. publish an immutable `Snapshot` and hand the samples to the recorder (never blocks).

Not here: the timing loop (rig/loop.py), the rules of states and faults (safety/), control laws
(controllers/), device protocols (drivers/), building params from config (rig/compose.py).
"""
from __future__ import annotations

import logging
import math
import queue
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from cext.gaitfigures import GaitFigures
from cext.pipeline import LoadcellPipeline
from controllers.belt import BeltProfile
from controllers.fall_catch import FallCatch
from controllers.harness import UnloadingController
from rig import compose
from rig.commands import (Acknowledge, Attach, Command, Detach, Pause, Resume, SetSpeed, SetUnloading, Start,
                          Stop)
from rig.config import RigConfig
from drivers.loadcell.monitor import I32_MAX, I32_MIN
from rig.devices import RigDevices
from safety.fall import FallDetector
from safety.interlocks import InterlockInputs, InterlockMemory, evaluate
from safety.latch import ActiveFault
from safety.states import FAULT_STATES, MachineInputs, RigMachine, StateChange
from safety.trip import Trip

log = logging.getLogger(__name__)
FALL = 501
WEIGHT_BEARING = 503
SUPPORT_STEP = 0.05  # increase_unloading: support raised by 5 % of body weight ...
SUPPORT_STEP_EVERY_S = 2.0  # ... at most this often
HOLD_TAKE_UP_MPS = 0.1  # during a fault the winch takes up slack no faster than this (a fall catch: faster)
LOADCELL_CODES = frozenset((131, 132, 133, 135, 201, 202, 203, 205, 206))  # the forces cannot be trusted
ACK_RETRY_S = 1.5  # an acknowledge waits this long for drive resets to take effect
FIGURES_EVERY_S = 1.0
FIGURES_WINDOW_S = 30.0
PATIENT_STATES = ("unloading", "ready", "walking", "paused", "stopping")


def rails_as_nan(counts: np.ndarray) -> np.ndarray:
    """Samples at an ADC rail carry no force (saturated, or a broken wire): NaN, so the filters
    and the fall detector hold the last good value instead of integrating a rail (the monitor's
    fault 201 / 203 says why). A rail sample in a filter's state would take seconds to decay."""
    out = np.asarray(counts, dtype=np.float64).copy()
    out[(counts >= I32_MAX) | (counts <= I32_MIN)] = np.nan
    return out


@dataclass(frozen=True)
class Snapshot:
    """What the rig looks like after one tick (immutable: safe to hand to other threads)."""

    t_s: float
    tick: int
    state: str
    setpoint_mps: float
    belt_command_mps: float
    belt_speed_mps: float | None
    belt_current_a: float | None
    drive_fault_code: int
    unloading_fraction: float
    harness_target_n: float
    line_force_n: float | None
    winch_position_m: float | None
    deck_fz_n: float | None
    cop_m: tuple[float, float] | None
    body_weight_support: float | None
    faults: tuple[ActiveFault, ...]
    conditions: tuple[int, ...]
    overruns: int
    message: str
    gait: dict[str, float] = field(default_factory=dict)
    events: int = 0
    selftest: str = "running"


class Supervisor:
    """Owns the safety machine, the controllers and the devices' commands for one rig."""

    def __init__(self, config: RigConfig, devices: RigDevices, clock: Callable[[], float],
                 recorder=None, config_problems: tuple[str, ...] = ()):
        self.config = config
        self.devices = devices
        self.clock = clock
        self.recorder = recorder
        self.config_problems = config_problems
        self.body_weight_n = compose.body_weight_n(config)
        self.limits = compose.interlock_limits(config)
        self.memory = InterlockMemory()
        self.machine = RigMachine(clock, on_change=self._state_changed)
        self.pipeline = LoadcellPipeline(compose.gait_params(config), body_weight_n=self.body_weight_n)
        self.fall = FallDetector(compose.fall_limits(config), self.body_weight_n,
                                 config.unloading.line_stiffness_n_per_m)
        self.catch = FallCatch(compose.fall_catch_params(config))
        self.belt = BeltProfile(compose.belt_limits(config))
        self.unloading = UnloadingController(compose.unloading_params(config, self.pipeline.delay_s))
        self.expected = compose.drive_ramp(config)
        self.trip = Trip(devices.safe_state_actions())
        self.figures = GaitFigures()
        self.commands: queue.SimpleQueue[Command] = queue.SimpleQueue()
        self.message = ""
        self.conditions: dict[int, str] = {}
        self.ticks = 0
        self.overruns = 0
        self.events = 0
        self.gait: dict[str, float] = {}
        self.selftest = "running"
        self._started_s = clock()
        self._ack_until: float | None = None
        self._support_raised_s = -math.inf
        self._was_tracking = False
        self._last_t: float | None = None
        self._filtered = np.full(10, np.nan)
        self._zero = np.asarray(config.loadcells.zero_counts, dtype=np.float64)
        self._gain = np.asarray(config.loadcells.n_per_count, dtype=np.float64)
        self.belt_command_mps = 0.0
        self.winch_command_mps = 0.0
        self.snapshot = self._publish(self._started_s)

    # --- the tick --------------------------------------------------------------------------
    def tick(self, now_s: float, overrun_streak: int = 0) -> Snapshot:
        dt = 0.0 if self._last_t is None else max(0.0, now_s - self._last_t)
        self._last_t = now_s
        self.overruns += 1 if overrun_streak else 0
        try:
            batch = self.devices.poll(now_s, self.ticks)
            fall = self._sense(batch)
            self._judge(now_s, overrun_streak, fall)
            self._apply_commands(now_s)
            self._retry_acknowledge(now_s)
            self._trip_if_faulted()
            self._command(dt)
            self.ticks += 1
            self._update_figures()
            self.snapshot = self._publish(now_s)
        finally:
            self.devices.send()  # the tick's transactions go out together, as the tick ends
        return self.snapshot

    def submit(self, command: Command) -> None:
        """Queue an operator command (thread-safe); applied at the next tick."""
        self.commands.put(command)

    @property
    def state(self) -> str:
        return self.machine.state

    # --- sensing ---------------------------------------------------------------------------
    def _sense(self, batch) -> str:
        if batch.n == 0:
            return self.fall.detail
        counts = rails_as_nan(batch.counts)
        forces = (counts - self._zero) * self._gain  # unfiltered newtons: recording and fall detector
        out, events = self.pipeline.process(batch.t_s, counts)
        self._filtered = out[-1]
        belt = self.devices.belt.value
        belt_mps = belt.speed_mps if belt else math.nan
        for event in events:
            self.figures.add(event, belt_mps)
        self.events += len(events)
        if self.recorder is not None:
            self.recorder.push(batch.t_s, forces, belt_mps)
        return self._detect_fall(batch.t_s, forces)

    def _detect_fall(self, t_s: np.ndarray, forces: np.ndarray) -> str:
        harness = self.devices.harness.value
        watching = self.state in PATIENT_STATES or self.fall.fallen  # a fall is watched until they stand
        if not watching or harness is None:
            return self.fall.detail
        return self.fall.update(t_s, forces[:, 0], forces[:, 1:5], harness.position_m,
                                harness.velocity_mps, self.unloading.target_n)

    # --- judging ---------------------------------------------------------------------------
    def _judge(self, now_s: float, overrun_streak: int, fall: str) -> None:
        inputs = self._interlock_inputs(now_s, overrun_streak, fall)
        verdict = evaluate(inputs, self.limits, self.memory)
        self.memory = verdict.memory
        self.conditions = dict(verdict.conditions)
        if self.selftest == "running":
            self.selftest = self._selftest(now_s)
            if self.selftest == "running":
                self.conditions = {}  # devices still coming up: the self-test judges them (605 if they never do)
        self.machine.update(self._machine_inputs(now_s))
        self._raise_support_if_overloaded(now_s)

    def _raise_support_if_overloaded(self, now_s: float) -> None:
        """Prescription action "increase_unloading": while the legs carry more than allowed (503),
        raise the support a step at a time, within the operator's maximum."""
        if WEIGHT_BEARING not in self.conditions or self.config.patient.weight_bearing_action != "increase_unloading":
            return
        if self.state not in ("ready", "walking", "paused") or now_s - self._support_raised_s < SUPPORT_STEP_EVERY_S:
            return
        wanted = min(self.unloading.p.max_fraction, self.unloading.fraction + SUPPORT_STEP)
        if wanted > self.unloading.fraction and not self.unloading.set_fraction(wanted):
            self._support_raised_s = now_s
            log.warning("weight bearing over the prescription: support raised to %.0f %%", 100 * wanted)
            if self.recorder is not None:
                self.recorder.note(now_s, "support", f"raised to {100 * wanted:.0f} % (weight bearing over limit)")

    def _interlock_inputs(self, now_s: float, overrun_streak: int, fall: str) -> InterlockInputs:
        d = self.devices
        io, belt, harness = d.safety_io.value, d.belt.value, d.harness.value
        f = self._filtered
        have_forces = not math.isnan(f[0])
        return InterlockInputs(
            t_s=now_s, state=self.state, links=d.links(now_s),
            estop_closed=io.estop_closed if io else None, key_present=io.key_present if io else None,
            harness_attached=io.harness_attached if io else None,
            belt_fault_code=belt.fault_code if belt else 0,
            belt_speed_mps=belt.speed_mps if belt else None, belt_expected_mps=self.expected.value,
            harness_state=harness.state if harness else None,
            harness_fault_code=harness.error_code if harness else 0,
            line_force_n=float(f[0]) if have_forces else None, harness_target_n=self.unloading.target_n,
            winch_position_m=harness.position_m if harness else None,
            deck_fz_n=float(f[5]) if have_forces else None,
            deck_cells_n=(float(f[1]), float(f[2]), float(f[3]), float(f[4])) if have_forces else None,
            channel_faults=tuple((e.code, e.detail) for e in d.loadcell_faults if e.code not in (131, 135)),
            fall=fall, overrun_streak=overrun_streak, config_problems=self.config_problems,
            calibration_ok=True,
        )

    def _machine_inputs(self, now_s: float) -> MachineInputs:
        io, belt = self.devices.safety_io.value, self.devices.belt.value
        line = self._filtered[0]
        chain_open = io is not None and not (io.estop_closed and io.key_present)
        pretension = self.unloading.p.pretension_n
        return MachineInputs(
            t_s=now_s, conditions=self.conditions, chain_open=chain_open,
            harness_attached=bool(io and io.harness_attached),
            harness_loaded=bool(line > 1.5 * pretension),
            pretensioned=self.unloading.pretensioned,
            unloading_on_target=self.unloading.on_target(),
            belt_at_rest=self._belt_at_rest(now_s),
            line_slack=self.unloading.slack, selftest=self.selftest,
        )

    def _belt_at_rest(self, now_s: float) -> bool:
        """The drive says so; or it has been silent long enough for its own comm-loss watchdog
        to have stopped the belt (the second layer: nothing else can be known)."""
        reading = self.devices.belt
        if reading.value is not None and reading.error is None:
            return reading.value.at_rest
        belt = self.config.belt
        watchdog_s = belt.comm_timeout_s + belt.max_speed_mps / self.config.belt_control.fast_stop_decel_mps2 + 0.5
        return reading.last_good_s is not None and now_s - reading.last_good_s > watchdog_s

    def _selftest(self, now_s: float) -> str:
        """Passed once every device has answered and the load cells stream; failed after 3 s."""
        d = self.devices
        missing = [name for name, r in (("belt drive", d.belt), ("harness drive", d.harness),
                                        ("safety module", d.safety_io)) if r.value is None]
        if math.isnan(self._filtered[0]):
            missing.append("load-cell stream")
        if not missing and not self.config_problems:
            return "passed"
        if now_s - self._started_s > 3.0:
            return "failed: no answer from " + ", ".join(missing) if missing else "failed: " + "; ".join(self.config_problems)
        return "running"

    # --- operator commands -----------------------------------------------------------------
    def _apply_commands(self, now_s: float) -> None:
        while True:
            try:
                command = self.commands.get_nowait()
            except queue.Empty:
                return
            self.message = self._apply(command, now_s)
            if self.message:
                log.warning("command %s refused: %s", command, self.message)
            if self.recorder is not None:
                self.recorder.note(now_s, "command", f"{command} {self.message or 'done'}")

    def _apply(self, command: Command, now_s: float) -> str:
        m = self.machine
        if isinstance(command, Attach):
            return m.attach()
        if isinstance(command, SetUnloading):
            if self.state in FAULT_STATES:
                return "the support cannot change while a fault is active: acknowledge it first"
            refusal = self.unloading.set_fraction(command.fraction)
            return refusal or (m.unload() if self.state == "attached" else "")
        if isinstance(command, Start):
            return self._start(command)
        if isinstance(command, SetSpeed):
            if self.state != "walking":
                return f"the speed can change only while walking (the rig is {self.state})"
            return self.belt.request(command.speed_mps)
        if isinstance(command, Pause):
            return m.pause()
        if isinstance(command, Resume):
            return m.resume(command.confirmed)
        if isinstance(command, Stop):
            return m.stop()
        if isinstance(command, Detach):
            return m.detach()
        if isinstance(command, Acknowledge):
            return self._acknowledge(now_s)
        return f"unknown command {command!r}"

    def _start(self, command: Start) -> str:
        if self.state != "ready":
            return f"the belt can start only when the rig is ready (it is {self.state})"
        refusal = self.belt.request(command.speed_mps)
        return refusal or self.machine.start(command.confirmed)

    def _acknowledge(self, now_s: float) -> str:
        self.devices.reset_drive_faults()
        self._ack_until = now_s + ACK_RETRY_S
        if self.state not in ("faulted", "estop"):
            self._ack_until = None
        return self.machine.acknowledge()

    def _retry_acknowledge(self, now_s: float) -> None:
        """Drive resets take a few ticks: keep acknowledging until it works or time is up."""
        if self._ack_until is None:
            return
        if self.state not in ("faulted", "estop") or now_s > self._ack_until:
            self._ack_until = None
            return
        refusal = self.machine.acknowledge()
        if not refusal:
            self._ack_until = None
        self.message = refusal

    # --- safe states and commands ----------------------------------------------------------
    def _trip_if_faulted(self) -> None:
        if self.state in FAULT_STATES:
            if not self.trip.tripped or self.trip.failures:
                codes = ", ".join(f"{f.code} {f.entry.name}" for f in self.machine.latch.active.values())
                self.trip.trip(f"{self.state}: {codes}")
        elif self.trip.tripped:
            self.trip.reset()
            self.fall.reset()
            self.catch.reset()

    def _command(self, dt_s: float) -> None:
        stop = self.machine.belt_stop
        profile = self.belt.step(dt_s, stop)
        walking = self.machine.belt_may_move
        belt_mps = profile if walking else 0.0
        control = self.config.belt_control
        decel = control.decel_mps2 if stop == "normal" else control.fast_stop_decel_mps2
        self.expected.fall_per_s = decel
        self.expected.step(belt_mps, dt_s)
        self.belt_command_mps = belt_mps
        self.winch_command_mps = self._winch(dt_s)
        power = "disabled" if self.machine.harness_mode == "slack" else "enabled"
        harness = self.devices.harness.value
        if self._ack_until is not None and harness is not None and harness.faulted:
            power = "fault_cleared"
        self.devices.command(self.ticks, belt_mps, self.winch_command_mps, power, decel)
        self.devices.heartbeat(self.ticks)

    def _winch(self, dt_s: float) -> float:
        harness = self.devices.harness.value
        line = self._filtered[0]
        if harness is None or math.isnan(line):
            return 0.0
        mode = self.machine.harness_mode
        deck = self._filtered[5]
        # In "hold" (a fault) the force loop keeps running on a target that cannot decrease, but
        # only its haul-in half is used, slowly and without the deck's feed-forward: the winch
        # never pays out, yet takes up the line when the patient stops walking and stands up
        # taller (a still winch would let the line go slack). A fault of the load cells
        # themselves stops even that: the winch must not move on numbers that may be wrong.
        loop_mode = "track" if mode == "hold" and self._was_tracking else mode
        feed_forward_deck = None if mode == "hold" or math.isnan(deck) else float(deck)
        velocity = self.unloading.step(dt_s, loop_mode, float(line), harness.position_m, harness.velocity_mps,
                                       feed_forward_deck)
        if mode != "hold":
            self._was_tracking = mode == "track"
            return velocity
        doubtful = any(code in LOADCELL_CODES for code in self.conditions)
        velocity = 0.0 if doubtful else min(max(0.0, velocity), HOLD_TAKE_UP_MPS)
        if FALL in self.machine.latch.active:
            velocity = max(velocity, self.catch.step(dt_s, float(line), harness.position_m, harness.velocity_mps))
        return velocity

    # --- publishing ------------------------------------------------------------------------
    def _state_changed(self, change: StateChange) -> None:
        log.info("state %s", change)
        if self.recorder is not None:
            self.recorder.note(self.clock(), "state", str(change))
        if FALL in self.machine.latch.active:
            for t, what in self.fall.timeline:
                log.error("fall timeline %.3f s: %s", t, what)
                if self.recorder is not None:
                    self.recorder.note(t, "fall", what)

    def _update_figures(self) -> None:
        every = max(1, round(FIGURES_EVERY_S * self.config.loop.rate_hz))
        if self.ticks % every == 0:
            self.gait = self.figures.summary(FIGURES_WINDOW_S)

    def _publish(self, now_s: float) -> Snapshot:
        d, f = self.devices, self._filtered
        belt = d.belt.value if d.belt.error is None else None
        harness = d.harness.value
        have = not math.isnan(f[0])
        return Snapshot(
            t_s=now_s, tick=self.ticks, state=self.machine.state, setpoint_mps=self.belt.setpoint_mps,
            belt_command_mps=self.belt_command_mps,
            belt_speed_mps=belt.speed_mps if belt else None, belt_current_a=belt.current_a if belt else None,
            drive_fault_code=belt.fault_code if belt else 0,
            unloading_fraction=self.unloading.fraction, harness_target_n=self.unloading.target_n,
            line_force_n=float(f[0]) if have else None,
            winch_position_m=harness.position_m if harness else None,
            deck_fz_n=float(f[5]) if have else None, cop_m=(float(f[6]), float(f[7])) if have else None,
            body_weight_support=float(f[0]) / self.body_weight_n if have else None,
            faults=tuple(self.machine.latch.active.values()),
            conditions=tuple(sorted(self.conditions)),
            overruns=self.overruns, message=self.message, gait=dict(self.gait), events=self.events,
            selftest=self.selftest,
        )

