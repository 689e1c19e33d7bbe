"""What the signal-processing vocoders (MLSA, LPC, harmonic-plus-noise) share: their skeleton
(:class:`ParametricGenerator`) and their analysis and synthesis helpers.

Every one starts the same way: take the request's real clip to 16 kHz, remove its DC, track
F0 on a 5 ms grid, cut frames centred on that grid; and ends the same way: cut the output to
the clip's length and scale it to :data:`OUTPUT_PEAK`. These are written once here. F0 comes
from SPTK's SWIPE' (via pysptk) or WORLD's DIO + StoneMask (via pyworld). SPTK's RAPT is not
offered: in a long-running process two calls on the same clip gave different F0 tracks
(it appears to read memory it did not set), which would break bit-for-bit rebuilds.
"""

from __future__ import annotations

import numpy as np

from ...audio import SAMPLE_RATE
from ...errors import SpoofscanError, choice_error
from .base import CopySynthesisGenerator
from .native import import_optional

ANALYSIS_RATE = SAMPLE_RATE  # Hz: every DSP vocoder analyses and synthesises at this rate
FRAME_HOP = 80  # samples: 5 ms analysis grid
F0_RANGE = (60.0, 400.0)  # Hz searched by the F0 trackers
F0_PACKAGES = {"swipe": "pysptk", "dio": "pyworld"}  # F0 method -> the package it runs on
F0_METHODS = tuple(F0_PACKAGES)
SWIPE_THRESHOLD = 0.3  # SWIPE' voicing threshold (SPTK's default)
OUTPUT_PEAK = 0.9  # synthesised clips are scaled to this peak (the builder sets the level later)
PYSPTK_HINT = "install pysptk (pip install 'spoofscan[corpus]', needs a C compiler)"


def load_pysptk():
    """pysptk, or None when it is not installed."""
    return import_optional("pysptk")


class ParametricGenerator(CopySynthesisGenerator):
    """The skeleton of a signal-processing vocoder: pysptk and an F0 tracker, the clip analysed as
    float64 with its DC removed, the output cut to the clip's length and scaled to :data:`OUTPUT_PEAK`.

    Subclasses' settings (``configs`` values) have an ``f0`` (one of :data:`F0_METHODS`);
    subclasses implement :meth:`vocode`.
    """

    install_hint = PYSPTK_HINT
    analysis_rate = ANALYSIS_RATE

    @property
    def requires(self) -> tuple:  # type: ignore[override]
        return tuple(dict.fromkeys(("pysptk", F0_PACKAGES[self.settings.f0])))

    def resynthesize(self, x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        x = analysis_wave(x, self.name)
        return finish(fit_length(self.vocode(x, rng), len(x)), self.name)

    def vocode(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Analyse and resynthesise ``x`` (float64 (samples,) at :data:`ANALYSIS_RATE`, DC removed); float64
        (about samples,). Every random draw comes from ``rng``."""
        raise NotImplementedError


def analysis_wave(x: np.ndarray, name: str) -> np.ndarray:
    """A source clip (float32 (samples,) at :data:`ANALYSIS_RATE`) as float64 with its DC removed.

    Raises SpoofscanError naming the generator ``name`` when it is silent or not finite.
    """
    x = x.astype(np.float64)
    if not np.isfinite(x).all() or not np.any(x):
        raise SpoofscanError(f"generator {name}: the source clip is silent or not finite")
    return x - x.mean()


def track_f0(x: np.ndarray, method: str, name: str, hop: int = FRAME_HOP) -> np.ndarray:
    """F0 in Hz per frame, 0 where unvoiced; frame i is centred on sample ``i * hop``.

    Returns float64 (len(x) // hop + 1,). Raises when no frame is voiced (nothing to vocode).
    """
    lo, hi = F0_RANGE
    if method == "swipe":
        sptk = load_pysptk()
        if sptk is None:
            raise SpoofscanError(f"generator {name}: pysptk is not installed ({PYSPTK_HINT})")
        f0 = sptk.swipe(x, ANALYSIS_RATE, hop, min=lo, max=hi, threshold=SWIPE_THRESHOLD, otype="f0")
    elif method == "dio":
        pw = import_optional("pyworld")
        if pw is None:
            raise SpoofscanError(f"generator {name}: pyworld is not installed (pip install 'spoofscan[corpus]')")
        f0, t = pw.dio(x, ANALYSIS_RATE, f0_floor=lo, f0_ceil=hi, frame_period=1000.0 * hop / ANALYSIS_RATE)
        f0 = pw.stonemask(x, f0, t, ANALYSIS_RATE)
    else:
        raise choice_error("F0 method", method, F0_METHODS)
    f0 = np.asarray(f0, np.float64)
    n = len(x) // hop + 1
    f0 = np.pad(f0, (0, max(0, n - len(f0))))[:n]
    if not np.any(f0 > 0):
        raise SpoofscanError(f"generator {name}: no voiced frame found in the source clip")
    return f0


def frames(x: np.ndarray, length: int, n: int, hop: int = FRAME_HOP, window: str = "blackman") -> np.ndarray:
    """``n`` windowed frames of ``length`` samples centred on ``i * hop``: float64 (n, length)."""
    padded = np.pad(x, (length // 2, length // 2 + hop * n))
    view = np.lib.stride_tricks.sliding_window_view(padded, length)[::hop][:n]
    return view * getattr(np, window)(length)


def stft(x: np.ndarray, n_fft: int, hop: int = FRAME_HOP) -> np.ndarray:
    """Short-time spectrum, Hann window, frames centred on ``i * hop``: complex (n_fft // 2 + 1, len(x) // hop + 1).

    Written with numpy's FFT rather than :func:`scipy.signal.stft`: importing ``scipy.signal``
    costs seconds (it loads ``scipy.stats``) in every corpus worker and test process.
    """
    n = len(x) // hop + 1
    return np.fft.rfft(frames(x, n_fft, n, hop, window="hanning"), axis=1).T


def istft(spec: np.ndarray, n_fft: int, length: int, hop: int = FRAME_HOP) -> np.ndarray:
    """Overlap-add inverse of :func:`stft` (weighted by the window): float64 (length,)."""
    window = np.hanning(n_fft)
    pieces = np.fft.irfft(spec.T, n_fft, axis=1) * window  # (frames, n_fft)
    out = np.zeros(length + n_fft + hop * len(pieces))
    norm = np.zeros_like(out)
    for i, piece in enumerate(pieces):
        out[i * hop: i * hop + n_fft] += piece
        norm[i * hop: i * hop + n_fft] += window ** 2
    out = out / np.maximum(norm, 1e-3 * norm.max())
    return out[n_fft // 2: n_fft // 2 + length]


def moving_average(m: np.ndarray, width: int) -> np.ndarray:
    """Smooth trajectories (frames on axis 0) with a centred box of ``width`` frames (edges repeated)."""
    if width <= 1:
        return m
    kernel = np.ones(width) / width
    padded = np.pad(m, [(width // 2, width - 1 - width // 2)] + [(0, 0)] * (m.ndim - 1), mode="edge")
    return np.apply_along_axis(lambda v: np.convolve(v, kernel, mode="valid"), 0, padded)


def smooth_f0(f0: np.ndarray, width: int) -> np.ndarray:
    """Smooth F0 (Hz, 0 = unvoiced) within voiced stretches only; the voicing is kept as it is."""
    if width <= 1:
        return f0
    voiced = f0 > 0
    idx = np.arange(len(f0))
    filled = np.interp(idx, idx[voiced], np.log(f0[voiced]))  # log F0 bridged over unvoiced gaps
    return np.where(voiced, np.exp(moving_average(filled, width)), 0.0)


NOISE_KINDS = ("gaussian", "binary")


def excitation(f0: np.ndarray, hop: int, n: int, rng: np.random.Generator, noise: str = "binary") -> np.ndarray:
    """Pulse-or-noise source: float64 (n,), unit power.

    Voiced samples (F0 > 0, linearly interpolated between frame centres) get a pulse each
    time the integrated F0 completes a period, of height sqrt(period) so the power is 1;
    unvoiced samples get noise: ``gaussian``, or ``binary`` (+-1, like SPTK's M-sequence).

    Written here instead of pysptk's ``excite``: its M-sequence noise keeps state between
    calls in the C library, so two calls with the same input and seed differ.
    """
    if noise not in NOISE_KINDS:
        raise choice_error("excitation noise", noise, NOISE_KINDS)
    centres = np.arange(len(f0)) * hop
    f = np.interp(np.arange(n), centres, f0)
    f[np.interp(np.arange(n), centres, (f0 > 0).astype(np.float64)) < 0.5] = 0.0
    voiced = f > 0
    phase = np.cumsum(np.where(voiced, f / ANALYSIS_RATE, 0.0))
    pulse = np.diff(np.floor(phase), prepend=0.0) > 0
    out = np.where(pulse & voiced, np.sqrt(ANALYSIS_RATE / np.maximum(f, 1.0)), 0.0)
    noisy = rng.standard_normal(n) if noise == "gaussian" else rng.choice((-1.0, 1.0), n)
    return np.where(voiced, out, noisy)


def fit_length(y: np.ndarray, n: int) -> np.ndarray:
    """Cut or zero-pad a synthesised waveform to ``n`` samples (the source's length)."""
    return np.pad(y, (0, max(0, n - len(y))))[:n]


def finish(y: np.ndarray, name: str) -> tuple[np.ndarray, int]:
    """Check a synthesised waveform and scale it to :data:`OUTPUT_PEAK`: float32 (samples,), rate."""
    y = np.asarray(y, np.float64)
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if not np.isfinite(y).all() or peak == 0.0:
        raise SpoofscanError(f"generator {name}: synthesis produced no finite audio")
    return (y * (OUTPUT_PEAK / peak)).astype(np.float32), ANALYSIS_RATE


def signed_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    """A magnitude drawn uniformly from [low, high] with a random sign (F0 shifts up or down)."""
    return float(rng.uniform(low, high) * rng.choice((-1.0, 1.0)))
