"""The constants every audio module shares: the one sample rate inside the package, and the limits."""

from __future__ import annotations

import os
from typing import BinaryIO, Union

SAMPLE_RATE = 16_000  # Hz, the rate of every waveform inside the package
MIN_INPUT_RATE = 8_000  # Hz, lowest accepted input rate
MAX_INPUT_RATE = 192_000  # Hz, highest accepted input rate
MAX_CHANNELS = 64  # a 2-D array with more columns than this is taken for (channels, samples)
MAX_FILE_CHANNELS = 256  # a file announcing more channels than this is refused (memory per block)
# Float samples beyond this magnitude (+60 dB over full scale) are refused: float audio is in
# [-1, 1], and values like 1e30 (integers written as floats, a corrupt header) would overflow
# the log-mel to Inf/NaN instead of giving a verdict.
MAX_ABS_SAMPLE = 1000.0
MIN_SECONDS = 0.1  # default shortest clip accepted, in seconds
BLOCK_SECONDS = 30.0  # decoding block length for streaming, in seconds of input
RESAMPLE_QUALITY = "HQ"

AudioSource = Union[str, os.PathLike, bytes, bytearray, BinaryIO]

