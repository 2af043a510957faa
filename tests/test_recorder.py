"""The session recorder: what the loop pushes is what `rig replay` reads back, and nothing
the recorder meets (full ring, bad input, a full disk) reaches the loop."""
import csv
import gzip
from pathlib import Path

import numpy as np
import pytest

from rig.recorder import RECORDING_HEADER, RecorderError, SessionRecorder, events_path_for
from rig.replay import read_recording, replay

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "gait"
needs_data = pytest.mark.skipif(not (DATA / "GaCo04_01.csv.gz").exists(), reason="shared gait data absent")


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def ticks(n_ticks: int, t0: float = 0.0):
    """(t_s, forces_n, belt_mps) of 5-sample ticks at 1 kHz with distinct values per channel."""
    for k in range(n_ticks):
        t = t0 + (np.arange(5) + 5 * k) * 0.001
        forces = np.column_stack([100 + t, 200 + t, 300 + t, 400 + t, 500 + t]) * 1.00001
        yield t, forces, 0.5 + 0.001 * k


def expected(n_ticks: int, t0: float = 0.0) -> np.ndarray:
    rows = [np.column_stack([t, f, np.full(5, b)]) for t, f, b in ticks(n_ticks, t0)]
    return np.vstack(rows)


def manual(path: Path, **kwargs) -> SessionRecorder:
    """A recorder with its files open but no thread: the test plays the writer with pump()."""
    recorder = SessionRecorder(path, **kwargs)
    recorder.open_files()
    return recorder


@pytest.mark.parametrize("name", ["session.csv", "session.csv.gz"])
def test_what_is_pushed_reads_back_through_replay_reader(tmp_path, name):
    recorder = SessionRecorder(tmp_path / name).start()
    for t, forces, belt in ticks(400):
        recorder.push(t, forces, belt)
    stats = recorder.close()
    assert (stats.written, stats.dropped, stats.rejected, stats.write_errors) == (2000, 0, 0, 0)
    data = read_recording(tmp_path / name)
    want = expected(400)
    assert data.shape == (2000, 7)
    np.testing.assert_allclose(data[:, 0], want[:, 0], atol=5e-5)
    np.testing.assert_allclose(data[:, 1:6], want[:, 1:6], atol=5e-3)
    np.testing.assert_allclose(data[:, 6], want[:, 6], atol=5e-4)


def test_gzip_is_gzip_and_plain_is_plain(tmp_path):
    for name in ("a.csv", "b.csv.gz"):
        recorder = SessionRecorder(tmp_path / name).start()
        recorder.push(*next(ticks(1)))
        recorder.close()
    assert (tmp_path / "a.csv").read_text().startswith(RECORDING_HEADER + "\n0.0000,100.00,200.00,")
    with gzip.open(tmp_path / "b.csv.gz", "rt") as handle:
        assert handle.readline() == RECORDING_HEADER + "\n"


@needs_data
def test_a_rerecorded_session_replays_to_the_same_events(tmp_path):
    original = DATA / "GaCo04_01.csv.gz"
    data = read_recording(original)
    recorder = manual(tmp_path / "again.csv.gz")  # faster than real time: pump as we go
    for lo in range(0, len(data), 5):
        block = data[lo:lo + 5]
        recorder.push(block[:, 0], block[:, 1:6], float(block[0, 6]))
        recorder.pump()
    assert recorder.close().written == len(data)
    summary_a = replay(original, tmp_path / "a.events.csv")
    summary_b = replay(tmp_path / "again.csv.gz", tmp_path / "b.events.csv")
    assert (tmp_path / "a.events.csv").read_text() == (tmp_path / "b.events.csv").read_text()
    assert summary_a["samples"] == summary_b["samples"]


def test_a_full_ring_drops_whole_pushes_and_counts_them(tmp_path):
    recorder = manual(tmp_path / "r.csv", capacity_samples=12)
    first, second, third, fourth = ticks(4)
    recorder.push(*first)
    recorder.push(*second)
    recorder.push(*third)  # 15 > 12: dropped
    assert recorder.dropped_samples == 5
    recorder.pump()  # the writer takes what is there, freeing the ring
    recorder.push(*fourth)
    stats = recorder.close()
    assert (stats.written, stats.dropped) == (15, 5)
    times = read_recording(tmp_path / "r.csv")[:, 0]
    np.testing.assert_allclose(times, np.r_[first[0], second[0], fourth[0]])


def test_the_ring_wraps_around(tmp_path):
    recorder = manual(tmp_path / "r.csv", capacity_samples=7)
    for t, forces, belt in ticks(9):
        recorder.push(t, forces, belt)
        recorder.pump()
    recorder.close()
    np.testing.assert_allclose(read_recording(tmp_path / "r.csv")[:, 1], expected(9)[:, 1], atol=5e-3)


@pytest.mark.parametrize("bad", [
    (np.zeros(5), np.zeros((5, 4)), 1.0),
    (np.zeros(5), np.zeros((3, 5)), 1.0),
    (0.0, np.zeros((1, 5)), 1.0),
    (None, None, None),
])
def test_bad_input_is_counted_not_raised(tmp_path, bad):
    recorder = manual(tmp_path / "r.csv")
    recorder.push(*bad)
    assert recorder.rejected_samples >= 1 and recorder.last_error.startswith("samples not recorded")
    recorder.push(*next(ticks(1)))
    assert recorder.close().written == 5


def test_times_that_do_not_increase_are_left_out_so_the_file_replays(tmp_path):
    recorder = manual(tmp_path / "r.csv")
    t = np.array([0.0, 0.001, 0.001, 0.00102, np.nan])  # 0.00102 is written as 0.0010: a repeat
    recorder.push(t, np.ones((5, 5)), 0.0)
    recorder.push(np.array([0.002, 0.003]), np.ones((2, 5)), 0.0)
    stats = recorder.close()
    assert (stats.written, stats.rejected) == (4, 3)
    np.testing.assert_allclose(read_recording(tmp_path / "r.csv")[:, 0], [0.0, 0.001, 0.002, 0.003])


@pytest.mark.parametrize("name", ["r.csv", "r.csv.gz"])
def test_rows_reach_the_file_once_a_flush_interval_has_passed(tmp_path, name):
    clock = FakeClock()
    recorder = manual(tmp_path / name, clock=clock, flush_interval_s=1.0)
    gen = ticks(200)
    for _ in range(100):
        recorder.push(*next(gen))
    clock.t = 0.9
    recorder.pump()
    assert _lines_on_disk(tmp_path / name) == [RECORDING_HEADER]
    clock.t = 1.0
    recorder.pump()
    # the file is still open (as after a crash): what was flushed reads back, gzip included
    assert len(read_recording(tmp_path / name)) == 500
    for _ in range(100):
        recorder.push(*next(gen))
    recorder.close()
    assert len(read_recording(tmp_path / name)) == 1000


def _lines_on_disk(path: Path) -> list[str]:
    raw = path.read_bytes()
    text = gzip.decompress(raw).decode() if path.name.endswith(".gz") else raw.decode()
    return text.splitlines()


def test_events_go_to_their_own_csv_quoted(tmp_path):
    recorder = SessionRecorder(tmp_path / "walk.csv.gz").start()
    recorder.note(1.25, "state", "idle -> attached")
    recorder.note(2.5, "fault", 'belt drive: "comm-loss stop is disabled", set Pr.09-03\nthen restart')
    recorder.note("later", "command", "text")  # a bad time: counted, the writer keeps going
    recorder.note(3.0, "command", "Start(1.0 m/s)")
    stats = recorder.close()
    assert (stats.events_written, stats.events_dropped) == (3, 1)
    assert events_path_for(tmp_path / "walk.csv.gz") == tmp_path / "walk.events.csv"
    with open(tmp_path / "walk.events.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows == [
        {"t_s": "1.2500", "kind": "state", "text": "idle -> attached"},
        {"t_s": "2.5000", "kind": "fault", "text": 'belt drive: "comm-loss stop is disabled", set Pr.09-03\nthen restart'},
        {"t_s": "3.0000", "kind": "command", "text": "Start(1.0 m/s)"},
    ]


def test_too_many_pending_events_are_dropped_and_counted(tmp_path):
    recorder = manual(tmp_path / "r.csv", max_pending_events=3)
    for k in range(5):
        recorder.note(float(k), "state", "x")
    assert recorder.events_dropped == 2
    assert recorder.close().events_written == 3


def test_a_full_disk_is_counted_and_named_never_raised(tmp_path):
    (tmp_path / "r.csv").symlink_to("/dev/full")  # every write fails with ENOSPC
    recorder = SessionRecorder(tmp_path / "r.csv", overwrite=True).start()
    for t, forces, belt in ticks(10):
        recorder.push(t, forces, belt)
    recorder.note(0.01, "state", "walking")
    stats = recorder.close()
    assert stats.written == 0 and stats.lost == 50
    assert stats.write_errors >= 2  # the header and the samples
    assert "No space left on device" in stats.last_error and "r.csv" in stats.last_error
    assert stats.events_written == 1  # the event log is a separate file and still works


def test_an_existing_recording_is_not_overwritten(tmp_path):
    (tmp_path / "r.csv").write_text("yesterday's session\n")
    with pytest.raises(RecorderError, match="cannot start the recording .*r.csv: File exists"):
        SessionRecorder(tmp_path / "r.csv").start()
    assert (tmp_path / "r.csv").read_text() == "yesterday's session\n"


def test_a_missing_folder_is_reported_at_start(tmp_path):
    with pytest.raises(RecorderError, match="No such file or directory"):
        SessionRecorder(tmp_path / "nowhere" / "r.csv").start()


def test_after_close_pushes_and_notes_are_counted_as_dropped(tmp_path):
    recorder = SessionRecorder(tmp_path / "r.csv").start()
    recorder.push(*next(ticks(1)))
    first = recorder.close()
    recorder.push(*next(ticks(1)))
    recorder.note(1.0, "state", "idle")
    second = recorder.close()
    assert (first.written, first.dropped) == (5, 0)
    assert (second.written, second.dropped, second.events_dropped) == (5, 5, 1)
