"""Console output for `rig run`: a status line per period, from a thread outside the loop."""
from __future__ import annotations

import sys
import threading
from typing import Callable, TextIO

from rig.supervisor import Snapshot
from safety.faults import CATALOGUE


def _num(value: float | None, fmt: str, width: int) -> str:
    """The value formatted and right-aligned; "--" when unknown; a value that rounds to zero
    shows as 0, never as -0 (support a hair below zero as the line goes slack)."""
    if value is None or value != value:
        return "--".rjust(width)
    text = format(value, fmt)
    if text.startswith("-") and not text.strip("-0."):
        text = text[1:]
    return text.rjust(width)


def status_line(snap: Snapshot, jitter_p99_ms: float, start_s: float = 0.0) -> str:
    """One line a therapist can read: state, belt, support, gait, faults; and the loop's health."""
    faults = ",".join(str(f.code) for f in snap.faults) or "-"
    support = None if snap.body_weight_support is None else 100.0 * snap.body_weight_support
    gait = snap.gait or {}
    return (f"t={snap.t_s - start_s:7.1f}s {snap.state:<10} belt {_num(snap.belt_speed_mps, '.2f', 5)} m/s "
            f"(cmd {snap.belt_command_mps:4.2f})  support {_num(support, '.0f', 3)} % "
            f"(target {100.0 * snap.unloading_fraction:3.0f} %)  "
            f"cadence {_num(gait.get('cadence_steps_per_min'), '.0f', 3)}/min "
            f"step L/R {_num(gait.get('step_length_left_m'), '.2f', 4)}/{_num(gait.get('step_length_right_m'), '.2f', 4)} m "
            f"SI {_num(gait.get('step_time_si_pct'), '.0f', 3)} %  "
            f"faults {faults}  loop p99 {jitter_p99_ms:4.2f} ms, {snap.overruns} overruns")


def fault_report(code: int, detail: str) -> str:
    entry = CATALOGUE[code]
    return f"FAULT {code} ({entry.name}): {entry.message}\n  What to do: {entry.recovery}\n  Detail: {detail}"


class StatusPrinter:
    """Prints `line()` every period_s until stopped; never touches the loop's thread."""

    def __init__(self, period_s: float, line: Callable[[], str], out: TextIO = sys.stdout):
        self.period_s = period_s
        self.line = line
        self.out = out
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="status", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            print(self.line(), file=self.out, flush=True)
