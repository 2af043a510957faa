"""The Cython streaming filters against pure-Python references and scipy."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import signal

from cext._filters import SpikeBank
from cext.filters import SpikeFilter, StreamingFilter, design_sos


def sos_reference(sos: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Direct form II transposed, one sample and one section at a time."""
    zi = np.zeros((x.shape[1], sos.shape[0], 2))
    y = np.empty_like(x)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            v = x[n, c]
            for s, (b0, b1, b2, _, a1, a2) in enumerate(sos):
                z = zi[c, s]
                out = b0 * v + z[0]
                z[0] = b1 * v - a1 * out + z[1]
                z[1] = b2 * v - a2 * out
                v = out
            y[n, c] = v
    return y


def median_reference(x: np.ndarray, width: int) -> np.ndarray:
    padded = np.vstack([np.repeat(x[:1], width - 1, axis=0), x])
    return np.stack([np.median(padded[i:i + width], axis=0) for i in range(x.shape[0])])


def hampel_reference(x: np.ndarray, sigmas: float = 3.0) -> np.ndarray:
    padded = np.vstack([np.repeat(x[:1], 6, axis=0), x])
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        win = padded[i:i + 7]
        med = np.median(win, axis=0)
        mad = np.median(np.abs(win - med), axis=0)
        centre = win[3]
        out[i] = np.where(np.abs(centre - med) > sigmas * 1.4826 * mad, med, centre)
    return out


@pytest.fixture
def noisy() -> np.ndarray:
    rng = np.random.default_rng(7)
    t = np.arange(3000) / 1000
    x = 300 + 100 * np.sin(2 * np.pi * 1.7 * t)[:, None] + rng.normal(0, 2, (t.size, 5))
    x[[100, 1500, 2200], [1, 3, 0]] += 500  # single-sample spikes
    return x


def test_sos_matches_reference_and_scipy(noisy):
    sos = design_sos(1000, 4, 30, 50, 30)
    out = StreamingFilter(sos, 5)(noisy[:600])
    np.testing.assert_allclose(out, sos_reference(sos, noisy[:600]), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(out, signal.sosfilt(sos, noisy[:600], axis=0), rtol=1e-9, atol=1e-9)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=60))
def test_chunking_gives_identical_output(chunks):
    rng = np.random.default_rng(3)
    x = rng.normal(0, 50, (sum(chunks), 5))
    sos = design_sos(1000, 4, 25, 50, 20)
    whole = StreamingFilter(sos, 5)(x)
    pieces, filt, at = [], StreamingFilter(sos, 5), 0
    for n in chunks:
        pieces.append(filt(x[at:at + n]))
        at += n
    assert np.array_equal(np.vstack(pieces), whole)  # bit-identical


@pytest.mark.parametrize("mode,width", [("median3", 3), ("median5", 5)])
def test_median_spike_filters_match_reference(noisy, mode, width):
    out = SpikeFilter(5, mode)(noisy)
    np.testing.assert_array_equal(out, median_reference(noisy, width))
    assert np.abs(out - 300).max() < 250  # the 500 N spikes are gone


def test_hampel_matches_reference(noisy):
    np.testing.assert_array_equal(SpikeFilter(5, "hampel")(noisy), hampel_reference(noisy))


def test_none_passes_through(noisy):
    np.testing.assert_array_equal(SpikeFilter(5, "none")(noisy), noisy)


def test_bad_inputs_raise_clear_errors():
    filt = StreamingFilter(design_sos(1000, 2, 20), 5)
    with pytest.raises(ValueError, match=r"shape \(n, 5\)"):
        filt(np.zeros((10, 4)))
    with pytest.raises(TypeError, match="numeric"):
        filt(np.array([["a"] * 5]))
    with pytest.raises(ValueError, match="finite"):
        filt(np.full((3, 5), np.nan))
    assert filt(np.zeros((0, 5))).shape == (0, 5)
    with pytest.raises(ValueError, match="cutoff"):
        design_sos(1000, 4, 600)
    with pytest.raises(ValueError, match="spike filter"):
        SpikeBank(5, "mean")
