"""Config validation: one test per rule, messages that name file, section, option and limit."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rig.config import RigConfig, load_config, parse_config, show_config
from rig.configspec import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def issues_of(text: str, file: str = "configs/my-rig.toml") -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, file)
    return [str(i) for i in caught.value.issues]


def test_example_message_out_of_range():
    assert issues_of("[belt]\nmax_speed_mps = 9.0\n") == [
        "configs/my-rig.toml: [belt] max_speed_mps = 9.0 must be at most 5.0"]


def test_example_message_unknown_option_with_suggestion():
    assert issues_of("[belt]\nmax_sped_mps = 1.0\n") == [
        "configs/my-rig.toml: [belt] max_sped_mps is not a known option (did you mean max_speed_mps?)"]


def test_three_errors_are_all_reported():
    found = issues_of("[belt]\nmax_speed_mps = 9.0\nmps_per_hz = -1\n[loop]\nrate_hz = \"fast\"\n")
    assert len(found) == 3
    assert any("[belt] max_speed_mps = 9.0 must be at most 5.0" in f for f in found)
    assert any("[belt] mps_per_hz = -1 must be greater than 0.0" in f for f in found)
    assert any('[loop] rate_hz = "fast" must be a number' in f for f in found)


def test_unknown_option_without_close_match_lists_known_options():
    (message,) = issues_of("[loop]\nzzz = 1\n")
    assert "[loop] zzz is not a known option (known options here: rate_hz" in message


def test_unknown_section_is_an_error():
    (message,) = issues_of("[bellt]\nmax_speed_mps = 1.0\n")
    assert message == "configs/my-rig.toml: [bellt] is not a known section (did you mean belt?)"


def test_unknown_subsection_is_an_error():
    (message,) = issues_of("[belt.lnk]\nport = 1\n")
    assert "[belt.lnk] is not a known section (did you mean link?)" in message


def test_wrong_type_string_for_number():
    (message,) = issues_of('[belt]\npoll_hz = "50"\n')
    assert message.endswith('[belt] poll_hz = "50" must be a number')


def test_wrong_type_float_for_whole_number():
    (message,) = issues_of("[belt.link]\nport = 15020.5\n")
    assert message.endswith("[belt.link] port = 15020.5 must be a whole number")


def test_bool_is_not_a_number():
    (message,) = issues_of("[belt]\npoll_hz = true\n")
    assert message.endswith("[belt] poll_hz = true must be a number")


def test_int_is_accepted_for_float():
    assert parse_config("[belt]\npoll_hz = 40\n").belt.poll_hz == 40.0


def test_below_minimum():
    (message,) = issues_of("[loop]\nrate_hz = 5\n")
    assert message.endswith("[loop] rate_hz = 5 must be at least 10.0")


def test_exclusive_minimum():
    (message,) = issues_of("[belt.link]\ntimeout_s = 0\n")
    assert message.endswith("[belt.link] timeout_s = 0 must be greater than 0.0")


def test_choices_are_listed():
    (message,) = issues_of('[belt.link]\nparity = "X"\n')
    assert message.endswith('[belt.link] parity = "X" must be one of "N", "E", "O"')


def test_section_given_as_value():
    (message,) = issues_of("belt = 3\n")
    assert "belt = 3 must be a table [belt]" in message


def test_cross_option_rtu_needs_device():
    (message,) = issues_of('[belt.link]\ntransport = "rtu"\n')
    assert "[belt.link] device is required when transport = \"rtu\"" in message


def test_cross_option_speed_within_drive_reach():
    (message,) = issues_of("[belt]\nmax_frequency_hz = 30\nmps_per_hz = 0.05\nmax_speed_mps = 2.0\n")
    assert "[belt] max_speed_mps = 2.0 must be at most 1.5" in message


def test_timeout_budget_must_fit_poll_period():
    (message,) = issues_of("[belt]\npoll_hz = 100\n[belt.link]\ntimeout_s = 0.5\nretries = 2\n")
    assert "[belt] link.timeout_s = 0.5 with link.retries = 2 can block 1500.0 ms" in message
    assert "more than the poll period 10.0 ms at poll_hz = 100" in message


@pytest.mark.parametrize("device, rate, timeout, retries", [
    ("harness", 200, 0.005, 1), ("safety_io", 100, 0.006, 1), ("belt", 50, 0.021, 0)])
def test_every_device_blocking_must_fit_its_poll_period(device, rate, timeout, retries):
    (message,) = issues_of(f"[{device}]\npoll_hz = {rate}\n[{device}.link]\ntimeout_s = {timeout}\nretries = {retries}\n")
    assert f"[{device}] link.timeout_s = {timeout}" in message


@pytest.mark.parametrize("device, rate, timeout, retries", [
    ("harness", 200, 0.005, 0), ("safety_io", 100, 0.005, 1), ("belt", 50, 0.02, 0)])
def test_blocking_exactly_the_poll_period_is_allowed(device, rate, timeout, retries):
    config = parse_config(f"[{device}]\npoll_hz = {rate}\n[{device}.link]\ntimeout_s = {timeout}\nretries = {retries}\n")
    assert config.modbus_links()[device].worst_case_blocking_s == pytest.approx(1.0 / rate)


def test_malformed_toml_names_the_file():
    (message,) = issues_of("[belt\nmax_speed_mps = 1\n")
    assert message.startswith("configs/my-rig.toml: is not valid TOML")


def test_missing_file(tmp_path: Path):
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.toml")
    assert str(caught.value).endswith("nope.toml: does not exist")


def test_defaults_fill_everything():
    config = parse_config("")
    assert config.loop.rate_hz == 200.0
    assert config.belt.link.port == 15020  # the section's own default, not LinkConfig's 502
    assert config.belt.registers.control == 0x2000


def test_partial_subsection_keeps_section_defaults():
    assert parse_config("[belt.link]\nunit = 3\n").belt.link.port == 15020


def test_config_is_frozen():
    config = parse_config("")
    with pytest.raises(AttributeError):
        config.belt.max_speed_mps = 9.0  # type: ignore[misc]


@pytest.mark.parametrize("name", ["sim.toml", "reference-rig.toml"])
def test_shipped_configs_pass(name: str):
    assert isinstance(load_config(ROOT / "configs" / name), RigConfig)


def test_reference_rig_is_the_design_hardware():
    config = load_config(ROOT / "configs" / "reference-rig.toml")
    assert config.belt.link.transport == "rtu"
    assert config.sim.enabled is False


def test_show_round_trips():
    config = load_config(ROOT / "configs" / "reference-rig.toml")
    assert parse_config(show_config(config)) == config


def run_rig(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rig", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_cli_check_ok_and_failure(tmp_path: Path):
    assert run_rig("config", "check", "configs/sim.toml").returncode == 0
    bad = tmp_path / "bad.toml"
    bad.write_text("[belt]\nmax_speed_mps = 9.0\nmax_sped_mps = 1\n[loop]\nrate_hz = 1\n")
    result = run_rig("config", "check", str(bad))
    assert result.returncode == 1
    assert "3 error(s)" in result.stderr
    assert f"{bad}: [belt] max_speed_mps = 9.0 must be at most 5.0" in result.stderr


def test_cli_show_prints_defaults():
    result = run_rig("config", "show", "configs/sim.toml")
    assert result.returncode == 0
    assert "comm_loss_reaction = \"ramp_stop\"" in result.stdout
    assert "control = 0x2000" in result.stdout


def test_cli_run_refuses_bad_config(tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[belt]\nmax_speed_mps = 9.0\n")
    result = run_rig("run", "--config", str(bad))
    assert result.returncode == 1
    assert "must be at most 5.0" in result.stderr
    assert "running" not in result.stdout


def test_heartbeat_must_toggle_four_times_per_watchdog_timeout():
    (message,) = issues_of("[safety_io]\nheartbeat_timeout_s = 0.2\nheartbeat_hz = 10\n")
    assert "[safety_io] heartbeat_hz = 10 toggles the heartbeat fewer than 4 times" in message
    assert "must be at least 20" in message
    assert parse_config("[safety_io]\nheartbeat_timeout_s = 0.2\nheartbeat_hz = 20\n").safety_io.heartbeat_hz == 20
