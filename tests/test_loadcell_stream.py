"""The load-cell stream driver against the board twin over a real pseudo-terminal.

Each fault the twin can inject is shown with the health state and catalogue code it produces
and how long after injection the loop (draining at 200 Hz) sees it.
"""
from __future__ import annotations

import os
import time

import numpy as np
import pytest

from drivers.errors import DeviceError
from drivers.loadcell import LoadcellStream
from drivers.loadcell.stream import ring_copy
from rig.config import parse_config
from rig.sim.loadcell_board import (BoardClockThread, BoardParams, LoadcellBoardModel, LoadcellBoardTwin)

FORCES_N = (300.0, 150.0, 120.0, 180.0, 140.0)
TICK_S = 0.005  # the supervisor loop's 200 Hz
DETECTED_S: dict[str, float] = {}  # fault -> time to detection, printed with -s


def board_config(device: str, extra: str = ""):
    return parse_config(f'[loadcell_board]\ndevice = "{device}"\n{extra}').loadcell_board


@pytest.fixture
def twin(tmp_path):
    board = LoadcellBoardTwin(str(tmp_path / "loadcell"), LoadcellBoardModel(seed=1))
    board.start()
    clock = BoardClockThread(board, lambda: FORCES_N)
    clock.start()
    yield board
    clock.stop()
    board.stop()


@pytest.fixture
def stream(twin):
    driver = LoadcellStream(board_config(twin.device_path))
    driver.connect()
    yield driver
    driver.close()


def codes(stream: LoadcellStream) -> set[int]:
    stream.drain()
    return {e.code for e in stream.active_faults(time.monotonic())}


def wait_for(stream: LoadcellStream, condition, timeout_s: float) -> float:
    """Run the loop's drain + fault check every tick until condition(codes) holds; the time it took."""
    start = time.monotonic()
    while not condition(codes(stream)):
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"not reached in {timeout_s} s; faults now {codes(stream)}, {stream.health}")
        time.sleep(TICK_S)
    return time.monotonic() - start


def settle(stream: LoadcellStream, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        stream.drain()
        time.sleep(TICK_S)


def test_connect_identifies_and_streams_at_the_configured_rate(stream, twin):
    assert stream.health.board_id == twin.model.params.board_id
    stream.drain()
    time.sleep(0.5)
    batch = stream.drain()
    assert 400 <= batch.n <= 600
    assert np.allclose(np.diff(batch.t_s), 0.001) and np.all(np.diff(batch.seq) == 1)
    assert stream.health.state == "up" and codes(stream) == set()
    zero = np.array(twin.model.params.zero_counts)
    assert np.allclose((batch.counts - zero).mean(axis=0) * 0.01, FORCES_N, atol=1.5)


def test_board_clock_wrap_over_the_pty(tmp_path):
    params = BoardParams(t_us_at_power_on=2**32 - 150_000, seq_at_power_on=2**32 - 100)
    with LoadcellBoardTwin(str(tmp_path / "lc"), LoadcellBoardModel(params)) as board:
        clock = BoardClockThread(board, lambda: FORCES_N)
        clock.start()
        driver = LoadcellStream(board_config(board.device_path))
        driver.connect()
        settle(driver, 0.4)
        driver.close()
        clock.stop()
    assert driver.health.lost_samples == 0 and driver.health.seq_restarts == 0
    assert driver.health.last_sample_t_s > 2**32 * 1e-6 + 0.2  # past the wrap, still counting up


def test_time_injected_board_runs_faster_than_real_time(tmp_path):
    """Lockstep sims step the board on virtual time; the host still gets every sample, exactly spaced."""
    with LoadcellBoardTwin(str(tmp_path / "lc")) as board:
        driver = LoadcellStream(board_config(board.device_path))
        board.sample(0.0, FORCES_N)  # powered: its clock starts at virtual 0
        driver.connect()
        for k in range(1, 2001):  # 2 s of virtual time, as fast as we can
            board.sample(k / 1000, FORCES_N)
            if k % 200 == 0:
                time.sleep(0.002)
        time.sleep(0.1)
        batch = driver.drain()
        driver.close()
    assert batch.n == board.model.stats.frames_sent and batch.n >= 1990
    assert np.allclose(np.diff(batch.t_s), 0.001)


CHANNEL_FAULTS = [
    ("saturated", lambda f: f.saturated.add(1), 201),
    ("disconnected_zero", lambda f: f.disconnected.update({2: 0}), 203),
    ("disconnected_rail", lambda f: f.disconnected.update({3: -(2**31)}), 201),
    ("stuck", lambda f: f.stuck.add(0), 202),
    ("noisy", lambda f: f.noisy.update({4: 25.0}), 204),
]


@pytest.mark.parametrize("name, inject, code", CHANNEL_FAULTS, ids=[c[0] for c in CHANNEL_FAULTS])
def test_channel_fault_gives_its_code_then_clears(stream, twin, name, inject, code):
    settle(stream, 0.3)  # the noise window fills
    assert codes(stream) == set()
    inject(twin.faults)
    DETECTED_S[name] = took = wait_for(stream, lambda c: code in c, timeout_s=1.0)
    assert took < 0.35
    assert codes(stream) == {code}
    twin.faults.clear()
    wait_for(stream, lambda c: not c, timeout_s=1.0)


def test_drift_is_not_judged_by_the_driver(stream, twin):
    """Drift needs newtons and an empty deck: the calibrated zero check catches it, not the stream."""
    settle(stream, 0.1)
    twin.faults.drifting[1] = 200.0  # N/s
    start = stream.drain()
    settle(stream, 0.5)
    end = stream.drain()
    assert (end.counts[-20:, 1].mean() - start.counts[-20:, 1].mean()) * 0.01 > 80
    assert codes(stream) == set()


def test_silent_board_is_stale_after_stale_after_s_and_recovers(stream, twin):
    settle(stream, 0.1)
    twin.faults.silent = True
    DETECTED_S["silent"] = took = wait_for(stream, lambda c: c == {132}, timeout_s=0.5)
    assert took <= stream.cfg.stale_after_s + 3 * TICK_S + 0.02
    assert stream.health.state == "up"  # the port is fine; the data is not
    twin.faults.silent = False
    wait_for(stream, lambda c: not c, timeout_s=0.5)


def test_board_that_lost_its_start_is_restarted_by_the_driver(stream, twin):
    with twin.lock:
        twin.model.streaming = False  # e.g. a brown-out reset: the board sits idle
    wait_for(stream, lambda c: c == {132}, timeout_s=0.5)
    DETECTED_S["restart_after_idle_board"] = wait_for(stream, lambda c: not c, timeout_s=1.0)
    assert twin.model.streaming


def test_corrupt_frames_above_limit_give_133(stream, twin):
    settle(stream, 0.2)
    twin.faults.corrupt_fraction = 0.1
    DETECTED_S["corrupt_10pct"] = took = wait_for(stream, lambda c: 133 in c, timeout_s=1.0)
    assert took < 0.3
    twin.faults.clear()
    settle(stream, 0.05)
    assert stream.health.crc_errors == twin.model.stats.frames_corrupted > 0
    assert stream.health.malformed == 0
    wait_for(stream, lambda c: not c, timeout_s=1.5)  # once the 1 s window has moved past


def test_dropped_samples_counted_and_give_134(stream, twin):
    settle(stream, 0.2)
    twin.faults.drop_fraction = 0.05
    DETECTED_S["dropped_5pct"] = took = wait_for(stream, lambda c: 134 in c, timeout_s=1.0)
    assert took < 0.5
    twin.faults.clear()
    settle(stream, 0.05)
    assert stream.health.lost_samples == twin.model.stats.samples_dropped > 0


def test_unplug_is_reported_at_once_and_replug_recovers_without_restart(stream, twin):
    settle(stream, 0.2)
    before = stream.drain()
    twin.unplug()
    DETECTED_S["unplug"] = took = wait_for(stream, lambda c: c == {131}, timeout_s=0.5)
    assert took <= 2 * TICK_S + 0.01 and stream.stale(time.monotonic())
    assert stream.health.state == "down" and stream.health.read_errors == 1
    deadline = time.monotonic() + 1.0  # the reader thread keeps trying the configured path
    while "cannot open" not in stream.health.last_error and time.monotonic() < deadline:
        time.sleep(0.005)
    assert "cannot open" in stream.health.last_error
    time.sleep(0.3)
    twin.replug()
    DETECTED_S["replug_to_data"] = wait_for(stream, lambda c: not c, timeout_s=1.0)
    assert DETECTED_S["replug_to_data"] < stream.reconnect_period_s + 0.1
    after = stream.drain()
    settle(stream, 0.1)
    after = stream.drain()
    assert stream.health.reconnects == 1 and stream.health.state == "up"
    assert after.t_s[0] > before.t_s[-1] + 0.3  # board time continues across the gap, monotonic
    assert np.allclose(np.diff(after.t_s), 0.001)


def test_connect_fails_with_135_when_no_board(tmp_path):
    driver = LoadcellStream(board_config(str(tmp_path / "nothing")))
    with pytest.raises(DeviceError) as caught:
        driver.connect(timeout_s=0.2)
    assert caught.value.code == 135 and "cannot open" in caught.value.detail
    assert driver.health.state == "closed"


def test_connect_fails_with_135_when_port_is_mute(tmp_path):
    master, slave = os.openpty()  # a port where nothing answers
    path = tmp_path / "mute"
    os.symlink(os.ttyname(slave), path)
    try:
        with pytest.raises(DeviceError) as caught:
            LoadcellStream(board_config(str(path))).connect(timeout_s=0.2)
        assert caught.value.code == 135 and "no answer" in caught.value.detail
    finally:
        os.close(master), os.close(slave)


def voluntary_switches(native_id: int) -> int:
    with open(f"/proc/self/task/{native_id}/status", encoding="ascii") as status:
        return int(status.read().split("voluntary_ctxt_switches:")[1].split()[0])


def test_while_the_loop_drains_it_reads_and_the_reader_thread_sleeps(stream):
    settle(stream, 0.1)
    before = voluntary_switches(stream.reader_native_id)
    settle(stream, 0.5)
    woke = voluntary_switches(stream.reader_native_id) - before
    # on its own the reader wakes every ~2 ms (~250 times in 0.5 s); now once per handover_s
    assert woke <= 0.5 / stream.handover_s + 15
    batch = stream.drain()
    assert batch.n <= 10 and codes(stream) == set()  # the tick's own read brought the newest samples


def test_the_reader_takes_over_when_the_loop_stops_draining_and_nothing_is_lost(stream):
    seqs: list[int] = []

    def drain_for(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            seqs.extend(stream.drain().seq.tolist())
            time.sleep(TICK_S)
    drain_for(0.2)
    time.sleep(0.3)  # the loop stalls: the reader thread keeps the port's buffer from filling
    drain_for(0.1)
    seqs.extend(stream.drain().seq.tolist())
    assert len(seqs) >= 550 and np.all(np.diff(np.array(seqs, dtype=np.int64)) == 1)  # in order, none lost
    assert stream.health.lost_samples == 0 and stream.health.overruns == 0


def test_ring_overrun_is_counted_and_newest_samples_kept(twin):
    driver = LoadcellStream(board_config(twin.device_path), ring_samples=64)
    driver.connect()
    time.sleep(0.3)
    batch = driver.drain()
    driver.close()
    # the newest ring-full, less any slots the reader refilled while drain() copied (dropped, not torn)
    assert 56 <= batch.n <= 64 and driver.health.overruns >= 150
    assert np.all(np.diff(batch.seq) == 1) and batch.seq[-1] >= 250


def test_close_stops_the_board(twin):
    driver = LoadcellStream(board_config(twin.device_path))
    driver.connect()
    assert twin.model.streaming
    driver.close()
    time.sleep(0.05)
    assert not twin.model.streaming and driver.health.state == "closed"
    assert {e.code for e in driver.active_faults(time.monotonic())} == {131}


def test_zz_report_detection_times():
    """Printed with `pytest -s`: how long after injection the loop saw each fault."""
    for name, took in sorted(DETECTED_S.items()):
        print(f"loadcell fault {name:28s} detected after {took * 1e3:6.1f} ms")


def test_world_forces_reach_the_host_with_board_timestamps(tmp_path):
    """The SimRig wiring in small: world step -> twin.sample(world.t_s, forces) -> pty -> driver.
    Board time maps back to world time through the board's power-on instant."""
    from rig.sim.world import World

    world = World()
    world.set_belt_drive(1.0, True)
    truth = {}
    params = BoardParams(noise_n_rms=0.0, hum_n=0.0, drift_n_rms=0.0, spike_rate_per_s=0.0)
    with LoadcellBoardTwin(str(tmp_path / "lc"), LoadcellBoardModel(params)) as board:
        driver = LoadcellStream(board_config(board.device_path))
        board.sample(world.t_s, (world.line_force_n, *world.deck_forces_n))  # power on at world t = 0
        driver.connect()
        for i in range(1500):
            world.step(0.001)
            forces = (world.line_force_n, *world.deck_forces_n)
            truth[round(world.t_s * 1000)] = forces
            board.sample(world.t_s, forces)
            if i % 50 == 49:
                time.sleep(0.01)  # faster than real time, but not faster than a busy reader can drain a pty
        time.sleep(0.1)
        batch = driver.drain()
        driver.close()
    zero, n_per_count = np.array(params.zero_counts), np.array(params.n_per_count)
    world_ms = np.rint((batch.t_s + board.model.power_on_t_s) * 1000).astype(int)
    expected = np.array([truth[ms] for ms in world_ms])
    assert batch.n >= 1400
    assert np.allclose((batch.counts - zero) * n_per_count, expected, atol=0.006)  # one count
    assert expected[:, 1:].sum(axis=1).max() > 500  # the patient really walked on the deck


def test_ring_copy_takes_any_span_in_order_across_the_wrap():
    ring = np.arange(20).reshape(10, 2)
    for start in range(0, 25):
        for n in range(0, 11):
            want = ring[np.arange(start, start + n) % 10]
            assert np.array_equal(ring_copy(ring, start, start + n), want), (start, n)
