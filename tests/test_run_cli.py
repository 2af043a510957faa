"""`rig run` end to end, as an operator starts it: a child sim process, real time, real TCP."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from rig.script import session_text
from rig.sim.lockstep import stack_config_text

ROOT = Path(__file__).resolve().parents[1]


# These tests run the rig in real time beside its sim process on a shared test machine, which
# can stall either process for tens of milliseconds. They test start-up, scripts and signals,
# not timing (bench/loop.py does that), so staleness and overrun budgets are widened here.
BUSY_MACHINE = {
    "[loop]\n": "[loop]\noverrun_fault_count = 400\n",
    "[loadcell_board]\n": "[loadcell_board]\nstale_after_s = 0.5\n",
    "[sim]\n": ("[safety]\ncomm_lost_min_s = 1.0\n\n[safety_io]\nheartbeat_timeout_s = 1.0\n\n"
                "[harness]\ncomm_timeout_s = 0.5\n\n[sim]\n"),
}


def write_config(tmp_path: Path, sim_enabled: bool = True) -> Path:
    path = tmp_path / "rig.toml"
    text = stack_config_text()
    for section, widened in BUSY_MACHINE.items():
        assert section in text, section
        text = text.replace(section, widened, 1)
    if not sim_enabled:
        text = text.replace("enabled = true", "enabled = false")
    path.write_text(text)
    return path


def rig(*args: str) -> list[str]:
    return [sys.executable, "-m", "rig", *args]


def test_absent_belt_drive_refuses_to_start(tmp_path: Path):
    config = write_config(tmp_path, sim_enabled=False)
    result = subprocess.run(rig("run", "--config", str(config)), cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "FAULT 103 (belt_connect_failed)" in result.stderr
    assert "What to do: Check that the belt drive is switched on" in result.stderr
    assert "running" not in result.stdout  # never reached the loop, let alone idle


def test_script_runs_to_the_end(tmp_path: Path):
    config = write_config(tmp_path)
    script = tmp_path / "short.toml"
    script.write_text(session_text(0.5, 1.5))
    result = subprocess.run(rig("run", "--config", str(config), "--script", str(script)),
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(" walking " in line and "belt  0.50 m/s" in line for line in lines)
    assert "script finished" in lines[-1]
    assert any(" idle " in line for line in lines[-4:])
    assert "loop p99" in lines[1]


def test_script_beyond_limits_is_refused_before_anything_moves(tmp_path: Path):
    config = write_config(tmp_path)
    script = tmp_path / "fast.toml"
    script.write_text(session_text(3.0, 1.0))
    result = subprocess.run(rig("run", "--config", str(config), "--script", str(script)),
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "[step 3] speed_mps = 3.0 must be at most 1.5 (patient.max_speed_mps)" in result.stderr
    assert "running" not in result.stdout


def test_sigint_stops_the_belt_cleanly(tmp_path: Path):
    config = write_config(tmp_path)
    script = tmp_path / "long.toml"
    script.write_text(session_text(1.0, 600))
    proc = subprocess.Popen(rig("run", "--config", str(config), "--script", str(script)), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        seen_walking = False
        while time.monotonic() < deadline and not seen_walking:
            line = proc.stdout.readline()
            seen_walking = "belt  1.00 m/s" in line
        assert seen_walking, "belt never reached 1.0 m/s"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert "SIGINT received: stopping the belt" in err
    final = [line for line in out.splitlines() if line.startswith("t=")][-1]
    assert "belt  0.00 m/s" in final and (" idle " in final or " detaching " in final), out[-3000:] + err[-3000:]


def test_a_recorded_session_replays_with_the_sims_true_gait_events(tmp_path: Path):
    config = write_config(tmp_path)
    script = tmp_path / "walk.toml"
    script.write_text(session_text(1.0, 12))
    record = tmp_path / "session.csv.gz"
    result = subprocess.run(rig("run", "--config", str(config), "--script", str(script), "--record", str(record)),
                            cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    truth = tmp_path / "session.sim.truth.csv"
    assert f"--truth {truth}" in result.stdout.splitlines()[-1]  # the hint printed for the operator
    replayed = subprocess.run(rig("replay", str(record), "--events-out", str(tmp_path / "events.csv"),
                                  "--truth", str(truth)), cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert replayed.returncode == 0, replayed.stderr
    scores = {line.split()[0]: line.split() for line in replayed.stdout.splitlines()
              if line.startswith(("heel_strike", "toe_off"))}
    for kind in ("heel_strike", "toe_off"):
        words = scores[kind]
        recall, precision = float(words[2]), float(words[5])
        assert recall >= 85 and precision >= 85, replayed.stdout  # starts and stops included
