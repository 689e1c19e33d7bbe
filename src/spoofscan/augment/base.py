"""What every effect of :mod:`spoofscan.augment` shares: the waveform contract and level helpers.

Every effect takes and returns a mono waveform at :data:`SAMPLE_RATE` (16 kHz), shape
``(samples,)``, floating point (float32 inside the package) in [-1, 1]: the output has the
input's length and dtype, is finite and stays within [-1, 1].
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from ..audio import SAMPLE_RATE
from ..errors import SpoofscanError

__all__ = ["SAMPLE_RATE", "MIN_RMS", "AudioFolder", "check_wave", "finish", "rms", "fit_length", "peak_normalise"]

MIN_RMS = 1e-4  # a silent clip is treated as having this RMS (-80 dBFS) wherever a level is needed
MAX_CACHED_FILES = 32  # decoded files kept per process by AudioFolder


def check_wave(x, what: str = "waveform") -> np.ndarray:
    """``x`` as a 1-D floating-point array (no copy when it already is one).

    Raises SpoofscanError for anything else: a 2-D array (several channels), integers, NaN/Inf.
    """
    x = np.asarray(x)
    if x.ndim != 1:
        raise SpoofscanError(f"{what}: expected a mono waveform of shape (samples,), got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise SpoofscanError(f"{what}: expected float samples in [-1, 1], got dtype {x.dtype}")
    if not np.isfinite(x).all():
        raise SpoofscanError(f"{what}: contains NaN or Inf samples")
    return x


def rms(x: np.ndarray) -> float:
    """Root mean square of ``x`` (float64 accumulation); 0.0 for an empty array."""
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0


def peak_normalise(x: np.ndarray, peak: float = 1.0) -> np.ndarray:
    """Scale ``x`` down so that max |x| <= ``peak`` (unchanged when it already is).

    Used after additive effects (noise, reverberation, RawBoost): scaling keeps the mix's
    SNR, where clipping would add distortion the effect did not ask for.
    """
    top = float(np.max(np.abs(x))) if len(x) else 0.0
    return x * np.float32(peak / top) if top > peak else x


def fit_length(y: np.ndarray, n: int, offset: int = 0) -> np.ndarray:
    """``y[offset:offset + n]``, zero-padded at the end when ``y`` is shorter."""
    y = y[max(0, offset):max(0, offset) + n]
    return np.pad(y, (0, n - len(y))) if len(y) < n else y


def finish(y: np.ndarray, like: np.ndarray) -> np.ndarray:
    """The effect's output in the contract: ``like``'s length and dtype, within [-1, 1]."""
    y = fit_length(np.asarray(y), len(like))
    return np.clip(y, -1.0, 1.0).astype(like.dtype, copy=False)


class AudioFolder:
    """The audio files under a folder (recursively), decoded on demand to 16 kHz with
    :func:`spoofscan.audio.load_audio`; the last :data:`MAX_CACHED_FILES` are kept in memory.

    Used for the user's noise (MUSAN's ``noise/`` or ``music/``), the speech that babble is
    made of, and room impulse responses. Files that cannot be decoded raise AudioError
    naming the file.
    """

    def __init__(self, folder: str | Path, what: str = "audio"):
        from ..audio import audio_files

        self.folder = Path(folder).expanduser()
        if not self.folder.is_dir():
            raise SpoofscanError(f"{what} folder {str(self.folder)!r}: no such folder")
        self.files = tuple(str(p) for p in audio_files(self.folder))
        if not self.files:
            raise SpoofscanError(f"{what} folder {str(self.folder)!r} holds no audio files")
        self._load = functools.lru_cache(maxsize=MAX_CACHED_FILES)(self._decode)

    def __len__(self) -> int:
        return len(self.files)

    def __getstate__(self):  # DataLoader workers under "spawn" get the list, not the cache
        return {"folder": self.folder, "files": self.files}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._load = functools.lru_cache(maxsize=MAX_CACHED_FILES)(self._decode)

    @staticmethod
    def _decode(path: str) -> np.ndarray:
        from ..audio import load_audio

        return load_audio(path, min_seconds=0.0)

    def load(self, index: int) -> np.ndarray:
        """File ``index`` decoded, float32 (samples,) at 16 kHz (cached)."""
        return self._load(self.files[index])

    def pick(self, rng: np.random.Generator) -> np.ndarray:
        """A file drawn uniformly, decoded."""
        return self.load(int(rng.integers(len(self.files))))

    def segment(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` samples from a random file at a random offset, looped when the file is shorter; float32 (n,)."""
        y = self.pick(rng)
        if len(y) == 0:
            return np.zeros(n, np.float32)
        if len(y) <= n:
            start = int(rng.integers(len(y)))
            return np.resize(np.roll(y, -start), n).astype(np.float32)
        start = int(rng.integers(len(y) - n + 1))
        return y[start:start + n].astype(np.float32)
