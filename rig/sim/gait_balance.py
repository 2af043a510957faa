"""The walking person's regulation of the centre of mass height, one step at a time.

While walking, the COM follows the feet's templated forces, `a = g gain (sum - 1)`. Step times
jitter, a stumble dips the COM and the templates' impulse is only balanced on average, so left
alone the COM would wander. At each heel strike the person adds a small smooth correction over
the coming step,

    a_corr(phi) = c0 (1 - cos 2 pi phi) + c1 sin 2 pi phi,    phi = (t - heel strike) / step,

which is zero at both ends of the step (no force step at heel strike). c0 sets the velocity
change, c1 the height change; both are solved so that the step ends on the periodic orbit of
its own force template (zero mean height, the same state at both ends): a one-step deadbeat.
The step-to-step differences of the templates leave about a millimetre for the next step.

Not here: the force templates (`gait_template`), posture while standing (the patient).
"""
from __future__ import annotations

import math
from typing import Callable

_SAMPLES = 64  # ~50 us once per heel strike; fewer samples bias the mean height by mm


def step_correction(accel: Callable[[float], float], t0: float, step_s: float,
                    z_m: float, vz_mps: float, settle: bool = False) -> tuple[float, float]:
    """(c0, c1) in m/s^2 for a step of `step_s` from `t0`, starting at height z_m, speed vz_mps.

    `accel(t)` is the template's own vertical acceleration (m/s^2) at virtual time t. `settle`:
    the last step before standing, which ends at rest at zero height instead."""
    n, h = _SAMPLES, step_s / _SAMPLES
    samples = [accel(t0 + (i + 0.5) * h) for i in range(n)]
    mean_a = sum(samples) / n
    # periodic orbit of the zero-mean template: double integral Z(tau) from rest at 0
    v = z = z_sum = 0.0
    for a in samples:
        a -= mean_a
        z_sum += z + v * h / 2.0 + a * h * h / 6.0  # mean of z over this sample, times 1
        z += v * h + a * h * h / 2.0
        v += a * h
    target_v, target_z = (0.0, 0.0) if settle else (-z / step_s, z / 2.0 - z_sum / n)
    # free response of the real template (with its mean) from the actual state
    end_v = vz_mps + mean_a * step_s
    end_z = z_m + vz_mps * step_s + z + mean_a * step_s * step_s / 2.0
    c0 = (target_v - end_v) / step_s
    c1 = 2.0 * math.pi / (step_s * step_s) * (target_z - end_z - c0 * step_s * step_s / 2.0)
    return c0, c1


def correction_at(c0: float, c1: float, phase: float) -> float:
    """The correction's acceleration (m/s^2) at a phase 0..1 of its step, 0 outside."""
    if not 0.0 <= phase < 1.0:
        return 0.0
    angle = 2.0 * math.pi * phase
    return c0 * (1.0 - math.cos(angle)) + c1 * math.sin(angle)
