"""What a real-speech source is (:class:`Source`), what it finds (:class:`RealClip`), and reading a clip."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import soundfile as sf

from ...audio import SAMPLE_RATE, load_audio
from ...errors import SpoofscanError

CODECS = ("auto", "g722", "pcm_s16le_16k")  # how a clip's file is read (see :func:`read_real`)


@dataclass(frozen=True)
class RealClip:
    """One real recording found by a source.

    key : stable unique id (source and path inside it); everything derived from the clip is
        seeded by it
    text : what is said, where the source gives it (a transcript, or words built from a file
        name that say exactly the words); None otherwise
    codec : ``auto`` (libsndfile / FFmpeg probe), ``g722`` (raw G.722, 16 kHz) or
        ``pcm_s16le_16k`` (headerless 16-bit little-endian mono at 16 kHz)
    """

    key: str
    source: str
    path: str
    speaker: str
    language: str
    text: Optional[str] = None
    codec: str = "auto"


@dataclass(frozen=True)
class Source:
    """A package source of real speech: what to fetch, how to find clips, whom to credit.

    packages : the Debian packages it needs (``find`` gets each one's unpacked folder)
    find : ``find(roots) -> list[RealClip]``, ``roots`` mapping package name -> unpacked folder
    chain : how the recordings were made (studio, telephone, home microphone...), for the docs
    """

    name: str
    packages: tuple
    find: Callable
    title: str
    licence: str
    credits: str
    chain: str = ""


def read_real(clip: RealClip) -> tuple[np.ndarray, int]:
    """Decode a real clip: (float32 mono at its native rate, native rate in Hz)."""
    if clip.codec == "g722":
        import av

        try:
            with av.open(clip.path, format="g722") as container:
                stream = container.streams.audio[0]
                x = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(stream)])
                rate = int(stream.rate)
        except Exception as e:  # FFmpeg's own error types
            raise SpoofscanError(f"{clip.path}: cannot decode G.722 ({e})") from None
        return (x.astype(np.float32) / 32768.0 if x.dtype == np.int16 else x.astype(np.float32)), rate
    if clip.codec == "pcm_s16le_16k":
        return np.fromfile(clip.path, dtype="<i2").astype(np.float32) / 32768.0, SAMPLE_RATE
    try:
        x, rate = sf.read(clip.path, dtype="float32", always_2d=True)
        return x.mean(axis=1, dtype=np.float32), int(rate)
    except Exception:  # not a libsndfile format: the project decoder (FFmpeg) gives 16 kHz
        return load_audio(clip.path, min_seconds=0.0), SAMPLE_RATE


def has_frames(path: Path) -> bool:
    """Whether a sound file holds any audio frames (games ship empty placeholder files)."""
    try:
        return sf.info(str(path)).frames > 0
    except Exception:  # not a libsndfile format: the decoder will tell
        return True


def fingerprint(path: Path, rate: int = 8_000) -> np.ndarray:
    """A unit-norm mono waveform at ``rate`` Hz (linear interpolation), to find re-encoded copies."""
    x, native = sf.read(str(path), dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    n = max(1, int(len(x) * rate / native))
    x = np.interp(np.linspace(0, len(x) - 1, n), np.arange(len(x)), x).astype(np.float32)
    return x / (np.linalg.norm(x) + 1e-9)


def near_copies(a: np.ndarray, b: np.ndarray, similarity: float = 0.9) -> bool:
    """Whether two :func:`fingerprint` s are the same recording (lengths within 10 %, correlation above ``similarity``)."""
    if abs(len(a) - len(b)) > 0.1 * max(len(a), len(b)):
        return False
    n = min(len(a), len(b))
    return float(np.dot(a[:n], b[:n])) > similarity
