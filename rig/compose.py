"""From config to the plain parameters of safety/ and controllers/ (which import no config).

One function per consumer: `interlock_limits`, `fall_limits`, `fall_catch_params`,
`belt_limits`, `unloading_params`, `gait_params`, `drive_ramp`. The patient's prescription
(`[patient]`) feeds both the controllers' limits and the interlocks.

Not here: validation (each config section's own `check()`), the rules themselves.
"""
from __future__ import annotations

import math

from controllers.belt import BeltLimits, RateLimiter
from controllers.fall_catch import FallCatchParams
from controllers.harness import UnloadingParams
from rig import controlconfig
from rig.config import RigConfig
from rig.gaitconfig import GaitParams
from rig.safetyconfig import comm_lost_after_s
from safety.fall import FallLimits
from safety.interlocks import InterlockLimits

def body_weight_n(config: RigConfig) -> float:
    return config.patient.body_weight_n


def harness_force_cap_n(config: RigConfig) -> float:
    return config.harness.max_torque_pct / 100.0 * config.harness.rated_force_n


def interlock_limits(config: RigConfig) -> InterlockLimits:
    s, belt, patient = config.safety, config.belt, config.patient
    weight = body_weight_n(config)
    wb_limit = math.inf if patient.weight_bearing_limit_pct >= 100.0 else patient.weight_bearing_limit_pct / 100.0 * weight
    return InterlockLimits(
        body_weight_n=weight, rig_max_speed_mps=belt.max_speed_mps, patient_max_speed_mps=patient.max_speed_mps,
        reverse_max_speed_mps=belt.reverse_max_speed_mps, belt_speed_tolerance_mps=belt.speed_tolerance_mps,
        belt_tracking_grace_s=belt.tracking_grace_s, overspeed_margin_mps=s.overspeed_margin_mps,
        stale_after_s={"belt": comm_lost_after_s(s, belt.poll_hz),
                       "harness": comm_lost_after_s(s, config.harness.poll_hz),
                       "safety_io": comm_lost_after_s(s, config.safety_io.poll_hz),
                       "loadcell": config.loadcell_board.stale_after_s},
        harness_force_tolerance_n=s.harness_force_tolerance_pct_bw / 100.0 * weight,
        harness_tracking_grace_s=s.harness_tracking_grace_s, harness_force_cap_n=harness_force_cap_n(config),
        travel_min_m=config.harness.travel_min_m, travel_max_m=config.harness.travel_max_m,
        fz_tolerance_n=s.fz_tolerance_pct_bw / 100.0 * weight, fz_grace_s=s.fz_grace_s,
        cell_disagree_n=s.cell_disagree_n, on_deck_min_n=s.on_deck_min_pct_bw / 100.0 * weight,
        on_deck_grace_s=s.on_deck_grace_s, weight_bearing_limit_n=wb_limit,
        weight_bearing_grace_s=s.weight_bearing_grace_s, weight_bearing_action=patient.weight_bearing_action,
        weight_bearing_stop_after_s=s.weight_bearing_stop_after_s,
        overrun_fault_count=config.loop.overrun_fault_count,
    )


def fall_limits(config: RigConfig) -> FallLimits:
    s = config.safety
    return FallLimits(descent_limit_m=s.fall_descent_m, force_fraction_of_bw=s.fall_force_pct_bw / 100.0)


def fall_catch_params(config: RigConfig) -> FallCatchParams:
    return FallCatchParams(max_velocity_mps=config.harness.max_velocity_mps, force_cap_n=harness_force_cap_n(config),
                           body_weight_n=body_weight_n(config),
                           line_stiffness_n_per_m=config.unloading.line_stiffness_n_per_m)


def belt_limits(config: RigConfig) -> BeltLimits:
    return controlconfig.belt_limits(config.belt_control, config.patient, config.belt.max_speed_mps,
                                     config.belt.reverse_max_speed_mps)


def unloading_params(config: RigConfig, sensor_delay_s: float | None = None) -> UnloadingParams:
    """sensor_delay_s: the live pipeline's own delay (LoadcellPipeline.delay_s) when known."""
    return controlconfig.unloading_params(config.unloading, config.patient, harness_force_cap_n(config),
                                          sensor_delay_s=sensor_delay_s)


def gait_params(config: RigConfig) -> GaitParams:
    return GaitParams(filters=config.filters, gait=config.gait, loadcells=config.loadcells)


def drive_ramp(config: RigConfig) -> RateLimiter:
    """The belt speed the drive should show: its own ramp towards what was commanded."""
    belt = config.belt
    full_scale = belt.max_frequency_hz * belt.mps_per_hz
    return RateLimiter(full_scale / belt.drive_accel_s, config.belt_control.fast_stop_decel_mps2)
