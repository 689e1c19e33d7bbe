"""What the property-based tests (Hypothesis) share: settings bounded for CI, a hard time limit
per example, and strategies for the bytes people feed the audio reader.

Each property is checked next to its module (test_audio.py, test_card.py, test_detector.py): a
project error (:class:`SpoofscanError`) or a finite result, never another exception, never a hang.
Bounded for CI: a few dozen examples each, derandomized (the same examples every run, no example
database written), and every example under :data:`EXAMPLE_SECONDS`.
"""

from __future__ import annotations

import contextlib
import signal
import struct

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from synth import encode, speechlike

EXAMPLE_SECONDS = 20  # hard limit per example: a hang fails the test instead of stalling CI


def bounded(examples: int):
    """Hypothesis settings for CI: few examples, reproducible, no database, no wall-time deadline
    (the machine may be shared; :func:`time_limit` catches hangs instead)."""
    return settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])


class Hang(BaseException):
    """Raised by the alarm: a BaseException, so that no ``except Exception`` can swallow it."""


@contextlib.contextmanager
def time_limit(seconds: float = EXAMPLE_SECONDS):
    def alarm(signum, frame):
        raise Hang(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


SPEECH = speechlike(1.2, seed=7)
VALID_FILES = [encode(SPEECH), encode(SPEECH, fmt="FLAC"), encode(SPEECH, fmt="OGG", subtype="VORBIS"),
               encode(SPEECH, fmt="MP3", subtype="MPEG_LAYER_III"), encode(SPEECH, subtype="FLOAT")]


@st.composite
def damaged_files(draw) -> bytes:
    """A valid file of some format, cut short and/or with some bytes overwritten."""
    data = bytearray(draw(st.sampled_from(VALID_FILES)))
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(data) - 1))
        data[at:at + 4] = draw(st.binary(min_size=1, max_size=4))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


@st.composite
def wav_headers(draw) -> bytes:
    """A RIFF/WAVE file whose every header field is drawn at random (the data size it announces
    too, so it may lie), with some data."""
    tag = draw(st.sampled_from([0, 1, 2, 3, 6, 7, 0x11, 0x55, 0xFFFE, 0x1234]) | st.integers(0, 0xFFFF))
    channels = draw(st.sampled_from([0, 1, 2, 7, 255, 65535]) | st.integers(0, 0xFFFF))
    rate = draw(st.sampled_from([0, 1, 8000, 16000, 44100, 192000, 384000, 2**31]) | st.integers(0, 2**32 - 1))
    bits = draw(st.sampled_from([0, 1, 8, 12, 16, 24, 32, 64]) | st.integers(0, 0xFFFF))
    block = draw(st.integers(0, 0xFFFF))
    payload = draw(st.binary(min_size=0, max_size=2048))
    announced = draw(st.sampled_from([len(payload), 0, 0xFFFFFFFF, len(payload) * 7]) | st.integers(0, 2**32 - 1))
    fmt = struct.pack("<HHIIHH", tag, channels, rate, (rate * block) & 0xFFFFFFFF, block, bits)
    return (b"RIFF" + struct.pack("<I", (36 + len(payload)) & 0xFFFFFFFF) + b"WAVE" + b"fmt " + struct.pack("<I", 16)
            + fmt + b"data" + struct.pack("<I", announced) + payload)


any_bytes = st.binary(max_size=4096) | damaged_files() | wav_headers()
