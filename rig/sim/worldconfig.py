"""Parameters of the simulated world: patient, harness (winch + series-elastic line), belt.

Declared with the project's config machinery (`rig/configspec.py`) so that a rig config can
carry them as `[sim.world]`, `[sim.patient]`, `[sim.harness]` and `[sim.belt]`; every default is
the typical adult / reference-rig value of DESIGN.md section 8.

Not here: the deck geometry (that is `loadcells.deck_cells_m`, passed to `World` separately),
the device twins' own parameters (register maps, ramps, comm timeouts) or sensor imperfections
(noise, hum, gain: the load-cell board twin adds those).
"""
from __future__ import annotations

from dataclasses import dataclass

from rig.configspec import opt, section


@dataclass(frozen=True)
class PatientConfig:
    """The walking person: body, gait timing and shape, variability, scripted-event timing."""

    body_mass_kg: float = opt(80.0, min=20.0, max=250.0, doc="body mass")
    leg_length_m: float = opt(0.9, min=0.5, max=1.3, doc="leg length; cadence scales with sqrt(0.9 / leg length)")
    cadence_spm_at_1mps: float = opt(102.0, min=60.0, max=150.0, doc="steps/min at 1.0 m/s (leg length 0.9 m)")
    cadence_speed_exponent: float = opt(0.42, min=0.0, max=1.0, doc="cadence ~ speed ** exponent")
    stance_fraction_at_1mps: float = opt(0.60, min=0.52, max=0.80, doc="stance / gait cycle at 1.0 m/s")
    stance_fraction_per_mps: float = opt(-0.06, min=-0.3, max=0.0, doc="stance fraction change per m/s faster")
    grf_valley_bw_at_1mps: float = opt(0.75, min=0.5, max=0.95, doc="mid-stance valley of one foot's vertical GRF, x body weight")
    grf_valley_per_mps: float = opt(-0.15, min=-0.5, max=0.0, doc="valley change per m/s faster (deeper when faster)")
    grf_skew: float = opt(0.05, min=-0.2, max=0.2, doc="first hump higher than the second by about this x BW")
    ap_force_bw_at_1mps: float = opt(0.15, min=0.0, max=0.4, doc="peak anterior-posterior GRF (braking / propulsion) x BW at 1 m/s")
    stride_cv: float = opt(0.025, min=0.0, max=0.2, doc="stride-time coefficient of variation, healthy")
    paretic_side: str = opt("none", choices=("none", "left", "right"), doc="hemiparetic side, none = symmetric gait")
    step_time_asymmetry: float = opt(0.20, min=0.0, max=0.5, doc="(paretic - non-paretic step time) / mean, when hemiparetic")
    paretic_stride_cv: float = opt(0.045, min=0.0, max=0.2, doc="stride-time CV when hemiparetic")
    foot_length_m: float = opt(0.26, min=0.15, max=0.35, doc="heel-to-toe length: the COP travels ~75 % of it in stance")
    step_width_m: float = opt(0.18, min=0.05, max=0.40, doc="lateral distance between the feet")
    com_x_m: float = opt(0.0, min=-0.6, max=0.6, doc="where the patient walks on the deck, x forward from the deck centre")
    com_excursion_gain: float = opt(1.0, min=0.0, max=2.0, doc="scales the dynamic part of the GRF (and so the COM excursion)")
    walk_start_mps: float = opt(0.20, gt=0.0, max=1.0, doc="belt speed above which a standing patient starts walking")
    walk_stop_mps: float = opt(0.10, gt=0.0, max=1.0, doc="belt speed below which a walking patient stops")
    sway_m: float = opt(0.004, min=0.0, max=0.05, doc="RMS antero-posterior sway of the COP while standing")
    on_deck_at_start: bool = opt(True, doc="start standing on the deck (false: beside it, step_on to come on)")
    fall_buckle_s: float = opt(0.03, gt=0.0, max=0.5, doc="knees buckle: the legs' support vanishes over this time")
    fall_residual_support: float = opt(0.0, min=0.0, max=0.9, doc="fraction of leg support left after buckling")
    fall_floor_drop_m: float = opt(0.45, gt=0.05, max=1.0, doc="COM drop at which the knees reach the deck")
    stumble_accel_mps2: float = opt(3.0, min=0.0, max=9.81, doc="downward COM acceleration peak of a stumble")

    def check(self) -> list[tuple[str, str]]:
        if self.walk_stop_mps >= self.walk_start_mps:
            return [("walk_stop_mps", "must be below walk_start_mps (hysteresis)")]
        return []


@dataclass(frozen=True)
class HarnessConfig:
    """Winch drum and servo, cable, series-elastic element, spring-applied brake.

    Sign convention: `winch_position_m` is cable hauled in (positive = line shortened, the
    patient lifted); velocity positive = hauling in.
    """

    stiffness_n_per_m: float = opt(8000.0, gt=0.0, max=200000.0, doc="series-elastic element stiffness")
    damping_n_s_per_m: float = opt(150.0, min=0.0, max=5000.0, doc="series-elastic element damping (acts only while taut)")
    initial_line_force_n: float = opt(0.0, min=0.0, max=3000.0, doc="line force at start (pre-tension of the attached line)")
    drum_mass_kg: float = opt(10.0, gt=0.0, max=500.0, doc="drum + motor inertia reflected to the cable")
    velocity_gain_n_s_per_m: float = opt(3000.0, gt=0.0, doc="servo velocity-loop proportional gain")
    velocity_integral_n_per_m: float = opt(150000.0, min=0.0, doc="servo velocity-loop integral gain")
    accel_limit_mps2: float = opt(20.0, gt=0.0, max=50.0, doc="profile-velocity acceleration limit (a servo winch: several m/s^2)")
    rated_force_n: float = opt(1500.0, gt=0.0, doc="line force at 100 % rated torque")
    max_force_n: float = opt(3000.0, gt=0.0, doc="the drive's absolute torque cap as line force")


@dataclass(frozen=True)
class BeltConfig:
    """Treadmill motor + belt: inertia, friction, induction-motor slip."""

    equivalent_mass_kg: float = opt(80.0, gt=0.0, max=2000.0, doc="motor, rollers and belt inertia reflected to the belt surface")
    rated_force_n: float = opt(400.0, gt=0.0, doc="tangential force at rated motor torque")
    rated_slip_mps: float = opt(0.05, gt=0.0, max=1.0, doc="speed lost at rated force (slip, after slip compensation)")
    max_force_n: float = opt(800.0, gt=0.0, doc="drive current limit as tangential force (stall)")
    friction_n: float = opt(25.0, min=0.0, doc="Coulomb friction of belt and rollers")
    viscous_n_s_per_m: float = opt(15.0, min=0.0, doc="viscous friction")
    bed_friction_coeff: float = opt(0.06, min=0.0, max=0.5, doc="belt-on-deck friction per newton of deck load")

    def check(self) -> list[tuple[str, str]]:
        if self.max_force_n < self.rated_force_n:
            return [("max_force_n", "must be at least rated_force_n")]
        return []


@dataclass(frozen=True)
class WorldConfig:
    """The whole simulated world; `[sim.world]` with sub-tables patient, harness, belt."""

    seed: int = opt(1, min=0, doc="random seed: same seed and inputs, same world (noise included)")
    step_hz: float = opt(1000.0, min=1000.0, max=20000.0, doc="physics step rate")
    patient: PatientConfig = section(PatientConfig, doc="the simulated patient")
    harness: HarnessConfig = section(HarnessConfig, doc="winch, line and series-elastic element")
    belt: BeltConfig = section(BeltConfig, doc="treadmill motor and belt")
