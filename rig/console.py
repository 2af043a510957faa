"""Console output for `rig run`: a status line per period, from a thread outside the loop."""
from __future__ import annotations

import sys
import threading
from typing import Callable, TextIO

from rig.supervisor import Snapshot
from safety.faults import CATALOGUE


def status_line(snap: Snapshot, jitter_p99_ms: float, start_s: float = 0.0) -> str:
    speed = "  --  " if snap.belt_speed_mps is None else f"{snap.belt_speed_mps:5.2f}"
    faults = ",".join(str(f.code) for f in snap.faults) or "-"
    return (f"t={snap.t_s - start_s:7.1f}s  state={snap.state:<9} cmd={snap.belt_command_mps:5.2f} m/s  "
            f"meas={speed} m/s  jitter p99={jitter_p99_ms:5.2f} ms  overruns={snap.overruns}  faults={faults}")


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
