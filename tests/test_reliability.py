"""Issue 10, hardening: one test (or a few) per failure class, named after it.

1. an undecodable file never kills a batch;          2. --output never destroys data;
3. an existing path is a path, an empty pattern an error;  4. no NaN or Inf ever becomes a verdict;
5. cards and ONNX metadata are validated;            6. one bad entry never spoils a folder listing;
7. usage errors are one line, exit 2;                8. reports stand extreme but finite scores;
and: limits before work, the API refuses what it does not take, BOMs and short CSV rows,
one sample rate, one way to say threads. Voice activity has its own file (test_vad.py).
"""

from __future__ import annotations

import io
import os
import struct
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from spoofscan.audio import SAMPLE_RATE, audio_files, expand_inputs, load_audio, prepare_waveform, stream_audio
from spoofscan.errors import AudioError, SpoofscanError
from synth import speechlike

RATE = SAMPLE_RATE


def wav_bytes(tag: int = 1, bits: int = 16, channels: int = 1, rate: int = RATE, frames: int = RATE,
              payload: bytes | None = None) -> bytes:
    """A RIFF/WAVE file with any format tag and header values (16-bit noise as its data)."""
    data = payload if payload is not None else np.random.default_rng(0).integers(
        -2000, 2000, frames * channels).astype("<i2").tobytes()
    width = max(bits, 8) // 8
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * channels * width, channels * width, bits)
    return (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
            + b"data" + struct.pack("<I", len(data)) + data)


def write_speech(path, seconds=1.5, seed=0, rate=RATE) -> str:
    sf.write(path, speechlike(seconds, seed=seed, rate=rate), rate, subtype="FLOAT")
    return str(path)


# ---------------------------------------------------------------------------- 1. undecodable files


@pytest.mark.parametrize("tag, bits", [(0x1234, 16), (1, 0), (3, 16), (0xFFFE, 16), (0x0055, 16)])
def test_1_a_wav_ffmpeg_cannot_decode_is_an_audio_error(tmp_path, tag, bits):
    path = tmp_path / f"tag{tag}.wav"
    path.write_bytes(wav_bytes(tag, bits))
    with pytest.raises(AudioError) as info:
        load_audio(path)
    assert str(path) in str(info.value)


def test_1_any_decoder_exception_becomes_that_files_audio_error(tmp_path, monkeypatch):
    import spoofscan.audio as audio

    def broken(*args, **kwargs):
        raise KeyError("a bug deep inside a decoder")
        yield  # pragma: no cover

    monkeypatch.setattr(audio, "_soundfile_blocks", broken)
    path = write_speech(tmp_path / "x.wav")
    with pytest.raises(AudioError, match=r"x.wav: cannot be decoded \(KeyError"):
        load_audio(path)


# ---------------------------------------------------------------------------- 3. names and patterns


def test_3_existing_paths_with_glob_characters_are_paths_and_empty_patterns_are_errors(tmp_path):
    odd = [write_speech(tmp_path / name, seed=i) for i, name in enumerate(("take[1].wav", "what?.wav", "a*b.wav"))]
    for path in odd:
        assert expand_inputs([path]) == [path]
    (tmp_path / "sub").mkdir()
    write_speech(tmp_path / "sub" / "c.wav")
    assert expand_inputs([str(tmp_path / "sub" / "*.wav")]) == [str(tmp_path / "sub" / "c.wav")]
    assert expand_inputs([str(tmp_path / "s*")]) == [str(tmp_path / "sub" / "c.wav")]  # a matched folder is listed
    with pytest.raises(SpoofscanError, match="matches no file"):
        expand_inputs([str(tmp_path / "*.mp3")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(SpoofscanError, match="no audio files in it"):
        expand_inputs([str(tmp_path / "empty")])
    assert expand_inputs([str(tmp_path / "absent.wav")]) == [str(tmp_path / "absent.wav")]  # reported later


# ---------------------------------------------------------------------------- 6. folder listings


def test_6_a_symlink_loop_spoils_nothing_else(tmp_path):
    from spoofscan.corpora import Record, check_audio, missing_audio

    good = [write_speech(tmp_path / f"{i}.wav", seed=i) for i in range(3)]
    os.symlink(tmp_path / "loop.wav", tmp_path / "loop.wav")  # a link to itself
    os.symlink(tmp_path / "gone.wav", tmp_path / "dangling.wav")
    os.symlink(tmp_path, tmp_path / "again")  # a folder loop
    listed = audio_files(tmp_path)
    assert [str(p) for p in listed[:3]] == good and {p.name for p in listed[3:]} == {"dangling.wav", "loop.wav"}
    records = [Record(Path(p).stem, p, "bonafide") for p in good]
    assert missing_audio(records) == [] and check_audio(records) == records
    looped = Record("loop", str(tmp_path / "loop.wav"), "spoof")
    assert missing_audio(records + [looped]) == [looped]
    with pytest.raises(AudioError, match="symbolic link that leads nowhere"):
        load_audio(tmp_path / "loop.wav")


def test_6_an_unreadable_subfolder_is_reported_not_skipped(tmp_path, monkeypatch):
    write_speech(tmp_path / "a.wav")
    locked = tmp_path / "locked"
    locked.mkdir()
    write_speech(locked / "b.wav")
    scandir, listdir = os.scandir, os.listdir

    def refuse(call):  # as chmod 0 would, for a user other than root
        def wrapped(path="."):
            if Path(path) == locked:
                raise PermissionError(13, "Permission denied", str(path))
            return call(path)
        return wrapped

    monkeypatch.setattr(os, "scandir", refuse(scandir))
    monkeypatch.setattr(os, "listdir", refuse(listdir))
    with pytest.raises(SpoofscanError, match="cannot list folder .*locked.*Permission denied"):
        audio_files(tmp_path)
    assert expand_inputs([str(tmp_path)]) == [str(tmp_path / "a.wav"), str(locked)]
    with pytest.raises(AudioError, match="a folder that cannot be listed"):
        load_audio(locked)


# ---------------------------------------------------------------------------- limits before work


def _flac_announcing(seconds: float) -> bytes:
    """A 1-s FLAC whose STREAMINFO says it lasts ``seconds``."""
    buf = io.BytesIO()
    sf.write(buf, speechlike(1.0), RATE, format="FLAC")
    data = bytearray(buf.getvalue())
    at = 4 + 4 + 13  # 'fLaC', block header, then bytes 13..17 of STREAMINFO hold 4 bits + 32 bits of total samples
    total = int(seconds * RATE)
    data[at] = (data[at] & 0xF0) | ((total >> 32) & 0x0F)
    data[at + 1:at + 5] = (total & 0xFFFFFFFF).to_bytes(4, "big")
    return bytes(data)


def test_max_seconds_refuses_from_the_header_before_decoding():
    day = _flac_announcing(24 * 3600)
    started = time.perf_counter()
    with pytest.raises(AudioError, match=r"header announces 86400.0 s, more than the configured maximum of 60 s"):
        next(stream_audio(day, max_seconds=60))
    assert time.perf_counter() - started < 1.0
    with pytest.raises(AudioError, match="truncated"):  # without a limit the lie is found at the end
        load_audio(day)


def test_max_seconds_from_an_ffmpeg_header():
    from test_audio import encode_ffmpeg

    m4a = encode_ffmpeg(speechlike(3.0), RATE)
    with pytest.raises(AudioError, match=r"header announces 3\.\d s"):
        load_audio(m4a, max_seconds=2.0)
    assert len(load_audio(m4a, max_seconds=4.0)) >= 3 * RATE


@pytest.mark.parametrize("bad", [-1, 0, float("nan"), float("inf"), "10", True])
def test_limits_must_be_finite_positive_numbers(bad):
    with pytest.raises(SpoofscanError, match="max_seconds"):
        load_audio(b"x", max_seconds=bad)


# ---------------------------------------------------------------------------- the API refuses what it does not take


@pytest.mark.parametrize("array", [
    np.array(["a", "b"] * 1000), np.array([object()] * 2000), np.ones(2000, bool), np.ones(2000, np.complex64)])
def test_api_refuses_arrays_that_are_not_samples(array):
    with pytest.raises(AudioError, match="is not audio"):
        prepare_waveform(array, RATE)


@pytest.mark.parametrize("rate", [float("nan"), float("inf"), 16000.5, "16000", None, -16000, 0])
def test_api_refuses_bad_sample_rates(rate):
    with pytest.raises(AudioError, match="sample rate"):
        prepare_waveform(speechlike(0.5), rate)


def test_unsigned_integers_are_centred_and_floats_beyond_range_refused():
    x = speechlike(0.5)
    u8 = np.round(x * 127 + 128).astype(np.uint8)
    u16 = np.round(x * 32767 + 32768).astype(np.uint16)
    for u in (u8, u16):
        np.testing.assert_allclose(prepare_waveform(u, RATE), x, atol=1.5 / 127)
    assert prepare_waveform(np.full(RATE, 128, np.uint8), RATE).max() == 0.0  # uint8 silence is 128
    assert prepare_waveform(np.float64(16000.0) * 0 + x, np.float64(16000.0)).shape == x.shape
    with pytest.raises(AudioError, match=r"far outside \[-1, 1\] \(peak 1e\+300"):
        prepare_waveform(np.r_[x.astype(np.float64), 1e300], RATE)  # finite in float64, Inf once float32


def test_a_float_wav_with_huge_samples_is_an_error(tmp_path):
    x = speechlike(1.0)
    x[100] = 1e30
    path = tmp_path / "huge.wav"
    sf.write(path, x, RATE, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"far outside \[-1, 1\] \(peak 1e\+30, first at 0.006 s"):
        load_audio(path)
