"""`rig replay REC [--config F] --events-out E`: a recording through the live pipeline.

Reads a session recording (CSV or .csv.gz, header t_s,harness_n,deck_fl_n,deck_fr_n,deck_rl_n,
deck_rr_n,belt_mps, already in newtons), feeds it to the same `LoadcellPipeline` the
supervisor runs, 5 frames per call like live ticks, writes the gait events as
t_s,event,side,detected_at_s and returns (and prints) the session's gait figures.
Not here: the pipeline itself (cext/), config parsing beyond the gait sections.
"""
from __future__ import annotations

import argparse
import csv
import gzip
import io
import math
import sys
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np

from cext.gaitfigures import GaitFigures
from cext.pipeline import G_MPS2, LoadcellPipeline, estimate_body_weight_n
from rig.configspec import ConfigError
from rig.gaitconfig import GaitParams

HEADER = ("t_s", "harness_n", "deck_fl_n", "deck_fr_n", "deck_rl_n", "deck_rr_n", "belt_mps")
TICK_FRAMES = 5


class RecordingError(ValueError):
    """A malformed recording: the message names the file, line and problem."""


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def read_recording(path: Path) -> np.ndarray:
    """(n, 7) float array in HEADER order; RecordingError names the first bad line."""
    rows: list[list[float]] = []
    try:
        with _open_text(path) as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None or tuple(h.strip() for h in header) != HEADER:
                raise RecordingError(f"{path}:1: header must be {','.join(HEADER)}, not {','.join(header or [])!r}")
            last_t = -math.inf
            for line_no, row in enumerate(reader, start=2):
                rows.append(_parse_row(path, line_no, row, last_t))
                last_t = rows[-1][0]
    except (OSError, EOFError, gzip.BadGzipFile, UnicodeDecodeError) as exc:
        raise RecordingError(f"{path}: cannot read: {exc}") from exc
    if not rows:
        raise RecordingError(f"{path}: no samples after the header")
    return np.array(rows, dtype=np.float64)


def _parse_row(path: Path, line_no: int, row: list[str], last_t: float) -> list[float]:
    if len(row) != len(HEADER):
        raise RecordingError(f"{path}:{line_no}: expected {len(HEADER)} fields, found {len(row)}")
    values = []
    for name, text in zip(HEADER, row):
        try:
            values.append(float(text))
        except ValueError:
            raise RecordingError(f"{path}:{line_no}: {name} = {text!r} is not a number") from None
    if not math.isfinite(values[0]):
        raise RecordingError(f"{path}:{line_no}: t_s = {row[0]!r} is not finite")
    if values[0] <= last_t:
        raise RecordingError(f"{path}:{line_no}: t_s = {values[0]} does not increase (previous {last_t})")
    return values


def load_params(config_path: Path | None) -> GaitParams:
    """The [filters], [gait] and [loadcells] sections of a rig config (defaults if absent).

    The whole file is validated like any rig config, so a typo anywhere is reported.
    """
    if config_path is None:
        return GaitParams()
    from rig.config import load_config  # rig.config mounts the gait sections: import here, not at top

    config = load_config(config_path)
    return GaitParams(filters=config.filters, gait=config.gait, loadcells=config.loadcells)


def replay(recording_path: Path | str, events_out_path: Path | str,
           params: GaitParams = GaitParams()) -> dict[str, float]:
    """Run a recording through the live pipeline in 5-frame ticks; write events; return figures."""
    data = read_recording(Path(recording_path))
    # recordings are calibrated already: identity calibration whatever the rig's file says
    params = replace(params, loadcells=replace(params.loadcells, zero_counts=(0.0,) * 5,
                                               n_per_count=(1.0,) * 5))
    mass = params.gait.body_mass_kg
    weight = mass * G_MPS2 if mass > 0 else estimate_body_weight_n(data[:, 1], data[:, 2:6])
    pipeline = LoadcellPipeline(params, body_weight_n=weight, initial_n=data[0, 1:6])
    figures = GaitFigures()
    t, raw, belt = data[:, 0], data[:, 1:6], data[:, 6]
    events = []
    for lo in range(0, len(t), TICK_FRAMES):
        _, tick_events = pipeline.process(t[lo:lo + TICK_FRAMES], raw[lo:lo + TICK_FRAMES])
        for ev in tick_events:
            i = min(int(np.searchsorted(t, ev.t_s)), len(t) - 1)
            figures.add(ev, float(belt[i]))
        events += tick_events
    _write_events(Path(events_out_path), [e for e in events if e.event != "step"])
    summary = figures.summary()
    summary.update(body_weight_n=weight, samples=float(len(t)), duration_s=float(t[-1] - t[0]),
                   bad_samples=float(pipeline.bad_samples), gaps=float(pipeline.gaps))
    return summary


def _write_events(path: Path, events: list) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(("t_s", "event", "side", "detected_at_s"))
        for ev in events:
            writer.writerow((f"{ev.t_s:.4f}", ev.event, ev.side, f"{ev.detected_at_s:.4f}"))


def format_summary(summary: dict[str, float]) -> str:
    return "\n".join(f"{key:28s} {value:10.3f}" for key, value in summary.items())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rig replay", description=__doc__.splitlines()[0])
    parser.add_argument("recording", type=Path, help="CSV or .csv.gz recording")
    parser.add_argument("--config", type=Path, default=None, help="rig config (TOML)")
    parser.add_argument("--events-out", type=Path, required=True, help="events CSV to write")
    parser.add_argument("--truth", type=Path, default=None,
                        help="ground-truth events (t_s,event,side) to score against, e.g. the simulated "
                             "rig's NAME.truth.csv; its clock is lined up with the recording's first")
    args = parser.parse_args(argv)
    try:
        summary = replay(args.recording, args.events_out, load_params(args.config))
    except (RecordingError, ConfigError, OSError, tomllib.TOMLDecodeError) as exc:
        print(f"rig replay: {exc}", file=sys.stderr)
        return 1
    print(format_summary(summary))
    return _score_against(args.truth, args.events_out) if args.truth else 0


def _score_against(truth_path: Path, events_path: Path) -> int:
    from rig import eventscore
    try:
        truth, found = eventscore.read_events(truth_path), eventscore.read_events(events_path)
        offset = eventscore.clock_offset(truth, found)
    except (OSError, KeyError, ValueError) as exc:
        print(f"rig replay: cannot score against {truth_path}: {exc}", file=sys.stderr)
        return 1
    print(f"truth clock + {offset:.4f} s = recording clock")
    for kind, f in eventscore.score(eventscore.shifted(truth, offset), found).items():
        print(f"{kind:12s} recall {f['recall_pct']:6.2f} %  precision {f['precision_pct']:6.2f} %  "
              f"|error| median {f['abs_err_median_ms']:5.1f} ms p95 {f['abs_err_p95_ms']:5.1f} ms  "
              f"latency p95 {f['latency_p95_ms']:5.1f} ms  ({f['n_true']} true, {f['n_found']} found)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
