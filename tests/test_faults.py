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
