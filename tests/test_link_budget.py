"""A Modbus answer later than the link's own budget is a comm failure, and rail samples are held."""
from __future__ import annotations

import time

import numpy as np
import pytest

from drivers.errors import CommsError
from drivers.loadcell.monitor import I32_MAX, I32_MIN
from drivers.modbus_link import LATE_MARGIN_S, ModbusLink
from rig.config import LinkConfig
from rig.supervisor import rails_as_nan


class SlowClient:
    """Answers every read after `delay_s` (as pymodbus does when stale answers trickle in)."""

    connected = True

    def __init__(self, delay_s: float):
        self.delay_s = delay_s

    def read_holding_registers(self, address: int, count: int, device_id: int):
        time.sleep(self.delay_s)
        return type("Answer", (), {"registers": [7] * count, "isError": lambda self: False})()


def link_with(delay_s: float) -> ModbusLink:
    return ModbusLink(LinkConfig(timeout_s=0.01, retries=1), "belt drive", 101, 102, client=SlowClient(delay_s))


def test_an_answer_within_the_budget_is_taken():
    link = link_with(0.0)
    assert link.read_holding(0x2100, 2) == [7, 7]
    assert link.health.state == "up" and link.health.failures == 0


def test_an_answer_past_the_budget_is_discarded_as_a_comm_failure_once_the_link_is_up():
    link = link_with(0.0)
    link.read_holding(0x2100, 2)
    good_at = link.health.last_good_s
    link.client.delay_s = 2 * 0.01 + LATE_MARGIN_S + 0.03
    with pytest.raises(CommsError) as caught:
        link.read_holding(0x2100, 2)
    assert caught.value.code == 101
    assert "past its 70 ms budget: the answer was discarded" in caught.value.detail
    assert link.health.state == "down" and link.health.last_good_s == good_at


def test_a_slow_first_answer_while_connecting_is_taken():
    link = link_with(2 * 0.01 + LATE_MARGIN_S + 0.03)
    assert link.read_holding(0x2100, 2) == [7, 7]  # before the link is up: outside the loop's budget
    assert link.health.state == "up"


def test_samples_at_a_rail_become_nan_and_the_rest_are_untouched():
    counts = np.array([[5, I32_MAX, 7, I32_MIN, -3]], dtype=np.int64)
    out = rails_as_nan(counts)
    assert out.dtype == np.float64
    assert np.isnan(out[0, 1]) and np.isnan(out[0, 3])
    assert out[0, [0, 2, 4]].tolist() == [5.0, 7.0, -3.0]
    assert counts[0, 1] == I32_MAX  # the driver's batch is not changed
