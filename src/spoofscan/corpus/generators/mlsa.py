"""Mel-cepstral (MLSA) analysis-synthesis with pysptk: the classic statistical-parametric vocoder.

Analysis: F0 by SPTK's SWIPE' or WORLD's DIO, mel-cepstrum (``mcep``) of 32 ms Blackman frames every
5 ms. Synthesis: a pulse train at F0 in voiced frames and noise in unvoiced ones
(written in :mod:`.vocoding`) through the MLSA filter of the mel-cepstrum (``MLSADF`` + ``Synthesizer``), as
in HTS and the HMM-based TTS systems built on it. The ``smooth`` configurations average the
parameter trajectories over 60-100 ms, lower the cepstral order and shrink the spectral
detail towards the clip's mean: the muffled, buzzy sound of statistical-parametric TTS, whose
acoustic models output such over-smoothed parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import SpoofscanError, choice_error
from .base import Generator, Request
from .parametric import (ANALYSIS_RATE, FRAME_HOP, excitation, finish, fit_length, frames, have_f0, load_pysptk,
                         moving_average, pysptk_hint, smooth_f0, source_wave, track_f0)

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
class MlsaGenerator(Generator):
    """MLSA vocoder copy-synthesis of a real clip (configurations in :data:`MLSA_CONFIGS`)."""

    config: str = "m24"
    engine: str = "mlsa"
    needs: str = "audio"
    licence: str = ("SPTK (modified BSD) via pysptk (MIT), https://github.com/r9y9/pysptk; "
                    "https://sp-tk.sourceforge.net")

    def __post_init__(self):
        if self.config not in MLSA_CONFIGS:
            raise choice_error("MLSA configuration", self.config, MLSA_CONFIGS)

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"mlsa/{self.config}"

    def fingerprint(self) -> str:
        return f"mlsa-v{MLSA_VERSION}"

    def is_available(self) -> bool:
        return load_pysptk() is not None and have_f0(MLSA_CONFIGS[self.config].f0)

    def missing_hint(self) -> str:
        return pysptk_hint()

    def synthesize(self, request: Request) -> tuple[np.ndarray, int]:
        sptk = load_pysptk()
        if sptk is None:
            raise SpoofscanError(f"generator {self.name}: pysptk is not installed ({pysptk_hint()})")
        from pysptk.synthesis import MLSADF, Synthesizer

        s = MLSA_CONFIGS[self.config]
        x = source_wave(request, self.name)
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
        source = excitation(f0, FRAME_HOP, n, np.random.default_rng(request.seed), s.noise)
        b = sptk.mc2b(np.ascontiguousarray(mc), MLSA_ALPHA)
        spread = np.abs(b[:, 1:]).sum(axis=1, keepdims=True)  # bounds the filter's log-amplitude swing
        b[:, 1:] *= np.minimum(1.0, MLSA_B_LIMIT / np.maximum(spread, 1e-12))  # tames clipped, extreme frames
        y = Synthesizer(MLSADF(order=s.order, alpha=MLSA_ALPHA, pd=MLSA_PADE), FRAME_HOP).synthesis(source, b)
        return finish(fit_length(y, len(x)), self.name)
