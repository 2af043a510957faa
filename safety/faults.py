"""The fault catalogue: every fault the rig can raise, with a stable code and plain words.

Codes are stable forever (scripts, logs and session records refer to them); ranges follow
DESIGN.md section 5: 1xx comms, 2xx sensors, 3xx belt, 4xx harness, 5xx patient, 6xx system,
7xx operator / e-stop. Messages are for a therapist at the panel (no jargon); the recovery step
says what to do next. Technical detail (register, exception code, timing) goes into the
`detail` of a raised fault and the log, never into the catalogue message.

This module imports nothing from the project: drivers, safety and the panel all read it.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Severity(str, Enum):
    """What the rig does when the fault is raised."""

    ALARM = "alarm"  # warn the operator; keep going
    STOP = "stop"  # controlled stop of the belt at its normal deceleration, harness holds
    FAST_STOP = "fast_stop"  # belt stops at its fast-stop deceleration, harness holds


@dataclass(frozen=True)
class Fault:
    """One catalogue entry."""

    code: int
    name: str
    severity: Severity
    message: str
    recovery: str

    def as_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "name": self.name,
            "severity": self.severity.value,
            "message": self.message,
            "recovery": self.recovery,
        }


_ENTRIES: tuple[Fault, ...] = (
    # 1xx: communication
    Fault(101, "belt_comm_lost", Severity.FAST_STOP,
          "The controller lost contact with the belt drive.",
          "Check the belt drive's power and its communication cable, then press Acknowledge."),
    Fault(102, "belt_comm_rejected", Severity.STOP,
          "The belt drive refused a command from the controller.",
          "Ask a rig engineer to check the belt drive's settings against the rig configuration, "
          "then press Acknowledge."),
    Fault(103, "belt_connect_failed", Severity.STOP,
          "The belt drive did not answer when the rig started.",
          "Check that the belt drive is switched on and its cable is plugged in, then restart the rig."),
    # 11x: harness servo comms
    # 12x: safety I/O comms
    # 13x: load-cell board comms
    # 2xx: sensors (load cells)
    # 3xx: belt
    Fault(301, "belt_drive_fault", Severity.FAST_STOP,
          "The belt drive stopped itself because of a fault.",
          "Read the fault code on the drive's display, clear its cause, then press Acknowledge "
          "(this also resets the drive)."),
    Fault(302, "belt_watchdog_disabled", Severity.STOP,
          "belt drive comm-loss stop is disabled: the belt would keep running if the controller failed.",
          "A rig engineer must enable the drive's communication time-out (Pr.09-03, Pr.09-02); "
          "the rig will not run the belt until then."),
    Fault(303, "belt_speed_implausible", Severity.FAST_STOP,
          "The belt drive reported a speed the belt cannot have.",
          "Stop using the rig and ask a rig engineer to check the belt drive and its settings."),
    Fault(304, "belt_speed_tracking", Severity.FAST_STOP,
          "The belt is not moving at the speed the controller asked for.",
          "Check that nothing is blocking the belt, then press Acknowledge."),
    # 4xx: harness
    # 6xx: system
    Fault(601, "loop_overrun", Severity.STOP,
          "The controller fell behind its timing several times in a row.",
          "Close other programs on the rig computer, then press Acknowledge. "
          "If it happens again, ask a rig engineer to check the computer's load."),
    Fault(602, "config_invalid", Severity.STOP,
          "The rig configuration has errors, so the rig cannot start.",
          "Ask a rig engineer to run 'rig config check' on the configuration file and fix every error listed."),
    Fault(603, "internal_error", Severity.FAST_STOP,
          "The controller hit an unexpected error and stopped the rig.",
          "Press Acknowledge to try again. If it repeats, note the time and call a rig engineer; "
          "the log has the details."),
)

CATALOGUE: dict[int, Fault] = {fault.code: fault for fault in _ENTRIES}
BY_NAME: dict[str, Fault] = {fault.name: fault for fault in _ENTRIES}

CODE_RANGES: dict[int, str] = {
    1: "comms", 2: "sensors", 3: "belt", 4: "harness", 5: "patient", 6: "system", 7: "operator / e-stop",
}


def fault(name: str) -> Fault:
    """Look a fault up by name; an unknown name is a programming error, raised loudly."""
    return BY_NAME[name]


def category(code: int) -> str:
    """The DESIGN.md section 5 range a code belongs to."""
    return CODE_RANGES[code // 100]
