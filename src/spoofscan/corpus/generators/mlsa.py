"""Mel-cepstral (MLSA) analysis-synthesis with pysptk: the classic statistical-parametric vocoder.

Analysis: F0 by SPTK's SWIPE' or WORLD's DIO, mel-cepstrum (``mcep``) of 32 ms Blackman frames every
5 ms. Synthesis: a pulse train at F0 in voiced frames and noise in unvoiced ones
(:func:`.parametric.excitation`) through the MLSA filter of the mel-cepstrum (``MLSADF`` + ``Synthesizer``), as
in HTS and the HMM-based TTS systems built on it. The ``smooth`` configurations average the
parameter trajectories over 60-100 ms, lower the cepstral order and shrink the spectral
detail towards the clip's mean: the muffled, buzzy sound of statistical-parametric TTS, whose
acoustic models output such over-smoothed parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .parametric import (ANALYSIS_RATE, FRAME_HOP, ParametricGenerator, excitation, frames, load_pysptk, moving_average,
                         smooth_f0, track_f0)
from .registry import register

MLSA_ALPHA = 0.42  # all-pass constant that approximates the mel scale at 16 kHz
MLSA_FRAME = 512  # samples (32 ms) per analysis frame
MCEP_FLOOR = 1e-8  # SPTK mcep's eps: floor added to the periodogram (keeps silent frames finite)
MLSA_PADE = 5  # Pade order of the MLSA filter's exponential approximation
MLSA_B_LIMIT = 6.0  # per frame, sum |b(1..M)| is kept below this: the 5th-order Pade approximation's
                    # accurate range (about 6.2 in SPTK's documentation); past it the filter diverges
MLSA_VERSION = 2  # bump when the synthesis changes: the builder's job keys include it


@dataclass(frozen=True)
class MlsaSettings:
    """One MLSA configuration.

    order : mel-cepstral order
    f0 : F0 tracker, ``swipe`` (SPTK) or ``dio`` (WORLD's DIO + StoneMask)
    smooth_ms : width of the moving average over the parameter trajectories (0: none)
    detail : factor on the mel-cepstrum's deviation from the clip's mean (1: as analysed;
        below 1: the reduced variance of an acoustic model's averaged output)
    noise : unvoiced excitation, ``binary`` (+-1, as SPTK's M-sequence) or ``gaussian``
    """

    order: int
    f0: str = "swipe"
    smooth_ms: float = 0.0
    detail: float = 1.0
    noise: str = "binary"


MLSA_CONFIGS = {
    "m24": MlsaSettings(order=24),
    "smooth": MlsaSettings(order=16, smooth_ms=60.0, detail=0.8),
    "smooth-dio": MlsaSettings(order=12, f0="dio", smooth_ms=100.0, detail=0.7, noise="gaussian"),
}


@dataclass(frozen=True, repr=False)
class MlsaGenerator(ParametricGenerator):
    """MLSA vocoder copy-synthesis of a real clip (configurations in :data:`MLSA_CONFIGS`)."""

    config: str = "m24"
    engine = "mlsa"
    licence = "SPTK (modified BSD) via pysptk (MIT), https://github.com/r9y9/pysptk; https://sp-tk.sourceforge.net"
    configs = MLSA_CONFIGS
    config_kind = "MLSA configuration"
    version = MLSA_VERSION

    def vocode(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        from pysptk.synthesis import MLSADF, Synthesizer

        sptk = load_pysptk()
        s = self.settings
        f0 = track_f0(x, s.f0, self.name)
        mc = np.array([sptk.mcep(f, s.order, MLSA_ALPHA, etype=1, eps=MCEP_FLOOR)
                       for f in frames(x, MLSA_FRAME, len(f0))])  # (frames, order + 1)
        width = int(round(s.smooth_ms / 1000 * ANALYSIS_RATE / FRAME_HOP))
        if width > 1:
            mc = moving_average(mc, width)
            f0 = smooth_f0(f0, width)
        if s.detail != 1.0:
            mean = mc[:, 1:].mean(axis=0)
            mc[:, 1:] = mean + s.detail * (mc[:, 1:] - mean)
        n = len(f0) * FRAME_HOP
        source = excitation(f0, FRAME_HOP, n, rng, s.noise)
        b = sptk.mc2b(np.ascontiguousarray(mc), MLSA_ALPHA)
        spread = np.abs(b[:, 1:]).sum(axis=1, keepdims=True)  # bounds the filter's log-amplitude swing
        b[:, 1:] *= np.minimum(1.0, MLSA_B_LIMIT / np.maximum(spread, 1e-12))  # tames clipped, extreme frames
        return Synthesizer(MLSADF(order=s.order, alpha=MLSA_ALPHA, pd=MLSA_PADE), FRAME_HOP).synthesis(source, b)


register([MlsaGenerator(c) for c in MLSA_CONFIGS],
         roles={"mlsa/m24": "train", "mlsa/smooth": "train", "mlsa/smooth-dio": "eval"})
