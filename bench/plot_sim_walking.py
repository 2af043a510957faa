"""Plot simulated walking (1.0 m/s, 80 kg, 30 % unloading) like an instrumented treadmill.

Writes docs/sim-walking.png: four deck cells, Fz, COP x / y and harness force over 4 strides,
ground-truth heel strikes / toe offs marked; prints the gait figures of the simulation next to
those of the real recordings in shared/data/gait/. Optionally writes the simulated recording
(`--record FILE`, DESIGN.md section 6 format + FILE's .truth.csv).

Needs matplotlib (bench only: `.venv/bin/pip install matplotlib`).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from rig.sim.world import World
from rig.sim.world_figures import gait_figures
from rig.sim.world_record import Recorder, read_recording, read_truth, truth_path_for

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "gait"
UNLOADING = 0.3
DT = 0.001


def simulate(seconds: float, record: Path | None) -> tuple[np.ndarray, list, float]:
    """Walk with a P controller on winch velocity holding the line near 0.3 m g."""
    w = World()
    target = UNLOADING * w.cfg.patient.body_mass_kg * 9.81
    w.set_belt_drive(1.0, True)
    recorder = Recorder(record) if record else None
    rows = []
    for i in range(int(seconds / DT)):
        if i % 5 == 0:  # a 200 Hz loop, like the supervisor
            cmd = max(-0.3, min(0.3, 0.0008 * (target - w.line_force_n)))
            w.set_winch(cmd, enabled=True, brake_released=True, force_limit_n=1500.0)
        w.step(DT)
        rows.append((w.t_s, w.line_force_n, *w.deck_forces_n, w.belt_speed_mps))
        if recorder:
            recorder.add(w)
    if recorder:
        recorder.write(w.truth)
    return np.array(rows), w.truth, target


def plot(rows: np.ndarray, truth: list, target: float, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    strikes = [t for t, e, s in truth if e == "heel_strike" and s == "left" and t > 20.0]
    t0, t1 = strikes[0] - 0.1, strikes[4] + 0.1
    sel = (rows[:, 0] >= t0) & (rows[:, 0] <= t1)
    t, line, cells = rows[sel, 0], rows[sel, 1], rows[sel, 2:6]
    fz = cells.sum(axis=1)
    xs, ys = np.array([0.75, 0.75, -0.75, -0.75]), np.array([0.30, -0.30, 0.30, -0.30])
    cop_x, cop_y = cells @ xs / fz, cells @ ys / fz
    fig, axes = plt.subplots(5, 1, figsize=(11, 11), sharex=True)
    for k, name in enumerate(("FL", "FR", "RL", "RR")):
        axes[0].plot(t, cells[:, k], lw=1, label=name)
    axes[0].set_ylabel("deck cells (N)")
    axes[0].legend(ncol=4, loc="upper right", fontsize=8)
    axes[1].plot(t, fz, "k", lw=1)
    axes[1].set_ylabel("Fz (N)")
    axes[2].plot(t, cop_x, lw=1)
    axes[2].set_ylabel("COP x (m)")
    axes[3].plot(t, cop_y, lw=1)
    axes[3].set_ylabel("COP y (m)")
    axes[4].plot(t, line, "m", lw=1)
    axes[4].axhline(target, color="grey", ls=":", lw=1)
    axes[4].set_ylabel("harness (N)")
    axes[4].set_xlabel("t (s)")
    styles = {("heel_strike", "left"): ("g", "-"), ("heel_strike", "right"): ("g", "--"),
              ("toe_off", "left"): ("r", "-"), ("toe_off", "right"): ("r", "--")}
    for when, event, side in truth:
        if t0 <= when <= t1 and (event, side) in styles:
            color, ls = styles[(event, side)]
            for ax in axes[:2]:
                ax.axvline(when, color=color, ls=ls, lw=0.7, alpha=0.6)
    axes[0].set_title("Simulated walking, 1.0 m/s, 80 kg, 30 % unloading (truth: green HS, red TO; "
                      "solid left, dashed right)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=90)


def compare(sim: dict[str, float]) -> None:
    table = {"sim": sim}
    for path in sorted(DATA.glob("*.csv.gz")):
        table[path.name[:9]] = gait_figures(read_recording(path), read_truth(truth_path_for(path)))
    print(f"{'figure':22s}" + "".join(f"{name:>11s}" for name in table))
    for key in sim:
        print(f"{key:22s}" + "".join(f"{fig[key]:11.3f}" for fig in table.values()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "sim-walking.png")
    parser.add_argument("--record", type=Path, default=None)
    args = parser.parse_args()
    rows, truth, target = simulate(args.seconds, args.record)
    plot(rows, truth, target, args.out)
    walking = [e for e in truth if e[0] > 6.0 and e[1] in ("heel_strike", "toe_off")]
    compare(gait_figures(rows[rows[:, 0] > 6.0], walking))


if __name__ == "__main__":
    main()
