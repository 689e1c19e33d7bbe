"""eSpeak NG formant synthesis: 100+ languages, voice variants ``m1``-``m7``, ``f1``-``f5``, ``klatt``..."""

from __future__ import annotations

import functools
import shutil
import subprocess
from dataclasses import dataclass

import numpy as np

from ...errors import SpoofscanError
from .base import Generator, Request, need_text, run_to_file

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
class EspeakGenerator(Generator):
    """eSpeak NG with one voice variant; the language follows the request; pitch drawn per clip."""

    variant: str = "m3"
    engine: str = "espeak-ng"
    needs: str = "text"
    licence: str = "eSpeak NG (GPL-3.0-or-later), https://github.com/espeak-ng/espeak-ng"

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"espeak-ng/{self.variant}"

    def is_available(self) -> bool:
        return shutil.which("espeak-ng") is not None

    def missing_hint(self) -> str:
        return "install eSpeak NG (Debian/Ubuntu: apt-get install espeak-ng)"

    def supports(self, language: str) -> bool:
        return espeak_voice(language) is not None

    def synthesize(self, request: Request) -> tuple[np.ndarray, int]:
        text = need_text(request, self.name)
        voice = espeak_voice(request.language)
        if voice is None:
            raise SpoofscanError(f"generator {self.name}: no eSpeak NG voice for language {request.language!r}")
        rng = np.random.default_rng(request.seed)
        pitch = int(rng.integers(ESPEAK_PITCH_RANGE[0], ESPEAK_PITCH_RANGE[1] + 1))
        wpm = int(np.clip(round(ESPEAK_WPM * request.speed), *ESPEAK_WPM_RANGE))
        return run_to_file(self.name, lambda tmp, out: ["espeak-ng", "-v", f"{voice}+{self.variant}", "-s", str(wpm),
                                                         "-p", str(pitch), "-w", str(out), "--", text])
