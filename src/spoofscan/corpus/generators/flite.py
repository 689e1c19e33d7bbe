"""CMU Flite: English diphone and cluster-unit voices ``kal``, ``kal16``, ``awb``, ``rms``, ``slt``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .base import Request, TextToSpeechGenerator
from .registry import register

FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")


@dataclass(frozen=True, repr=False)
class FliteGenerator(TextToSpeechGenerator):
    """CMU Flite with one of its built-in English voices (``config``)."""

    config: str = "slt"
    engine = "flite"
    licence = "CMU Flite (BSD-style licence), http://www.festvox.org/flite/"
    program = "flite"
    install_hint = "install Flite (Debian/Ubuntu: apt-get install flite)"

    def supports(self, language: str) -> bool:
        return (language or "").lower().split("_")[0].split("-")[0] == "en"

    def command(self, text: str, request: Request, out: Path) -> list:
        stretch = 1.0 / max(request.speed, 1e-3)
        return [self.program, "-voice", self.config, "--setf", f"duration_stretch={stretch:.3f}", "-t", text, "-o",
                str(out)]


register([FliteGenerator(v) for v in FLITE_VOICES],
         roles={"flite/kal16": "train", "flite/rms": "train", "flite/slt": "eval", "flite/awb": "eval",
                "flite/kal": "eval"})
