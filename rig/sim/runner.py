"""The simulated rig as one object: device models, the physics thread and the twin servers.

`SimRig(config)` builds every twin the config enables and serves each on the endpoint the
controller's own config points at (the twin is injected by config, never by "am I under test").
`start()` / `stop()` run it in background threads; `step(dt)` advances the physics by hand for
tests that run on a virtual clock. `rig sim` runs it standalone.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

from rig.config import RigConfig
from rig.sim.loadcell_board import LoadcellBoardModel, LoadcellBoardTwin
from rig.sim.modbus_twin import TwinEndpoint, TwinServerThread
from rig.sim.rtu_bus import RtuBus
from rig.sim.safety_io import SafetyIoModel
from rig.sim.servo import ServoModel
from rig.sim.vfd import VfdModel
from rig.sim.world import World

MAX_SUBSTEP_S = 0.001  # the world is integrated in steps of at most 1 ms, whatever the thread's jitter


class PhysicsThread:
    """Steps `step(now, dt)` at a fixed rate on the monotonic clock; counts its overruns."""

    def __init__(self, rate_hz: float, step: Callable[[float, float], None]):
        self.period_s = 1.0 / rate_hz
        self._step = step
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sim-physics", daemon=True)
        self.steps = 0
        self.overruns = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        last = time.monotonic()
        deadline = last + self.period_s
        while not self._stop.is_set():
            delay = deadline - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            now = time.monotonic()
            self._step(now, now - last)
            self.steps += 1
            last = now
            deadline += self.period_s
            if now - deadline > self.period_s:  # fell more than a whole step behind
                self.overruns += 1
                deadline = now + self.period_s


class SimRig:
    """Every simulated device of the rig, wired together as the real rig is.

    The safety relay (safety I/O twin) gives or takes STO from both drives and the winch brake;
    the VFD drives the world's belt, the servo its winch; the world's forces feed the load-cell
    board. Devices on a TCP link get their own listener; devices whose links name the same
    serial device share one simulated RTU line (rig/sim/rtu_bus.py).
    """

    def __init__(self, config: RigConfig, clock: Callable[[], float] = time.monotonic):
        self.config = config
        self.lock = threading.Lock()
        self.clock = clock
        self.vfd = VfdModel(config.belt, config.sim.belt)
        self.servo = ServoModel(config.harness, comm_timeout_s=config.harness.comm_timeout_s)
        self.safety_io = SafetyIoModel(config.safety_io)
        self.world = World(config.sim.world, config.loadcells.deck_cells_m)
        self.loadcell = LoadcellBoardTwin(config.loadcell_board.device,
                                          LoadcellBoardModel(seed=config.sim.world.seed))
        self.endpoints = self._endpoints()
        self.servers = TwinServerThread(*self._split_by_transport())
        self.physics = PhysicsThread(config.sim.world.step_hz, self.step)
        belt_world = config.sim.world.belt
        self._amps_per_newton = config.sim.belt.rated_current_a / belt_world.rated_force_n
        self.recorder = None  # a rig.sim.world_record.Recorder: the calibrated stream, every step

    def _endpoints(self) -> list[TwinEndpoint]:
        links = self.config.modbus_links()
        models = {"belt": (self.vfd, (0x0000, 0xFFFF)), "harness": (self.servo, (0x0000, 0xFFFF)),
                  "safety_io": (self.safety_io, (0, 0))}
        return [TwinEndpoint(name, model, links[name].host, links[name].port, links[name].unit, self.lock,
                             self.clock, address_span=span) for name, (model, span) in models.items()]

    def _split_by_transport(self) -> tuple[list[TwinEndpoint], list[RtuBus]]:
        links = self.config.modbus_links()
        tcp = [e for e in self.endpoints if links[e.name].transport == "tcp"]
        by_device: dict[str, list[TwinEndpoint]] = {}
        for e in self.endpoints:
            if links[e.name].transport == "rtu":
                by_device.setdefault(links[e.name].device, []).append(e)
        buses = []
        for device, members in by_device.items():
            link = links[members[0].name]
            buses.append(RtuBus(device, link.baud, link.parity, link.stopbits, members))
        return tcp, buses

    def step(self, now_s: float, dt_s: float) -> None:
        """Advance every model by dt_s (in <= 1 ms substeps), under the lock the Modbus side takes too."""
        with self.lock:
            substeps = max(1, round(dt_s / MAX_SUBSTEP_S + 0.499))
            h = dt_s / substeps
            for k in range(substeps):
                self._substep(now_s - dt_s + (k + 1) * h, h)

    def _substep(self, now_s: float, dt_s: float) -> None:
        self._step_safety_chain(now_s, dt_s)
        vfd, servo, world, mps_per_hz = self.vfd, self.servo, self.world, self.config.belt.mps_per_hz
        vfd.step(now_s, dt_s)
        servo.step(now_s, dt_s)
        world.set_belt_drive(vfd.state.output_hz * mps_per_hz, torque_available=not vfd.state.coasting)
        world.set_winch(servo.velocity_command_mps, servo.enabled, servo.brake_released,
                        servo.force_limit_n, torque_available=servo.sto_ok)
        world.step(dt_s)
        vfd.state.motor_hz = world.belt_speed_mps / mps_per_hz  # the motor turns with the belt
        vfd.state.external_load_a = abs(world.belt_load_n) * self._amps_per_newton
        servo.set_actuals(world.winch_position_m, world.winch_velocity_mps, world.line_force_n,
                          world.harness.motor_force_n)
        self.loadcell.sample(world.t_s, (world.line_force_n, *world.deck_forces_n))  # board clock = world time
        if self.recorder is not None:  # the calibrated stream, board noise, hum and spikes included
            self.recorder.add_row(world.t_s, self.loadcell.model.last_forces_n(), world.belt_speed_mps)

    def _step_safety_chain(self, now_s: float, dt_s: float) -> None:
        """The hardware relay: its STO contacts feed both drives, the brake reports back."""
        sio = self.safety_io
        sio.harness_attached = self.world.harness.attached
        sio.set_brake_released(self.servo.brake_released)
        sio.step(now_s, dt_s)
        self.vfd.set_sto(sio.chain_closed)
        self.servo.set_sto(sio.chain_closed)

    def start(self, physics_thread: bool = True) -> None:
        """Serve the twins; with physics_thread=False the caller steps time (lockstep tests)."""
        self.servers.start()
        self.loadcell.start()
        if physics_thread:
            self.physics.start()

    def stop(self) -> None:
        if self.physics.running:
            self.physics.stop()
        self.loadcell.stop()
        self.servers.stop()

    def step_to(self, t0_s: float, t1_s: float) -> None:
        """Step the physics from t0 to t1 at the configured rate (for a virtual clock)."""
        dt = self.physics.period_s
        t = t0_s
        while t < t1_s - 1e-12:
            h = min(dt, t1_s - t)
            t += h
            self.step(t, h)

    def endpoint(self, name: str) -> TwinEndpoint:
        return self.servers.endpoints[name]

    def __enter__(self) -> "SimRig":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
