"""The console's numbers: unknown shows as "--", a value that rounds to zero never as "-0"."""
from __future__ import annotations

import math

import pytest

from rig.console import _num


@pytest.mark.parametrize("value,fmt,width,shown", [
    (-0.3, ".0f", 3, "  0"),
    (-0.004, ".2f", 5, " 0.00"),
    (-0.6, ".0f", 3, " -1"),
    (-0.01, ".2f", 5, "-0.01"),
    (29.6, ".0f", 3, " 30"),
    (None, ".0f", 3, " --"),
    (math.nan, ".2f", 4, "  --"),
])
def test_numbers_as_a_therapist_reads_them(value, fmt, width, shown):
    assert _num(value, fmt, width) == shown
