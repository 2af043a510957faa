"""`rig bench loop [--seconds S] [--json]`: the full rig in real time, timed on the monotonic clock.

Starts the simulated rig in its own process (as a real rig's devices are), connects every real
driver (belt VFD, harness servo, safety I/O over Modbus TCP, the load-cell stream over its pty),
turns the session recording writer on, and runs the complete supervisor loop through a session:
attach, unload to 30 %, walk at 1.0 m/s for --seconds, stop, detach. The loop runs under the
same real-time services as `rig run` (rig/services.py). It reports the loop's period error
p50 / p99 / max, overruns and the longest, the controller process's CPU share of one core and
RSS over the whole session, the scheduling policy the loop ran under (read back from the
kernel), the recorder's written / dropped counts, and the host's steal time over the run (on a
virtual machine, CPU time the hypervisor gave to other guests: the controller's CPU share and
jitter rise with it, so a run is only comparable with one of similar steal). With --json the
last line is one JSON object.
"""
from __future__ import annotations

import json
import resource
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from rig.app import RigApp, build_devices
from rig.clock import MonotonicClock
from rig.config import load_config
from rig.realtime import describe_policy
from rig.recorder import SessionRecorder
from rig.script import parse_script, session_text
from rig.sdnotify import Notifier
from rig.services import LoopServices
from rig.simproc import sim_process


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


def cpu_ticks() -> tuple[int, int]:
    """Machine-wide (all CPUs) total and steal jiffies from /proc/stat: (0, 0) where unreadable."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = [int(x) for x in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    return sum(fields[:8]), fields[7] if len(fields) > 7 else 0


def steal_pct(before: tuple[int, int], after: tuple[int, int]) -> float | None:
    """Share of the machine's CPU time the hypervisor gave to others between two cpu_ticks()."""
    total = after[0] - before[0]
    return round(100.0 * (after[1] - before[1]) / total, 2) if total > 0 else None


def sim_physics(config) -> dict[str, Any]:
    """The simulated rig's own step count and overruns, from its control hook."""
    url = f"http://127.0.0.1:{config.sim.control_port}/state"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            state = json.loads(response.read())
    except OSError:
        return {"sim_physics_steps": None, "sim_physics_overruns": None}
    return {"sim_physics_steps": state["physics_steps"], "sim_physics_overruns": state["physics_overruns"]}


class PolicySeen(LoopServices):
    """LoopServices that also note the loop thread's policy once it is in force."""

    policy = ""

    def __enter__(self) -> "PolicySeen":
        super().__enter__()
        self.policy = str(describe_policy())
        return self


def measure(config_path: str, seconds: float) -> dict[str, Any]:
    config = load_config(config_path)
    steps = parse_script(session_text(1.0, seconds), config, "bench loop session")
    recording = Path(tempfile.mkdtemp(prefix="rig-bench-loop-")) / "session.csv.gz"
    with sim_process(config, config_path):
        clock = MonotonicClock()
        devices = build_devices(config, clock)
        services = PolicySeen(config.loop, Notifier.from_env())
        services.prepare()  # slow: before connecting arms the drives' comm watchdogs
        failures = devices.connect()
        if failures:
            raise SystemExit(f"devices did not connect: {failures}")
        recorder = SessionRecorder(recording).start()
        app = RigApp(config, devices, clock, steps, recorder=recorder)
        wall0, cpu0, ticks0 = time.monotonic(), cpu_s(), cpu_ticks()
        try:
            with services:
                code = app.run(services.after_tick)
        finally:
            devices.close()
        wall, cpu = time.monotonic() - wall0, cpu_s() - cpu0
        steal = steal_pct(ticks0, cpu_ticks())
        physics = sim_physics(config)
        rec = recorder.close()
    stats, snap = app.loop.stats(), app.supervisor.snapshot
    return {
        "seconds": round(wall, 2), "walk_seconds": seconds, "rate_hz": config.loop.rate_hz,
        "ticks": stats.ticks,
        "period_err_p50_ms": round(stats.period_err_p50_ms, 4),
        "period_err_p99_ms": round(stats.period_err_p99_ms, 4),
        "period_err_max_ms": round(stats.period_err_max_ms, 4),
        "overruns": stats.overruns, "longest_overrun_periods": stats.longest_overrun_periods,
        "cpu_pct": round(100.0 * cpu / wall, 2), "rss_mb": round(rss_mb(), 1), "host_steal_pct": steal,
        "sched_policy": services.policy, "realtime": str(services.report), "companions": services.companions,
        "final_state": snap.state, "faults": [f.code for f in snap.faults],
        "script": (app.script.failure or "finished") if app.script else "none", "exit_code": code,
        "recorded_samples": rec.written, "recorder_dropped_samples": rec.dropped,
        "recording": str(recording), **physics,
    }


def main(args) -> int:
    result = measure(args.config, args.seconds)
    print(f"loop at {result['rate_hz']:.0f} Hz for {result['seconds']} s ({result['ticks']} ticks; "
          f"loop thread {result['sched_policy']}, {result['companions']}); session: attach, 30 %, walk 1.0 m/s for "
          f"{result['walk_seconds']} s, stop, detach -> {result['final_state']}, script {result['script']}")
    print(f"period error p50 {result['period_err_p50_ms']} ms, p99 {result['period_err_p99_ms']} ms, "
          f"max {result['period_err_max_ms']} ms; overruns {result['overruns']} "
          f"(longest {result['longest_overrun_periods']} periods)")
    print(f"controller CPU {result['cpu_pct']} % of one core, RSS {result['rss_mb']} MB; recorder wrote "
          f"{result['recorded_samples']} samples, dropped {result['recorder_dropped_samples']}")
    print(f"host steal {result['host_steal_pct']} % of the machine's CPU time (a virtual machine's neighbours: "
          f"CPU share and jitter rise with it)")
    if result.get("sim_physics_steps") is not None:
        print(f"simulated rig: {result['sim_physics_steps']} physics steps, {result['sim_physics_overruns']} overruns")
    if args.json:
        print(json.dumps(result))
    return 0 if not result["faults"] and result["exit_code"] == 0 else 1
