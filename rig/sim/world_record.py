"""Recordings of the simulated world and the gait figures used to compare them with real ones.

`Recorder` collects the calibrated stream in the recording format of DESIGN.md section 6
(`t_s,harness_n,deck_fl_n,deck_fr_n,deck_rl_n,deck_rr_n,belt_mps`, gzip if the name ends in
.gz) and writes the ground truth next to it as `NAME.truth.csv` (`t_s,event,side`), the same
layout as shared/data/gait/. `gait_figures()` computes the same figures from any such
recording (real or simulated), from the four cells and the truth only.

Not here: noise, hum or calibration of the board (the board twin; `rig sim --record` records
what the host decodes, this records the world's true forces unless given other rows).
"""
from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path
from typing import Iterable

import numpy as np

RECORDING_HEADER = "t_s,harness_n,deck_fl_n,deck_fr_n,deck_rl_n,deck_rr_n,belt_mps"
TRUTH_HEADER = "t_s,event,side"


def truth_path_for(recording: str | Path) -> Path:
    """`walk.csv.gz` -> `walk.truth.csv` (as in shared/data/gait/)."""
    path = Path(recording)
    name = path.name
    for suffix in (".csv.gz", ".csv"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return path.with_name(name + ".truth.csv")


def _open_text(path: Path, mode: str) -> io.TextIOBase:
    if path.name.endswith(".gz"):
        return gzip.open(path, mode + "t", newline="")  # type: ignore[return-value]
    return open(path, mode, newline="")


def write_truth(path: str | Path, events: Iterable[tuple[float, str, str]]) -> None:
    """Write ground-truth events as `t_s,event,side` (time-sorted)."""
    with open(path, "w", newline="") as out:
        out.write(TRUTH_HEADER + "\n")
        for t_s, event, side in sorted(events):
            out.write(f"{t_s:.4f},{event},{side}\n")


class Recorder:
    """Collect samples of a World and write the recording + truth files."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._rows: list[str] = []

    def add(self, world) -> None:  # noqa: ANN001 - any object with World's outputs
        """Append the world's current instant (call once per sample, e.g. every 1 ms)."""
        fl, fr, rl, rr = world.deck_forces_n
        self._rows.append(f"{world.t_s:.4f},{world.line_force_n:.2f},{fl:.2f},{fr:.2f},"
                          f"{rl:.2f},{rr:.2f},{world.belt_speed_mps:.3f}")

    def add_row(self, t_s: float, forces_n: list[float], belt_mps: float) -> None:
        """Append one calibrated sample: harness, FL, FR, RL, RR in newtons."""
        h, fl, fr, rl, rr = forces_n
        self._rows.append(f"{t_s:.4f},{h:.2f},{fl:.2f},{fr:.2f},{rl:.2f},{rr:.2f},{belt_mps:.3f}")

    def write(self, truth: Iterable[tuple[float, str, str]]) -> tuple[Path, Path]:
        """Write both files; returns (recording path, truth path)."""
        with _open_text(self.path, "w") as out:
            out.write(RECORDING_HEADER + "\n")
            out.write("\n".join(self._rows) + "\n")
        truth_path = truth_path_for(self.path)
        write_truth(truth_path, truth)
        return self.path, truth_path


def read_recording(path: str | Path) -> np.ndarray:
    """Columns as in RECORDING_HEADER."""
    with _open_text(Path(path), "r") as src:
        return np.loadtxt(src, delimiter=",", skiprows=1, ndmin=2)


def read_truth(path: str | Path) -> list[tuple[float, str, str]]:
    with open(path, newline="") as src:
        return [(float(r["t_s"]), r["event"], r["side"]) for r in csv.DictReader(src)]
