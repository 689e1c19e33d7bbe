"""Feature settings (:class:`FeatureConfig`, stored inside every checkpoint and exported model,
so a model is always run with the features it was trained on) and the matrices every
implementation of the front end shares: filterbanks, DCT, STFT window.

Four front ends share one computation (power spectrogram -> filterbank -> log -> per-band
normalisation):

- ``logmel``: log mel-filterbank energies (``n_mels`` mel bands);
- ``linear``: a linear-frequency log spectrogram (``n_mels`` triangular bands equally spaced
  in Hz: with the default 1024-point FFT, 128 bands of 62.5 Hz keep almost the full
  resolution of the spectrum);
- ``lfcc``: linear-frequency cepstral coefficients (``n_mels`` linear bands, the first
  ``n_lfcc`` DCT-II coefficients of their log energies, plus deltas and delta-deltas), the
  ASVspoof baseline front end;
- ``whisper``: Whisper's log-mel, the input of a Whisper encoder (:mod:`spoofscan.models.encoders`):
  mel bands on the Slaney mel scale (librosa's default, ``htk=False``, Slaney-normalised), the
  log10 of their power, floored :data:`WHISPER_DYNAMIC_RANGE` decades below the window's
  maximum, then ``(x + 4) / 4``; the last STFT frame is dropped, as Whisper drops it.
  ``FeatureConfig.from_dict({"frontend": "whisper"})`` (so ``--frontend whisper`` and a config
  file) fills the settings it does not state with Whisper's own (:data:`WHISPER_SETTINGS`).

``channels`` stacks more views of the same STFT frames as input channels of the network
(output (batch, C, rows, frames)): ``logmag`` is the front end above; the phase channels
``mgd`` (modified group delay) and ``ifd`` (instantaneous-frequency deviation), defined in
:mod:`spoofscan.frontend.phase`, are pooled into the same filterbank bands, so they need
``logmel`` or ``linear``.

This module is torch-free.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..audio import SAMPLE_RATE
from ..config import Config
from ..errors import SpoofscanError, choice_error

NORMALIZATIONS = ("none", "mean", "meanvar")
NORM_EPS = 1e-2  # std floor of "meanvar", in nats: a constant band (digital silence) stays ~0
FRONTENDS = ("logmel", "linear", "lfcc", "whisper")
DELTA_WIDTH = 2  # frames on each side of the delta regression (HTK's DELTAWINDOW = 2)
CHANNELS = ("logmag", "mgd", "ifd")  # input channels a front end can stack (see spoofscan.frontend.phase)
PHASE_CHANNELS = ("mgd", "ifd")
BAND_FRONTENDS = ("logmel", "linear")  # the front ends whose rows are filterbank bands, which phase channels share

# Size limits of a FeatureConfig (a card from a file is built through them): far above any
# sensible setting, low enough that no value can exhaust memory or loop for ever.
MAX_N_FFT = 16_384  # samples (1 s)
MAX_N_MELS = 512
MAX_WINDOW_SECONDS = 60.0
MAX_WINDOW_OVERLAP = 32  # window_seconds / hop_seconds: each sample is scored at most this many times

# Whisper's log-mel (openai/whisper audio.py): 25-ms frames every 10 ms, 80 bands up to 8 kHz
WHISPER_SETTINGS = {"n_fft": 400, "win_length": 400, "hop_length": 160, "n_mels": 80, "fmin": 0.0, "fmax": 8_000.0,
                    "log_floor": 1e-10, "normalize": "none"}
WHISPER_DYNAMIC_RANGE = 8.0  # decades of power kept below each window's maximum
WHISPER_OFFSET = 4.0  # then (log10 + WHISPER_OFFSET) / WHISPER_SCALE
WHISPER_SCALE = 4.0
# Slaney's mel scale (librosa's default): linear below SLANEY_BREAK_HZ, logarithmic above
SLANEY_HZ_PER_MEL = 200.0 / 3
SLANEY_BREAK_HZ = 1_000.0
SLANEY_LOG_STEP = math.log(6.4) / 27.0  # natural log of frequency per mel above the break


@dataclass(frozen=True)
class FeatureConfig(Config):
    """Front-end settings and the analysis window length, in samples, Hz and seconds.

    ``frontend`` is ``logmel``, ``linear``, ``lfcc`` or ``whisper`` (see the module docstring).
    ``n_mels`` is the number of filterbank bands, mel bands for ``logmel`` and ``whisper`` and linear bands
    for ``linear`` and ``lfcc`` (the name predates the linear front ends; checkpoints store it).
    ``n_lfcc`` is the number of cepstral coefficients ``lfcc`` keeps (its output has
    ``3 * n_lfcc`` rows: coefficients, deltas, delta-deltas). ``window_seconds`` is the length of
    the crops the model is trained on and of the windows a long clip is cut into at inference;
    ``hop_seconds`` is the step between inference windows (2 s = 50 % overlap for 4 s windows).
    ``channels`` names the input channels, in order (default ``("logmag",)``: the front end alone,
    one channel); ``mgd_alpha``, ``mgd_gamma`` and ``mgd_lifter`` shape the ``mgd`` channel (the
    exponents of Hegde and Murthy, and the cepstral lifter in quefrency samples; see
    :mod:`spoofscan.frontend.phase`).
    """

    frontend: str = "logmel"
    sample_rate: int = SAMPLE_RATE  # a field so that the cards stating it still load; must be SAMPLE_RATE
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
    channels: tuple = ("logmag",)
    mgd_alpha: float = 0.4  # exponent of the group delay (Hegde and Murthy's alpha)
    mgd_gamma: float = 0.9  # exponent of the smoothed spectrum it is divided by (their gamma)
    mgd_lifter: int = 30  # cepstral coefficients kept to smooth that spectrum: 30 samples = 1.9 ms at 16 kHz

    @classmethod
    def field_values(cls, d: dict) -> dict:
        """``frontend: whisper`` brings Whisper's settings (:data:`WHISPER_SETTINGS`) for the fields ``d`` omits."""
        return {**WHISPER_SETTINGS, **d} if d.get("frontend") == "whisper" else d

    def __post_init__(self):
        if self.frontend not in FRONTENDS:
            raise choice_error("frontend", self.frontend, FRONTENDS)
        for name in ("sample_rate", "n_fft", "win_length", "hop_length", "n_mels", "n_lfcc", "mgd_lifter"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise SpoofscanError(f"{name} must be a positive integer, got {value!r}")
        for name in ("fmin", "fmax", "log_floor", "window_seconds", "hop_seconds", "mgd_alpha", "mgd_gamma"):
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
        self._check_channels()
        if self.frontend == "lfcc" and self.n_lfcc > self.n_mels:
            raise SpoofscanError(f"n_lfcc={self.n_lfcc} coefficients need at least as many bands, got n_mels={self.n_mels}")
        empty = np.flatnonzero(filterbank(self).sum(axis=1) == 0)
        if len(empty):
            raise SpoofscanError(
                f"n_mels={self.n_mels} is too many for n_fft={self.n_fft} between fmin={self.fmin:g} and "
                f"fmax={self.fmax:g} Hz: {self.frontend} filter(s) {empty[:5].tolist()} cover no FFT bin "
                f"(raise n_fft, lower n_mels or raise fmin)")

    def _check_channels(self):
        if not isinstance(self.channels, tuple) or not self.channels \
                or not all(isinstance(name, str) for name in self.channels):
            raise SpoofscanError(f"channels must be a non-empty tuple of names from {', '.join(CHANNELS)}, "
                                 f"got {self.channels!r}")
        for name in self.channels:
            if name not in CHANNELS:
                raise choice_error("channel", name, CHANNELS)
        if len(set(self.channels)) < len(self.channels):
            raise SpoofscanError(f"channels {self.channels} name a channel twice")
        phase = [name for name in self.channels if name in PHASE_CHANNELS]
        if phase and self.frontend not in BAND_FRONTENDS:
            raise SpoofscanError(f"channel(s) {', '.join(phase)} are pooled into filterbank bands: they need frontend "
                                 f"{' or '.join(BAND_FRONTENDS)}, got {self.frontend!r}")
        for name in ("mgd_alpha", "mgd_gamma"):
            if not 0 < getattr(self, name) <= 1:
                raise SpoofscanError(f"{name} must be in (0, 1], got {getattr(self, name)!r}")
        if self.mgd_lifter > self.n_fft // 2:
            raise SpoofscanError(f"mgd_lifter {self.mgd_lifter} must be at most n_fft // 2 = {self.n_fft // 2}")

    def to_dict(self) -> dict:
        """The fields as a card's JSON holds them (``channels`` a list), so that the two compare equal."""
        return {**super().to_dict(), "channels": list(self.channels)}

    @property
    def num_channels(self) -> int:
        """Channels of the front end's output (the model's ``in_chans``): ``len(channels)``."""
        return len(self.channels)

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
        """Frames of log-mel for a waveform of ``samples`` samples (centred STFT, as torch.stft;
        ``whisper`` drops the last one)."""
        pad = self.n_fft // 2
        return (samples + 2 * pad - self.n_fft) // self.hop_length + (0 if self.frontend == "whisper" else 1)


def hz_to_mel(f):
    """HTK mel scale."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def slaney_hz_to_mel(f):
    """Slaney's mel scale (librosa's default, Whisper's): 1 mel per 66.7 Hz below 1 kHz, logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    above = np.log(np.maximum(f, SLANEY_BREAK_HZ) / SLANEY_BREAK_HZ) / SLANEY_LOG_STEP
    return np.where(f < SLANEY_BREAK_HZ, f / SLANEY_HZ_PER_MEL, SLANEY_BREAK_HZ / SLANEY_HZ_PER_MEL + above)


def slaney_mel_to_hz(m):
    """The inverse of :func:`slaney_hz_to_mel`, in Hz."""
    m = np.asarray(m, dtype=np.float64)
    break_mel = SLANEY_BREAK_HZ / SLANEY_HZ_PER_MEL
    return np.where(m < break_mel, m * SLANEY_HZ_PER_MEL,
                    SLANEY_BREAK_HZ * np.exp(SLANEY_LOG_STEP * (np.maximum(m, break_mel) - break_mel)))


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


def whisper_filterbank(cfg: FeatureConfig) -> np.ndarray:
    """Whisper's mel filters (librosa's ``filters.mel`` defaults: Slaney scale, Slaney norm) for
    ``cfg``'s bands, FFT and frequency range.

    Returns
    -------
    np.ndarray, shape (n_mels, n_fft // 2 + 1), float32
    """
    mels = np.linspace(slaney_hz_to_mel(cfg.fmin), slaney_hz_to_mel(cfg.fmax), cfg.n_mels + 2)
    return _triangles(cfg, slaney_mel_to_hz(mels))


def filterbank(cfg: FeatureConfig) -> np.ndarray:
    """The front end's filterbank, (n_mels, n_fft // 2 + 1) float32: mel for ``logmel``, Slaney
    mel for ``whisper``, else linear."""
    if cfg.frontend == "whisper":
        return whisper_filterbank(cfg)
    return mel_filterbank(cfg) if cfg.frontend == "logmel" else linear_filterbank(cfg)


def dct_matrix(n_out: int, n_in: int) -> np.ndarray:
    """Orthonormal DCT-II, (n_out, n_in) float32: row k is the k-th cosine over ``n_in`` bands."""
    n = np.arange(n_in)
    m = np.cos(np.pi / n_in * (n[None, :] + 0.5) * np.arange(n_out)[:, None]) * np.sqrt(2.0 / n_in)
    m[0] /= np.sqrt(2.0)
    return m.astype(np.float32)


def stft_window(cfg: FeatureConfig) -> np.ndarray:
    """Periodic Hann window of ``win_length`` zero-padded to ``n_fft`` at both sides (as torch.stft), float32."""
    n = np.arange(cfg.win_length)
    w = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / cfg.win_length)
    left = (cfg.n_fft - cfg.win_length) // 2
    return np.pad(w, (left, cfg.n_fft - cfg.win_length - left)).astype(np.float32)


