"""Harmonic-plus-noise model (HNM) copy-synthesis: sinusoids at multiples of F0 below a maximum
voiced frequency, shaped noise above it.

Analysis (after Stylianou's HNM): F0 by SPTK's SWIPE' every 5 ms; in each voiced frame, the
complex amplitudes of the harmonics below the maximum voiced frequency (MVF), projected on
three pitch periods around the frame centre. Synthesis: each harmonic's amplitude is interpolated
between frames and its phase follows the integrated F0, plus the analysed phase relative to
the fundamental (or none: ``zero-phase``, a buzzier sound); the noise part is Gaussian noise
whose short-time spectrum takes the magnitude of what the harmonics do not explain, smoothed
over frequency, above the MVF in voiced frames and over the whole band in unvoiced ones.

Written here with numpy: no maintained Python package implements HNM analysis-synthesis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .parametric import (ANALYSIS_RATE, F0_RANGE, FRAME_HOP, ParametricGenerator, fit_length, istft, moving_average,
                         stft, track_f0)
from .registry import register

HNM_PERIODS = 3  # analysis window, in pitch periods
HNM_NFFT = 512  # STFT size of the noise part (32 ms)
HNM_NOISE_SMOOTH_HZ = 500.0  # width of the moving average that smooths the noise envelope over frequency


@dataclass(frozen=True)
class HnmSettings:
    """One HNM configuration.

    mvf : maximum voiced frequency, Hz (harmonics below, noise above)
    phases : ``analysed`` (each harmonic keeps its phase relative to the fundamental) or
        ``zero`` (all harmonics in phase: a pulse-like, buzzy waveform)
    f0 : F0 tracker (SPTK's SWIPE')
    """

    mvf: float
    phases: str = "analysed"
    f0: str = "swipe"


HNM_CONFIGS = {
    "mvf4k": HnmSettings(mvf=4000.0),
    "mvf6k-zerophase": HnmSettings(mvf=6000.0, phases="zero"),
}


@dataclass(frozen=True, repr=False)
class HnmGenerator(ParametricGenerator):
    """Harmonic-plus-noise copy-synthesis of a real clip (configurations in :data:`HNM_CONFIGS`)."""

    config: str = "mvf4k"
    engine = "hnm"
    licence = "harmonic-plus-noise model by spoofscan (Apache-2.0), F0 by SPTK (modified BSD) via pysptk (MIT)"
    configs = HNM_CONFIGS
    config_kind = "HNM configuration"

    def vocode(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        s = self.settings
        f0 = track_f0(x, s.f0, self.name)
        amps, phases = analyse_harmonics(x, f0, s.mvf)
        harmonic = synthesise_harmonics(f0, amps, phases if s.phases == "analysed" else None, len(x))
        return harmonic + shaped_noise(x - harmonic, f0, s.mvf, rng)


def analyse_harmonics(x: np.ndarray, f0: np.ndarray, mvf: float) -> tuple[np.ndarray, np.ndarray]:
    """Amplitude and phase of each harmonic below ``mvf`` in each voiced frame.

    Each harmonic's complex amplitude is the Hann-weighted projection of three pitch periods
    around the frame centre on ``exp(i 2 pi k F0 t)`` (with three periods the window's main
    lobes of neighbouring harmonics do not overlap, so this is close to the least-squares fit
    and far cheaper). Returns two float64 arrays (frames, harmonics): amplitudes (0 in
    unvoiced frames and above the MVF) and phases in radians at the frame centre, relative to
    ``k`` times the fundamental's phase.
    """
    n_harm = int(mvf // F0_RANGE[0]) + 1  # the most harmonics below the MVF at the lowest F0 tracked
    amps = np.zeros((len(f0), n_harm))
    rel = np.zeros((len(f0), n_harm))
    for i in np.flatnonzero(f0 > 0):
        k = np.arange(1, int(mvf // f0[i]) + 1)
        half = int(HNM_PERIODS * ANALYSIS_RATE / f0[i] / 2)
        centre = i * FRAME_HOP
        lo, hi = max(0, centre - half), min(len(x), centre + half + 1)
        if hi - lo < 8 or not len(k):
            continue
        t = (np.arange(lo, hi) - centre) / ANALYSIS_RATE
        w = np.hanning(hi - lo + 2)[1:-1]
        basis = np.cumprod(np.broadcast_to(np.exp(-2j * np.pi * f0[i] * t), (len(k), len(t))), axis=0)  # e^{-ikwt}
        coef = 2 * (basis * (x[lo:hi] * w)).sum(axis=1) / w.sum()  # elementwise: no BLAS threads for tiny products
        amps[i, : len(k)] = np.abs(coef)
        rel[i, : len(k)] = np.angle(coef) - k * np.angle(coef[0])
    return amps, rel


def synthesise_harmonics(f0: np.ndarray, amps: np.ndarray, phases: np.ndarray | None, n: int) -> np.ndarray:
    """Sum of harmonics: float64 (n,). ``phases`` None puts every harmonic in phase with the fundamental."""
    centres = np.arange(len(f0)) * FRAME_HOP
    idx = np.arange(n)
    voiced = np.interp(idx, centres, (f0 > 0).astype(np.float64))
    f0_filled = np.interp(np.arange(len(f0)), np.flatnonzero(f0 > 0), f0[f0 > 0])
    f = np.interp(idx, centres, f0_filled)
    phase = 2 * np.pi * np.cumsum(f) / ANALYSIS_RATE
    y = np.zeros(n)
    for h in range(amps.shape[1]):
        a = np.interp(idx, centres, amps[:, h]) * voiced
        a[(h + 1) * f >= ANALYSIS_RATE / 2] = 0.0  # never above Nyquist
        if not np.any(a):
            continue
        offset = 0.0
        if phases is not None:  # interpolate the relative phase on the unit circle
            c = np.interp(idx, centres, np.cos(phases[:, h]) * (amps[:, h] > 0))
            s = np.interp(idx, centres, np.sin(phases[:, h]) * (amps[:, h] > 0))
            offset = np.arctan2(s, c)
        y += a * np.cos((h + 1) * phase + offset)
    return y


def shaped_noise(residual: np.ndarray, f0: np.ndarray, mvf: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise with the residual's short-time magnitude, smoothed over frequency; float64 (n,).

    In voiced frames only the band above ``mvf`` is kept; unvoiced frames keep the whole band.
    """
    spec = stft(residual, HNM_NFFT)
    freqs = np.fft.rfftfreq(HNM_NFFT, 1 / ANALYSIS_RATE)
    width = int(HNM_NOISE_SMOOTH_HZ / (ANALYSIS_RATE / HNM_NFFT))
    envelope = moving_average(np.abs(spec), width)  # (bins, frames), smoothed over frequency
    frame_f0 = np.pad(f0, (0, max(0, spec.shape[1] - len(f0))))[: spec.shape[1]]
    envelope[(freqs[:, None] < mvf) & (frame_f0[None, :] > 0)] = 0.0
    noise_spec = stft(rng.standard_normal(len(residual)), HNM_NFFT)
    unit = noise_spec / np.maximum(np.sqrt(np.mean(np.abs(noise_spec) ** 2)), 1e-12)
    y = istft(unit * envelope, HNM_NFFT, len(residual))
    return fit_length(y, len(residual))


register([HnmGenerator(c) for c in HNM_CONFIGS], roles={"hnm/mvf4k": "train", "hnm/mvf6k-zerophase": "eval"})
