"""`rig bench decoder [--seconds S] [--json]`: load-cell decoder throughput and stream CPU share.

1. Decoder throughput: a recorded 1 kHz stream from the board twin (realistic counts, so
   realistic COBS blocks) fed to `FrameDecoder` in 64-byte reads (what the reader sees at 1 kHz)
   and 4096-byte reads, and through the driver's full ingest path (decode + ring buffer): frames/s.
2. Live: the board twin streams 1 kHz on a pseudo-terminal from a child process (so its CPU is
   not ours); `LoadcellStream` reads it while this process drains it at 200 Hz like the loop
   (so each drain reads the port itself and the reader thread only looks after the link).
   Reports the reader thread's CPU share (from /proc), the whole process's, the drain (read +
   decode + copy) + fault check time per tick, and the samples received / lost / damaged.
With --json the last line printed is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import sys
import tempfile
import time

import numpy as np

from drivers.loadcell.codec import FrameDecoder, start_command
from drivers.loadcell.stream import LoadcellStream
from rig.config import parse_config
from rig.sim.loadcell_board import BoardClockThread, LoadcellBoardModel, LoadcellBoardTwin

FORCES_N = (300.0, 150.0, 120.0, 180.0, 140.0)
RECORDED_SAMPLES = 20_000
REPEATS = 10
TICK_S = 0.005


def recorded_stream() -> bytes:
    model = LoadcellBoardModel(seed=1)
    model.receive(start_command(1000))
    return b"".join(model.sample(k / 1000, FORCES_N) for k in range(1, RECORDED_SAMPLES + 1))


def decode_rate(wire: bytes, chunk: int) -> float:
    """Frames per second through FrameDecoder.feed in reads of `chunk` bytes."""
    decoder = FrameDecoder()
    reads = [wire[i:i + chunk] for i in range(0, len(wire), chunk)]
    began = time.perf_counter()
    frames = 0
    for _ in range(REPEATS):
        decoder.restart()
        for data in reads:
            frames += len(decoder.feed(data))
    return frames / (time.perf_counter() - began)


def ingest_rate(wire: bytes, chunk: int) -> float:
    """Frames per second through the driver's reader path (decode + ring), without a port."""
    stream = LoadcellStream(parse_config("").loadcell_board)
    reads = [wire[i:i + chunk] for i in range(0, len(wire), chunk)]
    began = time.perf_counter()
    for _ in range(REPEATS):
        stream._decoder.restart()
        for data in reads:
            stream._ingest(data)
        stream.drain()
    return stream.health.samples / (time.perf_counter() - began)


def serve_board(device: str, seconds: float) -> None:
    """Child process: the twin on a pty, its own 1 kHz clock thread, for `seconds`."""
    with LoadcellBoardTwin(device) as twin:
        clock = BoardClockThread(twin, lambda: FORCES_N)
        clock.start()
        time.sleep(seconds)
        clock.stop()


def thread_cpu_s(native_id: int) -> float:
    with open(f"/proc/self/task/{native_id}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def live(seconds: float) -> dict:
    device = os.path.join(tempfile.mkdtemp(prefix="rig-bench-"), "loadcell")
    child = multiprocessing.get_context("spawn").Process(target=serve_board, args=(device, seconds + 3.0))
    child.start()
    try:
        return read_live(device, seconds)
    finally:
        child.terminate()
        child.join()


def wait_for_path(device: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not os.path.exists(device):
        if time.monotonic() > deadline:
            raise RuntimeError(f"board twin did not appear at {device}")
        time.sleep(0.05)


def read_live(device: str, seconds: float) -> dict:
    wait_for_path(device, 10.0)
    stream = LoadcellStream(parse_config(f'[loadcell_board]\ndevice = "{device}"').loadcell_board)
    stream.connect(timeout_s=2.0)
    stream.drain()
    tid = stream.reader_native_id
    cpu0, proc0, wall0 = thread_cpu_s(tid), process_cpu_s(), time.monotonic()
    ticks_us, samples = [], 0
    while time.monotonic() - wall0 < seconds:
        began = time.perf_counter()
        samples += stream.drain().n
        stream.active_faults(time.monotonic())
        ticks_us.append((time.perf_counter() - began) * 1e6)
        time.sleep(TICK_S)
    wall = time.monotonic() - wall0
    result = live_result(stream, thread_cpu_s(tid) - cpu0, process_cpu_s() - proc0, wall, ticks_us, samples)
    stream.close()
    return result


def live_result(stream: LoadcellStream, reader_cpu_s: float, process_cpu: float, wall_s: float,
                ticks_us: list[float], samples: int) -> dict:
    h = stream.health
    return {
        "live_seconds": round(wall_s, 2), "samples_per_s": round(samples / wall_s, 1),
        "reader_cpu_pct": round(100 * reader_cpu_s / wall_s, 2),
        "process_cpu_pct": round(100 * process_cpu / wall_s, 2),
        "drain_check_us_p50": round(float(np.percentile(ticks_us, 50)), 1),
        "drain_check_us_p99": round(float(np.percentile(ticks_us, 99)), 1),
        "lost_samples": h.lost_samples, "crc_errors": h.crc_errors, "malformed": h.malformed,
        "overruns": h.overruns,
    }


def main(args: argparse.Namespace | None = None) -> int:
    if args is None:
        args = parse_args(sys.argv[1:])
    wire = recorded_stream()
    result = {
        "decode_frames_per_s_64B_reads": round(decode_rate(wire, 64)),
        "decode_frames_per_s_4096B_reads": round(decode_rate(wire, 4096)),
        "ingest_frames_per_s_64B_reads": round(ingest_rate(wire, 64)),
    }
    result.update(live(float(getattr(args, "seconds", 10.0))))
    for key, value in result.items():
        print(f"{key:34s} {value}")
    if getattr(args, "json", False):
        print(json.dumps(result))
    return 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the live run")
    parser.add_argument("--json", action="store_true")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
