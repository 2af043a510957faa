"""Fuzz the load-cell frame decoder: `python -m bench.decoder_fuzz --streams 1000000 [--json]`.

Each stream is one of four kinds, fed to a fresh `FrameDecoder` in random chunks:
  random      arbitrary bytes (0-400)
  embedded    valid sample frames, each after random garbage closed by a 0x00 delimiter
  mutated     a run of valid frames hit by 1-4 bit flips, byte replacements, insertions,
              deletions, stray zeros or a truncation
  structured  bytes from a small alphabet (0x00, 0x01, 0x02, 0x1F, 0x20, 0xFE, 0xFF), which
              walks the COBS decoder's edge cases far more often than uniform noise
Checks: no exception (crash), no stream over --stream-limit-s and a SIGALRM watchdog per batch
(hang), every frame the mutations did not touch is recovered, pending input stays bounded.
Valid frames come from the board twin's independent encoder. Reports counts and the time it took;
exits 1 on any crash, hang or missed frame. Frames a mutation damaged but whose CRC-16 still
matched are counted as `crc_collisions` (expected about 1 in 65536 damaged frames).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import signal
import struct
import sys
import time
from collections import Counter

from drivers.loadcell.codec import MAX_ENCODED_LEN, FrameDecoder, SampleFrame
from rig.sim.loadcell_board import board_frame

POOL_FRAMES = 4096
BATCH_STREAMS = 2000  # the watchdog allows WATCHDOG_S for each batch
WATCHDOG_S = 30
KINDS = ("random", "embedded", "mutated", "structured")
ALPHABET = bytes([0x00, 0x01, 0x02, 0x1F, 0x20, 0xFE, 0xFF])


class Hang(Exception):
    """Raised by the watchdog alarm inside a stream that did not finish."""


def frame_pool(rng: random.Random) -> list[tuple[tuple, bytes]]:
    """(identity, wire bytes) of distinct valid sample frames."""
    pool = []
    for seq in range(POOL_FRAMES):
        fields = (seq, rng.getrandbits(32), *(rng.randint(-(2**31), 2**31 - 1) if rng.random() < 0.3
                                              else rng.randint(0, 2_000_000) for _ in range(5)))
        pool.append(((fields[0], fields[1], tuple(fields[2:])), board_frame(struct.pack("<BII5i", 1, *fields))))
    return pool


def feed_chunked(decoder: FrameDecoder, data: bytes, rng: random.Random) -> list:
    cuts = sorted(rng.randrange(len(data) + 1) for _ in range(rng.randint(0, 3)))
    frames = []
    for a, b in zip([0, *cuts], [*cuts, len(data)]):
        frames += decoder.feed(data[a:b])
    return frames


def identities(frames: list) -> list[tuple]:
    return [(f.seq, f.t_us, f.counts) for f in frames if type(f) is SampleFrame]


def contains_in_order(found: list[tuple], wanted: list[tuple]) -> int:
    """How many of `wanted` appear in `found` as an ordered subsequence."""
    it = iter(found)
    return sum(1 for w in wanted if w in it)


def stream_embedded(rng: random.Random, pool: list) -> tuple[bytes, list, int]:
    chosen = [pool[rng.randrange(POOL_FRAMES)] for _ in range(rng.randint(1, 12))]
    parts = [rng.randbytes(rng.randint(0, 60)) + b"\x00" + wire for _, wire in chosen]
    data = b"".join(parts) + rng.randbytes(rng.randint(0, 40))
    return data, [ident for ident, _ in chosen], 0


def stream_mutated(rng: random.Random, pool: list) -> tuple[bytes, list, int, set]:
    chosen = [pool[rng.randrange(POOL_FRAMES)] for _ in range(rng.randint(1, 12))]
    data = bytearray(b"\x00")
    spans = []
    for _, wire in chosen:
        spans.append((len(data) - 1, len(data) + len(wire) - 1))  # previous delimiter .. own delimiter
        data += wire
    # distinct positions drawn in the original stream, applied from the end backwards, so that
    # each mutation lands exactly where it was drawn
    positions = rng.sample(range(len(data)), min(len(data), rng.randint(1, 4)))  # distinct
    hits = [mutate(data, p, rng) for p in sorted(positions, reverse=True)]
    touched = [any(lo <= p <= hi or (cut and hi >= p) for p, cut in hits) for lo, hi in spans]
    intact = [ident for (ident, _), hit in zip(chosen, touched) if not hit]
    return bytes(data), intact, sum(touched), {ident for ident, _ in chosen}


def mutate(data: bytearray, p: int, rng: random.Random) -> tuple[int, bool]:
    """Apply one mutation at p in place; return (p, whether everything from p on was cut)."""
    kind = rng.randrange(6)
    if p >= len(data):  # an earlier mutation (a cut or a deletion) removed this position
        kind = 2
    if kind == 0:
        data[p] ^= 1 << rng.randrange(8)
    elif kind == 1:
        data[p] = rng.randrange(256)
    elif kind == 2:
        data.insert(p, rng.randrange(256))
    elif kind == 3:
        del data[p]
    elif kind == 4:
        data.insert(p, 0)
    else:
        del data[p:]
        return p, True
    return p, False


def one_stream(kind: str, rng: random.Random, pool: list, stats: Counter) -> None:
    wanted: list = []
    sent: set = set()
    if kind == "random":
        data = rng.randbytes(rng.randint(0, 400))
    elif kind == "structured":
        data = bytes(rng.choices(ALPHABET, k=rng.randint(0, 400)))
    elif kind == "embedded":
        data, wanted, _ = stream_embedded(rng, pool)
    else:
        data, wanted, damaged, sent = stream_mutated(rng, pool)
        stats["damaged_frames"] += damaged
    decoder = FrameDecoder()
    frames = feed_chunked(decoder, data, rng)
    found = identities(frames)
    recovered = contains_in_order(found, wanted)
    stats["bytes"] += len(data)
    stats[f"{kind}_frames_expected"] += len(wanted)
    stats[f"{kind}_frames_recovered"] += recovered
    stats["missed"] += len(wanted) - recovered
    stats["bad_frames_counted"] += decoder.bad_frames
    if kind == "mutated":  # a damaged frame whose CRC still matched: accepted with wrong content
        stats["crc_collisions"] += sum(1 for ident in found if ident not in sent)
    if len(decoder._pending) > MAX_ENCODED_LEN:
        stats["unbounded_pending"] += 1


def run_batch(seed: int, first: int, count: int, stream_limit_s: float) -> Counter:
    """Fuzz streams first .. first+count-1 (stream i's kind and bytes depend on seed and i only)."""
    stats: Counter = Counter()
    pool = frame_pool(random.Random(seed))
    signal.signal(signal.SIGALRM, _alarm)
    for start in range(first, first + count, BATCH_STREAMS):
        signal.alarm(WATCHDOG_S)
        for i in range(start, min(start + BATCH_STREAMS, first + count)):
            run_one(seed, i, pool, stats, stream_limit_s)
        signal.alarm(0)
    return stats


def run_one(seed: int, i: int, pool: list, stats: Counter, stream_limit_s: float) -> None:
    rng = random.Random(seed * 1_000_003 + i)
    kind = KINDS[i % len(KINDS)]
    began = time.perf_counter()
    try:
        one_stream(kind, rng, pool, stats)
    except Hang:
        stats["hangs"] += 1
        signal.alarm(WATCHDOG_S)
    except Exception as exc:  # a crash is exactly what we are counting
        stats["crashes"] += 1
        stats[f"crash:{type(exc).__name__}: {exc}"[:120]] += 1
    took = time.perf_counter() - began
    stats["streams"] += 1
    stats["slow_streams"] += took > stream_limit_s
    stats["max_stream_us"] = max(stats["max_stream_us"], round(took * 1e6))


def _alarm(signum: int, frame: object) -> None:
    raise Hang()


def fuzz(streams: int, seed: int, workers: int, stream_limit_s: float) -> Counter:
    share = -(-streams // workers)
    jobs = [(seed, w * share, min(share, streams - w * share), stream_limit_s) for w in range(workers)]
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        results = pool.starmap(run_batch, [j for j in jobs if j[2] > 0])
    total: Counter = Counter()
    for result in results:
        max_us = max(total["max_stream_us"], result.pop("max_stream_us", 0))
        total.update(result)
        total["max_stream_us"] = max_us
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--stream-limit-s", type=float, default=1.0, help="a stream slower than this is a hang")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    began = time.monotonic()
    stats = fuzz(args.streams, args.seed, args.workers, args.stream_limit_s)
    elapsed = time.monotonic() - began
    result = summary(stats, elapsed, args)
    for key, value in result.items():
        print(f"{key:32s} {value}")
    if args.json:
        print(json.dumps(result))
    failed = result["crashes"] or result["hangs"] or result["missed_frames"] or result["unbounded_pending"]
    return 1 if failed else 0


def summary(stats: Counter, elapsed_s: float, args: argparse.Namespace) -> dict:
    expected = sum(stats[f"{k}_frames_expected"] for k in KINDS)
    recovered = sum(stats[f"{k}_frames_recovered"] for k in KINDS)
    result = {
        "streams": stats["streams"], "seed": args.seed, "bytes": stats["bytes"],
        "crashes": stats["crashes"], "hangs": stats["hangs"] + stats["slow_streams"],
        "embedded_frames": stats["embedded_frames_expected"],
        "embedded_frames_recovered": stats["embedded_frames_recovered"],
        "intact_frames_in_mutated_streams": stats["mutated_frames_expected"],
        "intact_frames_recovered": stats["mutated_frames_recovered"],
        "damaged_frames": stats["damaged_frames"], "crc_collisions": stats["crc_collisions"],
        "missed_frames": expected - recovered, "bad_frames_counted": stats["bad_frames_counted"],
        "unbounded_pending": stats["unbounded_pending"], "max_stream_ms": stats["max_stream_us"] / 1e3,
        "elapsed_s": round(elapsed_s, 1), "streams_per_s": round(stats["streams"] / elapsed_s),
    }
    result.update({k: v for k, v in stats.items() if k.startswith("crash:")})
    return result


if __name__ == "__main__":
    sys.exit(main())
