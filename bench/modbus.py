"""`rig bench modbus`: transaction latency per device over Modbus TCP and over the RTU sim.

For each device it times the driver's regular poll (`read_status` / `read_inputs`) against a
plain pymodbus client doing the same register reads on the same twin, in the same run, and
reports p50 / p99 and their ratio, and the CPU time per poll of each (on TCP the driver runs on
the lean client of drivers/modbus_tcp.py; on RTU both use pymodbus's serial client). It also gives the per-tick I/O time of the configured poll
plan at the loop rate (each device's poll time x its poll rate / loop rate).
With --json the last line printed is one JSON object.
"""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from drivers.belt_vfd import DeltaVfd
from drivers.bus import BusPool
from drivers.harness_servo.cia402 import Cia402Servo
from drivers.modbus_link import pymodbus_client
from drivers.safety_io.modbus_io import ModbusSafetyIo
from rig.config import RigConfig, load_config, parse_config
from rig.sim.runner import SimRig
from safety.faults import fault

ROOT = Path(__file__).resolve().parents[1]
N = 300


def _times_ms(call: Callable[[], Any], n: int = N) -> tuple[np.ndarray, float]:
    """Wall time of each call (ms) and the CPU time per call (µs) of this thread."""
    out = np.empty(n)
    cpu0 = time.thread_time()
    for i in range(n):
        t0 = time.perf_counter()
        call()
        out[i] = (time.perf_counter() - t0) * 1e3
    return out, (time.thread_time() - cpu0) / n * 1e6


def _plain_reads(config: RigConfig, client) -> dict[str, Callable[[], Any]]:
    """What each driver reads per poll, done with a bare pymodbus client."""
    b, h, s = config.belt, config.harness, config.safety_io
    hr = h.registers
    return {
        "belt": lambda: client.read_holding_registers(b.registers.fault_warning, count=5, device_id=b.link.unit),
        "harness": lambda: [client.read_holding_registers(a, count=c, device_id=h.link.unit)
                            for a, c in ((hr.statusword, 1), (hr.position_actual, 2),
                                         (hr.velocity_actual, 2), (hr.torque_actual, 1))],
        "safety_io": lambda: client.read_discrete_inputs(0, count=5, device_id=s.link.unit),
    }


def _drivers(config: RigConfig, pool: BusPool) -> dict[str, Callable[[], Any]]:
    belt = DeltaVfd(config.belt, link=pool.link(config.belt.link, "belt drive", fault("belt_comm_lost").code,
                                                 fault("belt_comm_rejected").code))
    harness = Cia402Servo(config.harness, link=pool.link(config.harness.link, "harness drive",
                                                         fault("harness_comm_lost").code,
                                                         fault("harness_comm_rejected").code))
    io = ModbusSafetyIo(config.safety_io, link=pool.link(config.safety_io.link, "safety I/O",
                                                         fault("safety_io_comm_lost").code,
                                                         fault("safety_io_comm_rejected").code))
    for device in (belt, harness, io):
        device.connect()
    return {"belt": belt.read_status, "harness": harness.read_status, "safety_io": io.read_inputs}


def _stats(ms: np.ndarray, cpu_us: float) -> dict[str, float]:
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p99_ms": round(float(np.percentile(ms, 99)), 3),
            "cpu_us": round(cpu_us, 1)}


def measure(config: RigConfig, label: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    with SimRig(config):
        pool = BusPool()
        drivers = _drivers(config, pool)
        links = config.modbus_links()
        for name, poll in drivers.items():
            ours, ours_cpu = _times_ms(poll)
            tcp = links[name].transport == "tcp"
            plain_client = pymodbus_client(links[name]) if tcp else pool.client(links[name])
            plain_client.connect()
            plain, plain_cpu = _times_ms(_plain_reads(config, plain_client)[name])
            if tcp:
                plain_client.close()
            result[name] = {"transport": links[name].transport, "driver": _stats(ours, ours_cpu),
                            "plain_pymodbus": _stats(plain, plain_cpu),
                            "ratio_p50": round(float(np.percentile(ours, 50) / np.percentile(plain, 50)), 2)}
        pool.close()
    result["tick_io_ms"] = round(_tick_io_ms(config, result), 3)
    return {label: result}


def _tick_io_ms(config: RigConfig, result: dict[str, Any]) -> float:
    rates = {"belt": config.belt.poll_hz, "harness": config.harness.poll_hz, "safety_io": config.safety_io.poll_hz}
    return sum(result[n]["driver"]["p50_ms"] * hz / config.loop.rate_hz for n, hz in rates.items())


def _rtu_config(folder: Path) -> RigConfig:
    text = (ROOT / "configs" / "sim-rtu.toml").read_text().replace("/tmp/rig-sim/rtu-bus", str(folder / "rtu-bus"))
    text += f'\n[loadcell_board]\ndevice = "{folder / "loadcell"}"\n'
    return parse_config(text)


def main(args) -> int:
    results = measure(load_config(args.config), "tcp")
    with tempfile.TemporaryDirectory() as folder:
        results.update(measure(_rtu_config(Path(folder)), "rtu"))
    for label, devices in results.items():
        print(f"{label}: poll-plan I/O per {1000 / 200:.0f} ms tick: {devices['tick_io_ms']} ms")
        for name, figures in devices.items():
            if isinstance(figures, dict):
                d, p = figures["driver"], figures["plain_pymodbus"]
                print(f"  {name:10s} driver p50 {d['p50_ms']:.3f} ms p99 {d['p99_ms']:.3f} ms cpu {d['cpu_us']:.0f} us "
                      f"| plain pymodbus p50 {p['p50_ms']:.3f} ms p99 {p['p99_ms']:.3f} ms cpu {p['cpu_us']:.0f} us "
                      f"| ratio {figures['ratio_p50']}")
    if args.json:
        print(json.dumps(results))
    return 0
