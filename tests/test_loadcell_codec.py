"""The load-cell wire codec: CRC and COBS against references, the board twin's encoder against
the host's decoder, every error counter, t_us wrap, and properties of the streaming decoder."""
from __future__ import annotations

import binascii
import struct

import pytest

from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.loadcell.codec import (MAX_ENCODED_LEN, FrameDecoder, IdentFrame, SampleFrame, cobs_decode,
                                    cobs_encode, crc16, encode_frame, start_command)
from rig.sim.loadcell_board import (BoardParams, LoadcellBoardModel, board_cobs_decode, board_cobs_encode,
                                    board_crc16, board_frame)

U32 = 2**32


def sample_wire(seq: int, t_us: int, counts=(1, -2, 300_000, 0, 2**31 - 1), corrupt: bool = False) -> bytes:
    """A sample frame built with the board twin's encoder (independent of the decoder under test)."""
    payload = bytearray(struct.pack("<BII5i", 1, seq % U32, t_us % U32, *counts))
    crc = board_crc16(bytes(payload))
    if corrupt:
        payload[5] ^= 0x01
    return board_cobs_encode(bytes(payload) + struct.pack("<H", crc)) + b"\x00"


# --- references ------------------------------------------------------------------------------
def test_crc_check_value_of_ccitt_false():
    assert crc16(b"123456789") == 0x29B1
    assert board_crc16(b"123456789") == 0x29B1


@given(st.binary(max_size=300))
def test_both_crcs_agree_with_binascii(data):
    assert crc16(data) == board_crc16(data) == binascii.crc_hqx(data, 0xFFFF)


def test_cobs_known_vectors():  # from the COBS paper / Wikipedia examples
    vectors = {b"\x00": b"\x01\x01", b"\x00\x00": b"\x01\x01\x01", b"\x11\x22\x00\x33": b"\x03\x11\x22\x02\x33",
               b"\x11\x22\x33\x44": b"\x05\x11\x22\x33\x44", b"\x11\x00\x00\x00": b"\x02\x11\x01\x01\x01"}
    for raw, encoded in vectors.items():
        assert cobs_encode(raw) == board_cobs_encode(raw) == encoded
        assert cobs_decode(encoded) == board_cobs_decode(encoded) == raw


@given(st.binary(max_size=600))
def test_cobs_round_trips_across_implementations(data):
    encoded = board_cobs_encode(data)
    assert b"\x00" not in encoded
    assert cobs_decode(encoded) == data
    assert board_cobs_decode(cobs_encode(data)) == data


def test_sample_frame_is_31_bytes_and_33_on_the_wire():
    wire = sample_wire(1, 2)
    assert len(cobs_decode(wire[:-1])) == 31 and len(wire) == 33


# --- decoder counters ------------------------------------------------------------------------
def test_decodes_samples_and_ident():
    decoder = FrameDecoder()
    frames = decoder.feed(sample_wire(7, 1000) + board_frame(b"\x02board-1") + sample_wire(8, 2000))
    assert [type(f) for f in frames] == [SampleFrame, IdentFrame, SampleFrame]
    assert frames[0].counts == (1, -2, 300_000, 0, 2**31 - 1) and frames[0].seq == 7
    assert frames[1].text == "board-1"
    assert frames[2].t_s - frames[0].t_s == pytest.approx(0.001)
    assert (decoder.samples, decoder.idents, decoder.bad_frames, decoder.lost_samples) == (2, 1, 0, 0)


def test_bad_crc_drops_one_frame_and_next_is_decoded():
    decoder = FrameDecoder()
    frames = decoder.feed(sample_wire(1, 0) + sample_wire(2, 1000, corrupt=True) + sample_wire(3, 2000))
    assert [f.seq for f in frames] == [1, 3]
    assert decoder.crc_errors == 1 and decoder.malformed == 0
    assert decoder.lost_samples == 1  # the dropped frame is also a gap in seq


def test_sequence_gaps_are_counted_and_wrap():
    decoder = FrameDecoder()
    seqs = [U32 - 3, U32 - 2, 0, 1, 5]  # wrap, then 3 lost
    decoder.feed(b"".join(sample_wire(s, i * 1000) for i, s in enumerate(seqs)))
    assert decoder.lost_samples == 1 + 3 and decoder.seq_restarts == 0


def test_t_us_wrap_gives_monotonic_seconds():
    decoder = FrameDecoder()
    t_us = [U32 - 1500, U32 - 500, 500, 1500]
    frames = decoder.feed(b"".join(sample_wire(i, t) for i, t in enumerate(t_us)))
    assert [round(f.t_s - frames[0].t_s, 6) for f in frames] == [0.0, 0.001, 0.002, 0.003]
    assert frames[2].t_us == 500


def test_restart_continues_time_and_forgets_sequence():
    decoder = FrameDecoder()
    decoder.feed(sample_wire(100, 5_000_000))
    decoder.restart(continue_from_s=7.5)
    frames = decoder.feed(sample_wire(0, 1000) + sample_wire(1, 2000))
    assert [f.t_s for f in frames] == pytest.approx([7.5, 7.501])
    assert decoder.lost_samples == 0 and decoder.seq_restarts == 0


def test_board_clock_stepping_back_stays_monotonic():
    decoder = FrameDecoder()
    frames = decoder.feed(sample_wire(0, 9_000_000) + sample_wire(1, 1000) + sample_wire(2, 2000))
    assert frames[1].t_s > frames[0].t_s and frames[2].t_s - frames[1].t_s == pytest.approx(0.001)
    assert decoder.clock_restarts == 1


def test_malformed_frames_are_counted():
    decoder = FrameDecoder()
    bad = [b"\x05\x01\x02\x00",  # COBS block runs past the end
           encode_frame(0x01, b"\x00" * 10),  # sample of the wrong length, CRC fine
           encode_frame(0x7E, b"abc"),  # unknown type
           encode_frame(0x02, b"\xff\xfe"),  # ident that is not UTF-8
           b"\x01\x00"]  # decodes to 0 bytes + no crc
    frames = decoder.feed(b"".join(bad) + sample_wire(1, 0))
    assert [f.seq for f in frames] == [1]
    assert decoder.malformed == len(bad) and decoder.crc_errors == 0


def test_overlong_garbage_is_dropped_until_next_delimiter():
    decoder = FrameDecoder()
    garbage = b"\x07" * (MAX_ENCODED_LEN * 3)
    frames = []
    for i in range(0, len(garbage), 100):
        frames += decoder.feed(garbage[i:i + 100])
    frames += decoder.feed(b"\x00" + sample_wire(9, 0))
    assert [f.seq for f in frames] == [9] and decoder.malformed == 1
    assert len(decoder._pending) == 0


def test_byte_by_byte_feed_equals_bulk_feed():
    stream = b"".join(sample_wire(i, i * 1000) for i in range(20))
    decoder = FrameDecoder()
    frames = [f for b in stream for f in decoder.feed(bytes([b]))]
    assert [f.seq for f in frames] == list(range(20))


def test_twin_command_frames_decode_on_the_board():
    model = LoadcellBoardModel(BoardParams(board_id="lc-test"))
    reply = model.receive(b"\x00garbage\x00" + encode_frame(0x12))
    assert FrameDecoder().feed(reply) == [IdentFrame("lc-test")]
    model.receive(start_command(500))
    assert model.streaming and model.rate_hz == 500 and model.stats.bad_commands == 1


# --- properties ------------------------------------------------------------------------------
frame_fields = st.tuples(st.integers(0, U32 - 1), st.integers(0, U32 - 1),
                         st.lists(st.integers(-(2**31), 2**31 - 1), min_size=5, max_size=5))


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(edges, edges[1:])]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.binary(max_size=80), frame_fields), max_size=12), st.binary(max_size=80),
       st.lists(st.integers(0, 10_000), max_size=8))
def test_every_frame_in_garbage_is_recovered(parts, tail, cuts):
    """Valid frames, each after arbitrary garbage ended by a delimiter, are all recovered in order."""
    stream = b"".join(g + b"\x00" + sample_wire(seq, t, counts) for g, (seq, t, counts) in parts) + tail
    decoder = FrameDecoder()
    frames = [f for chunk in chunked(stream, cuts) for f in decoder.feed(chunk)]
    samples = [(f.seq, f.t_us, list(f.counts)) for f in frames if isinstance(f, SampleFrame)]
    wanted = [(seq, t, counts) for _, (seq, t, counts) in parts]
    it = iter(samples)
    assert all(w in it for w in wanted)  # an ordered subsequence (garbage may hold frames too)
    assert decoder.samples == len(samples)
    garbage = [g for g, _ in parts] + [tail]
    garbage_pieces = sum(len([p for p in g.split(b"\x00") if p]) for g in garbage)
    assert decoder.bad_frames <= garbage_pieces  # only garbage is ever counted bad
    assert decoder.bytes_in == len(stream)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 5), st.booleans()), min_size=1, max_size=40),
       st.integers(0, U32 - 1), st.integers(0, U32 - 1), st.lists(st.integers(0, 2000), max_size=6))
def test_counters_are_exact(steps, seq0, t0, cuts):
    """Seq steps of 1..5 (gap = step - 1) and corrupted frames give exact counter values."""
    seq, t_us, wire, corrupt = seq0, t0, b"", 0
    for i, (step, bad) in enumerate(steps):
        if i:
            seq, t_us = seq + step, t_us + 1000 * step
        bad = bad and 0 < i < len(steps) - 1  # first and last frames arrive intact
        corrupt += bad
        wire += sample_wire(seq, t_us, corrupt=bad)
    good = len(steps) - corrupt
    decoder = FrameDecoder()
    frames = [f for chunk in chunked(wire, cuts) for f in decoder.feed(chunk)]
    assert (decoder.samples, decoder.crc_errors, decoder.malformed) == (good, corrupt, 0)
    assert decoder.lost_samples == (seq - seq0) - (good - 1)  # every sample number never received
    assert all(b.t_s > a.t_s for a, b in zip(frames, frames[1:]))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000), st.lists(st.integers(0, 5000), max_size=10))
def test_arbitrary_bytes_never_raise(data, cuts):
    decoder = FrameDecoder()
    for chunk in chunked(data, cuts):
        decoder.feed(chunk)
    assert len(decoder._pending) <= MAX_ENCODED_LEN
