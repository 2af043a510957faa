"""`rig bench deadman [--json]`: the controller killed (SIGKILL) while the patient walks.

Nothing in the controller runs after a SIGKILL, so this measures the layers below it: the belt
drive's own comm-loss watchdog (Pr.09-03, with a ramp stop) stops the belt, the safety I/O
module's heartbeat watchdog opens the safety chain, and the harness drive's comm watchdog
faults it with its brake on, so the winch holds and the patient stays supported.

It runs `rig run` (which starts the simulated rig in its own process, as real devices are
separate from the controller) through attach, 30 % unloading and walking at 1.0 m/s, kills it,
then watches the sim's ground truth over its control hook (GET /state, every ~5 ms) until the
belt is at rest. Reports: the time from the kill to the chain opening, to the belt drive
starting its ramp, to the belt at rest, the belt's travel after the kill, the harness brake,
the lowest line force and the winch's lowest position (after the kill it may pay out only what its last
command does until the harness drive's own watchdog brakes it: 50 ms by default). The orphaned
sim process is stopped at the end. `measure()` is also what tests/test_deadman.py asserts on.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from rig.config import load_config
from rig.script import session_text

ROOT = Path(__file__).resolve().parents[1]
AT_REST_MPS = 0.005
WATCH_LIMIT_S = 15.0


def sim_state(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/state", timeout=2) as response:
        return json.loads(response.read())


def _sim_pids(config_path: str) -> list[int]:
    """The `rig sim` process(es) started for this config (orphaned once the controller died)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = (Path("/proc") / entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"sim" in cmdline and config_path.encode() in cmdline:
                pids.append(int(entry))
    return pids


def _walk(config_path: str, script: Path, timeout_s: float = 90.0) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "rig", "run", "--config", config_path, "--script", str(script)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if "walking" in line and "belt  1.00 m/s" in line:
            return proc
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError("the rig never walked at 1.0 m/s: " + proc.stderr.read()[-2000:])


def _watch(port: int, killed_at: float) -> dict[str, Any]:
    first: dict[str, float] = {}
    travel_m, min_force, min_winch = 0.0, float("inf"), float("inf")
    last_t, last_speed = killed_at, None
    while time.monotonic() - killed_at < WATCH_LIMIT_S:
        state, now = sim_state(port), time.monotonic()
        since = now - killed_at
        if last_speed is not None:
            travel_m += abs(last_speed) * (now - last_t)
        last_t, last_speed = now, state["belt_mps"]
        min_force = min(min_force, state["line_force_n"])
        min_winch = min(min_winch, state["winch_position_m"])
        for key, happened in (("chain_open_s", not state["safety_chain_closed"]),
                              ("belt_ramp_s", not state["belt_drive"]["run_command"]),
                              ("harness_brake_s", state["harness_brake_engaged"]),
                              ("belt_at_rest_s", abs(state["belt_mps"]) < AT_REST_MPS)):
            if happened and key not in first:
                first[key] = since
        if len(first) == 4:
            break
        time.sleep(0.005)
    return {**{k: round(v, 3) for k, v in first.items()}, "belt_travel_after_kill_m": round(travel_m, 3),
            "min_line_force_n": round(min_force, 1), "min_winch_position_m": round(min_winch, 4)}


def measure(config_path: str) -> dict[str, Any]:
    """Walk, SIGKILL the controller, watch the sim until the belt is at rest."""
    config = load_config(config_path)
    script = Path(tempfile.mkdtemp(prefix="rig-deadman-")) / "walk.toml"
    script.write_text(session_text(1.0, 600))  # ends with stop and detach, never reached
    proc = _walk(config_path, script)
    try:
        before = sim_state(config.sim.control_port)
        proc.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        proc.wait(timeout=5)
        after = _watch(config.sim.control_port, killed_at)
        time.sleep(0.2)  # the drive latches CE10 once its output is exactly zero
        final = sim_state(config.sim.control_port)
    finally:
        proc.kill()
        for pid in _sim_pids(config_path):
            os.kill(pid, signal.SIGTERM)
    return {
        "belt_mps_at_kill": round(before["belt_mps"], 3), "line_force_at_kill_n": round(before["line_force_n"], 1),
        "winch_position_at_kill_m": round(before["winch_position_m"], 4), **after,
        "belt_comm_timeout_s": config.belt.comm_timeout_s, "heartbeat_timeout_s": config.safety_io.heartbeat_timeout_s,
        "harness_comm_timeout_s": config.harness.comm_timeout_s,
        "belt_drive_fault_code": final["belt_drive"]["fault_code"],
        "belt_drive_warning_code": final["belt_drive"]["warning_code"],
    }


def main(args) -> int:
    r = measure(args.config)
    print(f"controller SIGKILLed while walking at {r['belt_mps_at_kill']} m/s, line {r['line_force_at_kill_n']} N")
    print(f"safety chain open after {r.get('chain_open_s')} s (heartbeat watchdog {r['heartbeat_timeout_s']} s)")
    print(f"belt drive ramping after {r.get('belt_ramp_s')} s, at rest after {r.get('belt_at_rest_s')} s "
          f"(comm watchdog {r['belt_comm_timeout_s']} s), {r['belt_travel_after_kill_m']} m of belt; "
          f"drive fault code {r['belt_drive_fault_code']}, warning {r['belt_drive_warning_code']} (58 = CE10)")
    print(f"harness brake on after {r.get('harness_brake_s')} s (drive watchdog {r['harness_comm_timeout_s']} s); "
          f"lowest line force {r['min_line_force_n']} N, winch {r['winch_position_at_kill_m']} -> lowest "
          f"{r['min_winch_position_m']} m")
    if args.json:
        print(json.dumps(r))
    return 0 if "belt_at_rest_s" in r else 1
