"""Fault injection: the one table, its HTTP hook and `rig inject`, against a running sim."""
from __future__ import annotations

import gzip
import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from drivers.belt_vfd import DeltaVfd
from drivers.errors import CommsError, DeviceRejected
from rig.config import parse_config
from rig.sim.control import ControlServer
from rig.sim.inject import INJECTIONS, InjectionError, inject
from tests.conftest import config_text, free_port

ROOT = Path(__file__).resolve().parents[1]


def test_link_faults_reach_the_driver(sim, rig_config):
    drive = DeltaVfd(rig_config.belt)
    drive.connect()
    inject(sim, "exception_responses", device="belt", value=6)
    with pytest.raises(DeviceRejected) as caught:
        drive.read_status()
    assert caught.value.exception_code == 6
    inject(sim, "clear_link_faults", device="belt")
    inject(sim, "drop_responses", device="belt")
    with pytest.raises(CommsError):
        drive.read_status()
    inject(sim, "drop_responses", device="belt", value=False)
    inject(sim, "link_down", device="belt")
    with pytest.raises(CommsError):
        drive.read_status()
    inject(sim, "link_up", device="belt")
    assert drive.read_status().fault_code == 0
    drive.close()


def test_drive_fault_and_world_events(sim):
    inject(sim, "drive_fault", device="belt", code=7)
    assert sim.vfd.state.fault_code == 7
    inject(sim, "belt_hold")
    assert sim.world.belt.held
    inject(sim, "fall")
    time.sleep(0.5)
    assert any(event == "fall" for _, event, _ in sim.world.truth)


def test_unknown_names_and_arguments_are_refused_with_the_list(sim):
    with pytest.raises(InjectionError, match="known: .*drive_fault"):
        inject(sim, "meteor")
    with pytest.raises(InjectionError, match="link_down takes device, not speed"):
        inject(sim, "link_down", device="belt", speed=1)
    with pytest.raises(InjectionError, match="unknown device 'toaster'"):
        inject(sim, "link_down", device="toaster")
    with pytest.raises(InjectionError, match="must be true or false"):
        inject(sim, "belt_hold", held="maybe")


def test_every_injection_is_documented():
    assert len(INJECTIONS) >= 12
    assert all(entry.doc for entry in INJECTIONS.values())


def test_http_hook(sim):
    port = free_port()
    control = ControlServer(sim, port)
    control.start()
    try:
        listing = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/faults", timeout=5).read())
        assert "drive_fault" in listing and listing["drive_fault"]["args"] == {"device": "belt", "code": 0}
        body = json.dumps({"fault": "drive_fault", "args": {"device": "belt", "code": "12"}}).encode()
        urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/inject", data=body), timeout=5)
        state = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/state", timeout=5).read())
        assert state["belt_drive"]["fault_code"] == 12
        bad = json.dumps({"fault": "nope"}).encode()
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/inject", data=bad), timeout=5)
        assert caught.value.code == 400
    finally:
        control.stop()


def test_rig_sim_record_and_rig_inject(tmp_path: Path):
    config_path = tmp_path / "rig.toml"
    config_path.write_text(config_text(free_port()))
    recording = tmp_path / "walk.csv.gz"
    proc = subprocess.Popen([sys.executable, "-m", "rig", "sim", "--config", str(config_path), "--record",
                             str(recording)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "fault injection on" in _read_until(proc, "fault injection on", 20)
        done = subprocess.run([sys.executable, "-m", "rig", "inject", "fall", "--config", str(config_path)],
                              cwd=ROOT, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0 and "injected fall" in done.stdout
        refused = subprocess.run([sys.executable, "-m", "rig", "inject", "meteor", "--config", str(config_path)],
                                 cwd=ROOT, capture_output=True, text=True, timeout=30)
        assert refused.returncode == 1 and "unknown fault 'meteor'" in refused.stderr
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert "recorded" in out
    with gzip.open(recording, "rt") as rows:
        lines = rows.read().splitlines()
    assert lines[0] == "t_s,harness_n,deck_fl_n,deck_fr_n,deck_rl_n,deck_rr_n,belt_mps"
    assert len(lines) > 1000  # one row per 1 ms physics step
    truth = (tmp_path / "walk.truth.csv").read_text().splitlines()
    assert truth[0] == "t_s,event,side" and any(",fall," in line for line in truth)


def _read_until(proc: subprocess.Popen, marker: str, timeout_s: float) -> str:
    end = time.monotonic() + timeout_s
    seen = ""
    while time.monotonic() < end:
        line = proc.stdout.readline()
        seen += line
        if marker in line:
            return seen
    return seen
