"""Readers of encoded audio, each yielding the input rate and then blocks of float32 mono samples:
libsndfile for wav, aiff, flac and the other formats it knows, FFmpeg (the ``av`` wheel) for mp3,
ogg/vorbis, opus, m4a/aac and the rest; and the checks of what a file's header announces
(channels, length) before any decoding. Both read to the real end of the audio, wherever a header
says it ends (:mod:`.headers`)."""

from __future__ import annotations

import io
import math
import os
import re
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np
import soundfile as sf

from ..errors import AudioError, first_line
from .constants import MAX_FILE_CHANNELS, AudioSource
from .headers import ACCEPTED, KIND_NAMES, LibsndfileView, Survey, describe


def too_long_by_header(name: str, seconds: float, max_seconds: float | None) -> None:
    """Refuse a file whose header announces more than ``max_seconds``, before decoding it."""
    if max_seconds is not None and math.isfinite(seconds) and seconds > max_seconds:
        raise AudioError(name, f"too long: the header announces {seconds:.1f} s, "
                               f"more than the configured maximum of {max_seconds:g} s")


class NotHandled(Exception):
    """libsndfile does not know the format: try FFmpeg."""


def open_source(source: AudioSource, name: str) -> BinaryIO:
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


def soundfile_blocks(data: BinaryIO, name: str, block_seconds: float, max_seconds: float | None,
                     layout: Survey) -> Iterator:
    """Yield the sample rate, then float32 mono blocks at the input rate, via libsndfile.

    ``layout`` is what :func:`.headers.survey` read from the bytes: libsndfile stops where a
    header says the audio ends, so a WAV/AIFF/AU whose data runs past its header's size is read
    with the size it should have, and formats whose length cannot be confirmed from the bytes
    (MP3, Ogg; FLAC whose frames hold more than STREAMINFO says) are left to FFmpeg (NotHandled).
    """
    if layout.problem:
        raise AudioError(name, layout.problem)
    if layout.libsndfile_stops_early:
        raise NotHandled()
    try:
        f = sf.SoundFile(LibsndfileView(data, layout.data_size_patch))
    except Exception:  # libsndfile does not recognise it: FFmpeg may
        raise NotHandled() from None
    with f:
        announced, present = _wav_data_sizes(f.extra_info)
        if announced > present and present == 0:
            raise AudioError(name, f"no audio samples: the header announces {announced} bytes of audio data, the file "
                                   f"holds none (empty, or cut short after its header)")
        if announced > present:
            raise AudioError(name, f"truncated: the header announces {announced} bytes of audio data, the file holds {present}")
        if f.format in ("MP3", "OGG"):  # not recognised from the first bytes (an unusual tag before them)
            raise NotHandled()
        if f.format == "FLAC" and (f.frames >= _UNKNOWN_FRAMES or f.frames < (layout.flac_samples or 0)):
            raise NotHandled()  # STREAMINFO says no length, or less than the frames hold: FFmpeg decodes every frame
        if f.channels > MAX_FILE_CHANNELS:
            raise AudioError(name, f"{f.channels} channels: more than the {MAX_FILE_CHANNELS} supported")
        if 0 < f.samplerate and 0 < f.frames < _UNKNOWN_FRAMES:
            too_long_by_header(name, f.frames / f.samplerate, max_seconds)
        yield f.samplerate
        expected = f.frames if f.format == "FLAC" else 0  # a FLAC header's frame count is exact
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
        if got < expected:
            raise AudioError(name, f"truncated: the header announces {expected} samples, only {got} could be read")


_UNKNOWN_FRAMES = 2**62  # libsndfile reports SF_COUNT_MAX frames when the length is unknown
MP3_LENGTH_SLACK = 2 * 1152  # samples: an MP3's Xing frame count is exact to a frame or so (gapless trim)


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


def ffmpeg_blocks(data: BinaryIO, name: str, block_seconds: float, max_seconds: float | None,
                  layout: Survey) -> Iterator:
    """Yield the sample rate, then float32 mono blocks at the input rate, via FFmpeg (PyAV).

    Codec frames (about 1024 samples each) are gathered into blocks of ``block_seconds``.
    FFmpeg decodes every packet to the end of the file (chained Ogg streams included), whatever
    length a header announces; a WAV whose data runs past its header's size is read to its end.
    An MP3 with a frame count shorter than it announces is truncated.
    """
    import av  # imported here: only formats libsndfile cannot read need it

    av.logging.set_level(av.logging.PANIC)
    options = {"ignore_length": "1"} if layout.kind == "wav" and layout.data_size_patch else {}
    try:
        container = av.open(data, mode="r", options=options)
    except av.error.EOFError:  # FFmpeg knows the format, but the data stops inside the header
        if layout.kind is None:
            raise _not_audio(data, name, layout) from None
        raise AudioError(name, "truncated: the data ends before the first audio") from None
    except Exception:
        raise _not_audio(data, name, layout) from None
    with container:
        streams = [s for s in container.streams if s.type == "audio"]
        if not streams:
            raise _not_audio(data, name, layout, no_stream=True)
        stream = streams[0]
        context = stream.codec_context
        if context is None:  # a format tag FFmpeg knows no decoder for (WAV tag 0x1234, 0 bits per sample...)
            raise AudioError(name, "not audio FFmpeg can decode: no decoder for its audio codec")
        rate = getattr(stream, "rate", None) or context.sample_rate
        if not rate:
            raise AudioError(name, "not audio: the audio stream has no sample rate")
        if (context.channels or 0) > MAX_FILE_CHANNELS:
            raise AudioError(name, f"{context.channels} channels: more than the {MAX_FILE_CHANNELS} supported")
        announced = _ffmpeg_seconds(container, stream)
        too_long_by_header(name, announced, max_seconds)
        yield int(rate)
        got = 0
        for block in _ffmpeg_decode(container, stream, int(rate), block_seconds, name):
            got += len(block)
            yield block
        exact = layout.kind == "mp3" and layout.mp3_counted and math.isfinite(announced)
        expected = round(announced * rate) if exact else 0
        if got < expected - MP3_LENGTH_SLACK:
            raise AudioError(name, f"truncated: the header announces {expected} samples, only {got} could be read")


def _not_audio(data: BinaryIO, name: str, layout: Survey, no_stream: bool = False) -> AudioError:
    """The error for bytes no decoder reads audio from. A file that starts as an audio format
    holds no audio (a header without its data, or a video without sound); anything else is not
    audio, said with what it looks like and what is read."""
    if layout.kind is not None:
        what = KIND_NAMES[layout.kind]
        return AudioError(name, f"no audio samples: {what} without an audio stream" if no_stream else
                          f"no audio samples: the file starts as {what} but holds no audio data a decoder can "
                          f"read (a header without its data: empty, cut short or damaged)")
    data.seek(0)
    return AudioError(name, f"not audio: {describe(data.read(256))}{' with no audio stream' if no_stream else ''}; "
                            f"{ACCEPTED}")


def _ffmpeg_decode(container, stream, rate: int, block_seconds: float, name: str) -> Iterator[np.ndarray]:
    """The decoded audio of ``stream``, float32 mono at ``rate``, in blocks of about ``block_seconds``."""
    import av

    # planar float at the input layout; the mixdown is a plain mean, as for libsndfile
    # (FFmpeg's own stereo->mono matrix scales by 1/sqrt(2), not 1/2)
    to_float = av.AudioResampler(format="fltp", rate=rate)
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
