"""CMU Flite: English diphone and cluster-unit voices ``kal``, ``kal16``, ``awb``, ``rms``, ``slt``."""

from __future__ import annotations

import shutil
from dataclasses import dataclass

import numpy as np

from .base import Generator, Request, need_text, run_to_file

FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")


@dataclass(frozen=True, repr=False)
class FliteGenerator(Generator):
    """CMU Flite with one of its built-in English voices."""

    voice: str = "slt"
    engine: str = "flite"
    needs: str = "text"
    licence: str = "CMU Flite (BSD-style licence), http://www.festvox.org/flite/"

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"flite/{self.voice}"

    def is_available(self) -> bool:
        return shutil.which("flite") is not None

    def missing_hint(self) -> str:
        return "install Flite (Debian/Ubuntu: apt-get install flite)"

    def supports(self, language: str) -> bool:
        return (language or "").lower().split("_")[0].split("-")[0] == "en"

    def synthesize(self, request: Request) -> tuple[np.ndarray, int]:
        text = need_text(request, self.name)
        stretch = 1.0 / max(request.speed, 1e-3)
        return run_to_file(self.name, lambda tmp, out: ["flite", "-voice", self.voice, "--setf",
                                                         f"duration_stretch={stretch:.3f}", "-t", text, "-o", str(out)])
