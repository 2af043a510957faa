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
    Fault(111, "harness_comm_lost", Severity.FAST_STOP,
          "The controller lost contact with the harness winch.",
          "The winch brake holds the patient. Check the harness drive's power and its communication "
          "cable, then press Acknowledge."),
    Fault(112, "harness_comm_rejected", Severity.STOP,
          "The harness winch refused a command from the controller.",
          "Ask a rig engineer to check the harness drive's settings against the rig configuration, "
          "then press Acknowledge."),
    Fault(113, "harness_connect_failed", Severity.STOP,
          "The harness winch did not answer when the rig started.",
          "Check that the harness drive is switched on and its cable is plugged in, then restart the rig."),
    # 12x: safety I/O comms
    Fault(121, "safety_io_comm_lost", Severity.FAST_STOP,
          "The controller lost contact with the safety module (e-stop and safety key inputs).",
          "Check the safety module's power and its communication cable, then press Acknowledge."),
    Fault(122, "safety_io_comm_rejected", Severity.STOP,
          "The safety module refused a request from the controller.",
          "Ask a rig engineer to check the safety module's settings against the rig configuration, "
          "then press Acknowledge."),
    Fault(123, "safety_io_connect_failed", Severity.STOP,
          "The safety module did not answer when the rig started.",
          "Check that the safety module is switched on and its cable is plugged in, then restart the rig."),
    Fault(124, "safety_io_inputs_implausible", Severity.FAST_STOP,
          "The safety circuit reports a combination that cannot happen: it may be wired wrongly or damaged.",
          "Stop using the rig and ask a rig engineer to test the e-stop circuit and safety relay."),
    # 13x: load-cell board comms
    Fault(131, "loadcell_comm_lost", Severity.FAST_STOP,
          "The controller lost contact with the load-cell box, so it cannot measure the forces.",
          "Check that the load-cell box's USB cable is plugged in at both ends; the rig reconnects "
          "by itself. Then press Acknowledge."),
    Fault(132, "loadcell_stream_stale", Severity.FAST_STOP,
          "The load-cell box is connected but has stopped sending force readings.",
          "Wait a few seconds: the rig restarts the readings by itself. If the message stays, switch "
          "the load-cell box off and on (or unplug and replug its cable), then press Acknowledge."),
    Fault(133, "loadcell_frames_corrupt", Severity.STOP,
          "Many force readings from the load-cell box arrive damaged.",
          "Check the load-cell box's USB cable and keep it away from motor and power cables, "
          "then press Acknowledge. If it repeats, ask a rig engineer to replace the cable."),
    Fault(134, "loadcell_samples_lost", Severity.ALARM,
          "Some force readings from the load-cell box are going missing.",
          "The session can continue. If the warning keeps coming back, close other programs on "
          "the rig computer and ask a rig engineer to check the load-cell cable."),
    Fault(135, "loadcell_connect_failed", Severity.STOP,
          "The load-cell box did not answer when the rig started.",
          "Check that the load-cell box is switched on and its USB cable is plugged in, then "
          "restart the rig."),
    # 2xx: sensors (load cells)
    Fault(201, "loadcell_saturated", Severity.FAST_STOP,
          "A load cell reads the end of its range: it is overloaded or its cable is broken.",
          "Make sure nothing heavy rests on the treadmill or pulls on the harness line, and check "
          "the load-cell cables. Then press Acknowledge."),
    Fault(202, "loadcell_flatlined", Severity.STOP,
          "A load cell's reading has frozen: it no longer follows the forces.",
          "Stop the session and ask a rig engineer to check that load cell and the load-cell box "
          "before the rig is used again."),
    Fault(203, "loadcell_disconnected", Severity.FAST_STOP,
          "A load cell reads nothing at all: it is probably unplugged.",
          "Check the cable from that load cell to the load-cell box, then press Acknowledge."),
    Fault(204, "loadcell_noisy", Severity.ALARM,
          "A load cell's reading is much noisier than normal.",
          "Check that load cell's cable and keep it away from motor and power cables. If the "
          "warning stays, ask a rig engineer to check the load cell."),
    Fault(205, "deck_force_implausible", Severity.FAST_STOP,
          "The force under the treadmill does not match the patient's weight minus the harness "
          "support: the patient may be holding on to something, or a load cell is wrong.",
          "Make sure the patient is not leaning on the handrails and nothing else rests on the "
          "treadmill, then press Acknowledge. If it repeats, ask a rig engineer to recalibrate "
          "the load cells."),
    Fault(206, "deck_cell_disagrees", Severity.STOP,
          "One of the load cells under the treadmill reads a force the others cannot explain: "
          "it may be damaged or badly calibrated.",
          "Finish the session and ask a rig engineer to check and recalibrate the load cells "
          "under the treadmill before the rig is used again."),
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
    Fault(305, "belt_overspeed", Severity.FAST_STOP,
          "The belt ran faster than the patient's or the rig's speed limit.",
          "Make sure the patient is safe, then press Acknowledge. If it repeats, ask a rig "
          "engineer to check the belt drive's settings."),
    Fault(306, "belt_reverse_overspeed", Severity.FAST_STOP,
          "The belt ran backwards faster than the limit for walking backwards.",
          "Make sure the patient is safe, then press Acknowledge. If it repeats, ask a rig "
          "engineer to check the belt drive's settings."),
    # 4xx: harness
    Fault(401, "harness_drive_fault", Severity.FAST_STOP,
          "The harness winch stopped itself because of a fault; its brake holds the line.",
          "Make sure the patient is safe, clear the cause shown on the winch drive, then press "
          "Acknowledge (this also resets the drive)."),
    Fault(402, "harness_state_invalid", Severity.FAST_STOP,
          "The harness winch reported a state that makes no sense.",
          "Stop using the rig and ask a rig engineer to check the harness drive and its settings."),
    Fault(403, "harness_enable_failed", Severity.STOP,
          "The harness winch could not be switched on.",
          "Check that the e-stops are released and the safety key is in, then press Acknowledge. "
          "If it repeats, call a rig engineer."),
    Fault(404, "harness_readback_implausible", Severity.FAST_STOP,
          "The harness winch reported a position, speed or force the winch cannot have.",
          "Stop using the rig and ask a rig engineer to check the harness drive and its settings."),
    Fault(405, "harness_force_cap_not_set", Severity.STOP,
          "The harness winch did not accept its force limit, so it could pull too hard.",
          "A rig engineer must check the harness drive's maximum torque setting; "
          "the rig will not use the harness until then."),
    Fault(406, "harness_mode_not_set", Severity.STOP,
          "The harness winch did not accept speed control mode.",
          "Ask a rig engineer to check that the harness drive supports profile velocity mode, "
          "then restart the rig."),
    Fault(407, "harness_disable_failed", Severity.FAST_STOP,
          "The harness winch did not switch off when asked.",
          "Press an e-stop if the winch is still moving, make sure the patient is safe, "
          "and call a rig engineer."),
    Fault(408, "harness_force_tracking", Severity.FAST_STOP,
          "The harness has not been holding the support force it should for too long.",
          "Check that the harness line runs freely and is not caught, and that the harness fits "
          "the patient, then press Acknowledge."),
    Fault(409, "harness_force_over_cap", Severity.FAST_STOP,
          "The harness line pulled harder than the rig allows.",
          "Make sure the patient is safe and the line is not caught, then press Acknowledge. If it "
          "repeats, ask a rig engineer to check the harness settings."),
    Fault(410, "winch_out_of_travel", Severity.FAST_STOP,
          "The harness winch went past the end of its allowed travel.",
          "Make sure the patient is safe and check that the harness line is not caught or broken. "
          "Ask a rig engineer to check the winch before the rig is used again."),
    Fault(411, "harness_detached_while_loaded", Severity.FAST_STOP,
          "The harness reports it is unhooked while it should be carrying the patient.",
          "Make sure the patient is safe and the harness is hooked on properly (check the "
          "attachment sensor), then press Acknowledge."),
    # 5xx: patient
    Fault(501, "patient_fall", Severity.FAST_STOP,
          "The patient seems to have fallen or their knees gave way; the harness holds them.",
          "Help the patient to a safe position. Check how they are before deciding with them "
          "whether to continue, then press Acknowledge."),
    Fault(502, "patient_not_on_deck", Severity.STOP,
          "The treadmill feels no weight while the belt is meant to be walking the patient.",
          "Check where the patient is and help them back onto the treadmill if they want to go "
          "on, then press Acknowledge."),
    Fault(503, "weight_bearing_over_limit", Severity.ALARM,
          "The patient is putting more weight on their legs than their prescription allows.",
          "Encourage the patient to let the harness carry them, or increase the unloading. "
          "The session can continue."),
    Fault(504, "weight_bearing_over_limit_stop", Severity.STOP,
          "The patient kept putting more weight on their legs than their prescription allows, "
          "so the belt was stopped.",
          "Increase the unloading or review the prescription with the patient's clinician, then "
          "press Acknowledge."),
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
    Fault(604, "calibration_invalid", Severity.STOP,
          "The load-cell calibration is missing or not valid, so the forces cannot be trusted.",
          "Run the load-cell calibration ('rig calibrate') with the treadmill empty and the "
          "harness unhooked, then restart the rig."),
    Fault(605, "selftest_failed", Severity.STOP,
          "The rig's self-test found a problem, so the rig cannot be used yet.",
          "Read the self-test's findings on the panel, ask a rig engineer to fix them, then run "
          "the self-test again."),
    # 7xx: operator / e-stop
    Fault(701, "estop_pressed", Severity.FAST_STOP,
          "An emergency stop button is pressed (or the e-stop circuit is open).",
          "Make sure the patient is safe, release the emergency stop button, then press "
          "Acknowledge."),
    Fault(702, "safety_key_removed", Severity.FAST_STOP,
          "The safety key was pulled out.",
          "Make sure the patient is safe, put the safety key back in, then press Acknowledge."),
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
