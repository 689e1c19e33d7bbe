"""eSpeak NG formant synthesis: 100+ languages, voice variants ``m1``-``m7``, ``f1``-``f5``, ``klatt``..."""

from __future__ import annotations

import functools
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import SpoofscanError
from .base import Request, TextToSpeechGenerator
from .registry import register

ESPEAK_WPM = 175  # eSpeak NG's default speaking rate, words per minute
ESPEAK_WPM_RANGE = (80, 450)
ESPEAK_PITCH_RANGE = (35, 65)  # per-clip base pitch drawn from this range (eSpeak's 0-99 scale)
ESPEAK_ALIASES = {"nn": "nb", "no": "nb", "ca@valencia": "ca", "sr@latin": "sr", "sr@ijekavianlatin": "sr",
                  "sr@ijekavian": "sr", "pt_br": "pt-br", "en_gb": "en-gb", "en_au": "en", "en_us": "en-us"}
ESPEAK_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
                   "klatt", "klatt2", "klatt3", "klatt4", "croak")


@functools.lru_cache(maxsize=1)
def espeak_languages() -> frozenset:
    """Language codes eSpeak NG has voices for (``espeak-ng --voices``), lower case; empty if absent."""
    exe = shutil.which("espeak-ng")
    if not exe:
        return frozenset()
    try:
        out = subprocess.run([exe, "--voices"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    codes = {line.split()[1].lower() for line in out.splitlines()[1:] if len(line.split()) > 1}
    bases = {code.split("-")[0] for code in codes}  # "fr" for "fr-fr": eSpeak NG resolves bare languages
    return frozenset(codes | bases)


def espeak_voice(language: str) -> str | None:
    """The eSpeak NG voice for a corpus language code (``pt_BR`` -> ``pt-br``, ``nn`` -> ``nb``), or None."""
    if not language:
        return None
    known = espeak_languages()
    code = language.strip().lower()
    for candidate in (ESPEAK_ALIASES.get(code), code.replace("_", "-"), code.split("@")[0].replace("_", "-"),
                      code.split("_")[0].split("@")[0]):
        if candidate and candidate in known:
            return candidate
    return None


@dataclass(frozen=True, repr=False)
class EspeakGenerator(TextToSpeechGenerator):
    """eSpeak NG with one voice variant (``config``); the language follows the request; pitch drawn per clip."""

    config: str = "m3"
    engine = "espeak-ng"
    licence = "eSpeak NG (GPL-3.0-or-later), https://github.com/espeak-ng/espeak-ng"
    program = "espeak-ng"
    install_hint = "install eSpeak NG (Debian/Ubuntu: apt-get install espeak-ng)"

    def supports(self, language: str) -> bool:
        return espeak_voice(language) is not None

    def command(self, text: str, request: Request, out: Path) -> list:
        voice = espeak_voice(request.language)
        if voice is None:
            raise SpoofscanError(f"generator {self.name}: no eSpeak NG voice for language {request.language!r}")
        rng = np.random.default_rng(request.seed)
        pitch = int(rng.integers(ESPEAK_PITCH_RANGE[0], ESPEAK_PITCH_RANGE[1] + 1))
        wpm = int(np.clip(round(ESPEAK_WPM * request.speed), *ESPEAK_WPM_RANGE))
        return [self.program, "-v", f"{voice}+{self.config}", "-s", str(wpm), "-p", str(pitch), "-w", str(out), "--",
                text]


register([EspeakGenerator(v) for v in ESPEAK_VARIANTS],
         roles={"espeak-ng/m1": "train", "espeak-ng/m3": "train", "espeak-ng/f2": "train", "espeak-ng/klatt": "train",
                "espeak-ng/m7": "eval", "espeak-ng/f4": "eval", "espeak-ng/klatt4": "eval"})
