"""Audio decoding: every caller (train, evaluate, predict, serve) decodes through this module.

Anything in, float32 mono 16 kHz in [-1, 1] out. soundfile (libsndfile) decodes wav, aiff,
au and flac; mp3, ogg/vorbis, opus and everything else (m4a/aac, wma, amr, video containers...)
go through FFmpeg via the ``av`` wheel, which bundles FFmpeg so no system package is needed.
Both decode to the real end of the audio, whatever length a header announces (:mod:`.headers`).
Resampling is done by soxr. Bad input raises :class:`~spoofscan.errors.AudioError`, which
names the source and the reason; no third-party exception reaches the caller.

Long files are decoded block by block (:func:`stream_audio`) so memory stays flat, and a
``max_seconds`` limit refuses a file from its header when it announces more, else as soon as
the decoded samples pass it.
"""

from __future__ import annotations

import math
import os
from typing import BinaryIO, Iterator

import numpy as np
import soxr

from ..errors import AudioError, SpoofscanError, first_line
from .constants import (BLOCK_SECONDS, MAX_ABS_SAMPLE, MAX_CHANNELS, MAX_INPUT_RATE, MIN_INPUT_RATE, MIN_SECONDS,
                        RESAMPLE_QUALITY, SAMPLE_RATE, AudioSource)
from .headers import survey
from .readers import NotHandled, ffmpeg_blocks, open_source, soundfile_blocks


def source_name(source: AudioSource) -> str:
    """A human-readable name for an audio source: the path, the file object's name or ``<bytes>``."""
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "<bytes>"
    return str(getattr(source, "name", "<stream>"))


def load_audio(
    source: AudioSource,
    *,
    min_seconds: float = MIN_SECONDS,
    max_seconds: float | None = None,
    name: str | None = None,
) -> np.ndarray:
    """Decode a whole file to a float32 mono 16 kHz waveform.

    Parameters
    ----------
    source : path, bytes or binary file object
    min_seconds, max_seconds : accepted duration range in seconds (``None``: no maximum)
    name : the name used in error messages (default: the path, or ``<bytes>``)

    Returns
    -------
    np.ndarray, shape (samples,), float32, 16 kHz

    Raises
    ------
    AudioError : empty, not audio, truncated, no samples, NaN/Inf, too short or too long.
    """
    blocks = list(stream_audio(source, min_seconds=min_seconds, max_seconds=max_seconds, name=name))
    return np.concatenate(blocks) if len(blocks) > 1 else blocks[0]


def stream_audio(
    source: AudioSource,
    *,
    min_seconds: float = MIN_SECONDS,
    max_seconds: float | None = None,
    block_seconds: float | None = None,
    name: str | None = None,
) -> Iterator[np.ndarray]:
    """Decode a file block by block to float32 mono 16 kHz.

    Yields blocks of shape (samples,), about ``block_seconds`` long each (default
    :data:`BLOCK_SECONDS`; the last may be shorter). The duration checks that need the whole
    file (too short, no samples) raise after the last block; "too long" raises before the
    first block when the header announces more than ``max_seconds``, else as soon as decoding
    passes it. A file opened from a path is closed when the generator ends.

    Every exception of a decoder becomes an :class:`AudioError` naming the source: no
    third-party exception (nor ``MemoryError`` from an absurd header) reaches the caller.
    """
    name = name or source_name(source)
    check_limits(min_seconds, max_seconds)
    block_seconds = BLOCK_SECONDS if block_seconds is None else block_seconds
    data = _guard(lambda: open_source(source, name), name)
    blocks = _decode(data, name, min_seconds, max_seconds, block_seconds)
    try:
        while True:
            block = _guard(lambda: next(blocks, None), name)
            if block is None:
                return
            yield block
    finally:
        blocks.close()
        if data is not source:
            data.close()


def check_limits(min_seconds: float, max_seconds: float | None) -> None:
    """Raise :class:`SpoofscanError` unless ``0 <= min_seconds`` and ``max_seconds`` is None or
    a finite number of seconds above ``min_seconds`` (NaN would silently disable the limit)."""
    if not _is_number(min_seconds) or not 0 <= min_seconds < math.inf:
        raise SpoofscanError(f"min_seconds must be a finite number >= 0, got {min_seconds!r}")
    if max_seconds is not None and (not _is_number(max_seconds) or not min_seconds < max_seconds < math.inf):
        raise SpoofscanError(f"max_seconds must be a finite number of seconds above min_seconds "
                             f"({min_seconds:g}), or None for no limit; got {max_seconds!r}")


def _is_number(x) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, (bool, np.bool_))


def _guard(call, name: str):
    """``call()``, with any exception other than the project's turned into an AudioError."""
    try:
        return call()
    except SpoofscanError:
        raise
    except MemoryError:
        raise AudioError(name, "not enough memory to decode it (a corrupt header announcing absurd sizes?)") from None
    except Exception as e:
        raise AudioError(name, f"cannot be decoded ({type(e).__name__}: {first_line(e)})") from None


def _decode(data: BinaryIO, name: str, min_seconds: float, max_seconds: float | None,
            block_seconds: float) -> Iterator[np.ndarray]:
    """The body of :func:`stream_audio` over an open stream positioned at offset 0."""
    layout = survey(data)  # what the bytes say, so that no header's length is taken on trust
    try:
        reader = soundfile_blocks(data, name, block_seconds, max_seconds, layout)
        first = next(reader)
    except NotHandled:
        data.seek(0)
        reader = ffmpeg_blocks(data, name, block_seconds, max_seconds, layout)
        first = next(reader)
    in_rate = first  # the first item each reader yields is the input sample rate
    if not MIN_INPUT_RATE <= in_rate <= MAX_INPUT_RATE:
        raise AudioError(name, f"sample rate {in_rate} Hz outside the supported {MIN_INPUT_RATE}-{MAX_INPUT_RATE} Hz")

    resampler = None if in_rate == SAMPLE_RATE else soxr.ResampleStream(
        in_rate, SAMPLE_RATE, 1, dtype="float32", quality=RESAMPLE_QUALITY)
    seen_in = 0  # input samples seen so far
    produced = 0  # output samples yielded so far
    for block in reader:
        _check_samples(block, name, seen_in, in_rate)
        seen_in += len(block)
        if max_seconds is not None and seen_in / in_rate > max_seconds:
            raise AudioError(name, f"too long: more than {max_seconds:g} s (the configured maximum)")
        out = block if resampler is None else resampler.resample_chunk(block)
        produced += len(out)
        if len(out):
            yield out
    if resampler is not None:
        tail = resampler.resample_chunk(np.zeros(0, np.float32), last=True)
        produced += len(tail)
        if len(tail):
            yield tail
    if seen_in == 0:
        raise AudioError(name, "no audio samples (a header but no audio data: empty or truncated)")
    seconds = seen_in / in_rate
    if seconds < min_seconds:
        raise AudioError(name, f"too short: {seconds * 1000:.1f} ms, the minimum is {min_seconds * 1000:.0f} ms")
    if produced == 0:  # pragma: no cover - guarded by min_seconds > 0
        yield np.zeros(0, np.float32)


def prepare_waveform(
    waveform: np.ndarray,
    sample_rate: int,
    *,
    min_seconds: float = MIN_SECONDS,
    max_seconds: float | None = None,
    name: str = "<array>",
) -> np.ndarray:
    """Check and convert an in-memory waveform to float32 mono 16 kHz.

    ``waveform`` has shape (samples,) or (samples, channels) and a numeric dtype: signed
    integers are scaled to [-1, 1] by their dtype's range, unsigned integers are centred
    first (uint8 128 is silence, as in 8-bit WAV), floats are taken as they are (within
    :data:`MAX_ABS_SAMPLE`). ``sample_rate`` is a whole number of Hz.

    Raises :class:`AudioError` for anything else: object, string, boolean or complex arrays,
    a NaN, infinite, fractional or out-of-range rate, NaN/Inf samples, too short or too long.
    """
    check_limits(min_seconds, max_seconds)
    rate = _check_rate(sample_rate, name)
    try:
        x = np.asarray(waveform)
    except Exception as e:  # ragged lists and the like
        raise AudioError(name, f"cannot be read as an array of samples ({first_line(e)})") from None
    if x.dtype.kind not in "iuf":
        raise AudioError(name, f"waveform dtype {x.dtype} is not audio: give float or integer samples")
    if x.ndim not in (1, 2):
        raise AudioError(name, f"waveform must have shape (samples,) or (samples, channels), got {x.shape}")
    if x.ndim == 2 and x.shape[1] > MAX_CHANNELS:
        raise AudioError(name, f"waveform shape {x.shape} looks like (channels, samples): give (samples, channels)")
    if x.size == 0:
        raise AudioError(name, "no audio samples")
    if x.dtype.kind == "i":
        x = x.astype(np.float32) / float(-np.iinfo(x.dtype).min)
    elif x.dtype.kind == "u":
        half = (float(np.iinfo(x.dtype).max) + 1.0) / 2.0
        x = ((x.astype(np.float64) - half) / half).astype(np.float32)
    else:
        _check_samples(x.reshape(-1), name, 0, rate)  # before float32 conversion turns 1e300 into Inf
    x = x.astype(np.float32, copy=False)
    if x.ndim == 2:
        x = x.mean(axis=1, dtype=np.float32)
    seconds = len(x) / rate
    if seconds < min_seconds:
        raise AudioError(name, f"too short: {seconds * 1000:.1f} ms, the minimum is {min_seconds * 1000:.0f} ms")
    if max_seconds is not None and seconds > max_seconds:
        raise AudioError(name, f"too long: {seconds:.1f} s, the configured maximum is {max_seconds:g} s")
    return resample(x, rate)


def _check_rate(sample_rate, name: str) -> int:
    """The sample rate as an int, or an AudioError: a whole, finite number of Hz in the supported range."""
    if not _is_number(sample_rate):
        raise AudioError(name, f"sample rate must be a number of Hz, got {sample_rate!r}")
    rate = float(sample_rate)
    if not math.isfinite(rate) or rate != int(rate):
        raise AudioError(name, f"sample rate {sample_rate!r} is not a whole number of Hz")
    if not MIN_INPUT_RATE <= rate <= MAX_INPUT_RATE:
        raise AudioError(name, f"sample rate {sample_rate} Hz outside the supported {MIN_INPUT_RATE}-{MAX_INPUT_RATE} Hz")
    return int(rate)


def resample(x: np.ndarray, sample_rate: int, target_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Resample a mono float32 waveform (samples,) with soxr; returns float32 (samples',)."""
    if sample_rate == target_rate:
        return np.ascontiguousarray(x, dtype=np.float32)
    return soxr.resample(x.astype(np.float32, copy=False), sample_rate, target_rate,
                         quality=RESAMPLE_QUALITY).astype(np.float32, copy=False)


def _check_samples(x: np.ndarray, name: str, offset: int, rate: int) -> None:
    """Raise if the block holds NaN/Inf or samples beyond :data:`MAX_ABS_SAMPLE`; ``offset`` is
    the block's first sample index at ``rate`` Hz."""
    if not len(x):
        return
    peak = float(np.max(np.abs(x)))
    if peak <= MAX_ABS_SAMPLE:  # False for NaN too
        return
    bad = ~np.isfinite(x)
    if bad.any():
        first = offset + int(np.flatnonzero(bad)[0])
        raise AudioError(name, f"contains NaN or Inf samples (first at {first / rate:.3f} s)")
    first = offset + int(np.flatnonzero(np.abs(x) > MAX_ABS_SAMPLE)[0])
    raise AudioError(name, f"samples far outside [-1, 1] (peak {peak:.3g}, first at {first / rate:.3f} s; "
                           f"the limit is {MAX_ABS_SAMPLE:g}): not float audio as written, or a corrupt file")
