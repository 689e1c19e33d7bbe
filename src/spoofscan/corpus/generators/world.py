"""WORLD vocoder copy-synthesis of real clips (pyworld): DIO or Harvest F0, optionally shifted."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...audio import SAMPLE_RATE
from ...errors import SpoofscanError
from .base import CopySynthesisGenerator
from .native import import_optional
from .registry import register

WORLD_RATE = SAMPLE_RATE  # Hz, the rate WORLD analyses and synthesises at
WORLD_SHIFT_SEMITONES = (2.0, 5.0)  # range of the |F0 shift| of the *-shift configurations
WORLD_CONFIGS = ("dio", "dio-shift", "harvest", "harvest-shift")  # F0 method, then "-shift" when F0 is shifted


def load_pyworld():
    """pyworld, or None when it is not installed (see :mod:`.native` for how it is imported)."""
    return import_optional("pyworld")


@dataclass(frozen=True, repr=False)
class WorldGenerator(CopySynthesisGenerator):
    """WORLD vocoder copy-synthesis of a real clip: analyse (F0, envelope, aperiodicity), resynthesise.

    method : ``dio`` (DIO + StoneMask refinement) or ``harvest``
    shift : shift F0 by 2-5 semitones up or down (drawn per clip from the request's seed)
    """

    method: str = "dio"
    shift: bool = False
    engine = "world"
    licence = "WORLD vocoder (modified BSD) via pyworld (MIT), https://github.com/mmorise/World"
    configs = WORLD_CONFIGS
    config_kind = "WORLD configuration"
    requires = ("pyworld",)
    install_hint = "install pyworld (pip install 'spoofscan[corpus]', needs a C compiler)"
    analysis_rate = WORLD_RATE

    @property
    def config(self) -> str:  # type: ignore[override]
        return f"{self.method}{'-shift' if self.shift else ''}"

    def resynthesize(self, x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        pw = load_pyworld()
        x = x.astype(np.float64)
        if self.method == "dio":
            f0, t = pw.dio(x, WORLD_RATE)
            f0 = pw.stonemask(x, f0, t, WORLD_RATE)
        else:
            f0, t = pw.harvest(x, WORLD_RATE)
        if not np.any(f0 > 0):
            raise SpoofscanError(f"generator {self.name}: no voiced frame found in the source clip")
        sp = pw.cheaptrick(x, f0, t, WORLD_RATE)
        ap = pw.d4c(x, f0, t, WORLD_RATE)
        if self.shift:
            semitones = rng.uniform(*WORLD_SHIFT_SEMITONES) * rng.choice((-1.0, 1.0))
            f0 = f0 * 2.0 ** (semitones / 12.0)
        y = pw.synthesize(f0, sp, ap, WORLD_RATE).astype(np.float32)
        if not np.isfinite(y).all() or not np.any(y):
            raise SpoofscanError(f"generator {self.name}: synthesis produced no finite audio")
        return y, WORLD_RATE


register([WorldGenerator(m, s) for m in ("dio", "harvest") for s in (False, True)],
         roles={"world/dio": "train", "world/harvest-shift": "train", "world/harvest": "eval",
                "world/dio-shift": "eval"})
