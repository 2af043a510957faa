"""RTU bus budget: can the configured poll rates fit the wire? (DESIGN.md section 4)

For each RTU bus (one serial device shared by several units) it adds up the frames per
second the poll plan needs and their wire time at the configured baud: 10 bits per byte
(start, 8 data, stop; 11 with parity), a 3.5-character silent gap after each frame, and the
drive's turnaround between request and answer. A bus over 70 % busy is refused, naming the
devices and their rates. TCP links share nothing and are not budgeted.
"""
from __future__ import annotations

from dataclasses import dataclass

from rig.config import LinkConfig, RigConfig

MAX_BUSY_FRACTION = 0.70
TURNAROUND_S = 0.001  # typical drive answer delay after a request


@dataclass(frozen=True)
class Transaction:
    """One request/answer pair by its byte counts on the wire (RTU, CRC included)."""

    request_bytes: int
    answer_bytes: int


def read_registers(count: int) -> Transaction:
    return Transaction(8, 5 + 2 * count)


def write_register() -> Transaction:
    return Transaction(8, 8)


def write_registers(count: int) -> Transaction:
    return Transaction(9 + 2 * count, 8)


def read_bits(count: int) -> Transaction:
    return Transaction(8, 5 + (count + 7) // 8)


def write_coil() -> Transaction:
    return Transaction(8, 8)


# What each device's driver does on the wire every poll (steady state).
POLL_PLANS: dict[str, tuple[Transaction, ...]] = {
    "belt": (read_registers(5), write_register()),  # the speed written at most once a poll (it ramps)
    "harness": (read_registers(1), read_registers(2), read_registers(2)),
    "safety_io": (read_bits(5),),
}


def transaction_time_s(t: Transaction, link: LinkConfig) -> float:
    bits_per_byte = 10 + (0 if link.parity == "N" else 1) + (link.stopbits - 1)
    char_s = bits_per_byte / link.baud
    gaps_s = 2 * 3.5 * char_s
    return (t.request_bytes + t.answer_bytes) * char_s + gaps_s + TURNAROUND_S


@dataclass(frozen=True)
class BusLoad:
    """One RTU bus and how busy its poll plan keeps it."""

    device: str
    baud: int
    devices: tuple[tuple[str, float, float], ...]  # (name, poll_hz, seconds of wire per second)

    @property
    def busy_fraction(self) -> float:
        return sum(share for _, _, share in self.devices)

    def describe(self) -> str:
        parts = ", ".join(f"{name} at {hz:g} Hz = {share:.0%}" for name, hz, share in self.devices)
        return f"RTU bus {self.device} at {self.baud} baud is {self.busy_fraction:.0%} busy ({parts})"


def device_links(config: RigConfig) -> dict[str, tuple[LinkConfig, float]]:
    rates = {"belt": config.belt.poll_hz, "harness": config.harness.poll_hz, "safety_io": config.safety_io.poll_hz}
    return {name: (link, rates[name]) for name, link in config.modbus_links().items()}


def own_rate_plans(config: RigConfig) -> dict[str, tuple[tuple[float, Transaction], ...]]:
    """Transactions at their own rates (never faster than the loop posts them): the winch
    velocity at harness.command_hz, the torque read at harness.torque_poll_hz (with a status
    read), the heartbeat at safety_io.heartbeat_hz."""
    loop, harness = config.loop.rate_hz, config.harness
    return {"harness": ((min(harness.command_hz, loop), write_registers(2)),
                        (min(harness.torque_poll_hz, harness.poll_hz, loop), read_registers(1))),
            "safety_io": ((min(config.safety_io.heartbeat_hz, loop), write_coil()),)}


def wire_share(name: str, link: LinkConfig, poll_hz: float, config: RigConfig) -> float:
    """Seconds of wire per second: the device's polls plus its transactions at their own rates."""
    polls = poll_hz * sum(transaction_time_s(t, link) for t in POLL_PLANS[name])
    own = sum(hz * transaction_time_s(t, link) for hz, t in own_rate_plans(config).get(name, ()))
    return polls + own


def bus_loads(config: RigConfig) -> list[BusLoad]:
    buses: dict[str, list[tuple[str, LinkConfig, float]]] = {}
    for name, (link, hz) in device_links(config).items():
        if link.transport == "rtu":
            buses.setdefault(link.device, []).append((name, link, hz))
    loads = []
    for device, members in buses.items():
        shares = tuple((name, hz, wire_share(name, link, hz, config)) for name, link, hz in members)
        loads.append(BusLoad(device, members[0][1].baud, shares))
    return loads


def budget_issues(config: RigConfig) -> list[tuple[str, str]]:
    """(section, message) for every RTU bus over budget or with mismatched serial settings."""
    issues = []
    for load in bus_loads(config):
        if load.busy_fraction > MAX_BUSY_FRACTION:
            issues.append(("", f"{load.describe()}: must be at most {MAX_BUSY_FRACTION:.0%}; "
                                    "lower poll_hz, raise the baud rate or split the bus"))
    issues += _mismatched_settings(config)
    return issues


def _mismatched_settings(config: RigConfig) -> list[tuple[str, str]]:
    seen: dict[str, tuple[str, tuple]] = {}
    issues = []
    for name, (link, _) in device_links(config).items():
        if link.transport != "rtu":
            continue
        settings = (link.baud, link.parity, link.stopbits)
        if link.device in seen and seen[link.device][1] != settings:
            other = seen[link.device][0]
            issues.append((f"{name}.link", f"shares {link.device} with {other} but its baud/parity/stopbits "
                                           f"{settings} differ from {seen[link.device][1]}"))
        seen.setdefault(link.device, (name, settings))
    return issues
