"""Headers that understate the audio: every reader decodes to the real end of the file, and the
length limit counts decoded samples (a header saying 1 s cannot hide the other 59 from the detector)."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
import soundfile as sf
from serve_support import BandDetector
from synth import speechlike

from spoofscan.audio import load_audio
from spoofscan.errors import AudioError

RATE = 16_000
SECONDS = 12.0  # what the files hold; their headers say 1 s
ANNOUNCED = RATE  # samples the lying headers announce


def encoded(x: np.ndarray, fmt: str, subtype: str | None = None, rate: int = RATE) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def audio(seconds: float = SECONDS) -> np.ndarray:
    return speechlike(seconds, seed=4)


def _flac_total(b: bytearray, total: int) -> bytearray:
    """A FLAC file whose STREAMINFO announces ``total`` samples (0: unknown)."""
    fields = int.from_bytes(b[18:26], "big")  # rate 20 bits, channels 3, bits 5, total samples 36
    b[18:26] = ((fields & ~((1 << 36) - 1)) | total).to_bytes(8, "big")
    return b


def _chunk_size(b: bytearray, chunk: bytes, size: int, order: str) -> bytearray:
    at = b.find(chunk)
    b[at + 4:at + 8] = struct.pack(order, size)
    return b


def _ogg_crc(page: bytes) -> int:
    crc = 0
    for byte in page:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) & 0xFFFFFFFF if crc & 0x80000000 else (crc << 1) & 0xFFFFFFFF
    return crc


def _ogg_granules(b: bytearray, at_most: int) -> bytearray:
    """Every Ogg page's granule position clamped to ``at_most`` (CRCs fixed): the stream claims that length."""
    pos = 0
    while pos < len(b):
        segments = b[pos + 26]
        end = pos + 27 + segments + sum(b[pos + 27:pos + 27 + segments])
        granule = struct.unpack("<q", b[pos + 6:pos + 14])[0]
        if granule > at_most:
            b[pos + 6:pos + 14] = struct.pack("<q", at_most)
            b[pos + 22:pos + 26] = bytes(4)
            b[pos + 22:pos + 26] = struct.pack("<I", _ogg_crc(bytes(b[pos:end])))
        pos = end
    return b


def _mp3_frames(b: bytearray, frames: int) -> bytearray:
    at = b.find(b"Xing")
    assert at > 0 and struct.unpack(">I", b[at + 4:at + 8])[0] & 1  # the frame count field is there
    b[at + 8:at + 12] = struct.pack(">I", frames)
    return b


def _chained_ogg(x: np.ndarray) -> bytes:
    """Two Ogg Vorbis streams one after the other: the first holds 1 s."""
    return encoded(x[:RATE], "OGG", "VORBIS") + encoded(x[RATE:], "OGG", "VORBIS")


LIARS = {
    "flac-streaminfo": lambda x: _flac_total(bytearray(encoded(x, "FLAC", "PCM_16")), ANNOUNCED),
    "flac-streaminfo-unknown": lambda x: _flac_total(bytearray(encoded(x, "FLAC", "PCM_16")), 0),
    "flac-24-bit": lambda x: _flac_total(bytearray(encoded(x, "FLAC", "PCM_24")), ANNOUNCED),
    "wav-data-size": lambda x: _chunk_size(bytearray(encoded(x, "WAV", "PCM_16")), b"data", 2 * ANNOUNCED, "<I"),
    "wav-float": lambda x: _chunk_size(bytearray(encoded(x, "WAV", "FLOAT")), b"data", 4 * ANNOUNCED, "<I"),
    "aiff-ssnd-size": lambda x: _chunk_size(bytearray(encoded(x, "AIFF", "PCM_16")), b"SSND", 8 + 2 * ANNOUNCED, ">I"),
    "au-data-size": lambda x: bytearray(encoded(x, "AU", "PCM_16")[:8]) + struct.pack(">I", 2 * ANNOUNCED)
    + encoded(x, "AU", "PCM_16")[12:],
    "mp3-xing-frames": lambda x: _mp3_frames(bytearray(encoded(x, "MP3", "MPEG_LAYER_III")), 20),
    "ogg-vorbis-granules": lambda x: _ogg_granules(bytearray(encoded(x, "OGG", "VORBIS")), ANNOUNCED),
    "ogg-chained": _chained_ogg,
}


@pytest.mark.parametrize("kind", sorted(LIARS))
def test_a_header_that_understates_the_audio_hides_none_of_it(kind):
    x = audio()
    data = bytes(LIARS[kind](x))
    y = load_audio(data)
    assert abs(len(y) - len(x)) < 0.05 * RATE  # all 12 s, not the 1 s the header says
    if not kind.startswith(("mp3", "ogg")):  # lossless: the hidden seconds are the ones encoded
        assert len(y) == len(x) and np.abs(y - x).max() < 1e-4
    with pytest.raises(AudioError, match="too long"):
        load_audio(data, max_seconds=10)


def test_the_end_of_a_lying_flac_is_the_audio_that_was_encoded():
    """Lossless: past the announced second, the samples are the encoded ones, bit for bit."""
    x = audio()
    y = load_audio(bytes(LIARS["flac-streaminfo"](x)))
    assert np.array_equal(y, np.round(x * 32768).clip(-32768, 32767).astype(np.float32) / 32768)


def test_the_detector_sees_and_limits_the_hidden_part(tmp_path):
    """The repro: a FLAC announcing 1 s, holding 12, scored with a 10-s limit is refused as too long;
    without a limit every window of its 12 s is scored."""
    path = tmp_path / "liar.flac"
    path.write_bytes(LIARS["flac-streaminfo"](audio()))
    limited, = BandDetector(max_seconds=10).predict_many([str(path)])
    assert not limited.ok and "too long" in limited.error
    r = BandDetector().predict(str(path))
    assert r.ok and r.duration == pytest.approx(SECONDS, abs=0.01) and r.timeline[-1].end == pytest.approx(SECONDS)


def test_chunks_after_the_data_are_not_audio():
    """A LIST chunk after the data (what many editors write) stays out of the audio; an odd-sized
    data chunk without its pad byte too."""
    x = audio(2.0)
    wav = encoded(x, "WAV", "PCM_16")
    info = b"INFOISFT" + struct.pack("<I", 6) + b"test\0\0"
    tagged = bytearray(wav + b"LIST" + struct.pack("<I", len(info)) + info)
    tagged[4:8] = struct.pack("<I", len(tagged) - 8)
    assert len(load_audio(bytes(tagged))) == len(x)
    odd = encoded(x[:RATE + 1], "WAV", "PCM_U8")  # 16001 bytes of data: a pad byte is due
    unpadded = bytearray(odd + b"LIST" + struct.pack("<I", len(info)) + info)
    unpadded[4:8] = struct.pack("<I", len(unpadded) - 8)
    assert len(load_audio(bytes(unpadded))) == RATE + 1


def test_a_wav_with_two_data_chunks_is_refused():
    """Players differ on which data chunk they play (FFmpeg the last, others the first): no verdict."""
    pcm = (audio(2.0) * 32767).astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, 1, RATE, 2 * RATE, 2, 16)
    body = (b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", 2 * RATE) + pcm[:2 * RATE]
            + b"data" + struct.pack("<I", len(pcm) - 2 * RATE) + pcm[2 * RATE:])
    with pytest.raises(AudioError, match="two data chunks"):
        load_audio(b"RIFF" + struct.pack("<I", len(body)) + body)


@pytest.mark.parametrize("kind", ["flac", "wav", "mp3", "ogg"])
def test_a_header_that_overstates_the_audio_is_still_truncation(kind):
    """The other direction is unchanged: a file cut short is an error, not a shorter clip."""
    x = audio(4.0)
    data = {"flac": lambda: encoded(x, "FLAC", "PCM_16"), "wav": lambda: encoded(x, "WAV", "PCM_16"),
            "mp3": lambda: encoded(x, "MP3", "MPEG_LAYER_III"), "ogg": lambda: encoded(x, "OGG", "VORBIS")}[kind]()
    with pytest.raises(AudioError, match="truncated"):
        load_audio(data[:len(data) // 2])


def test_a_file_object_that_only_reads_is_decoded_to_the_end_too():
    """A caller's stream with read, seek and tell only (no readinto), holding a WAV whose data
    size says 1 s: the view libsndfile reads through serves it as well."""

    class Reader:
        def __init__(self, data: bytes):
            self.buf = io.BytesIO(data)
            self.read, self.seek, self.tell = self.buf.read, self.buf.seek, self.buf.tell

        def seekable(self) -> bool:
            return True

    x = audio(3.0)
    y = load_audio(Reader(bytes(LIARS["wav-data-size"](x))))
    assert len(y) == len(x)
