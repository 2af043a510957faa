"""`rig bench loop`: the supervisor loop on the simulated rig, timed on the monotonic clock.

Starts the simulated rig (its own process, like a real rig's devices), walks the belt at
1.0 m/s and runs the full controller loop for --seconds, then reports the loop's period error,
overruns, the controller process's CPU share and memory. With --json the last line printed is
one JSON object (keys kept stable for later issues).
"""
from __future__ import annotations

import json
import os
import urllib.request
import resource
import time
from typing import Any

from drivers.belt_vfd import DeltaVfd
from rig.app import RigApp
from rig.clock import MonotonicClock
from rig.commands import Start
from rig.config import load_config
from rig.simproc import sim_process

WALK_SPEED_MPS = 1.0


def rss_mb() -> float:
    """Resident set size of this process now, from /proc (MB)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def sched_policy() -> str:
    names = {os.SCHED_OTHER: "SCHED_OTHER", os.SCHED_FIFO: "SCHED_FIFO", os.SCHED_RR: "SCHED_RR"}
    return names.get(os.sched_getscheduler(0), "other")


def sim_physics(config) -> dict[str, Any]:
    """The simulated rig's own step count and overruns, from its control hook."""
    url = f"http://127.0.0.1:{config.sim.control_port}/state"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            state = json.loads(response.read())
    except OSError:
        return {"sim_physics_steps": None, "sim_physics_overruns": None}
    return {"sim_physics_steps": state["physics_steps"], "sim_physics_overruns": state["physics_overruns"]}


def measure(config_path: str, seconds: float) -> dict[str, Any]:
    config = load_config(config_path)
    with sim_process(config, config_path):
        belt = DeltaVfd(config.belt)
        belt.connect()
        app = RigApp(config, belt, MonotonicClock())
        app.supervisor.submit(Start(WALK_SPEED_MPS))
        wall0, cpu0 = time.monotonic(), cpu_s()
        end = wall0 + seconds
        app.loop.run(app.tick, lambda: time.monotonic() >= end)
        wall, cpu = time.monotonic() - wall0, cpu_s() - cpu0
        snap, stats = app.supervisor.snapshot, app.loop.stats()
        physics = sim_physics(config) if config.sim.enabled else {}
        app.request_stop()
        app.loop.run(app.tick, app.should_stop)
        belt.close()
    return {
        "seconds": round(wall, 2), "rate_hz": config.loop.rate_hz, "ticks": stats.ticks,
        "period_err_p50_ms": round(stats.period_err_p50_ms, 4),
        "period_err_p99_ms": round(stats.period_err_p99_ms, 4),
        "period_err_max_ms": round(stats.period_err_max_ms, 4),
        "overruns": stats.overruns, "longest_overrun_periods": stats.longest_overrun_periods,
        "cpu_pct": round(100.0 * cpu / wall, 2), "rss_mb": round(rss_mb(), 1),
        "sched_policy": sched_policy(), "state_while_running": snap.state,
        "faults": [f.code for f in snap.faults], **physics,
    }


def main(args) -> int:
    result = measure(args.config, args.seconds)
    print(f"loop at {result['rate_hz']:.0f} Hz for {result['seconds']} s ({result['ticks']} ticks, "
          f"{result['sched_policy']}), belt walking at {WALK_SPEED_MPS} m/s")
    print(f"period error p50 {result['period_err_p50_ms']} ms, p99 {result['period_err_p99_ms']} ms, "
          f"max {result['period_err_max_ms']} ms; overruns {result['overruns']}")
    print(f"controller CPU {result['cpu_pct']} % of one core, RSS {result['rss_mb']} MB")
    if result.get("sim_physics_steps") is not None:
        print(f"simulated rig: {result['sim_physics_steps']} physics steps, {result['sim_physics_overruns']} overruns")
    if args.json:
        print(json.dumps(result))
    return 0 if not result["faults"] else 1
