"""Linear-prediction (LPC) vocoder copy-synthesis: an all-pole envelope driven by pulses or noise.

The oldest speech vocoder (LPC-10 and its descendants): per frame, the all-pole filter of
the pre-emphasised clip (autocorrelation method, Levinson-Durbin, via pysptk's ``lpc``) and
its gain; the excitation is a pulse train at F0 in voiced frames, noise in unvoiced ones
(:func:`.parametric.excitation`); the output is de-emphasised.

The synthesis filter is SPTK's all-pole filter (pysptk's ``AllPoleDF``) with each frame's
coefficients held for the frame and its state carried over, rather than pysptk's
``Synthesizer``, which interpolates the direct-form coefficients sample by sample (that need
not stay stable). Switching the (stable, autocorrelation-method) filter once per frame is
what frame-based LPC vocoders do. The analysis uses SPTK's own Levinson recursion
(``use_scipy=False``), so no SciPy import is paid per worker.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import SpoofscanError
from .parametric import ParametricGenerator, excitation, frames, load_pysptk, track_f0
from .registry import register

PRE_EMPHASIS = 0.97  # first-order pre-emphasis before analysis, undone after synthesis
LPC_VERSION = 2  # bump when the synthesis changes: the builder's job keys include it


@dataclass(frozen=True)
class LpcSettings:
    """One LPC configuration.

    order : prediction order
    frame : analysis frame, samples at 16 kHz (Hamming window)
    hop : frame step (the filter is switched this often), samples
    f0 : F0 tracker, ``swipe`` (SPTK) or ``dio`` (WORLD's DIO + StoneMask)
    noise : unvoiced excitation, ``binary`` (+-1) or ``gaussian``
    """

    order: int
    frame: int
    hop: int
    f0: str = "swipe"
    noise: str = "binary"


LPC_CONFIGS = {
    "o16": LpcSettings(order=16, frame=320, hop=80),  # 20 ms frames every 5 ms
    "o10": LpcSettings(order=10, frame=360, hop=180, f0="dio", noise="gaussian"),  # LPC-10's 22.5 ms frame rate
}


@dataclass(frozen=True, repr=False)
class LpcGenerator(ParametricGenerator):
    """LPC vocoder copy-synthesis of a real clip (configurations in :data:`LPC_CONFIGS`)."""

    config: str = "o16"
    engine = "lpc"
    licence = ("LPC analysis and all-pole filter of SPTK (modified BSD) via pysptk (MIT); pulse/noise source "
               "by spoofscan (Apache-2.0)")
    configs = LPC_CONFIGS
    config_kind = "LPC configuration"
    version = LPC_VERSION

    def vocode(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        from pysptk.synthesis import AllPoleDF

        sptk = load_pysptk()
        s = self.settings
        emphasised = np.append(x[0], x[1:] - PRE_EMPHASIS * x[:-1])
        f0 = track_f0(x, s.f0, self.name, hop=s.hop)
        coefs = np.array([_lpc(sptk, f, s.order) for f in frames(emphasised, s.frame, len(f0), hop=s.hop,
                                                                 window="hamming")])
        gains = coefs[:, 0]  # SPTK: H(z) = K / (1 + sum_m a(m) z^-m), coefficients [K, a(1), ..., a(m)]
        if not np.isfinite(coefs).all():
            raise SpoofscanError(f"generator {self.name}: LPC analysis failed (not finite)")
        source = excitation(f0, s.hop, len(f0) * s.hop, rng, s.noise)
        # 1 / (A(z) (1 - PRE_EMPHASIS z^-1)): the frame's all-pole filter and the de-emphasis in one
        poles = np.array([np.convolve(np.r_[1.0, c[1:]], [1.0, -PRE_EMPHASIS]) for c in coefs])
        scaled = source * np.repeat(gains, s.hop)
        pole = AllPoleDF(order=s.order + 1)
        return np.array([pole.filt(v, poles[i // s.hop]) for i, v in enumerate(scaled)])  # state carried over


def _lpc(sptk, frame: np.ndarray, order: int) -> np.ndarray:
    """``[K, a(1)..a(order)]`` of one windowed frame; a silent or degenerate frame gives silence (K = 0)."""
    if not np.any(frame):
        return np.zeros(order + 1)
    try:
        return sptk.lpc(frame, order, use_scipy=False)
    except RuntimeError:  # SPTK's Levinson found the normal matrix singular
        return np.zeros(order + 1)


register([LpcGenerator(c) for c in LPC_CONFIGS], roles={"lpc/o16": "train", "lpc/o10": "eval"})
