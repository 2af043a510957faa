"""Fault injection into the simulated rig: one table of named faults, one `inject()` call.

Every fault the sim can play has a name here, the arguments it takes and what it does to
the twins or the world. Tests call `inject(sim, "drive_fault", device="belt")`; the running
`rig sim` exposes the same table over HTTP on 127.0.0.1 (`rig/sim/control.py`), and
`rig inject NAME key=value ...` posts to it. Unknown names or arguments are refused with the
list of what is allowed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from rig.sim import vfd as vfd_model


class InjectionError(ValueError):
    """A fault name or argument the sim does not know."""


@dataclass(frozen=True)
class Injection:
    """One injectable fault: what it does and which arguments it takes (name -> default)."""

    doc: str
    apply: Callable[..., None]
    args: tuple[tuple[str, Any], ...] = ()


def _faults(sim, device: str):
    try:
        return sim.endpoint(device).faults
    except KeyError:
        raise InjectionError(f"unknown device {device!r}; devices: {', '.join(sim.servers.endpoints)}") from None


def _link_down(sim, device: str) -> None:
    _faults(sim, device)
    sim.servers.set_link_down(device, True)


def _link_up(sim, device: str) -> None:
    _faults(sim, device)
    sim.servers.set_link_down(device, False)


def _set_fault(attr: str) -> Callable[..., None]:
    def apply(sim, device: str, value: Any) -> None:
        setattr(_faults(sim, device), attr, value)
    return apply


def _drive_fault(sim, device: str, code: int) -> None:
    if device == "belt":
        sim.vfd.inject_fault(int(code) or vfd_model.FAULT_EXTERNAL)
        return
    if device == "harness" and getattr(sim, "servo", None) is not None:
        sim.servo.inject_fault(int(code) or 0x5441)
        return
    raise InjectionError(f"drive_fault: device must be belt or harness, not {device!r}")


def _world_event(event: str) -> Callable[..., None]:
    def apply(sim) -> None:
        sim.world.schedule(None, event)
    return apply


def _safety(action: str) -> Callable[..., None]:
    def apply(sim) -> None:
        getattr(sim.safety_io, action)()
    return apply


def _channel(channel: int) -> int:
    if not 0 <= int(channel) <= 4:
        raise InjectionError(f"channel must be 0-4 (harness, FL, FR, RL, RR), not {channel}")
    return int(channel)


def _board_set(kind: str) -> Callable[..., None]:
    def apply(sim, channel: int) -> None:
        getattr(sim.loadcell.faults, kind).add(_channel(channel))
    return apply


def _board_map(kind: str) -> Callable[..., None]:
    def apply(sim, channel: int, value: float) -> None:
        getattr(sim.loadcell.faults, kind)[_channel(channel)] = value
    return apply


def _board_attr(kind: str) -> Callable[..., None]:
    def apply(sim, value: Any) -> None:
        setattr(sim.loadcell.faults, kind, value)
    return apply


def _hold_belt(sim, held: bool = True) -> None:
    sim.world.hold_belt(bool(held))


INJECTIONS: dict[str, Injection] = {
    "link_down": Injection("the device's link goes dead (listener closed)", _link_down, (("device", "belt"),)),
    "link_up": Injection("the device's link comes back", _link_up, (("device", "belt"),)),
    "drop_responses": Injection("requests arrive, answers never leave (value=false to end)",
                                _set_fault("drop_responses"), (("device", "belt"), ("value", True))),
    "delay_responses": Injection("every answer late by value seconds (0 to end)",
                                 _set_fault("delay_s"), (("device", "belt"), ("value", 0.2))),
    "corrupt_responses": Injection("answers sent with a flipped byte (value=false to end)",
                                   _set_fault("corrupt_responses"), (("device", "belt"), ("value", True))),
    "exception_responses": Injection("every request answered with Modbus exception value (0 to end)",
                                     _set_fault("exception_code"), (("device", "belt"), ("value", 4))),
    "clear_link_faults": Injection("the device's link behaves again",
                                   lambda sim, device: _faults(sim, device).clear(), (("device", "belt"),)),
    "drive_fault": Injection("the drive trips with a fault code (0: the drive's generic external fault)",
                             _drive_fault, (("device", "belt"), ("code", 0))),
    "estop_press": Injection("an e-stop button is pressed (the safety relay opens)", _safety("press_estop")),
    "estop_release": Injection("the e-stop button is released (the relay stays open until reset)",
                               _safety("release_estop")),
    "key_pull": Injection("the safety key is pulled out", _safety("pull_key")),
    "key_insert": Injection("the safety key is put back (resets the relay if every cause is gone)",
                            _safety("insert_key")),
    "relay_reset": Injection("the safety relay's reset button is pressed", _safety("press_reset")),
    "harness_detach": Injection("the harness is unclipped from the patient", _world_event("harness_detach")),
    "harness_attach": Injection("the harness is clipped back on", _world_event("harness_attach")),
    "loadcell_stuck": Injection("a load-cell channel repeats its last value", _board_set("stuck"), (("channel", 1),)),
    "loadcell_saturated": Injection("a channel reads the ADC's full scale", _board_set("saturated"), (("channel", 1),)),
    "loadcell_drifting": Injection("a channel drifts by value N/s", _board_map("drifting"),
                                   (("channel", 1), ("value", 5.0))),
    "loadcell_noisy": Injection("a channel gets value N RMS of extra noise", _board_map("noisy"),
                                (("channel", 1), ("value", 50.0))),
    "loadcell_disconnected": Injection("a channel's wire breaks: it reads value counts", _board_map("disconnected"),
                                       (("channel", 1), ("value", 0))),
    "loadcell_silent": Injection("the board stops streaming (value=false resumes)", _board_attr("silent"),
                                 (("value", True),)),
    "loadcell_corrupt": Injection("a fraction value of frames are sent with a bad CRC", _board_attr("corrupt_fraction"),
                                  (("value", 0.1),)),
    "loadcell_drop": Injection("a fraction value of samples are lost", _board_attr("drop_fraction"),
                               (("value", 0.05),)),
    "loadcell_clear": Injection("the board's channels and stream behave again",
                                lambda sim: sim.loadcell.faults.clear()),
    "loadcell_unplug": Injection("the board's USB cable is pulled (its port vanishes)",
                                 lambda sim: sim.loadcell.unplug()),
    "loadcell_replug": Injection("the board is plugged back in", lambda sim: sim.loadcell.replug()),
    "belt_hold": Injection("something holds the belt (value=false releases it)", _hold_belt, (("held", True),)),
    "fall": Injection("the patient's knees buckle", _world_event("fall")),
    "stumble": Injection("the patient stumbles on one step", _world_event("stumble")),
    "step_off": Injection("the patient steps off the deck", _world_event("step_off")),
    "step_on": Injection("the patient steps back onto the deck", _world_event("step_on")),
    "recover": Injection("the patient stands up again after a fall", _world_event("recover")),
}


def coerce(value: Any, default: Any) -> Any:
    """Arguments arrive as strings from the command line: convert to the default's type."""
    if not isinstance(value, str) or isinstance(default, str):
        return value
    if isinstance(default, bool):
        if value.lower() in ("true", "1", "yes", "on"):
            return True
        if value.lower() in ("false", "0", "no", "off"):
            return False
        raise InjectionError(f"{value!r} must be true or false")
    try:
        return type(default)(value)
    except ValueError:
        raise InjectionError(f"{value!r} must be {type(default).__name__}") from None


def inject(sim, name: str, **kwargs: Any) -> None:
    """Apply fault `name` to the running sim (takes the sim's lock)."""
    entry = INJECTIONS.get(name)
    if entry is None:
        raise InjectionError(f"unknown fault {name!r}; known: {', '.join(sorted(INJECTIONS))}")
    allowed = dict(entry.args)
    unknown = set(kwargs) - set(allowed)
    if unknown:
        raise InjectionError(f"{name} takes {', '.join(allowed) or 'no arguments'}, not {', '.join(sorted(unknown))}")
    args = {key: coerce(kwargs.get(key, default), default) for key, default in allowed.items()}
    if name in ("link_down", "link_up", "loadcell_unplug", "loadcell_replug"):
        entry.apply(sim, **args)  # talks to other threads' resources; must not hold the world lock
        return
    with sim.lock:
        entry.apply(sim, **args)
