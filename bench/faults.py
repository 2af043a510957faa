"""`rig bench faults [--json] [--only NAME,...] [--doc PATH]`: the fault matrix on the simulated rig.

Every fault the sim can inject, each while the patient walks at 1.0 m/s with 30 % unloading,
through the real drivers over the real transports (rig/sim/lockstep.py: controller and world on
one virtual clock). Per fault: the code raised, injection -> detection, injection -> belt command
zero, belt stop time and distance (world truth), the lowest line force during the reaction,
how far the winch paid out, and the final state. The support rule depends on who holds the line:
- "force": the controller keeps the winch powered, so the line force must stay above the
  target minus its tolerance;
- "hold": the winch holds its position: its spring-applied brake holds the line (the hardware
  safety chain was opened, or the harness drive cannot be reached or has tripped: its own comm
  watchdog or fault reaction applies the brake), or the load cells cannot be trusted (a fault of
  the stream or of any cell), so the controller holds the winch still rather than move it on a
  wrong force. No controller can
  keep a force then; the rule is that the winch never pays out (<= PAYOUT_LIMIT_M). The line may
  go slack for a moment as the stopping patient stands up taller than their walking height;
- "catch": a fall: the patient's own weight loads the line (past the cap: the drive's torque limit
  and brake hold it); the winch never pays out (bench/fall.py measures the descent);
- "none": the patient was unclipped or stepped off the deck: nothing to support; the rig must stop.
"Paid out" is measured from the winch's position when the fault was raised: before that the
force loop pays out and hauls in as walking needs. Between rows the fault is cleared,
acknowledged and the patient brought back to walking. `--doc` writes the table as Markdown.

Not here: the limits each row must meet are asserted by tests/test_fault_matrix.py.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from rig.commands import Acknowledge, Attach, SetSpeed, SetUnloading, Start
from rig.sim.lockstep import Stack

SPEED_MPS = 1.0
UNLOADING = 0.3
REST_MPS = 0.02
WATCH_AFTER_REST_S = 0.5
MAX_REACTION_S = 6.0
PAYOUT_LIMIT_M = 0.005  # the hold reaches the drive within two ticks: walking speeds x 10 ms + its deceleration


@dataclass(frozen=True)
class Case:
    """One row: what to inject, which codes are right, how to clear it afterwards."""

    name: str
    inject: tuple[str, dict]
    codes: tuple[int, ...]
    clear: tuple[tuple[str, dict], ...] = ()
    stops: bool = True  # False: an alarm, the session goes on
    support: str = "force"  # "force" | "hold" | "none": see the module docstring


def _dev(device: str) -> dict:
    return {"device": device}


CASES: tuple[Case, ...] = (
    Case("belt drive link down", ("link_down", _dev("belt")), (101,), (("link_up", _dev("belt")),)),
    Case("harness drive link down", ("link_down", _dev("harness")), (111,), (("link_up", _dev("harness")),),
         support="hold"),
    Case("safety module link down", ("link_down", _dev("safety_io")), (121,),
         (("link_up", _dev("safety_io")), ("relay_reset", {}))),
    Case("belt drive answers lost", ("drop_responses", _dev("belt")), (101,), (("clear_link_faults", _dev("belt")),)),
    Case("harness drive answers lost", ("drop_responses", _dev("harness")), (111,),
         (("clear_link_faults", _dev("harness")),), support="hold"),
    Case("safety module answers lost", ("drop_responses", _dev("safety_io")), (121,),
         (("clear_link_faults", _dev("safety_io")), ("relay_reset", {}))),
    Case("belt drive answers late", ("delay_responses", {"device": "belt", "value": 0.2}), (101,),
         (("clear_link_faults", _dev("belt")),)),
    Case("harness drive answers garbled", ("corrupt_responses", _dev("harness")), (111,),
         (("clear_link_faults", _dev("harness")),), support="hold"),
    Case("belt drive answers garbled", ("corrupt_responses", _dev("belt")), (101,),
         (("clear_link_faults", _dev("belt")),)),
    Case("belt drive refuses requests", ("exception_responses", _dev("belt")), (102,),
         (("clear_link_faults", _dev("belt")),)),
    Case("harness drive refuses requests", ("exception_responses", _dev("harness")), (112,),
         (("clear_link_faults", _dev("harness")),)),
    Case("safety module refuses requests", ("exception_responses", _dev("safety_io")), (122,),
         (("clear_link_faults", _dev("safety_io")), ("relay_reset", {}))),
    Case("belt drive trips", ("drive_fault", _dev("belt")), (301,)),
    Case("harness drive trips", ("drive_fault", _dev("harness")), (401,), support="hold"),
    Case("e-stop pressed", ("estop_press", {}), (701,), (("estop_release", {}), ("relay_reset", {})),
         support="hold"),
    Case("safety key pulled", ("key_pull", {}), (702,), (("key_insert", {}),), support="hold"),
    Case("harness unclipped", ("harness_detach", {}), (411, 408), (("harness_attach", {}),), support="none"),
    Case("belt held", ("belt_hold", {}), (304, 301), (("belt_hold", {"held": False}),)),
    Case("load cell stuck", ("loadcell_stuck", {"channel": 1}), (202,), (("loadcell_clear", {}),),
         support="hold"),
    Case("load cell saturated", ("loadcell_saturated", {"channel": 2}), (201,), (("loadcell_clear", {}),),
         support="hold"),
    Case("load cell wire broken", ("loadcell_disconnected", {"channel": 3}), (203,), (("loadcell_clear", {}),),
         support="hold"),
    Case("harness load cell saturated", ("loadcell_saturated", {"channel": 0}), (201, 409),
         (("loadcell_clear", {}),), support="hold"),  # a line cell stuck at full scale also reads as a force over the cap
    Case("load-cell box silent", ("loadcell_silent", {}), (132,), (("loadcell_clear", {}),),
         support="hold"),
    Case("load-cell frames corrupt", ("loadcell_corrupt", {"value": 0.3}), (133,), (("loadcell_clear", {}),),
         support="hold"),
    Case("load-cell box unplugged", ("loadcell_unplug", {}), (131, 132), (("loadcell_replug", {}),),
         support="hold"),
    Case("load-cell samples lost", ("loadcell_drop", {"value": 0.05}), (134,), (("loadcell_clear", {}),), stops=False),
    Case("load cell noisy", ("loadcell_noisy", {"channel": 4, "value": 80.0}), (204,), (("loadcell_clear", {}),),
         stops=False),
    # a drifting deck cell misleads the force loop's feed-forward: its tracking error (408) may show first
    Case("load cell drifting", ("loadcell_drifting", {"channel": 1, "value": 400.0}), (206, 205, 408),
         (("loadcell_clear", {}),), support="hold"),
    Case("patient falls", ("fall", {}), (501,), (("recover", {}),), support="catch"),
    # off the deck the patient stands on the floor beside it: the line goes slack, nothing to support
    Case("patient steps off the deck", ("step_off", {}), (502, 205), (("step_on", {}),), support="none"),
)


@dataclass
class Row:
    """What one injection did (times in ms, distances in m, forces in N)."""

    name: str
    expected: str
    code: int | None
    detect_ms: float | None
    belt_zero_ms: float | None
    stop_s: float | None
    stop_m: float
    min_line_n: float
    line_floor_n: float
    max_line_n: float  # must stay under the harness force cap: the winch never lifts the patient
    payout_mm: float  # how far the winch paid out below its position at the injection
    support: str
    support_ok: bool
    final_state: str
    ok: bool
    note: str = ""


class Watch:
    """Follows one reaction tick by tick (world truth and the controller's snapshot)."""

    def __init__(self, stack: Stack, t0: float):
        self.t0 = t0
        self.last_t = t0
        self.belt_zero_s: float | None = None
        self.rest_s: float | None = None
        self.distance_m = 0.0
        self.min_line_n = float("inf")
        self.max_line_n = 0.0
        self.start_codes = {f.code for f in stack.snap.faults}
        self.winch_at_fault_m: float | None = None  # where the winch was when the fault was raised
        self.min_winch_m = float("inf")

    def __call__(self, stack: Stack) -> None:
        now = stack.clock.now()
        with stack.sim.lock:
            speed, line = stack.sim.world.belt_speed_mps, stack.sim.world.line_force_n
            winch = stack.sim.world.winch_position_m
        if self.winch_at_fault_m is None and any(f.code not in self.start_codes for f in stack.snap.faults):
            self.winch_at_fault_m = winch  # before this the force loop may pay out as walking needs
        if self.winch_at_fault_m is not None:
            self.min_winch_m = min(self.min_winch_m, winch)
        self.distance_m += abs(speed) * (now - self.last_t)
        self.last_t = now
        self.min_line_n = min(self.min_line_n, line)
        self.max_line_n = max(self.max_line_n, line)
        if self.belt_zero_s is None and stack.snap.belt_command_mps == 0.0:
            self.belt_zero_s = now
        if self.rest_s is None and abs(speed) < REST_MPS:
            self.rest_s = now

    def settled(self, stack: Stack) -> bool:
        rested = self.rest_s is not None and stack.clock.now() - self.rest_s >= WATCH_AFTER_REST_S
        return rested and stack.snap.state in ("faulted", "estop")

    @property
    def payout_m(self) -> float:
        """How far the winch paid out during the fault (from where it was when it was raised)."""
        return 0.0 if self.winch_at_fault_m is None else max(0.0, self.winch_at_fault_m - self.min_winch_m)

    def support_ok(self, support: str, floor_n: float, cap_n: float) -> bool:
        if support == "force":
            return self.min_line_n >= floor_n and self.max_line_n < cap_n
        if support == "hold":
            return self.payout_m <= PAYOUT_LIMIT_M and self.max_line_n < cap_n
        if support == "catch":  # the patient's own weight loads the line: no cap, never pay out
            return self.payout_m <= PAYOUT_LIMIT_M
        return True


def walk(stack: Stack, timeout_s: float = 40.0) -> None:
    """From wherever the rig is, back to walking at SPEED_MPS with UNLOADING."""
    end = stack.clock.now() + timeout_s
    while stack.clock.now() < end:
        snap = stack.snap
        if snap.state == "walking" and abs((snap.belt_speed_mps or 0.0) - SPEED_MPS) < 0.03:
            stack.run_for(1.0)  # settle
            return
        command = {"faulted": Acknowledge(), "estop": Acknowledge(), "idle": Attach(),
                   "attached": SetUnloading(UNLOADING), "ready": Start(SPEED_MPS)}.get(snap.state)
        if snap.state == "walking" and snap.setpoint_mps < SPEED_MPS:
            command = SetSpeed(SPEED_MPS)
        if command is not None:
            stack.submit(command)
        stack.run_for(0.25)
    raise RuntimeError(f"could not get back to walking (state {stack.snap.state}, message {stack.snap.message!r}, "
                       f"faults {[f.code for f in stack.snap.faults]})")


def run_case(stack: Stack, case: Case) -> Row:
    name, kwargs = case.inject
    target_n = UNLOADING * stack.supervisor.body_weight_n
    floor_n = target_n - stack.supervisor.limits.harness_force_tolerance_n
    t0 = stack.clock.now()
    watch = Watch(stack, t0)
    stack.inject(name, **kwargs)
    note = "" if case.stops else "alarm: the session goes on"
    if case.stops:
        try:
            stack.run_until(lambda: watch.settled(stack), MAX_REACTION_S, observe=watch)
        except AssertionError:
            note = f"no stop within {MAX_REACTION_S:g} s" + (f"; {note}" if note else "")
    else:
        stack.run_for(2.0, observe=watch)
    new = sorted((f for f in stack.snap.faults if f.code not in watch.start_codes), key=lambda f: f.raised_at_s)
    code = new[0].code if new else None
    detect = (new[0].raised_at_s - t0) * 1000 if new else None
    support_ok = watch.support_ok(case.support, floor_n, stack.supervisor.limits.harness_force_cap_n)
    ok = code in case.codes and support_ok and (
        (watch.rest_s is not None and stack.snap.state in ("faulted", "estop")) if case.stops else stack.snap.state == "walking")
    row = Row(case.name, "/".join(map(str, case.codes)), code, _r(detect), _ms(watch.belt_zero_s, t0),
              _r(None if watch.rest_s is None else watch.rest_s - t0, 3), round(watch.distance_m, 3),
              round(watch.min_line_n, 1), round(floor_n, 1), round(watch.max_line_n, 1),
              round(1000 * watch.payout_m, 1), case.support, support_ok,
              stack.snap.state, bool(ok), note)
    for clear_name, clear_kwargs in case.clear:  # one at a time, as a person would (a relay reset
        stack.inject(clear_name, **clear_kwargs)  # works only once the heartbeat toggles again)
        stack.run_for(0.3)
    return row


def _r(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def _ms(t: float | None, t0: float) -> float | None:
    return None if t is None else round((t - t0) * 1000, 1)


def run(only: list[str] | None = None) -> list[Row]:
    stack = Stack()
    rows = []
    try:
        stack.run_until(lambda: stack.snap.state == "idle", 5.0)
        for case in CASES:
            if only and case.name not in only:
                continue
            walk(stack)
            rows.append(run_case(stack, case))
            print(_line(rows[-1]), flush=True)
    finally:
        stack.close()
    return rows


HEADER = ("| fault | expected | raised | detect ms | belt cmd 0 ms | stop s | stop m | min line N | floor N "
          "| max line N | winch paid out mm | support rule | final state | ok | note |")


def _line(row: Row) -> str:
    cells = [row.name, row.expected, row.code, row.detect_ms, row.belt_zero_ms, row.stop_s, row.stop_m,
             row.min_line_n, row.line_floor_n if row.support == "force" else None, row.max_line_n, row.payout_mm, row.support,
             row.final_state, "yes" if row.ok else "NO", row.note]
    return "| " + " | ".join("-" if c is None else str(c) for c in cells) + " |"


def markdown(rows: list[Row], seconds: float) -> str:
    lines = ["# Fault matrix (generated by `rig bench faults --doc docs/fault-matrix.md`)", "",
             "Each fault injected into the simulated rig while the patient walks at 1.0 m/s with 30 % "
             "unloading, through the real drivers over Modbus TCP and the load-cell pty, controller and "
             "world in lockstep on one virtual clock. Times from the injection; stop = world belt speed "
             f"below {REST_MPS} m/s; min line N = lowest harness line force (world truth) during the "
             "reaction. Support rule 'force': the line force stays above the floor (target minus the "
             "harness force tolerance); 'hold': the "
             f"winch holds its position (its brake after the chain opened or the harness drive was lost or "
             f"tripped; or the controller, while the load cells cannot be trusted): it pays out at "
             f"most {PAYOUT_LIMIT_M * 1000:g} mm once the fault is raised; 'catch': a fall, the patient's weight "
             "loads the line, the winch never pays out; 'none': the patient was unclipped or stepped off the deck. Except in a fall the "
             "line force stays below the harness force cap (max line N): the winch never lifts the patient.", "",
             HEADER, "|" + "---|" * 15]
    lines += [_line(row) for row in rows]
    lines += ["", f"{sum(r.ok for r in rows)} of {len(rows)} rows within their limits; run took {seconds:.0f} s."]
    return "\n".join(lines) + "\n"


def main(args) -> int:
    only = [s.strip() for s in getattr(args, "only", "").split(",") if s.strip()] if getattr(args, "only", "") else None
    start = time.monotonic()
    rows = run(only)
    seconds = time.monotonic() - start
    if getattr(args, "doc", None):
        Path(args.doc).write_text(markdown(rows, seconds))
    if getattr(args, "json", False):
        print(json.dumps({"rows": [asdict(r) for r in rows], "kinds": len(rows), "ok": sum(r.ok for r in rows)}))
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--only", default="")
    parser.add_argument("--doc")
    sys.exit(main(parser.parse_args()))
