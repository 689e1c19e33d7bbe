"""WORLD vocoder copy-synthesis of real clips (pyworld): DIO or Harvest F0, optionally shifted."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...audio import SAMPLE_RATE
from ...errors import SpoofscanError, choice_error
from .base import Generator, Request
from .native import import_optional

WORLD_RATE = SAMPLE_RATE  # Hz, the rate WORLD analyses and synthesises at
WORLD_SHIFT_SEMITONES = (2.0, 5.0)  # range of the |F0 shift| of the *-shift configurations


def load_pyworld():
    """pyworld, or None when it is not installed (see :mod:`.native` for how it is imported)."""
    return import_optional("pyworld")


@dataclass(frozen=True, repr=False)
class WorldGenerator(Generator):
    """WORLD vocoder copy-synthesis of a real clip: analyse (F0, envelope, aperiodicity), resynthesise.

    method : ``dio`` (DIO + StoneMask refinement) or ``harvest``
    shift : shift F0 by 2-5 semitones up or down (drawn per clip from the request's seed)
    """

    method: str = "dio"
    shift: bool = False
    engine: str = "world"
    needs: str = "audio"
    licence: str = "WORLD vocoder (modified BSD) via pyworld (MIT), https://github.com/mmorise/World"

    def __post_init__(self):
        if self.method not in ("dio", "harvest"):
            raise choice_error("WORLD F0 method", self.method, ("dio", "harvest"))

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"world/{self.method}{'-shift' if self.shift else ''}"

    def is_available(self) -> bool:
        return load_pyworld() is not None

    def missing_hint(self) -> str:
        return "install pyworld (pip install 'spoofscan[corpus]', needs a C compiler)"

    def synthesize(self, request: Request) -> tuple[np.ndarray, int]:
        pw = load_pyworld()
        if pw is None:
            raise SpoofscanError(f"generator {self.name}: pyworld is not installed ({self.missing_hint()})")
        if request.audio is None or len(request.audio) == 0:
            raise SpoofscanError(f"generator {self.name} needs a source clip, got none")
        from ...audio import resample

        x = resample(np.asarray(request.audio, np.float32), int(request.rate), WORLD_RATE).astype(np.float64)
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
            rng = np.random.default_rng(request.seed)
            semitones = rng.uniform(*WORLD_SHIFT_SEMITONES) * rng.choice((-1.0, 1.0))
            f0 = f0 * 2.0 ** (semitones / 12.0)
        y = pw.synthesize(f0, sp, ap, WORLD_RATE).astype(np.float32)
        if not np.isfinite(y).all() or not np.any(y):
            raise SpoofscanError(f"generator {self.name}: synthesis produced no finite audio")
        return y, WORLD_RATE
