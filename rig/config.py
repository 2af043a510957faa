"""The rig's configuration: which sections and options exist, their types, defaults and limits.

`load_config(path)` reads a TOML file (stdlib tomllib) into a frozen `RigConfig`, or raises
`ConfigError` listing every problem with file, section, option, what was wrong and what is
allowed. Cross-option rules live in each section's `check()`.

Not here: the validation machinery (rig/configspec.py) or what uses the options.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from rig.configspec import ConfigError, ConfigIssue, build_section, opt, section, to_toml
from rig.controlconfig import BeltControlConfig, PatientConfig, UnloadingConfig, cross_check
from rig.gaitconfig import FiltersConfig, GaitConfig, LoadcellsConfig
from rig.safetyconfig import SafetyConfig
from rig.sim.worldconfig import WorldConfig

BAUD_RATES = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)
RIG_MAX_BELT_SPEED_MPS = 5.0  # no treadmill for rehabilitation goes faster


@dataclass(frozen=True)
class LinkConfig:
    """How to reach one Modbus device: TCP (host, port) or RTU (serial device, baud...)."""

    transport: str = opt("tcp", choices=("tcp", "rtu"), doc="Modbus TCP or Modbus RTU")
    host: str = opt("127.0.0.1", doc="TCP: address of the device or gateway")
    port: int = opt(502, min=1, max=65535, doc="TCP: port")
    device: str = opt("", doc="RTU: serial port, e.g. /dev/ttyUSB0")
    baud: int = opt(115200, choices=BAUD_RATES, doc="RTU: bits per second")
    parity: str = opt("N", choices=("N", "E", "O"), doc="RTU: parity")
    stopbits: int = opt(1, choices=(1, 2), doc="RTU: stop bits")
    unit: int = opt(1, min=1, max=247, doc="Modbus unit (slave) id")
    timeout_s: float = opt(0.05, gt=0.0, max=2.0, doc="time to wait for one answer")
    retries: int = opt(1, min=0, max=5, doc="extra attempts after a time-out")

    def check(self) -> list[tuple[str, str]]:
        if self.transport == "rtu" and not self.device:
            return [("device", 'is required when transport = "rtu" (the serial port, e.g. "/dev/ttyUSB0")')]
        return []

    @property
    def worst_case_blocking_s(self) -> float:
        """Longest one transaction can block: (retries + 1) x timeout."""
        return (self.retries + 1) * self.timeout_s


def blocking_issues(link: LinkConfig, poll_hz: float) -> list[tuple[str, str]]:
    """A device's worst-case blocking ((retries + 1) x timeout) must fit its poll period."""
    period_s = 1.0 / poll_hz
    if link.worst_case_blocking_s <= period_s + 1e-9:
        return []
    return [("link.timeout_s", f"= {link.timeout_s} with link.retries = {link.retries} can block "
             f"{link.worst_case_blocking_s * 1000:.1f} ms ((retries + 1) x timeout), more than the poll period "
             f"{period_s * 1000:.1f} ms at poll_hz = {poll_hz:g}: lower timeout_s or retries, or poll_hz")]


@dataclass(frozen=True)
class BeltRegisters:
    """Holding-register addresses of the belt VFD (Delta MS300 defaults, DESIGN.md 1.1)."""

    control: int = opt(0x2000, min=0, max=0xFFFF, hex=True)
    frequency_command: int = opt(0x2001, min=0, max=0xFFFF, hex=True)
    fault_control: int = opt(0x2002, min=0, max=0xFFFF, hex=True)
    fault_warning: int = opt(0x2100, min=0, max=0xFFFF, hex=True)
    status: int = opt(0x2101, min=0, max=0xFFFF, hex=True)
    frequency_readback: int = opt(0x2102, min=0, max=0xFFFF, hex=True)
    output_frequency: int = opt(0x2103, min=0, max=0xFFFF, hex=True)
    output_current: int = opt(0x2104, min=0, max=0xFFFF, hex=True)
    motor_speed: int = opt(0x210C, min=0, max=0xFFFF, hex=True)
    comm_timeout: int = opt(0x0903, min=0, max=0xFFFF, hex=True)
    comm_loss_reaction: int = opt(0x0902, min=0, max=0xFFFF, hex=True)
    accel_time: int = opt(0x010A, min=0, max=0xFFFF, hex=True)
    decel_time: int = opt(0x010B, min=0, max=0xFFFF, hex=True)


@dataclass(frozen=True)
class BeltConfig:
    """The treadmill belt and its VFD."""

    mps_per_hz: float = opt(0.05, gt=0.0, max=1.0, doc="belt speed per Hz of drive output frequency")
    max_frequency_hz: float = opt(60.0, gt=0.0, max=400.0, doc="drive's maximum output frequency (Pr.01-00)")
    max_speed_mps: float = opt(2.0, gt=0.0, max=RIG_MAX_BELT_SPEED_MPS, doc="rig's forward speed limit")
    reverse_max_speed_mps: float = opt(0.8, min=0.0, max=2.0, doc="retro-walking speed limit")
    drive_accel_s: float = opt(6.0, gt=0.0, max=600.0, doc="drive ramp 0 -> max frequency (Pr.01-10)")
    drive_decel_s: float = opt(6.0, gt=0.0, max=600.0, doc="drive ramp max frequency -> 0 (Pr.01-11)")
    comm_timeout_s: float = opt(0.5, min=0.1, max=10.0, doc="drive stops if the controller is silent this long (Pr.09-03)")
    comm_loss_reaction: str = opt("ramp_stop", choices=("ramp_stop", "coast"),
                                  doc="what the drive does on comm loss (Pr.09-02)")
    poll_hz: float = opt(50.0, min=1.0, max=500.0, doc="how often the drive is read")
    speed_tolerance_mps: float = opt(0.15, gt=0.0, max=1.0, doc="allowed |measured - expected| belt speed")
    tracking_grace_s: float = opt(1.0, min=0.1, max=10.0, doc="time a speed error may last before it is a fault")
    link: LinkConfig = section(lambda: LinkConfig(port=15020, timeout_s=0.01, retries=1))
    registers: BeltRegisters = section(BeltRegisters)

    def check(self) -> list[tuple[str, str]]:
        issues = []
        drive_max = self.max_frequency_hz * self.mps_per_hz
        if self.max_speed_mps > drive_max:
            issues.append(("max_speed_mps", f"= {self.max_speed_mps} must be at most {drive_max:.3g} "
                                            "(max_frequency_hz x mps_per_hz, what the drive can reach)"))
        return issues + blocking_issues(self.link, self.poll_hz)


@dataclass(frozen=True)
class HarnessRegisters:
    """Holding registers of the harness servo (CiA 402 objects mapped on Modbus, DESIGN.md 1.2)."""

    controlword: int = opt(0x3100, min=0, max=0xFFFF, hex=True, doc="6040")
    statusword: int = opt(0x3200, min=0, max=0xFFFF, hex=True, doc="6041")
    mode_of_operation: int = opt(0x3500, min=0, max=0xFFFF, hex=True, doc="6060 (3 = profile velocity)")
    target_velocity: int = opt(0x6F00, min=0, max=0xFFFE, hex=True, doc="60FF, 32-bit high word first")
    position_actual: int = opt(0x3700, min=0, max=0xFFFE, hex=True, doc="6064, 32-bit")
    velocity_actual: int = opt(0x3B00, min=0, max=0xFFFE, hex=True, doc="606C, 32-bit")
    torque_actual: int = opt(0x3C00, min=0, max=0xFFFF, hex=True, doc="6077, 0.1 % rated")
    max_torque: int = opt(0x3D00, min=0, max=0xFFFF, hex=True, doc="6072, 0.1 % rated")
    error_code: int = opt(0x3F00, min=0, max=0xFFFF, hex=True, doc="603F")


@dataclass(frozen=True)
class HarnessConfig:
    """The harness winch: a servo drive in profile velocity mode behind a series-elastic line."""

    position_m_per_count: float = opt(0.0001, gt=0.0, max=0.01, doc="6064 scale: cable metres per count")
    velocity_mps_per_count: float = opt(0.001, gt=0.0, max=0.1, doc="60FF / 606C scale")
    rated_force_n: float = opt(1500.0, gt=0.0, max=20000.0, doc="line force at 100 % rated torque")
    max_torque_pct: float = opt(60.0, gt=0.0, max=300.0, doc="6072 hard cap on winch force, % rated")
    max_velocity_mps: float = opt(1.2, gt=0.0, max=2.0, doc="winch velocity limit of the drive (a fall catch hauls in this fast)")
    travel_min_m: float = opt(-0.30, min=-5.0, max=5.0, doc="lowest allowed cable position")
    travel_max_m: float = opt(0.60, min=-5.0, max=5.0, doc="highest allowed cable position")
    poll_hz: float = opt(100.0, min=1.0, max=1000.0,
                         doc="how often the drive is read (statusword, position, velocity: three Modbus reads; "
                             "the force loop itself runs on the 1 kHz line load cell)")
    torque_poll_hz: float = opt(10.0, min=0.1, max=1000.0,
                                doc="how often the status also reads the motor torque (a fourth read; only its "
                                    "plausibility and the force estimate use it), at most poll_hz")
    command_hz: float = opt(100.0, min=1.0, max=1000.0,
                            doc="how often the force loop's winch velocity is written (at most the loop rate; "
                                "the drive's velocity loop holds it between writes); an RTU line's budget counts it")
    comm_timeout_s: float = opt(0.05, min=0.01, max=10.0,
                                doc="the drive's own comm-loss watchdog (set at commissioning): it faults and "
                                    "its brake holds if the controller is silent this long")
    link: LinkConfig = section(lambda: LinkConfig(port=15021, timeout_s=0.005, retries=0))
    registers: HarnessRegisters = section(HarnessRegisters)

    def check(self) -> list[tuple[str, str]]:
        issues = blocking_issues(self.link, self.poll_hz)
        talk_hz = max(self.poll_hz, self.command_hz)  # any transaction resets the drive's watchdog
        if self.comm_timeout_s < 3.0 / talk_hz:
            issues.append(("comm_timeout_s", f"= {self.comm_timeout_s} must be at least 3 periods of the drive's "
                                             f"most frequent transaction ({3000.0 / talk_hz:.0f} ms at "
                                             f"poll_hz = {self.poll_hz:g}, command_hz = {self.command_hz:g})"))
        if self.torque_poll_hz > self.poll_hz:
            issues.append(("torque_poll_hz", f"= {self.torque_poll_hz:g} must be at most poll_hz = {self.poll_hz:g} "
                                             "(the torque is read with the status)"))
        if self.travel_min_m >= self.travel_max_m:
            issues.append(("travel_min_m", f"= {self.travel_min_m} must be below travel_max_m = {self.travel_max_m}"))
        return issues


@dataclass(frozen=True)
class LoadcellBoardConfig:
    """The load-cell front-end board's serial stream (DESIGN.md section 3)."""

    device: str = opt("/tmp/rig-sim/loadcell", doc="serial port of the board (USB CDC)")
    baud: int = opt(921600, choices=BAUD_RATES, doc="serial speed (>= 460800 for 1 kHz)")
    rate_hz: int = opt(1000, min=100, max=4000, doc="samples per second asked of the board")
    stale_after_s: float = opt(0.02, gt=0.0, max=1.0, doc="no sample for this long: data is stale")


@dataclass(frozen=True)
class SafetyIoConfig:
    """The safety I/O module: inputs from the hardware safety chain, heartbeat and beacon coils."""

    poll_hz: float = opt(100.0, min=1.0, max=1000.0)
    heartbeat_timeout_s: float = opt(0.2, gt=0.0, max=5.0, doc="module opens the chain if the heartbeat stops")
    heartbeat_hz: float = opt(25.0, min=1.0, max=1000.0,
                              doc="how often the controller-alive coil toggles; at least 4 toggles per heartbeat_timeout_s")
    input_estop_closed: int = opt(0, min=0, max=0xFFFF)
    input_key_present: int = opt(1, min=0, max=0xFFFF)
    input_harness_attached: int = opt(2, min=0, max=0xFFFF)
    input_drives_enabled: int = opt(3, min=0, max=0xFFFF)
    input_brake_released: int = opt(4, min=0, max=0xFFFF)
    coil_heartbeat: int = opt(0, min=0, max=0xFFFF)
    coil_beacon: int = opt(1, min=0, max=0xFFFF)
    link: LinkConfig = section(lambda: LinkConfig(port=15022, timeout_s=0.005, retries=1))

    def check(self) -> list[tuple[str, str]]:
        issues = blocking_issues(self.link, self.poll_hz)
        if self.heartbeat_hz * self.heartbeat_timeout_s < 4.0:
            issues.append(("heartbeat_hz", f"= {self.heartbeat_hz:g} toggles the heartbeat fewer than 4 times in "
                                           f"heartbeat_timeout_s = {self.heartbeat_timeout_s:g}: must be at least "
                                           f"{4.0 / self.heartbeat_timeout_s:g}, or one late toggle opens the chain"))
        return issues


@dataclass(frozen=True)
class LoopConfig:
    """The supervisor loop."""

    rate_hz: float = opt(200.0, min=10.0, max=1000.0, doc="tick rate")
    overrun_fault_count: int = opt(20, min=1, max=1000, doc="consecutive overruns that raise fault 601 (20 at 200 Hz: the loop 100 ms behind)")
    status_period_s: float = opt(1.0, gt=0.0, max=60.0, doc="console status line period (rig run)")
    realtime_priority: int = opt(50, min=0, max=99, doc="SCHED_FIFO priority asked for the loop thread (0: ordinary scheduling); without permission the loop runs on with a warning")
    lock_memory: bool = opt(True, doc="lock the process's memory (mlockall) so the loop never waits on a page fault")


@dataclass(frozen=True)
class SimBeltConfig:
    """Physical behaviour of the simulated belt drive (the twin, not the controller)."""

    motor_time_constant_s: float = opt(0.08, gt=0.0, max=2.0, doc="first-order lag of motor speed")
    no_load_current_a: float = opt(1.2, min=0.0, max=50.0)
    rated_current_a: float = opt(7.5, gt=0.0, max=200.0)
    current_per_hz_a: float = opt(0.04, min=0.0, max=5.0, doc="friction load current per Hz")
    accel_current_a: float = opt(2.0, min=0.0, max=50.0, doc="extra current while ramping up")


@dataclass(frozen=True)
class SimConfig:
    """The simulated rig, started by `rig run` / `rig sim` when enabled."""

    enabled: bool = opt(False, doc="start the simulated devices on the configured endpoints")
    control_port: int = opt(15029, min=1, max=65535, doc="HTTP fault-injection hook on 127.0.0.1 (rig inject)")
    belt: SimBeltConfig = section(SimBeltConfig)
    world: WorldConfig = section(WorldConfig, doc="physics and the simulated patient (seed, step rate)")


@dataclass(frozen=True)
class RigConfig:
    """Everything the rig reads from its TOML file."""

    name: str = opt("bwst-rig", doc="shown on the panel and in session records")
    loop: LoopConfig = section(LoopConfig)
    belt: BeltConfig = section(BeltConfig)
    harness: HarnessConfig = section(HarnessConfig)
    loadcell_board: LoadcellBoardConfig = section(LoadcellBoardConfig)
    loadcells: LoadcellsConfig = section(LoadcellsConfig, doc="calibration and deck geometry")
    filters: FiltersConfig = section(FiltersConfig, doc="load-cell filters of the Cython pipeline")
    gait: GaitConfig = section(GaitConfig, doc="gait event detection")
    safety_io: SafetyIoConfig = section(SafetyIoConfig)
    patient: PatientConfig = section(PatientConfig, doc="the patient and the prescription")
    unloading: UnloadingConfig = section(UnloadingConfig, doc="harness unloading force control")
    belt_control: BeltControlConfig = section(BeltControlConfig, doc="belt speed profile and stops")
    safety: SafetyConfig = section(SafetyConfig, doc="software interlock limits and fall detection")
    sim: SimConfig = section(SimConfig)

    def check(self) -> list[tuple[str, str]]:
        cap_n = self.harness.max_torque_pct / 100.0 * self.harness.rated_force_n
        return cross_check(self.patient, self.unloading, cap_n)

    def modbus_links(self) -> dict[str, LinkConfig]:
        """Every Modbus device's link, by device name (the one list of Modbus devices)."""
        return {"belt": self.belt.link, "harness": self.harness.link, "safety_io": self.safety_io.link}


def parse_config(text: str, file: str = "<config>") -> RigConfig:
    """Parse TOML text into a RigConfig, or raise ConfigError with every issue."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([ConfigIssue(file, "", "", f"is not valid TOML: {exc}")]) from None
    config, issues = build_section(RigConfig, data, file)
    if issues:
        raise ConfigError(issues)
    return config


def load_config(path: str | Path) -> RigConfig:
    """Read and validate a config file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigIssue(str(path), "", "", "does not exist")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigIssue(str(path), "", "", f"cannot be read: {exc}")]) from None
    return parse_config(text, str(path))


def show_config(config: RigConfig) -> str:
    """The effective config, defaults filled in, as TOML."""
    return to_toml(config) + "\n"
