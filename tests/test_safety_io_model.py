"""The safety I/O twin and its safety relay, stepped on virtual time (no transport involved)."""
from __future__ import annotations

from rig.config import parse_config
from rig.sim import safety_io as sio

CFG = parse_config("").safety_io  # heartbeat_timeout_s = 0.2
DT = 0.001
ESTOP, KEY, HARNESS, DRIVES, BRAKE = 0, 1, 2, 3, 4


def run(model: sio.SafetyIoModel, seconds: float, t0: float = 0.0, toggle_every_s: float = 0.0) -> float:
    """Step; with toggle_every_s > 0 the controller toggles the heartbeat coil like its loop does."""
    t, next_toggle = t0, t0
    for _ in range(round(seconds / DT)):
        t += DT
        if toggle_every_s and t >= next_toggle:
            model.touch(t)
            model.write_bits(CFG.coil_heartbeat, [not model.heartbeat_coil])
            next_toggle = t + toggle_every_s
        model.step(t, DT)
    return t


def inputs(model: sio.SafetyIoModel) -> list[bool]:
    return model.read_bits("discrete", 0, 5)


def test_powers_up_closed_with_harness_attached_and_brake_on():
    model = sio.SafetyIoModel(CFG)
    assert inputs(model) == [True, True, True, True, False]
    assert model.read_bits("coil", 0, 2) == [False, False]
    assert model.chain_closed


def test_estop_opens_at_once_and_release_alone_rearms_nothing():
    changes: list[bool] = []
    model = sio.SafetyIoModel(CFG, on_chain_change=changes.append)
    model.press_estop()
    assert changes == [False] and inputs(model)[ESTOP] is False and inputs(model)[DRIVES] is False
    model.release_estop()
    assert inputs(model)[ESTOP] is True and not model.chain_closed
    assert model.press_reset() is True and changes == [False, True]


def test_reset_is_refused_while_the_estop_is_still_pressed():
    model = sio.SafetyIoModel(CFG)
    model.press_estop()
    assert model.press_reset() is False
    assert model.open_causes == {sio.CAUSE_ESTOP}


def test_key_cycle_resets_the_relay():
    model = sio.SafetyIoModel(CFG)
    model.pull_key()
    assert inputs(model)[KEY] is False and not model.chain_closed
    model.insert_key()
    assert model.chain_closed and inputs(model)[KEY] is True


def test_key_back_in_does_not_reset_while_an_estop_is_pressed():
    model = sio.SafetyIoModel(CFG)
    model.press_estop()
    model.pull_key()
    model.insert_key()
    model.release_estop()
    assert not model.chain_closed
    model.press_reset()
    assert model.chain_closed


def test_watchdog_is_not_armed_before_the_first_toggle():
    model = sio.SafetyIoModel(CFG)
    run(model, 2.0)
    assert model.chain_closed


def test_heartbeat_watchdog_opens_after_timeout_of_silence():
    model = sio.SafetyIoModel(CFG)
    t = run(model, 1.0, toggle_every_s=0.005)
    assert model.chain_closed
    last_toggle = model.last_heartbeat_s
    t = run(model, CFG.heartbeat_timeout_s - 0.01, t)
    assert model.chain_closed
    run(model, 0.02, t)
    assert not model.chain_closed and model.open_causes == {sio.CAUSE_HEARTBEAT}
    assert CFG.heartbeat_timeout_s <= model.chain_opened_at_s - last_toggle <= CFG.heartbeat_timeout_s + 0.01


def test_writing_the_same_heartbeat_value_is_not_a_toggle():
    model = sio.SafetyIoModel(CFG)
    t = run(model, 0.1, toggle_every_s=0.005)
    for _ in range(300):
        t += DT
        model.touch(t)
        model.write_bits(CFG.coil_heartbeat, [model.heartbeat_coil])
        model.step(t, DT)
    assert not model.chain_closed


def test_reset_after_heartbeat_loss_needs_the_heartbeat_back():
    model = sio.SafetyIoModel(CFG)
    t = run(model, 0.1, toggle_every_s=0.005)
    t = run(model, 0.5, t)
    assert not model.chain_closed
    assert model.press_reset() is False
    run(model, 0.05, t, toggle_every_s=0.005)
    assert model.press_reset() is True


def test_harness_and_brake_inputs():
    model = sio.SafetyIoModel(CFG)
    model.detach_harness()
    model.set_brake_released(True)
    assert inputs(model)[HARNESS] is False and inputs(model)[BRAKE] is True
    model.attach_harness()
    assert inputs(model)[HARNESS] is True


def test_beacon_coil_and_address_range():
    model = sio.SafetyIoModel(CFG)
    assert model.write_bits(CFG.coil_beacon, [True]) is None
    assert model.beacon_on
    assert model.read_bits("coil", 0, 17) == sio.ILLEGAL_ADDRESS
    assert model.write_bits(15, [True, True]) == sio.ILLEGAL_ADDRESS
    assert model.read(0, 1) == sio.ILLEGAL_ADDRESS  # no registers on this module


def test_stuck_input_overrides_what_the_module_reads():
    model = sio.SafetyIoModel(CFG)
    model.stuck_inputs[CFG.input_drives_enabled] = True  # welded relay contact
    model.press_estop()
    assert inputs(model)[DRIVES] is True and not model.chain_closed
