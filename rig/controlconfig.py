"""Config sections of the controllers: [patient], [unloading], [belt_control].

Declared with the project's config machinery (rig/configspec.py); rig/config.py mounts them in
the rig's config. `belt_limits()` and `unloading_params()` turn them (with the rig's own limits)
into the controllers' parameters; `cross_check()` holds the rules that span sections (the
prescription's weight-bearing limit sets the minimum unloading, the winch's force cap the
maximum), for RigConfig.check() to call.

Not here: what the controllers do with them (controllers/belt.py, controllers/harness.py),
the rig's own belt and harness limits ([belt], [harness] in rig/config.py).
"""
from __future__ import annotations

from dataclasses import dataclass

from controllers.belt import BeltLimits
from controllers.harness import CAP_MARGIN, G_MPS2, UnloadingParams
from rig.configspec import opt


@dataclass(frozen=True)
class PatientConfig:
    """The patient on the rig today, and their prescription."""

    body_mass_kg: float = opt(80.0, min=20.0, max=250.0, doc="body mass (sets body weight = mass x g)")
    leg_length_m: float = opt(0.9, min=0.5, max=1.3, doc="leg length (greater trochanter to floor)")
    max_speed_mps: float = opt(1.5, gt=0.0, max=5.0, doc="the patient's maximum belt speed")
    weight_bearing_limit_pct: float = opt(
        100.0, min=0.0, max=100.0,
        doc="prescription: at most this % of body weight on the legs (100 = full weight bearing)")
    weight_bearing_action: str = opt(
        "alarm", choices=("alarm", "increase_unloading", "stop"),
        doc="when the deck shows more weight than the prescription allows")

    @property
    def body_weight_n(self) -> float:
        return self.body_mass_kg * G_MPS2

    @property
    def min_unloading_fraction(self) -> float:
        """The unloading the prescription needs at least: 1 - limit / 100."""
        return 1.0 - self.weight_bearing_limit_pct / 100.0


@dataclass(frozen=True)
class UnloadingConfig:
    """Harness unloading: target, ramp, attach / detach forces, force-loop tuning."""

    fraction: float = opt(0.3, min=0.0, max=0.9, doc="unloading at the start of a session, x body weight")
    max_fraction: float = opt(0.6, min=0.0, max=0.9, doc="highest unloading an operator may set")
    ramp_pct_bw_per_s: float = opt(5.0, gt=0.0, max=5.0, doc="how fast the target changes, % body weight per s")
    mode: str = opt("dynamic", choices=("dynamic", "static"),
                    doc="dynamic: constant force while walking; static: winch held once on target")
    on_target_tolerance_pct_bw: float = opt(2.0, gt=0.0, max=10.0, doc="on target within this, % body weight")
    pretension_n: float = opt(30.0, gt=0.0, max=200.0, doc="line force after attaching (slack taken up)")
    slack_n: float = opt(8.0, min=0.0, max=100.0, doc="below this line force the line counts as slack")
    haul_in_mps: float = opt(0.03, gt=0.0, max=0.2, doc="winch speed taking up slack")
    pay_out_mps: float = opt(0.03, gt=0.0, max=0.2, doc="winch speed paying out when detaching")
    slack_payout_m: float = opt(0.03, min=0.0, max=0.5, doc="line paid out past slack when detaching")
    kp_mps_per_n: float = opt(0.002, gt=0.0, max=0.02, doc="force loop proportional gain, winch m/s per N")
    ki_mps_per_n_s: float = opt(0.005, min=0.0, max=0.1, doc="force loop integral gain, m/s per N s")
    feedforward_gain: float = opt(1.0, min=0.0, max=1.5, doc="share of the patient's vertical motion fed forward")
    line_stiffness_n_per_m: float = opt(8000.0, gt=0.0, max=200000.0, doc="series-elastic element stiffness")
    max_velocity_mps: float = opt(0.4, gt=0.0, max=2.0, doc="winch velocity limit of the force loop")
    max_accel_mps2: float = opt(6.0, gt=0.0, max=50.0,
                                doc="winch acceleration limit (walking needs 3-4 m/s^2; at most the drive's)")
    sensor_delay_s: float = opt(0.015, min=0.0, max=0.1, doc="delay of the filtered line force (pipeline group delay)")
    lead_s: float = opt(0.003, min=-0.02, max=0.1, doc="feed-forward prediction beyond the sensor delay")

    def check(self) -> list[tuple[str, str]]:
        issues = []
        if self.fraction > self.max_fraction:
            issues.append(("fraction", f"= {self.fraction} must be at most max_fraction = {self.max_fraction}"))
        if self.slack_n >= self.pretension_n:
            issues.append(("slack_n", f"= {self.slack_n} must be below pretension_n = {self.pretension_n}"))
        return issues


@dataclass(frozen=True)
class BeltControlConfig:
    """Belt speed profile: ramps, stops and the start speed (the rig's maximum is [belt])."""

    accel_mps2: float = opt(0.5, gt=0.0, max=3.0, doc="acceleration towards a set-point")
    decel_mps2: float = opt(0.5, gt=0.0, max=3.0, doc="deceleration towards a set-point and in a normal stop")
    fast_stop_decel_mps2: float = opt(1.5, gt=0.0, max=5.0, doc="deceleration of a fast stop (falls, faults)")
    max_start_speed_mps: float = opt(0.5, gt=0.0, max=2.0, doc="highest set-point when starting from rest")

    def check(self) -> list[tuple[str, str]]:
        if self.fast_stop_decel_mps2 < self.decel_mps2:
            return [("fast_stop_decel_mps2", f"= {self.fast_stop_decel_mps2} must be at least "
                                             f"decel_mps2 = {self.decel_mps2} (a fast stop is never slower)")]
        return []


def cross_check(patient: PatientConfig, unloading: UnloadingConfig,
                harness_force_cap_n: float | None = None) -> list[tuple[str, str]]:
    """Rules spanning sections, as (section.option, message) for RigConfig.check()."""
    issues = []
    floor = patient.min_unloading_fraction
    if unloading.fraction < floor - 1e-9:
        issues.append(("unloading.fraction", (
            f"= {unloading.fraction} is below the minimum {floor:.2f} that [patient] "
            f"weight_bearing_limit_pct = {patient.weight_bearing_limit_pct:g} needs (1 - limit / 100)")))
    if unloading.max_fraction < floor - 1e-9:
        issues.append(("unloading.max_fraction", (
            f"= {unloading.max_fraction} is below the minimum {floor:.2f} that [patient] "
            f"weight_bearing_limit_pct = {patient.weight_bearing_limit_pct:g} needs")))
    if harness_force_cap_n is not None:
        most_n = CAP_MARGIN * harness_force_cap_n
        if unloading.fraction * patient.body_weight_n > most_n:
            issues.append(("unloading.fraction", (
                f"= {unloading.fraction} needs {unloading.fraction * patient.body_weight_n:.0f} N for "
                f"{patient.body_mass_kg:g} kg, more than the winch may pull ({most_n:.0f} N, [harness] max_torque_pct)")))
    return issues


def belt_limits(belt_control: BeltControlConfig, patient: PatientConfig, rig_max_speed_mps: float,
                reverse_max_mps: float) -> BeltLimits:
    """The belt profile's limits: the lower of the patient's and the rig's maximum speed."""
    patient_lower = patient.max_speed_mps < rig_max_speed_mps
    return BeltLimits(
        accel_mps2=belt_control.accel_mps2, decel_mps2=belt_control.decel_mps2,
        fast_stop_decel_mps2=belt_control.fast_stop_decel_mps2,
        max_speed_mps=min(patient.max_speed_mps, rig_max_speed_mps),
        reverse_max_mps=min(reverse_max_mps, patient.max_speed_mps),
        max_start_speed_mps=belt_control.max_start_speed_mps,
        max_speed_source="the patient's maximum" if patient_lower else "the rig's maximum")


def unloading_params(unloading: UnloadingConfig, patient: PatientConfig, harness_force_cap_n: float,
                     sensor_delay_s: float | None = None) -> UnloadingParams:
    """The unloading controller's parameters. sensor_delay_s: the live pipeline's own delay
    (LoadcellPipeline.delay_s) when known, else the config's value."""
    weight_n = patient.body_weight_n
    return UnloadingParams(
        body_weight_n=weight_n, ramp_n_per_s=unloading.ramp_pct_bw_per_s / 100.0 * weight_n,
        pretension_n=unloading.pretension_n, slack_n=unloading.slack_n,
        kp_mps_per_n=unloading.kp_mps_per_n, ki_mps_per_n_s=unloading.ki_mps_per_n_s,
        feedforward_gain=unloading.feedforward_gain, line_stiffness_n_per_m=unloading.line_stiffness_n_per_m,
        max_velocity_mps=unloading.max_velocity_mps, max_accel_mps2=unloading.max_accel_mps2,
        force_cap_n=harness_force_cap_n, mode=unloading.mode,
        fraction=max(unloading.fraction, patient.min_unloading_fraction),
        min_fraction=patient.min_unloading_fraction,
        max_fraction=max(unloading.max_fraction, patient.min_unloading_fraction),
        on_target_tolerance_n=unloading.on_target_tolerance_pct_bw / 100.0 * weight_n,
        haul_in_mps=unloading.haul_in_mps, pay_out_mps=unloading.pay_out_mps,
        slack_payout_m=unloading.slack_payout_m,
        sensor_delay_s=unloading.sensor_delay_s if sensor_delay_s is None else sensor_delay_s,
        lead_s=unloading.lead_s)
