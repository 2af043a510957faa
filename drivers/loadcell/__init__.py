"""Load-cell front-end board: the LoadcellBoard Protocol, the wire codec and the stream driver."""
from drivers.loadcell.codec import CHANNELS, FrameDecoder, IdentFrame, SampleFrame
from drivers.loadcell.monitor import ChannelChecks
from drivers.loadcell.protocol import LoadcellBoard, SampleBatch, StreamHealth
from drivers.loadcell.stream import LoadcellStream

__all__ = ["CHANNELS", "ChannelChecks", "FrameDecoder", "IdentFrame", "LoadcellBoard", "LoadcellStream",
           "SampleBatch", "SampleFrame", "StreamHealth"]
