"""Audio input (spoofscan.audio): every format, bit depth, rate and input kind decodes to float32
mono 16 kHz; every kind of bad input raises AudioError naming the file and the reason, limits are
checked before the work; what users name (files, folders, patterns) becomes the right paths."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given
from strategies import any_bytes, bounded, time_limit
from synth import encode, encode_ffmpeg, make_tone, riff_wav, speechlike, write_speech

from spoofscan.audio import (SAMPLE_RATE, audio_files, expand_inputs, load_audio, prepare_waveform, resample,
                             stream_audio)
from spoofscan.errors import AudioError, SpoofscanError

RATE = SAMPLE_RATE


def peak_hz(y: np.ndarray, rate: int = SAMPLE_RATE) -> float:
    """Frequency of the strongest FFT bin."""
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return float(np.argmax(spec) * rate / len(y))


def rms(y: np.ndarray) -> float:
    """RMS of the middle half (away from codec onsets)."""
    n = len(y)
    return float(np.sqrt(np.mean(y[n // 4: 3 * n // 4] ** 2)))


# ------------------------------------------------------------------ formats and bit depths

@pytest.mark.parametrize("subtype, tol", [
    ("PCM_U8", 1 / 64), ("PCM_16", 1e-4), ("PCM_24", 1e-6), ("PCM_32", 1e-6), ("FLOAT", 0), ("DOUBLE", 1e-7)])
def test_wav_bit_depths_decode_to_the_samples(subtype, tol):
    x = make_tone(440, 0.5)
    y = load_audio(encode(x, SAMPLE_RATE, "WAV", subtype))
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(y, x, atol=tol)


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24"])
def test_flac_is_lossless(subtype):
    x = make_tone(440, 0.5)
    y = load_audio(encode(x, SAMPLE_RATE, "FLAC", subtype))
    np.testing.assert_allclose(y, x, atol=1e-4)


@pytest.mark.parametrize("kind", ["vorbis", "opus", "mp3", "m4a"])
def test_lossy_formats_keep_length_frequency_and_level(kind):
    rate = {"opus": 48_000, "m4a": 44_100}.get(kind, SAMPLE_RATE)
    x = make_tone(1000, 1.0, rate)
    data = {
        "vorbis": lambda: encode(x, rate, "OGG", "VORBIS"),
        "opus": lambda: encode(x, rate, "OGG", "OPUS"),
        "mp3": lambda: encode(x, rate, "MP3", "MPEG_LAYER_III"),
        "m4a": lambda: encode_ffmpeg(x, rate),  # libsndfile cannot read it: the FFmpeg path
    }[kind]()
    y = load_audio(data)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - SAMPLE_RATE) < 0.1 * SAMPLE_RATE  # codec priming/padding only
    assert abs(peak_hz(y) - 1000) < 5
    assert rms(y) == pytest.approx(0.5 / np.sqrt(2), rel=0.1)


def test_m4a_file_on_disk_and_as_file_object(tmp_path):
    x = make_tone(1000, 1.0, 44_100)
    path = tmp_path / "clip.m4a"
    path.write_bytes(encode_ffmpeg(x, 44_100))
    a = load_audio(path)
    with open(path, "rb") as f:
        b = load_audio(f)
    np.testing.assert_array_equal(a, b)
    assert abs(peak_hz(a) - 1000) < 5


@pytest.mark.parametrize("rate", [8_000, 11_025, 16_000, 22_050, 32_000, 44_100, 48_000, 96_000])
def test_any_rate_is_resampled_to_16k_keeping_the_frequency(rate):
    x = make_tone(1000, 1.0, rate)
    y = load_audio(encode(x, rate, "WAV", "FLOAT"))
    assert abs(len(y) - SAMPLE_RATE) <= 1
    assert abs(peak_hz(y) - 1000) <= 1
    assert rms(y) == pytest.approx(0.5 / np.sqrt(2), rel=0.01)


def test_resample_function_keeps_frequency():
    y = resample(make_tone(3000, 1.0, 48_000), 48_000)
    assert len(y) == SAMPLE_RATE and abs(peak_hz(y) - 3000) <= 1


@pytest.mark.parametrize("channels", [2, 3, 6])
def test_multichannel_is_mixed_down_by_mean(channels):
    x = make_tone(440, 0.5, channels=channels)
    x[:, 0] = 0.0  # channels differ: the mean is (channels - 1) / channels of the tone
    y = load_audio(encode(x, SAMPLE_RATE, "WAV", "FLOAT"))
    np.testing.assert_allclose(y, x.mean(axis=1), atol=1e-6)


def test_ffmpeg_mixdown_is_the_mean_like_libsndfile():
    x = make_tone(1000, 1.0, 44_100, channels=2)
    both = load_audio(encode_ffmpeg(x, 44_100))
    x[:, 1] = 0.0
    left_only = load_audio(encode_ffmpeg(x, 44_100))
    assert rms(both) == pytest.approx(0.5 / np.sqrt(2), rel=0.05)
    assert rms(left_only) == pytest.approx(0.5 * rms(both), rel=0.05)


def test_8khz_stereo_24bit_is_accepted_and_decoded(tmp_path):
    x = make_tone(440, 1.0, 8_000, channels=2)
    x[:, 1] *= -0.5  # mean = 0.25 * tone
    path = tmp_path / "phone.wav"
    sf.write(path, x, 8_000, subtype="PCM_24")
    y = load_audio(path)
    expected = resample(x.mean(axis=1), 8_000)
    assert len(y) == 2 * len(x) == len(expected)
    np.testing.assert_allclose(y, expected, atol=1e-5)
    assert abs(peak_hz(y) - 440) <= 1


# ------------------------------------------------------------------ input kinds


def test_path_str_pathlib_bytes_bytearray_file_objects_agree(tmp_path):
    x = make_tone(440, 0.5)
    data = encode(x, SAMPLE_RATE, "FLAC")
    path = tmp_path / "a.flac"
    path.write_bytes(data)

    class Pipe(io.RawIOBase):  # a non-seekable stream, like a socket or stdin
        def __init__(self):
            self._inner = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, b):
            return self._inner.readinto(b)

    with open(path, "rb") as f:
        from_file = load_audio(f)
    results = [load_audio(str(path)), load_audio(path), load_audio(data), load_audio(bytearray(data)),
               load_audio(io.BytesIO(data)), load_audio(Pipe()), from_file]
    for y in results:
        np.testing.assert_array_equal(y, results[0])
    np.testing.assert_allclose(results[0], x, atol=1e-4)


@pytest.mark.parametrize("kind", ["wav", "m4a"])  # libsndfile path and FFmpeg path
def test_file_object_is_read_from_its_current_position(kind):
    x = make_tone(1000, 0.5)
    data = encode(x, SAMPLE_RATE, "WAV") if kind == "wav" else encode_ffmpeg(x, SAMPLE_RATE)
    f = io.BytesIO(b"JUNK" * 100 + data)
    f.seek(400)
    y = load_audio(f)
    assert abs(len(y) - len(x)) < 0.1 * SAMPLE_RATE and abs(peak_hz(y) - 1000) < 5


def test_stream_blocks_concatenate_to_the_whole(tmp_path):
    x = make_tone(440, 3.0, 22_050)
    path = tmp_path / "a.wav"
    sf.write(path, x, 22_050, subtype="FLOAT")
    blocks = list(stream_audio(path, block_seconds=0.25))
    assert len(blocks) >= 12
    np.testing.assert_allclose(np.concatenate(blocks), load_audio(path), atol=1e-6)


def test_path_is_closed_after_streaming(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, make_tone(), SAMPLE_RATE)
    fds_before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        gen = stream_audio(path, block_seconds=0.1)
        next(gen)
        gen.close()  # abandoned half way
        load_audio(path)
    assert len(os.listdir("/proc/self/fd")) <= fds_before


def test_prepare_waveform_scales_ints_and_mixes_channels():
    x = make_tone(440, 0.5, 8_000, channels=2)
    as_int = np.round(x * 32767).astype(np.int16)
    y = prepare_waveform(as_int, 8_000)
    assert len(y) == SAMPLE_RATE // 2 and y.dtype == np.float32
    np.testing.assert_allclose(y, resample(x[:, 0], 8_000), atol=1e-3)


# ------------------------------------------------------------------ names, folders and patterns


def test_expand_inputs_folders_globs_and_missing(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ("b.wav", "a.flac", "sub/c.mp3", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert expand_inputs([str(tmp_path)]) == [str(tmp_path / n) for n in ("a.flac", "b.wav", "sub/c.mp3")]
    assert expand_inputs([str(tmp_path / "*.wav")]) == [str(tmp_path / "b.wav")]
    assert expand_inputs(["missing.wav"]) == ["missing.wav"]  # kept, reported later as a failure


def test_existing_paths_with_glob_characters_are_paths_and_empty_patterns_are_errors(tmp_path):
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


def test_a_symlink_loop_in_a_folder_spoils_nothing_else(tmp_path):
    from spoofscan.datasets import Record, check_audio, missing_audio

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


def test_an_unreadable_subfolder_is_reported_not_skipped(tmp_path, monkeypatch):
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


# ------------------------------------------------------------------ bad input


def _error(source, match: str, **kw) -> AudioError:
    with pytest.raises(AudioError, match=match) as info:
        load_audio(source, **kw)
    return info.value


def test_empty_file(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    e = _error(path, "empty")
    assert str(path) in str(e) and e.source == str(path)


def test_text_file_named_wav(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("this is a shopping list, not a recording\n" * 20)
    assert str(path) in str(_error(path, "not audio"))


def test_truncated_flac(tmp_path):
    rng = np.random.default_rng(0)
    data = encode((0.3 * rng.standard_normal(3 * SAMPLE_RATE)).astype(np.float32), SAMPLE_RATE, "FLAC")
    path = tmp_path / "cut.flac"
    path.write_bytes(data[: len(data) // 2])
    assert str(path) in str(_error(path, "truncated"))


def test_truncated_wav(tmp_path):
    data = encode(make_tone(440, 1.0), SAMPLE_RATE, "WAV", "PCM_16")
    path = tmp_path / "cut.wav"
    path.write_bytes(data[: len(data) * 2 // 3])
    assert str(path) in str(_error(path, "truncated"))


@pytest.mark.parametrize("kind", ["vorbis", "opus", "mp3", "mp3-id3"])
def test_truncated_compressed_files(tmp_path, kind):
    """A cut Ogg ends inside a page; a cut MP3 holds fewer samples than its Xing/Info count."""
    x = make_tone(440, 4.0)
    data = {"vorbis": lambda: encode(x, SAMPLE_RATE, "OGG", "VORBIS"),
            "opus": lambda: encode(x, SAMPLE_RATE, "OGG", "OPUS"),
            "mp3": lambda: encode(x, SAMPLE_RATE, "MP3", "MPEG_LAYER_III"),
            "mp3-id3": lambda: encode_ffmpeg(make_tone(440, 4.0, 44_100), 44_100, codec="libmp3lame", fmt="mp3"),
            }[kind]()
    assert len(load_audio(data)) == pytest.approx(4 * SAMPLE_RATE, abs=0.1 * SAMPLE_RATE)  # whole: fine
    path = tmp_path / f"cut.{kind}"
    path.write_bytes(data[: len(data) * 6 // 10])
    assert str(path) in str(_error(path, "truncated"))


def test_ogg_cut_at_a_page_boundary_lacks_its_end_of_stream_page():
    data = encode(make_tone(440, 4.0), SAMPLE_RATE, "OGG", "VORBIS")
    last_page = data.rfind(b"OggS")
    assert data[last_page + 5] & 0x04  # the whole file ends with the end-of-stream page...
    load_audio(data)  # ...and decodes; without that page it is refused
    _error(data[:last_page], "end-of-stream")


def test_vbr_mp3_without_a_frame_count_is_decoded_whole():
    """Without Xing/Info libsndfile would stop at a length guessed from the first frame's bitrate
    (here a fifth of the clip); such files go to FFmpeg, which decodes every frame."""
    data = encode(make_tone(440, 2.0), SAMPLE_RATE, "MP3", "MPEG_LAYER_III")
    assert data[:2] == b"\xff\xf3" and b"Xing" in data[:200]  # MPEG-2 layer III; the tag is in frame 1
    kbps = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160][data[2] >> 4]
    rate = [22_050, 24_000, 16_000][(data[2] >> 2) & 3]
    frame2 = 72_000 * kbps // rate + ((data[2] >> 1) & 1)  # bytes in frame 1
    assert data[frame2:frame2 + 2] == b"\xff\xf3" and b"Xing" not in data[frame2:]
    y = load_audio(data[frame2:])
    assert abs(len(y) - 2 * SAMPLE_RATE) < 0.1 * SAMPLE_RATE


def test_header_only_wav(tmp_path):
    path = tmp_path / "header.wav"
    sf.write(path, np.zeros(0, np.float32), SAMPLE_RATE, subtype="PCM_16")
    assert path.stat().st_size > 0
    assert str(path) in str(_error(path, "no audio samples"))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_samples(tmp_path, bad):
    x = make_tone(440, 1.0)
    x[8000] = bad
    path = tmp_path / "nan.wav"
    sf.write(path, x, SAMPLE_RATE, subtype="FLOAT")
    e = _error(path, "NaN or Inf")
    assert str(path) in str(e) and "0.500 s" in str(e)  # says where


def test_one_millisecond_is_too_short(tmp_path):
    path = tmp_path / "blip.wav"
    sf.write(path, make_tone(440, 0.001), SAMPLE_RATE)
    assert str(path) in str(_error(path, "too short: 1.0 ms"))


def test_longer_than_max_seconds(tmp_path):
    path = tmp_path / "long.wav"
    sf.write(path, make_tone(440, 3.0), SAMPLE_RATE)
    assert str(path) in str(_error(path, "too long", max_seconds=2.0))
    assert len(load_audio(path, max_seconds=3.0)) == 3 * SAMPLE_RATE


def test_missing_file_and_directory(tmp_path):
    missing = tmp_path / "nope.wav"
    assert str(missing) in str(_error(missing, "no such file"))
    assert str(tmp_path) in str(_error(tmp_path, "a folder, not an audio file"))


def test_unsupported_sample_rate(tmp_path):
    path = tmp_path / "low.wav"
    sf.write(path, make_tone(440, 1.0, 4_000), 4_000)
    assert str(path) in str(_error(path, "sample rate 4000 Hz"))
    with pytest.raises(AudioError, match="sample rate 4000 Hz"):
        prepare_waveform(make_tone(440, 1.0, 4_000), 4_000)


def test_bytes_and_name_override_in_messages():
    assert "<bytes>" in str(_error(b"", "empty"))
    with pytest.raises(AudioError, match="^upload.wav: "):
        load_audio(b"garbage", name="upload.wav")
    with pytest.raises(AudioError, match="cannot read audio from a int"):
        load_audio(42)


def test_prepare_waveform_rejects_bad_arrays():
    with pytest.raises(AudioError, match=r"shape"):
        prepare_waveform(np.zeros((2, 2, 2), np.float32), SAMPLE_RATE)
    with pytest.raises(AudioError, match=r"looks like \(channels, samples\)"):
        prepare_waveform(make_tone(channels=2).T, SAMPLE_RATE)
    with pytest.raises(AudioError, match="no audio samples"):
        prepare_waveform(np.zeros(0, np.float32), SAMPLE_RATE)
    x = make_tone()
    x[10] = np.nan
    with pytest.raises(AudioError, match="NaN"):
        prepare_waveform(x, SAMPLE_RATE)
    with pytest.raises(AudioError, match="too long"):
        prepare_waveform(make_tone(seconds=2.0), SAMPLE_RATE, max_seconds=1.0)


@pytest.mark.parametrize("tag, bits", [(0x1234, 16), (1, 0), (3, 16), (0xFFFE, 16), (0x0055, 16)])
def test_a_wav_format_no_decoder_reads_is_an_audio_error(tmp_path, tag, bits):
    path = tmp_path / f"tag{tag}.wav"
    path.write_bytes(riff_wav(tag, bits))
    with pytest.raises(AudioError) as info:
        load_audio(path)
    assert str(path) in str(info.value)


def test_any_decoder_exception_becomes_that_files_audio_error(tmp_path, monkeypatch):
    import spoofscan.audio.decode as audio

    def broken(*args, **kwargs):
        raise KeyError("a bug deep inside a decoder")
        yield  # pragma: no cover

    monkeypatch.setattr(audio, "soundfile_blocks", broken)
    path = write_speech(tmp_path / "x.wav")
    with pytest.raises(AudioError, match=r"x.wav: cannot be decoded \(KeyError"):
        load_audio(path)


def test_a_float_wav_with_huge_samples_is_an_error(tmp_path):
    x = speechlike(1.0)
    x[100] = 1e30
    path = tmp_path / "huge.wav"
    sf.write(path, x, RATE, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"far outside \[-1, 1\] \(peak 1e\+30, first at 0.006 s"):
        load_audio(path)


def _garbage():
    rng = np.random.default_rng(1234)
    noise = (0.3 * rng.standard_normal(2 * SAMPLE_RATE)).astype(np.float32)
    files = {
        "wav": encode(noise, SAMPLE_RATE, "WAV"),
        "flac": encode(noise, SAMPLE_RATE, "FLAC"),
        "vorbis": encode(noise, SAMPLE_RATE, "OGG", "VORBIS"),
        "opus": encode(noise, SAMPLE_RATE, "OGG", "OPUS"),
        "mp3": encode(noise, SAMPLE_RATE, "MP3", "MPEG_LAYER_III"),
        "m4a": encode_ffmpeg(noise, SAMPLE_RATE),
    }
    cases = [(f"random{n}", rng.bytes(n)) for n in (1, 3, 44, 512, 4096, 65536)]
    cases += [("zeros", bytes(4096)), ("text", b"RIFF but not really\n" * 50)]
    for name, data in files.items():
        cases += [(f"{name}[:{k}]", data[:k]) for k in (4, 12, 44, 200, len(data) // 3)]
        flipped = bytearray(data)  # corrupt the middle
        flipped[len(data) // 2: len(data) // 2 + 64] = rng.bytes(64)
        cases.append((f"{name}-corrupt", bytes(flipped)))
    return cases


def test_garbage_raises_only_audio_error():
    """Garbage either decodes or raises AudioError: no third-party exception escapes."""
    failures = 0
    for name, data in _garbage():
        try:
            y = load_audio(data, name=name)
        except AudioError as e:
            failures += 1
            assert str(e).startswith(f"{name}: ") and e.reason
        else:
            assert y.dtype == np.float32 and y.ndim == 1 and np.isfinite(y).all()
    assert failures >= 30  # most of it is not audio at all


def test_ffmpeg_stream_gathers_frames_into_blocks():
    data = encode_ffmpeg(make_tone(1000, 3.0, SAMPLE_RATE), SAMPLE_RATE)
    blocks = list(stream_audio(data, block_seconds=1.0))
    assert 3 <= len(blocks) <= 4  # not one block per 1024-sample AAC frame
    assert all(len(b) >= SAMPLE_RATE for b in blocks[:-1])
    np.testing.assert_array_equal(np.concatenate(blocks), load_audio(data))


# ------------------------------------------------------------------ limits before work


def _flac_announcing(seconds: float) -> bytes:
    """A 1-s FLAC whose STREAMINFO says it lasts ``seconds``."""
    data = bytearray(encode(speechlike(1.0), RATE, "FLAC"))
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
    m4a = encode_ffmpeg(speechlike(3.0), RATE)
    with pytest.raises(AudioError, match=r"header announces 3\.\d s"):
        load_audio(m4a, max_seconds=2.0)
    assert len(load_audio(m4a, max_seconds=4.0)) >= 3 * RATE


@pytest.mark.parametrize("bad", [-1, 0, float("nan"), float("inf"), "10", True])
def test_limits_must_be_finite_positive_numbers(bad):
    with pytest.raises(SpoofscanError, match="max_seconds"):
        load_audio(b"x", max_seconds=bad)


# ------------------------------------------------------------------ arrays from the API


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


# ------------------------------------------------------------------ random bytes (Hypothesis)


@bounded(40)
@given(any_bytes)
def test_audio_reader_gives_an_audio_error_or_finite_samples(data):
    """Random bytes, damaged files of every format, random WAV headers: AudioError naming the
    input, or float32 mono finite samples; never another exception, never a hang."""
    with time_limit():
        try:
            y = load_audio(data, name="x")
        except AudioError as e:
            assert str(e).startswith("x: ") and e.reason
            return
    assert y.dtype == np.float32 and y.ndim == 1 and len(y) > 0 and np.isfinite(y).all()
