"""The load-cell board twin: its sample clock, calibration and imperfections, commands,
every injectable fault as raw counts, determinism, and the pseudo-terminal it lives on."""
from __future__ import annotations

import os
import select
import time

import numpy as np
import pytest

from drivers.loadcell.codec import FrameDecoder, IdentFrame, identify_command, start_command, stop_command
from rig.sim.loadcell_board import (I32_MAX, BoardParams, LoadcellBoardModel, LoadcellBoardTwin)

FORCES_N = (300.0, 150.0, 120.0, 180.0, 140.0)


def run_model(model: LoadcellBoardModel, seconds: float, forces=FORCES_N, t0_s: float = 0.0,
              rate_hz: int = 1000) -> list:
    """Start the board and step it like a 1 kHz physics thread; decode what it sent."""
    decoder = FrameDecoder()
    if not model.streaming:
        model.receive(start_command(rate_hz))
    frames = []
    for k in range(1, int(round(seconds * 1000)) + 1):
        frames += decoder.feed(model.sample(t0_s + k / 1000, forces))
    model.decoder = decoder
    return frames


def counts_of(frames) -> np.ndarray:
    return np.array([f.counts for f in frames], dtype=np.int64)


def test_streams_nothing_until_started_then_one_sample_per_ms():
    model = LoadcellBoardModel()
    assert model.sample(0.001, FORCES_N) == b""
    frames = run_model(model, 1.0)
    assert len(frames) == 1000
    assert [f.seq for f in frames] == list(range(1000))
    assert np.allclose(np.diff([f.t_us for f in frames]), 1000)


def test_rate_follows_start_command_on_a_coarse_physics_step():
    model = LoadcellBoardModel()
    model.receive(start_command(2000))
    decoder = FrameDecoder()
    frames = [f for k in range(1, 101) for f in decoder.feed(model.sample(k * 0.005, FORCES_N))]
    assert len(frames) == 991  # 5 ms .. 500 ms at 2 kHz, stepped every 5 ms
    assert set(np.diff([f.t_us for f in frames])) == {500}


def test_stop_and_identify():
    model = LoadcellBoardModel(BoardParams(board_id="LC5 #12"))
    run_model(model, 0.1)
    model.receive(stop_command())
    assert model.sample(0.2, FORCES_N) == b""
    assert FrameDecoder().feed(model.receive(identify_command())) == [IdentFrame("LC5 #12")]


def test_counts_follow_true_calibration_with_realistic_imperfections():
    params = BoardParams(spike_rate_per_s=0.0, drift_n_rms=0.0)
    counts = counts_of(run_model(LoadcellBoardModel(params, seed=3), 2.0))
    force_n = (counts - np.array(params.zero_counts)) * np.array(params.n_per_count)
    assert np.allclose(force_n.mean(axis=0), FORCES_N, atol=0.5)
    rms_n = force_n.std(axis=0)
    expected = np.sqrt(params.noise_n_rms**2 + params.hum_n**2 / 2)  # white noise + a sine
    assert np.allclose(rms_n, expected, rtol=0.1)
    spectrum = np.abs(np.fft.rfft(force_n[:, 0] - force_n[:, 0].mean()))
    assert np.argmax(spectrum) * 0.5 == pytest.approx(50.0)  # 2 s record: 0.5 Hz bins


def test_spikes_are_rare_single_samples_of_200_to_600_n():
    params = BoardParams(spike_rate_per_s=2.0, hum_n=0.0, drift_n_rms=0.0)
    counts = counts_of(run_model(LoadcellBoardModel(params, seed=5), 5.0))
    force_n = (counts - np.array(params.zero_counts)) * 0.01 - np.array(FORCES_N)
    big = np.abs(force_n) > 100
    assert 20 <= big.sum() <= 80  # 2/s x 5 s x 5 channels = 50 expected
    assert np.all((np.abs(force_n[big]) >= 190) & (np.abs(force_n[big]) <= 610))
    assert (big[1:] & big[:-1]).sum() <= 2  # single samples (two in a row only by chance)


def test_drift_is_slow():
    params = BoardParams(drift_n_rms=2.0, drift_time_constant_s=5.0, noise_n_rms=0, hum_n=0, spike_rate_per_s=0)
    counts = counts_of(run_model(LoadcellBoardModel(params, seed=2), 4.0))
    force_n = (counts - np.array(params.zero_counts)) * 0.01
    assert np.abs(np.diff(force_n, axis=0)).max() < 0.5  # no jumps
    assert np.abs(force_n[-1] - force_n[0]).max() > 0.3  # but it wanders


def test_same_seed_same_bytes_other_seed_other_bytes():
    def wire(seed: int) -> bytes:
        model = LoadcellBoardModel(seed=seed)
        model.receive(start_command(1000))
        return b"".join(model.sample(k / 1000, FORCES_N) for k in range(1, 300))

    assert wire(7) == wire(7) and wire(7) != wire(8)


@pytest.mark.parametrize("inject, check", [
    (lambda f: f.saturated.add(1), lambda c, base: np.all(c[:, 1] == I32_MAX)),
    (lambda f: f.disconnected.update({2: 0}), lambda c, base: np.all(c[:, 2] == 0)),
    (lambda f: f.disconnected.update({2: -(2**31)}), lambda c, base: np.all(c[:, 2] == -(2**31))),
    (lambda f: f.stuck.add(0), lambda c, base: len(set(c[:, 0])) == 1 and c[0, 0] == base[-1, 0]),
    (lambda f: f.noisy.update({3: 30.0}), lambda c, base: 25 < np.std(c[:, 3]) * 0.01 < 35),
    (lambda f: f.drifting.update({4: 50.0}),
     lambda c, base: 20 < (c[-50:, 4].mean() - c[:50, 4].mean()) * 0.01 < 30),
])
def test_channel_faults_in_raw_counts(inject, check):
    model = LoadcellBoardModel(seed=4)
    base = counts_of(run_model(model, 0.2))
    inject(model.faults)
    faulty = counts_of(run_model(model, 0.5, t0_s=0.2))
    assert check(faulty, base)
    model.faults.clear()
    healthy = counts_of(run_model(model, 0.2, t0_s=0.7))
    assert len(set(healthy[:, 0])) > 1 and np.all(healthy != 0) and np.all(healthy < I32_MAX)


def test_silent_board_sends_nothing_and_resumes_without_gap():
    model = LoadcellBoardModel()
    first = run_model(model, 0.1)
    model.faults.silent = True
    assert run_model(model, 0.1, t0_s=0.1) == []
    model.faults.silent = False
    later = run_model(model, 0.1, t0_s=0.2)
    assert later[0].seq == first[-1].seq + 1 and later[0].t_us - first[-1].t_us == 101_000


def test_corrupt_and_drop_fractions_reach_the_host_counters():
    model = LoadcellBoardModel(seed=9)
    model.faults.corrupt_fraction, model.faults.drop_fraction = 0.05, 0.03
    frames = run_model(model, 2.0)
    d = model.decoder
    assert d.crc_errors == model.stats.frames_corrupted and 60 <= d.crc_errors <= 140
    assert model.stats.samples_dropped >= 30
    assert d.lost_samples == model.stats.samples_dropped + model.stats.frames_corrupted
    assert len(frames) + d.lost_samples == 2000


def test_physics_stall_skips_samples_as_a_seq_gap():
    model = LoadcellBoardModel(BoardParams(max_catch_up_samples=50))
    run_model(model, 0.01)
    decoder = model.decoder
    frames = decoder.feed(model.sample(1.0, FORCES_N))  # 990 samples due at once
    assert len(frames) == 50 and model.stats.samples_skipped == 940
    decoder.feed(model.sample(1.001, FORCES_N))
    assert decoder.lost_samples == 940


# --- on the pseudo-terminal ----------------------------------------------------------------
def read_frames(fd: int, twin: LoadcellBoardTwin, wanted: int, timeout_s: float = 1.0) -> list:
    """Read the pty like a host would (plain fds: only drivers/ and rig/sim/ import pyserial)."""
    deadline, frames, decoder = time.monotonic() + timeout_s, [], FrameDecoder()
    while len(frames) < wanted and time.monotonic() < deadline:
        twin.sample(time.monotonic(), FORCES_N)
        if select.select([fd], [], [], 0.002)[0]:
            frames += decoder.feed(os.read(fd, 4096))
    return frames


def test_twin_appears_at_device_path_and_vanishes_on_unplug(tmp_path):
    path = str(tmp_path / "sub" / "loadcell")
    with LoadcellBoardTwin(path) as twin:
        assert os.path.islink(path) and os.readlink(path).startswith("/dev/pts/")
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        os.write(fd, identify_command() + start_command(1000))
        frames = read_frames(fd, twin, 20)
        assert isinstance(frames[0], IdentFrame) and len(frames) >= 20
        twin.unplug()
        assert not os.path.exists(path)
        try:  # the host's open port reports the hang-up: EIO, or end of file
            assert os.read(fd, 1) == b""
        except OSError:
            pass
        os.close(fd)
        twin.replug()
        assert os.path.islink(path) and not twin.model.streaming  # powered up afresh
    assert not os.path.exists(path)


def test_twin_refuses_to_replace_a_real_file(tmp_path):
    path = tmp_path / "loadcell"
    path.write_text("not a port")
    with pytest.raises(FileExistsError):
        LoadcellBoardTwin(str(path)).start()
