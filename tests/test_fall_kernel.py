"""The fall detector's per-sample kernel (cext/_collapse.pyx) against its Python reference
(tests/fall_reference.py): the same outputs, exactly, sample for sample and tick for tick, on
walking with spikes, lost samples and a collapse, and on arbitrary input."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cext._collapse import CollapseWatch
from safety.fall import FallLimits, collapse_watch_args
from tests.fall_reference import CollapseWatchRef

BW = 800.0
ATTRS = ("run", "since_s", "onset_s", "deck_before_n", "now_t", "now_deck", "now_total",
         "line_mean", "line_max", "line_last", "deck_mean", "deck_min", "last_t")


def kernel_args(limits: FallLimits = FallLimits(), bw: float = BW) -> tuple:
    return collapse_watch_args(limits, bw)


def pair(limits: FallLimits = FallLimits()) -> tuple[CollapseWatch, CollapseWatchRef]:
    return CollapseWatch(*kernel_args(limits)), CollapseWatchRef(*kernel_args(limits))


def same(a, b) -> bool:
    return a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b))


def walking_then_collapse(seed: int, seconds: float = 3.0, collapse_at_s: float = 2.0) -> np.ndarray:
    """Columns t, line, FL, FR, RL, RR at 1 kHz: two feet taking turns under a 30 % harness,
    noise, spikes and lost (NaN) samples, then the legs giving way at collapse_at_s."""
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, seconds, 0.001)
    phase = 2 * np.pi * t / 1.1
    left, right = np.clip(np.sin(phase), 0, None) ** 0.5, np.clip(-np.sin(phase), 0, None) ** 0.5
    share = 0.7 * BW / np.maximum(left + right, 1e-9) * (left + right > 0)
    feet = np.column_stack([left * 0.6, right * 0.6, left * 0.4, right * 0.4]) * share[:, None]
    line = np.full(t.size, 0.3 * BW)
    down = t >= collapse_at_s
    fade = np.clip((t - collapse_at_s) / 0.008, 0, 1)[:, None]
    feet[down] *= 1.0 - 0.9 * fade[down]
    line[down] += 0.4 * BW * fade[down, 0]
    data = np.column_stack([t, line, feet]) + np.column_stack([np.zeros(t.size), rng.normal(0, 1.5, (t.size, 5))])
    spikes = rng.choice(t.size, 12, replace=False)
    data[spikes, rng.integers(1, 6, 12)] += rng.uniform(200, 600, 12)
    lost = rng.choice(t.size, 8, replace=False)
    data[lost, rng.integers(1, 6, 8)] = rng.choice([np.nan, np.inf, -np.inf], 8)
    return data


def feed_both(kernel, ref, data: np.ndarray, sizes: np.ndarray, testing) -> list[bool]:
    """Feed the same ticks to both, check every output after each; the found flags."""
    found, i = [], 0
    for n in sizes:
        chunk = data[i:i + n]
        if chunk.size == 0:
            break
        i += n
        on = testing(len(found))
        got = kernel.feed(np.ascontiguousarray(chunk[:, 0]), chunk[:, 1], chunk[:, 2:6], on)
        want = ref.feed(chunk[:, 0], chunk[:, 1], chunk[:, 2:6], on)
        assert got == want, f"tick {len(found)}: found {got} vs {want}"
        for name in ATTRS:
            assert same(getattr(kernel, name), getattr(ref, name)), f"tick {len(found)}: {name}"
        found.append(got)
    return found


@pytest.mark.parametrize("seed", range(6))
def test_the_kernel_matches_its_reference_through_walking_and_a_collapse(seed):
    data = walking_then_collapse(seed)
    sizes = np.random.default_rng(100 + seed).integers(1, 12, data.shape[0])
    kernel, ref = pair()
    found = feed_both(kernel, ref, data, sizes, lambda tick: kernel.run < 2)  # as fall.py: until fallen
    assert any(found), "the scenario must contain a confirmed collapse, or nothing was compared"
    assert 1.99 < kernel.onset_s <= kernel.since_s <= kernel.now_t < 2.03


def test_after_a_collapse_it_only_despikes_and_a_reset_starts_afresh():
    data = walking_then_collapse(7)
    sizes = np.full(data.shape[0], 5)
    kernel, ref = pair()
    fallen: list[int] = []

    def testing(tick: int) -> bool:  # as the detector does: stop testing once fallen
        if kernel.run >= 2 and not fallen:
            fallen.append(tick)
        return not fallen

    found = feed_both(kernel, ref, data[:2500], sizes, testing)
    assert fallen and sum(found) == 1
    frozen = kernel.run
    kernel.reset(), ref.reset()
    assert kernel.run == 0 and frozen >= 2
    feed_both(kernel, ref, data[2500:], sizes, lambda tick: True)


def test_a_rebound_is_not_a_collapse_and_both_agree():
    """The deck unloads fast while the body moves up (after a push): rising, so no collapse."""
    t = np.arange(0.0, 1.0, 0.001)
    cells = np.full((t.size, 4), 0.7 * BW / 4)
    line = np.full(t.size, 0.3 * BW)
    push = (t > 0.5) & (t < 0.65)
    cells[push] *= 2.0  # the legs push: the body accelerates up
    after = t >= 0.65
    cells[after] *= 0.3
    data = np.column_stack([t, line, cells])
    kernel, ref = pair()
    assert not any(feed_both(kernel, ref, data, np.full(t.size, 5), lambda tick: True))
    still = data.copy()
    still[:, 2:6] = np.where(push[:, None], 0.7 * BW / 4, still[:, 2:6])  # no push: a collapse
    kernel, ref = pair()
    assert any(feed_both(kernel, ref, still, np.full(t.size, 5), lambda tick: True))


finite = st.floats(-2000, 2000, allow_nan=False)
value = st.one_of(finite, finite, finite, st.just(math.nan), st.just(math.inf), st.just(-math.inf))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(value, min_size=5, max_size=5), min_size=1, max_size=60),
       st.integers(1, 9), st.booleans())
def test_arbitrary_samples_give_the_same_outputs(rows, tick, testing):
    data = np.column_stack([np.arange(len(rows)) * 0.001, np.array(rows, dtype=float)])
    kernel, ref = pair(FallLimits(collapse_window_s=0.003, confirm_s=0.001))
    feed_both(kernel, ref, data, np.full(len(rows), tick), lambda _: testing)


@pytest.mark.parametrize("args, message", [
    ({"window": 0}, "collapse window"), ({"window": 200}, "collapse window"), ({"confirm": 0}, "confirmation"),
])
def test_impossible_windows_are_refused(args, message):
    values = dict(zip(("window", "confirm"), kernel_args()[:2])) | args
    with pytest.raises(ValueError, match=message):
        CollapseWatch(values["window"], values["confirm"], *kernel_args()[2:])


def test_mismatched_samples_are_refused():
    kernel = CollapseWatch(*kernel_args())
    t = np.zeros(3)
    with pytest.raises(ValueError, match="n x 4"):
        kernel.feed(t, np.zeros(3), np.zeros((3, 3)), True)
    with pytest.raises(ValueError, match="n > 0"):
        kernel.feed(np.zeros(0), np.zeros(0), np.zeros((0, 4)), True)
