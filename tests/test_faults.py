"""The fault catalogue: stable codes in their ranges, plain words, and `rig faults`."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from safety.faults import CATALOGUE, CODE_RANGES, Severity, category

ROOT = Path(__file__).resolve().parents[1]


def test_codes_are_in_design_ranges():
    for code in CATALOGUE:
        assert 100 <= code < 800 and code // 100 in CODE_RANGES, code
        assert category(code)


def test_every_fault_has_name_message_and_recovery():
    names = [f.name for f in CATALOGUE.values()]
    assert len(names) == len(set(names))
    for entry in CATALOGUE.values():
        assert entry.name.isidentifier()
        assert entry.message.strip().endswith((".", "!")) or "disabled" in entry.message
        assert len(entry.recovery) > 20
        assert isinstance(entry.severity, Severity)


def test_foundation_faults_present():
    for code in (101, 102, 103, 301, 302, 303, 304, 601, 602, 603):
        assert code in CATALOGUE


def test_watchdog_message_says_what_design_says():
    assert "belt drive comm-loss stop is disabled" in CATALOGUE[302].message


def test_cli_faults_json_lists_everything():
    out = subprocess.run([sys.executable, "-m", "rig", "faults", "--json"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60, check=True).stdout
    listed = json.loads(out)
    assert {entry["code"] for entry in listed} == set(CATALOGUE)
    assert all({"code", "name", "severity", "message", "recovery"} <= set(e) for e in listed)


def test_cli_faults_text():
    out = subprocess.run([sys.executable, "-m", "rig", "faults"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60, check=True).stdout
    for code, entry in CATALOGUE.items():
        assert f"{code}  {entry.name}" in out
        assert entry.recovery in out


INTERLOCK_FAULTS = {  # code: (name, severity) as the interlocks and the supervisor rely on them
    205: ("deck_force_implausible", Severity.FAST_STOP), 206: ("deck_cell_disagrees", Severity.STOP),
    305: ("belt_overspeed", Severity.FAST_STOP), 306: ("belt_reverse_overspeed", Severity.FAST_STOP),
    408: ("harness_force_tracking", Severity.FAST_STOP), 409: ("harness_force_over_cap", Severity.FAST_STOP),
    410: ("winch_out_of_travel", Severity.FAST_STOP),
    411: ("harness_detached_while_loaded", Severity.FAST_STOP),
    501: ("patient_fall", Severity.FAST_STOP), 502: ("patient_not_on_deck", Severity.STOP),
    503: ("weight_bearing_over_limit", Severity.ALARM), 504: ("weight_bearing_over_limit_stop", Severity.STOP),
    604: ("calibration_invalid", Severity.STOP), 605: ("selftest_failed", Severity.STOP),
    701: ("estop_pressed", Severity.FAST_STOP), 702: ("safety_key_removed", Severity.FAST_STOP),
}


def test_interlock_faults_have_their_names_and_severities():
    for code, (name, severity) in INTERLOCK_FAULTS.items():
        assert (CATALOGUE[code].name, CATALOGUE[code].severity) == (name, severity), code
    assert category(501) == "patient" and category(701) == "operator / e-stop"
