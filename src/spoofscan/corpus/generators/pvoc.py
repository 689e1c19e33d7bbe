"""Phase-vocoder prosody modification of a real clip: time stretch and pitch shift with Rubber Band.

The clip is re-timed and/or re-pitched by the Rubber Band library's phase vocoder (through
pedalboard's ``time_stretch``): the short-time spectrum is resynthesised frame by frame with
phases advanced for the new timing, as in the voice-modification tools behind many
manipulated recordings. No iterative phase reconstruction is involved. Factors are drawn per
clip from the request's seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import CopySynthesisGenerator
from .parametric import ANALYSIS_RATE, finish, signed_uniform
from .registry import register

PVOC_STRETCH_RANGE = (0.1, 0.25)  # |log2 of the speed factor|: 1.07-1.19 times faster or slower
PVOC_SHIFT_SEMITONES = (2.0, 5.0)  # |pitch shift| range


@dataclass(frozen=True)
class PvocSettings:
    """One phase-vocoder configuration.

    stretch : change the speed by a factor 2**u, |u| drawn in ``PVOC_STRETCH_RANGE`` with a
        random sign (0.84-0.93 or 1.07-1.19 times the original speed)
    shift : move the pitch by 2-5 semitones up or down
    crisp : Rubber Band's defaults (high quality, crisp transients, phase continuity, formants
        preserved); False: the long FFT window, smooth transients, independent phases per bin
        and no formant preservation (a phasier, more smeared sound)
    """

    stretch: bool
    shift: bool
    crisp: bool = True


PVOC_CONFIGS = {
    "stretch": PvocSettings(stretch=True, shift=False),
    "shift": PvocSettings(stretch=False, shift=True),
    "stretch-shift-smeared": PvocSettings(stretch=True, shift=True, crisp=False),
}


@dataclass(frozen=True, repr=False)
class PvocGenerator(CopySynthesisGenerator):
    """Phase-vocoder time stretch / pitch shift of a real clip (configurations in :data:`PVOC_CONFIGS`)."""

    config: str = "stretch"
    engine = "pvoc"
    licence = ("Rubber Band Library (GPL-2.0-or-later), https://breakfastquay.com/rubberband/, "
               "via pedalboard (GPL-3.0), https://github.com/spotify/pedalboard")
    configs = PVOC_CONFIGS
    config_kind = "phase-vocoder configuration"
    requires = ("pedalboard",)
    install_hint = "install pedalboard (pip install 'spoofscan[corpus]')"
    analysis_rate = ANALYSIS_RATE

    def resynthesize(self, x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        from pedalboard import time_stretch

        s = self.settings
        speed = 2.0 ** signed_uniform(rng, *PVOC_STRETCH_RANGE) if s.stretch else 1.0
        semitones = signed_uniform(rng, *PVOC_SHIFT_SEMITONES) if s.shift else 0.0
        options = {} if s.crisp else {"transient_mode": "smooth", "retain_phase_continuity": False,
                                       "use_long_fft_window": True, "preserve_formants": False}
        y = time_stretch(x[None, :], ANALYSIS_RATE, stretch_factor=speed, pitch_shift_in_semitones=semitones,
                         **options)
        return finish(np.asarray(y, np.float32).reshape(-1), self.name)


register([PvocGenerator(c) for c in PVOC_CONFIGS],
         roles={"pvoc/stretch": "train", "pvoc/shift": "train", "pvoc/stretch-shift-smeared": "eval"})
