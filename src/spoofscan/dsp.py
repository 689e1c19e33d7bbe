"""Feature settings and the numpy side of feature extraction (no torch here).

:class:`FeatureConfig` is stored inside every checkpoint and exported model, so a model is
always run with the features it was trained on. Three front ends share one computation
(power spectrogram -> filterbank -> log -> per-band normalisation):

- ``logmel``: log mel-filterbank energies (``n_mels`` mel bands);
- ``linear``: a linear-frequency log spectrogram (``n_mels`` triangular bands equally spaced
  in Hz: with the default 1024-point FFT, 128 bands of 62.5 Hz keep almost the full
  resolution of the spectrum);
- ``lfcc``: linear-frequency cepstral coefficients (``n_mels`` linear bands, the first
  ``n_lfcc`` DCT-II coefficients of their log energies, plus deltas and delta-deltas), the
  ASVspoof baseline front end.

The torch module used for training and by the PyTorch backend is
:class:`spoofscan.features.Frontend`; :func:`frontend` here is the same computation in numpy,
for the torch-free runtime and as an independent check in the tests.
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
FRONTENDS = ("logmel", "linear", "lfcc")
DELTA_WIDTH = 2  # frames on each side of the delta regression (HTK's DELTAWINDOW = 2)

# Size limits of a FeatureConfig (a card from a file is built through them): far above any
# sensible setting, low enough that no value can exhaust memory or loop for ever.
MAX_N_FFT = 16_384  # samples (1 s)
MAX_N_MELS = 512
MAX_WINDOW_SECONDS = 60.0
MAX_WINDOW_OVERLAP = 32  # window_seconds / hop_seconds: each sample is scored at most this many times


@dataclass(frozen=True)
class FeatureConfig(Config):
    """Front-end settings and the analysis window length, in samples, Hz and seconds.

    ``frontend`` is ``logmel``, ``linear`` or ``lfcc`` (see the module docstring).
    ``n_mels`` is the number of filterbank bands, mel bands for ``logmel`` and linear bands
    for ``linear`` and ``lfcc`` (the name predates the linear front ends; checkpoints store it).
    ``n_lfcc`` is the number of cepstral coefficients ``lfcc`` keeps (its output has
    ``3 * n_lfcc`` rows: coefficients, deltas, delta-deltas). ``window_seconds`` is the length of
    the crops the model is trained on and of the windows a long clip is cut into at inference;
    ``hop_seconds`` is the step between inference windows (2 s = 50 % overlap for 4 s windows).
    """

    frontend: str = "logmel"
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
    n_lfcc: int = 20

    def __post_init__(self):
        if self.frontend not in FRONTENDS:
            raise choice_error("frontend", self.frontend, FRONTENDS)
        for name in ("sample_rate", "n_fft", "win_length", "hop_length", "n_mels", "n_lfcc"):
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
        if self.frontend == "lfcc" and self.n_lfcc > self.n_mels:
            raise SpoofscanError(f"n_lfcc={self.n_lfcc} coefficients need at least as many bands, got n_mels={self.n_mels}")
        empty = np.flatnonzero(filterbank(self).sum(axis=1) == 0)
        if len(empty):
            raise SpoofscanError(
                f"n_mels={self.n_mels} is too many for n_fft={self.n_fft} between fmin={self.fmin:g} and "
                f"fmax={self.fmax:g} Hz: {self.frontend} filter(s) {empty[:5].tolist()} cover no FFT bin "
                f"(raise n_fft, lower n_mels or raise fmin)")

    @property
    def window_samples(self) -> int:
        return int(round(self.window_seconds * self.sample_rate))

    @property
    def hop_samples(self) -> int:
        return int(round(self.hop_seconds * self.sample_rate))

    @property
    def rows(self) -> int:
        """Rows (frequency axis) of the front end's output: ``n_mels``, or ``3 * n_lfcc`` for ``lfcc``."""
        return 3 * self.n_lfcc if self.frontend == "lfcc" else self.n_mels

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
    return _triangles(cfg, mel_to_hz(np.linspace(hz_to_mel(cfg.fmin), hz_to_mel(cfg.fmax), cfg.n_mels + 2)))


def _triangles(cfg: FeatureConfig, edges: np.ndarray) -> np.ndarray:
    """Triangular filters with corners at ``edges`` (n_mels + 2 frequencies in Hz), equal area each."""
    bins = np.linspace(0.0, cfg.sample_rate / 2, cfg.n_fft // 2 + 1)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None, :] - lower) / (centre - lower)
    falling = (upper - bins[None, :]) / (upper - centre)
    fb = np.maximum(0.0, np.minimum(rising, falling))
    fb *= (2.0 / (upper - lower))  # equal area per filter
    return fb.astype(np.float32)


def linear_filterbank(cfg: FeatureConfig) -> np.ndarray:
    """Triangular filters equally spaced in Hz between ``fmin`` and ``fmax`` (the ``linear`` and
    ``lfcc`` front ends), area-normalised like :func:`mel_filterbank`.

    Returns
    -------
    np.ndarray, shape (n_mels, n_fft // 2 + 1), float32
    """
    return _triangles(cfg, np.linspace(cfg.fmin, cfg.fmax, cfg.n_mels + 2))


def filterbank(cfg: FeatureConfig) -> np.ndarray:
    """The front end's filterbank, (n_mels, n_fft // 2 + 1) float32: mel for ``logmel``, else linear."""
    return mel_filterbank(cfg) if cfg.frontend == "logmel" else linear_filterbank(cfg)


def dct_matrix(n_out: int, n_in: int) -> np.ndarray:
    """Orthonormal DCT-II, (n_out, n_in) float32: row k is the k-th cosine over ``n_in`` bands."""
    n = np.arange(n_in)
    m = np.cos(np.pi / n_in * (n[None, :] + 0.5) * np.arange(n_out)[:, None]) * np.sqrt(2.0 / n_in)
    m[0] /= np.sqrt(2.0)
    return m.astype(np.float32)


def deltas(x: np.ndarray, width: int = DELTA_WIDTH) -> np.ndarray:
    """Regression deltas over the last (time) axis, edges repeated (HTK's formula):
    ``d[t] = sum_n n * (x[t+n] - x[t-n]) / (2 * sum_n n^2)`` for n = 1..width. Same shape."""
    padded = np.concatenate([np.repeat(x[..., :1], width, axis=-1), x, np.repeat(x[..., -1:], width, axis=-1)], axis=-1)
    frames = x.shape[-1]
    num = sum(n * (padded[..., width + n:width + n + frames] - padded[..., width - n:width - n + frames])
              for n in range(1, width + 1))
    return (num / (2.0 * sum(n * n for n in range(1, width + 1)))).astype(x.dtype)


def stft_window(cfg: FeatureConfig) -> np.ndarray:
    """Periodic Hann window of ``win_length`` zero-padded to ``n_fft`` at both sides (as torch.stft), float32."""
    n = np.arange(cfg.win_length)
    w = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / cfg.win_length)
    left = (cfg.n_fft - cfg.win_length) // 2
    return np.pad(w, (left, cfg.n_fft - cfg.win_length - left)).astype(np.float32)


def normalize_features(x: np.ndarray, mode: str) -> np.ndarray:
    """Per-clip normalisation over the last (time) axis of (..., rows, frames)."""
    if mode == "none":
        return x
    x = x - x.mean(axis=-1, keepdims=True, dtype=np.float64)
    if mode == "meanvar":
        x = x / (x.std(axis=-1, keepdims=True) + NORM_EPS)
    return x


def frontend(waves: np.ndarray, cfg: FeatureConfig, *, pool: Executor | None = None, parts: int = 1) -> np.ndarray:
    """Numpy front end, the same computation as :class:`spoofscan.features.Frontend`.

    Parameters
    ----------
    waves : (batch, samples) float32 at ``cfg.sample_rate``
    pool, parts : with an executor, the frames are cut into ``parts`` contiguous runs computed
        in parallel (numpy's FFT, matrix product and log release the GIL); the result equals
        the one-piece result up to float32 rounding (the BLAS blocks the product differently).

    Returns
    -------
    np.ndarray, shape (batch, 1, cfg.rows, frames), float32
    """
    waves = np.asarray(waves, dtype=np.float32)
    pad = cfg.n_fft // 2
    padded = np.pad(waves, ((0, 0), (pad, pad)), mode="reflect")
    # (batch, frames, n_fft) view of the frames: no copy until the window is applied
    frames = np.lib.stride_tricks.sliding_window_view(padded, cfg.n_fft, axis=-1)[:, ::cfg.hop_length]
    if pool is None or parts < 2:
        feats = _frame_features(frames, cfg)
    else:
        bounds = np.linspace(0, frames.shape[1], parts + 1).astype(int)
        runs = [frames[:, a:b] for a, b in zip(bounds[:-1], bounds[1:])]
        feats = np.concatenate(list(pool.map(lambda run: _frame_features(run, cfg), runs)), axis=1)
    x = feats.transpose(0, 2, 1)  # (batch, bands or coefficients, frames)
    if cfg.frontend == "lfcc":
        d = deltas(x)
        x = np.concatenate([x, d, deltas(d)], axis=1)
    return normalize_features(x, cfg.normalize)[:, None].astype(np.float32)


def _frame_features(frames: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """(batch, frames, n_fft) frames -> (batch, frames, n_mels) log band energies (``n_lfcc``
    cepstral coefficients for ``lfcc``), before deltas and normalisation."""
    window, fbank_t, dct_t = _cached_matrices(cfg)
    spec = np.fft.rfft(frames * window, axis=-1)  # (batch, frames, bins) complex64
    power = np.square(spec.real) + np.square(spec.imag)
    logs = np.log(np.maximum(power @ fbank_t, cfg.log_floor))
    return logs if dct_t is None else logs @ dct_t


@functools.lru_cache(maxsize=8)
def _cached_matrices(cfg: FeatureConfig) -> tuple:
    """The STFT window (n_fft,), the transposed filterbank (bins, n_mels) and, for ``lfcc``, the
    transposed DCT (n_mels, n_lfcc), built once per config."""
    dct_t = np.ascontiguousarray(dct_matrix(cfg.n_lfcc, cfg.n_mels).T) if cfg.frontend == "lfcc" else None
    return stft_window(cfg), np.ascontiguousarray(filterbank(cfg).T), dct_t


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
