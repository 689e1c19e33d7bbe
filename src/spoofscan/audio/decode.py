"""Audio decoding: every caller (train, evaluate, predict, serve) decodes through this module.

Anything in, float32 mono 16 kHz in [-1, 1] out. soundfile (libsndfile) decodes wav, flac,
ogg/vorbis, opus and mp3; everything else (m4a/aac, wma, amr, video containers...) goes
through FFmpeg via the ``av`` wheel, which bundles FFmpeg so no system package is needed.
Resampling is done by soxr. Bad input raises :class:`~spoofscan.errors.AudioError`, which
names the source and the reason; no third-party exception reaches the caller.

Long files are decoded block by block (:func:`stream_audio`) so memory stays flat, and a
``max_seconds`` limit refuses a file from its header, or as soon as decoding passes it.
"""

from __future__ import annotations

import io
import math
import os
import re
from pathlib import Path
from typing import BinaryIO, Iterator, Union

import numpy as np
import soundfile as sf
import soxr

from ..errors import AudioError, SpoofscanError, first_line

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
    data = _guard(lambda: _open_source(source, name), name)
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
    try:
        reader = _soundfile_blocks(data, name, block_seconds, max_seconds)
        first = next(reader)
    except _NotHandled:
        data.seek(0)
        reader = _ffmpeg_blocks(data, name, block_seconds, max_seconds)
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


def _too_long_by_header(name: str, seconds: float, max_seconds: float | None) -> None:
    """Refuse a file whose header announces more than ``max_seconds``, before decoding it."""
    if max_seconds is not None and math.isfinite(seconds) and seconds > max_seconds:
        raise AudioError(name, f"too long: the header announces {seconds:.1f} s, "
                               f"more than the configured maximum of {max_seconds:g} s")


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


# --------------------------------------------------------------------------- decoding


class _NotHandled(Exception):
    """libsndfile does not know the format: try FFmpeg."""


def _open_source(source: AudioSource, name: str) -> BinaryIO:
    """A seekable binary stream over the source, after the checks that need no decoder."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            st = path.stat()
        except OSError as e:
            if os.path.lexists(path):
                raise AudioError(name, f"a symbolic link that leads nowhere ({e.strerror})") from None
            raise AudioError(name, "no such file" if isinstance(e, FileNotFoundError) else f"cannot open: {e.strerror}") from None
        if path.is_dir():
            try:
                os.listdir(path)
            except OSError as e:
                raise AudioError(name, f"a folder that cannot be listed ({e.strerror})") from None
            raise AudioError(name, "a folder, not an audio file")
        if not path.is_file():
            raise AudioError(name, "not a regular file")
        if st.st_size == 0:
            raise AudioError(name, "empty file (0 bytes)")
        try:
            return open(path, "rb")
        except OSError as e:
            raise AudioError(name, f"cannot open: {e.strerror}") from None
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise AudioError(name, "empty input (0 bytes)")
        return io.BytesIO(bytes(source))
    if hasattr(source, "read"):
        # the decoders seek to absolute offsets: a stream that cannot seek, or that does not
        # start at offset 0, is read into memory from where it stands
        if not (hasattr(source, "seekable") and source.seekable()) or source.tell() != 0:
            source = io.BytesIO(source.read())
        probe = source.read(1)
        source.seek(0)
        if not probe:
            raise AudioError(name, "empty input (0 bytes)")
        return source
    raise AudioError(name, f"cannot read audio from a {type(source).__name__} (give a path, bytes, a binary file object, or to a detector an (array, sample_rate) pair)")


def _soundfile_blocks(data: BinaryIO, name: str, block_seconds: float, max_seconds: float | None) -> Iterator:
    """Yield the sample rate, then float32 mono blocks at the input rate, via libsndfile."""
    ogg_end, mp3_counted = _ogg_end(data), _mp3_has_frame_count(data)  # raw bytes, before libsndfile reads
    try:
        f = sf.SoundFile(data)
    except Exception:  # libsndfile does not recognise it: FFmpeg may
        raise _NotHandled() from None
    with f:
        announced, present = _wav_data_sizes(f.extra_info)
        if announced > present:
            raise AudioError(name, f"truncated: the header announces {announced} bytes of audio data, the file holds {present}")
        if f.format == "MP3" and not mp3_counted:
            # libsndfile stops at a length mpg123 guessed from the first frame's bitrate: a VBR file
            # without a Xing/Info frame count would lose most of its audio; FFmpeg decodes every frame
            raise _NotHandled()
        if f.format == "OGG" and ogg_end is not None:
            raise AudioError(name, f"truncated: the Ogg stream {ogg_end}")
        if f.channels > MAX_FILE_CHANNELS:
            raise AudioError(name, f"{f.channels} channels: more than the {MAX_FILE_CHANNELS} supported")
        if 0 < f.samplerate and 0 < f.frames < _UNKNOWN_FRAMES:
            _too_long_by_header(name, f.frames / f.samplerate, max_seconds)
        yield f.samplerate
        exact = f.format in _EXACT_LENGTH_FORMATS or (f.format == "MP3" and mp3_counted)
        expected = f.frames
        slack = MP3_LENGTH_SLACK if f.format == "MP3" else 0
        block = max(1, int(block_seconds * f.samplerate))
        got = 0
        while True:
            try:
                x = f.read(block, dtype="float32", always_2d=True)
            except Exception as e:
                raise AudioError(name, f"truncated or corrupt audio data after {got / f.samplerate:.2f} s ({first_line(e)})") from None
            if len(x) == 0:
                break
            got += len(x)
            yield x.mean(axis=1, dtype=np.float32) if x.shape[1] > 1 else x[:, 0]
        if exact and expected > 0 and got < expected - slack:
            raise AudioError(name, f"truncated: the header announces {expected} samples, only {got} could be read")


_UNKNOWN_FRAMES = 2**62  # libsndfile reports SF_COUNT_MAX frames when the length is unknown
_EXACT_LENGTH_FORMATS = {"FLAC"}  # formats whose header frame count libsndfile reports exactly
MP3_LENGTH_SLACK = 2 * 1152  # samples: an MP3's Xing frame count is exact to a frame or so (gapless trim)
_OGG_MAX_PAGE = 27 + 255 + 255 * 255  # bytes: header, segment table, payload


def _ogg_end(data: BinaryIO) -> str | None:
    """Why an Ogg file does not end with a whole end-of-stream page; None when it does or is not Ogg.

    Every complete Ogg stream ends with a page flagged end-of-stream. A download or copy that
    stopped early ends in a partial page or in a page without that flag; libsndfile decodes
    what is there without a word, so this looks at the file's last page (``data`` is left at 0).
    """
    data.seek(0)
    if data.read(4) != b"OggS":
        data.seek(0)
        return None
    size = data.seek(0, io.SEEK_END)
    start = max(0, size - 2 * _OGG_MAX_PAGE)
    data.seek(start)
    tail = data.read()
    data.seek(0)
    at = tail.rfind(b"OggS")
    while at >= 0:
        header = tail[at:at + 27]
        if len(header) == 27 and header[4] == 0:  # stream structure version 0: a page header
            table = tail[at + 27:at + 27 + header[26]]
            end = at + 27 + header[26] + sum(table)
            if len(table) < header[26] or end > len(tail):
                return "ends inside a page (the file is cut short)"
            if end == len(tail):
                return None if header[5] & 0x04 else "ends without its end-of-stream page (the file is cut short)"
        at = tail.rfind(b"OggS", 0, at)  # "OggS" inside a payload, or bytes after the last page
    return None


def _mp3_has_frame_count(data: BinaryIO) -> bool:
    """Whether an MP3 starts with a Xing/Info or VBRI frame count (libsndfile's length is then exact).

    Without one, libsndfile's length is a guess from the first frame's bitrate and the file size.
    """
    data.seek(0)
    head = data.read(10)
    skip = 0
    if len(head) == 10 and head[:3] == b"ID3":  # ID3v2 tag: syncsafe size, + footer if flagged
        skip = 10 + sum((b & 0x7F) << (7 * (3 - i)) for i, b in enumerate(head[6:10])) + (10 if head[5] & 0x10 else 0)
    elif not (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):  # no MPEG frame sync: not MP3
        data.seek(0)
        return False
    data.seek(skip)
    first_frame = data.read(200)
    data.seek(0)
    return any(tag in first_frame for tag in (b"Xing", b"Info", b"VBRI"))


_STREAMING_SIZES = {0, 0xFFFFFFFF, 0x7FFFFFFF}  # data sizes written by encoders that stream to a pipe


def _wav_data_sizes(log: str) -> tuple[int, int]:
    """(announced, present) bytes of the data chunk from libsndfile's header log; (0, 0) if in order.

    libsndfile clamps a truncated WAV/AIFF to what is there and notes it in its log as
    ``data : 176400 (should be 88178)``; encoders writing to a pipe announce 0 or 2**32-1.
    """
    m = re.search(r"^(?:data|SSND)\s*:\s*(\d+)\s*\(should be (\d+)\)", log, re.MULTILINE)
    if not m or int(m.group(1)) in _STREAMING_SIZES:
        return 0, 0
    return int(m.group(1)), int(m.group(2))


def _ffmpeg_blocks(data: BinaryIO, name: str, block_seconds: float, max_seconds: float | None) -> Iterator:
    """Yield the sample rate, then float32 mono blocks at the input rate, via FFmpeg (PyAV).

    Codec frames (about 1024 samples each) are gathered into blocks of ``block_seconds``.
    """
    import av  # imported here: only formats libsndfile cannot read need it

    av.logging.set_level(av.logging.PANIC)
    try:
        container = av.open(data, mode="r")
    except av.error.EOFError as e:  # FFmpeg knows the format, but the data stops inside the header
        raise AudioError(name, f"truncated: the data ends before the first audio ({first_line(e)})") from None
    except Exception as e:
        raise AudioError(name, f"not audio, or a format neither libsndfile nor FFmpeg can read ({first_line(e)})") from None
    with container:
        streams = [s for s in container.streams if s.type == "audio"]
        if not streams:
            raise AudioError(name, "not audio: the container has no audio stream")
        stream = streams[0]
        context = stream.codec_context
        if context is None:  # a format tag FFmpeg knows no decoder for (WAV tag 0x1234, 0 bits per sample...)
            raise AudioError(name, "not audio FFmpeg can decode: no decoder for its audio codec")
        rate = getattr(stream, "rate", None) or context.sample_rate
        if not rate:
            raise AudioError(name, "not audio: the audio stream has no sample rate")
        if (context.channels or 0) > MAX_FILE_CHANNELS:
            raise AudioError(name, f"{context.channels} channels: more than the {MAX_FILE_CHANNELS} supported")
        _too_long_by_header(name, _ffmpeg_seconds(container, stream), max_seconds)
        yield int(rate)
        # planar float at the input layout; the mixdown is a plain mean, as for libsndfile
        # (FFmpeg's own stereo->mono matrix scales by 1/sqrt(2), not 1/2)
        to_float = av.AudioResampler(format="fltp", rate=int(rate))
        block = max(1, int(block_seconds * rate))
        parts: list[np.ndarray] = []
        gathered = 0
        try:
            for packet in container.demux(stream):
                for frame in packet.decode():
                    for out in to_float.resample(frame):
                        parts.append(out.to_ndarray().mean(axis=0, dtype=np.float32))
                        gathered += len(parts[-1])
                    if gathered >= block:
                        yield np.concatenate(parts)
                        parts, gathered = [], 0
            parts += [out.to_ndarray().mean(axis=0, dtype=np.float32) for out in to_float.resample(None)]
            if parts:
                yield np.concatenate(parts)
        except AudioError:
            raise
        except Exception as e:
            raise AudioError(name, f"truncated or corrupt audio data ({first_line(e)})") from None


def _ffmpeg_seconds(container, stream) -> float:
    """The duration FFmpeg reads from the header, in seconds; NaN when it announces none."""
    if stream.duration is not None and stream.duration > 0 and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration is not None and container.duration > 0:
        return container.duration / 1_000_000  # AV_TIME_BASE: microseconds
    return math.nan


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

