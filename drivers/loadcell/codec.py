"""Host side of the load-cell wire format (DESIGN.md 3): COBS, CRC-16, frame parsing.

`FrameDecoder.feed(bytes) -> list[Frame]` takes whatever the serial port returned (any chunk
size, any garbage) and yields every valid frame it completes. It never raises on input: a
frame that fails COBS, CRC, length or type checks is counted and dropped, and decoding
resumes at the next 0x00 delimiter. It also turns the board's 32-bit microsecond clock into
unwrapped seconds and counts sequence gaps (lost samples).

Every frame in both directions is `u8 type | body | u16 crc` (little-endian), crc =
CRC-16/CCITT-FALSE over type and body, COBS-encoded and terminated by 0x00. Sample frames
(type 0x01) are 31 bytes decoded; identify answers (0x02) carry a UTF-8 id string.

Not here: the serial port, threads, buffering of samples (stream.py); the board side (its
own independent encoder lives in rig/sim/loadcell_board.py so that each checks the other).
"""
from __future__ import annotations

import binascii
import struct
from typing import NamedTuple

N_CHANNELS = 5
CHANNELS = ("harness", "deck_fl", "deck_fr", "deck_rl", "deck_rr")
TYPE_SAMPLE, TYPE_IDENT = 0x01, 0x02
CMD_START, CMD_STOP, CMD_IDENTIFY = 0x10, 0x11, 0x12
SAMPLE_STRUCT = struct.Struct("<BII5i")  # 29 bytes, then the u16 crc
SAMPLE_LEN = SAMPLE_STRUCT.size + 2  # 31
MAX_PAYLOAD_LEN = 253  # longest decoded frame accepted (one COBS block, no 0xFF code)
MAX_ENCODED_LEN = MAX_PAYLOAD_LEN + 2  # anything longer before a delimiter is garbage
U32 = 0xFFFFFFFF
SEQ_GAP_LIMIT = 1 << 20  # a larger jump (or a step back) is a board restart, not lost samples
_CRC = struct.Struct("<H")


class SampleFrame(NamedTuple):
    """One sample: board sequence number, board clock (raw and unwrapped), raw ADC counts."""

    seq: int
    t_us: int
    t_s: float
    counts: tuple[int, int, int, int, int]


class IdentFrame(NamedTuple):
    """The board's answer to identify."""

    text: str


Frame = SampleFrame | IdentFrame


class CobsError(ValueError):
    """Bytes that are not a valid COBS encoding."""


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor)."""
    return binascii.crc_hqx(data, 0xFFFF)


def cobs_encode(data: bytes) -> bytes:
    """COBS-encode data (without the trailing 0x00 delimiter)."""
    out = bytearray()
    for block in _blocks(bytes(data)):
        out.append(len(block) + 1)
        out += block
    return bytes(out)


def _blocks(data: bytes) -> list[bytes]:
    """Split data at zeros, and every 254 non-zero bytes (where COBS emits a 0xFF code)."""
    blocks: list[bytes] = []
    for part in data.split(b"\x00"):
        while len(part) >= 254:
            blocks.append(part[:254])
            part = part[254:]
        blocks.append(part)
    return blocks


def cobs_decode(encoded: bytes) -> bytes:
    """Decode one COBS frame (delimiter removed); raise CobsError if it is not valid.

    Fast path (every frame shorter than 254 bytes, so every sample): blocks are sliced out and
    joined with the zeros they stand for; a 0xFF code (no implied zero) takes the general loop.
    """
    blocks = []
    i, n = 0, len(encoded)
    while i < n:
        code = encoded[i]
        if code == 0xFF:
            return _cobs_decode_general(encoded)
        end = i + code
        if code == 0 or end > n:
            raise CobsError("zero byte inside a frame" if code == 0 else "frame ends inside a block")
        blocks.append(encoded[i + 1:end])
        i = end
    return b"\x00".join(blocks)


def _cobs_decode_general(encoded: bytes) -> bytes:
    out = bytearray()
    i, n = 0, len(encoded)
    while i < n:
        code = encoded[i]
        if code == 0:
            raise CobsError("zero byte inside a frame")
        end = i + code
        if end > n:
            raise CobsError("frame ends inside a block")
        out += encoded[i + 1:end]
        i = end
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


def encode_frame(frame_type: int, body: bytes = b"") -> bytes:
    """A complete frame on the wire: COBS(type | body | crc) + 0x00."""
    payload = bytes([frame_type]) + body
    return cobs_encode(payload + _CRC.pack(crc16(payload))) + b"\x00"


def start_command(rate_hz: int) -> bytes:
    """Host -> board: start streaming at rate_hz."""
    return encode_frame(CMD_START, struct.pack("<H", rate_hz))


def stop_command() -> bytes:
    return encode_frame(CMD_STOP)


def identify_command() -> bytes:
    return encode_frame(CMD_IDENTIFY)


class FrameDecoder:
    """Streaming decoder with error counters; see the module docstring."""

    def __init__(self) -> None:
        self._pending = bytearray()
        self._overlong = False  # pending bytes were thrown away: skip to the next delimiter
        self.samples = 0
        self.idents = 0
        self.crc_errors = 0
        self.malformed = 0  # bad COBS, wrong length, unknown type, too long, bad UTF-8
        self.lost_samples = 0  # sum of sequence gaps
        self.seq_restarts = 0
        self.clock_restarts = 0
        self.bytes_in = 0
        self.restart()

    def restart(self, continue_from_s: float | None = None) -> None:
        """Forget sequence and clock continuity (new connection, board maybe reset).

        The next sample's t_s is continue_from_s if given (so time stays monotonic across a
        reconnect), else its own t_us in seconds. Partial input is dropped too."""
        self._pending.clear()
        self._overlong = False
        self._last_seq: int | None = None
        self._last_t_us: int | None = None
        self._t_total_us = 0
        self._anchor_us = None if continue_from_s is None else round(continue_from_s * 1e6)

    @property
    def bad_frames(self) -> int:
        return self.crc_errors + self.malformed

    def feed(self, data: bytes) -> list[Frame]:
        """Decode what arrived; return the frames completed by it, in order."""
        self.bytes_in += len(data)
        pieces = data.split(b"\x00")
        if len(pieces) == 1:
            self._keep(data)
            return []
        frames: list[Frame] = []
        first = pieces[0]
        if self._overlong:
            self._overlong = False
            self.malformed += 1
        else:
            if self._pending:
                first = bytes(self._pending) + first
                self._pending.clear()
            self._frame(first, frames)
        for piece in pieces[1:-1]:
            self._frame(piece, frames)
        self._keep(pieces[-1])
        return frames

    def _keep(self, piece: bytes) -> None:
        if self._overlong or not piece:
            return
        if len(self._pending) + len(piece) > MAX_ENCODED_LEN:
            self._pending.clear()
            self._overlong = True
        else:
            self._pending += piece

    def _frame(self, encoded: bytes, frames: list[Frame]) -> None:
        if not encoded:
            return  # back-to-back delimiters: an empty frame is padding, not an error
        try:
            payload = cobs_decode(encoded)
        except CobsError:
            self.malformed += 1
            return
        if len(payload) < 3 or len(payload) > MAX_PAYLOAD_LEN:
            self.malformed += 1
            return
        if binascii.crc_hqx(payload[:-2], 0xFFFF) != _CRC.unpack_from(payload, len(payload) - 2)[0]:
            self.crc_errors += 1
            return
        self._parse(payload, frames)

    def _parse(self, payload: bytes, frames: list[Frame]) -> None:
        kind = payload[0]
        if kind == TYPE_SAMPLE and len(payload) == SAMPLE_LEN:
            frames.append(self._sample(payload))
        elif kind == TYPE_IDENT:
            try:
                frames.append(IdentFrame(payload[1:-2].decode("utf-8")))
                self.idents += 1
            except UnicodeDecodeError:
                self.malformed += 1
        else:
            self.malformed += 1

    def _sample(self, payload: bytes) -> SampleFrame:
        _, seq, t_us, c0, c1, c2, c3, c4 = SAMPLE_STRUCT.unpack_from(payload)
        self._count_gap(seq)
        self.samples += 1
        return SampleFrame(seq, t_us, self._unwrap(t_us) * 1e-6, (c0, c1, c2, c3, c4))

    def _count_gap(self, seq: int) -> None:
        last = self._last_seq
        self._last_seq = seq
        if last is None:
            return
        gap = (seq - last - 1) & U32
        if gap == 0:
            return
        if gap < SEQ_GAP_LIMIT:
            self.lost_samples += gap
        else:
            self.seq_restarts += 1

    def _unwrap(self, t_us: int) -> int:
        """Board microseconds since forever: wraps of the u32 clock are added back in."""
        last = self._last_t_us
        self._last_t_us = t_us
        if last is None:
            self._t_total_us = t_us if self._anchor_us is None else self._anchor_us
            return self._t_total_us
        delta = (t_us - last) & U32
        if delta >= 1 << 31:  # the clock stepped back: the board restarted; stay monotonic
            self.clock_restarts += 1
            delta = 1
        self._t_total_us += delta
        return self._t_total_us
