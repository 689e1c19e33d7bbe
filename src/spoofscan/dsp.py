"""Feature settings and the numpy side of feature extraction (no torch here).

:class:`FeatureConfig` is stored inside every checkpoint and exported model, so a model is
always run with the features it was trained on. The torch module that computes log-mel for
training and export is :class:`spoofscan.features.LogMel`; :func:`log_mel` here is the same
computation in numpy, for the torch-free runtime and as an independent check in the tests.
"""

from __future__ import annotations

import functools
import math
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np

from .audio import SAMPLE_RATE
from .config import Config
from .errors import SpoofscanError, choice_error

NORMALIZATIONS = ("none", "mean", "meanvar")
NORM_EPS = 1e-2  # std floor of "meanvar", in nats: a constant band (digital silence) stays ~0

# Size limits of a FeatureConfig (a card from a file is built through them): far above any
# sensible setting, low enough that no value can exhaust memory or loop for ever.
MAX_N_FFT = 16_384  # samples (1 s)
MAX_N_MELS = 512
MAX_WINDOW_SECONDS = 60.0
MAX_WINDOW_OVERLAP = 32  # window_seconds / hop_seconds: each sample is scored at most this many times


@dataclass(frozen=True)
class FeatureConfig(Config):
    """Log-mel settings and the analysis window length, in samples, Hz and seconds.

    ``window_seconds`` is the length of the crops the model is trained on and of the
    windows a long clip is cut into at inference; ``hop_seconds`` is the step between
    inference windows (2 s = 50 % overlap for 4 s windows).
    """

    sample_rate: int = 16_000  # must be audio.SAMPLE_RATE; a field so that the cards stating it still load
    n_fft: int = 1024  # zero-padded FFT: every one of 128 mel filters gets FFT bins
    win_length: int = 400  # 25 ms
    hop_length: int = 160  # 10 ms
    n_mels: int = 128
    fmin: float = 20.0
    fmax: float = 8_000.0
    log_floor: float = 1e-6  # power floor before the log
    normalize: str = "mean"  # per-clip, per-band over time: none | mean | meanvar
    window_seconds: float = 4.0
    hop_seconds: float = 2.0

    def __post_init__(self):
        for name in ("sample_rate", "n_fft", "win_length", "hop_length", "n_mels"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise SpoofscanError(f"{name} must be a positive integer, got {value!r}")
        for name in ("fmin", "fmax", "log_floor", "window_seconds", "hop_seconds"):
            value = getattr(self, name)
            if not isinstance(value, (int, float, np.integer, np.floating)) or isinstance(value, bool) \
                    or not math.isfinite(value):
                raise SpoofscanError(f"{name} must be a finite number, got {value!r}")
        if self.sample_rate != SAMPLE_RATE:
            raise SpoofscanError(f"sample_rate must be {SAMPLE_RATE} Hz, the rate every decoder outputs "
                                 f"(spoofscan.audio.SAMPLE_RATE), got {self.sample_rate}")
        if not 0 < self.log_floor < 1:
            raise SpoofscanError(f"log_floor must be in (0, 1), got {self.log_floor!r}")
        if self.normalize not in NORMALIZATIONS:
            raise choice_error("normalize", self.normalize, NORMALIZATIONS)
        if not 2 <= self.n_fft <= MAX_N_FFT:
            raise SpoofscanError(f"n_fft {self.n_fft} must be in 2..{MAX_N_FFT}")
        if self.n_mels > MAX_N_MELS:
            raise SpoofscanError(f"n_mels {self.n_mels} must be at most {MAX_N_MELS}")
        if not 0 < self.win_length <= self.n_fft:
            raise SpoofscanError(f"win_length {self.win_length} must be in 1..n_fft ({self.n_fft})")
        if not self.hop_length <= self.n_fft:
            raise SpoofscanError(f"hop_length {self.hop_length} must be in 1..n_fft ({self.n_fft})")
        if not 0 <= self.fmin < self.fmax <= self.sample_rate / 2:
            raise SpoofscanError(f"need 0 <= fmin < fmax <= sample_rate/2, got fmin={self.fmin} fmax={self.fmax}")
        if not self.n_fft / self.sample_rate <= self.window_seconds <= MAX_WINDOW_SECONDS:
            raise SpoofscanError(f"window_seconds {self.window_seconds} must be in [n_fft / sample_rate = "
                                 f"{self.n_fft / self.sample_rate:g}, {MAX_WINDOW_SECONDS:g}]: a window holds one FFT")
        if not self.window_seconds / MAX_WINDOW_OVERLAP <= self.hop_seconds <= self.window_seconds:
            raise SpoofscanError(f"hop_seconds {self.hop_seconds} must be in [window_seconds / {MAX_WINDOW_OVERLAP}, "
                                 f"window_seconds] = [{self.window_seconds / MAX_WINDOW_OVERLAP:g}, "
                                 f"{self.window_seconds:g}]")
        if self.hop_samples < 1:
            raise SpoofscanError(f"hop_seconds {self.hop_seconds} is less than one sample at {self.sample_rate} Hz")
        empty = np.flatnonzero(mel_filterbank(self).sum(axis=1) == 0)
        if len(empty):
            raise SpoofscanError(
                f"n_mels={self.n_mels} is too many for n_fft={self.n_fft} between fmin={self.fmin:g} and "
                f"fmax={self.fmax:g} Hz: mel filter(s) {empty[:5].tolist()} cover no FFT bin "
                f"(raise n_fft, lower n_mels or raise fmin)")

    @property
    def window_samples(self) -> int:
        return int(round(self.window_seconds * self.sample_rate))

    @property
    def hop_samples(self) -> int:
        return int(round(self.hop_seconds * self.sample_rate))

    def num_frames(self, samples: int) -> int:
        """Frames of log-mel for a waveform of ``samples`` samples (centred STFT, as torch.stft)."""
        pad = self.n_fft // 2
        return (samples + 2 * pad - self.n_fft) // self.hop_length + 1


def hz_to_mel(f):
    """HTK mel scale."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(cfg: FeatureConfig) -> np.ndarray:
    """Triangular mel filters, area-normalised (Slaney norm), on the HTK mel scale.

    Returns
    -------
    np.ndarray, shape (n_mels, n_fft // 2 + 1), float32
    """
    bins = np.linspace(0.0, cfg.sample_rate / 2, cfg.n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(cfg.fmin), hz_to_mel(cfg.fmax), cfg.n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None, :] - lower) / (centre - lower)
    falling = (upper - bins[None, :]) / (upper - centre)
    fb = np.maximum(0.0, np.minimum(rising, falling))
    fb *= (2.0 / (upper - lower))  # equal area per filter
    return fb.astype(np.float32)


def stft_window(cfg: FeatureConfig) -> np.ndarray:
    """Periodic Hann window of ``win_length`` zero-padded to ``n_fft`` at both sides (as torch.stft), float32."""
    n = np.arange(cfg.win_length)
    w = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / cfg.win_length)
    left = (cfg.n_fft - cfg.win_length) // 2
    return np.pad(w, (left, cfg.n_fft - cfg.win_length - left)).astype(np.float32)


def normalize_log_mel(x: np.ndarray, mode: str) -> np.ndarray:
    """Per-clip normalisation over the last (time) axis of (..., n_mels, frames)."""
    if mode == "none":
        return x
    x = x - x.mean(axis=-1, keepdims=True, dtype=np.float64)
    if mode == "meanvar":
        x = x / (x.std(axis=-1, keepdims=True) + NORM_EPS)
    return x


def log_mel(waves: np.ndarray, cfg: FeatureConfig, *, pool: Executor | None = None, parts: int = 1) -> np.ndarray:
    """Numpy log-mel, the same computation as :class:`spoofscan.features.LogMel`.

    Parameters
    ----------
    waves : (batch, samples) float32 at ``cfg.sample_rate``
    pool, parts : with an executor, the frames are cut into ``parts`` contiguous runs computed
        in parallel (numpy's FFT, matrix product and log release the GIL); the result equals
        the one-piece result up to float32 rounding (the BLAS blocks the product differently).

    Returns
    -------
    np.ndarray, shape (batch, 1, n_mels, frames), float32
    """
    waves = np.asarray(waves, dtype=np.float32)
    pad = cfg.n_fft // 2
    padded = np.pad(waves, ((0, 0), (pad, pad)), mode="reflect")
    # (batch, frames, n_fft) view of the frames: no copy until the window is applied
    frames = np.lib.stride_tricks.sliding_window_view(padded, cfg.n_fft, axis=-1)[:, ::cfg.hop_length]
    if pool is None or parts < 2:
        mel = _log_mel_frames(frames, cfg)
    else:
        bounds = np.linspace(0, frames.shape[1], parts + 1).astype(int)
        runs = [frames[:, a:b] for a, b in zip(bounds[:-1], bounds[1:])]
        mel = np.concatenate(list(pool.map(lambda run: _log_mel_frames(run, cfg), runs)), axis=1)
    return normalize_log_mel(mel.transpose(0, 2, 1), cfg.normalize)[:, None].astype(np.float32)


def _log_mel_frames(frames: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """(batch, frames, n_fft) frames -> (batch, frames, n_mels) log-mel, not normalised."""
    window, mel_t = _cached_window_and_mel(cfg)
    spec = np.fft.rfft(frames * window, axis=-1)  # (batch, frames, bins) complex64
    power = np.square(spec.real) + np.square(spec.imag)
    return np.log(np.maximum(power @ mel_t, cfg.log_floor))


@functools.lru_cache(maxsize=8)
def _cached_window_and_mel(cfg: FeatureConfig) -> tuple[np.ndarray, np.ndarray]:
    """The STFT window (n_fft,) and the transposed mel matrix (bins, n_mels), built once per config."""
    return stft_window(cfg), np.ascontiguousarray(mel_filterbank(cfg).T)


def window_starts(samples: int, window: int, hop: int) -> np.ndarray:
    """Start indices of the analysis windows that together cover every sample.

    Windows of ``window`` samples every ``hop`` samples; when the last one stops short of
    the end, one more is aligned to the end. A clip shorter than one window gets one
    window at 0 (it is repeat-padded, see :func:`repeat_pad`).
    """
    if samples <= window:
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, samples - window + 1, hop, dtype=np.int64)
    if starts[-1] + window < samples:
        starts = np.append(starts, samples - window)
    return starts


def repeat_pad(x: np.ndarray, length: int) -> np.ndarray:
    """Tile a short waveform (samples,) until it is ``length`` long; longer input is cut to ``length``."""
    if len(x) >= length:
        return x[:length]
    return np.tile(x, -(-length // len(x)))[:length]
