"""SVOX Pico: HMM-based statistical parametric text-to-speech (``py-nanotts``, its voices inside the wheel).

Six voices, one per language: en-US, en-GB, de-DE, es-ES, fr-FR, it-IT, 16 kHz. ``pico/plain``
speaks each language with its voice at the engine's own pitch (American English for English);
``pico/varied`` speaks English with the British voice and draws the pitch per clip, as another
system's prosody would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...child import call_in_child
from ...errors import SpoofscanError, choice_error
from .base import Generator, Request, need_text
from .native import have_module
from .registry import register

PICO_CONFIGS = ("plain", "varied")
PICO_VOICES = {"en": ("en-US", "en-GB"), "de": ("de-DE",) * 2, "es": ("es-ES",) * 2, "fr": ("fr-FR",) * 2,
               "it": ("it-IT",) * 2}  # language -> (plain voice, varied voice)
PICO_PITCH_RANGE = (0.85, 1.2)  # pitch factors ``varied`` draws per clip
PICO_RATE = 16_000  # Hz, what the engine writes
PICO_SPEED_RANGE = (0.2, 5.0)  # the engine's bounds on the speaking rate
PICO_ATTEMPTS = 3  # calls of the engine before a crash is the pair's error


def base_language(language: str) -> str:
    """``en`` for ``en_US``, ``en-gb``, ``EN``."""
    return (language or "").lower().replace("-", "_").split("_")[0].split("@")[0]


@dataclass(frozen=True, repr=False)
class PicoGenerator(Generator):
    """SVOX Pico through ``py-nanotts``; the language picks the voice; text in, 16 kHz speech out."""

    config: str = "plain"
    engine = "pico"
    needs = "text"
    licence = "SVOX Pico (Apache-2.0) through py-nanotts (Apache-2.0)"
    version = 1  # 1: zero-filled allocations (before: output that depended on the process's history)

    def __post_init__(self):
        if self.config not in PICO_CONFIGS:
            raise choice_error("pico configuration", self.config, PICO_CONFIGS)

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"pico/{self.config}"

    def is_available(self) -> bool:
        return have_module("py_nanotts")

    def missing_hint(self) -> str:
        return "pip install 'spoofscan[corpus]' (py-nanotts)"

    def supports(self, language: str) -> bool:
        return base_language(language) in PICO_VOICES

    def synthesize(self, request: Request) -> tuple[np.ndarray, int]:
        from py_nanotts import NanoTTS

        text = need_text(request, self.name)
        voices = PICO_VOICES.get(base_language(request.language))
        if voices is None:
            raise SpoofscanError(f"generator {self.name} does not speak {request.language!r}")
        varied = self.config == "varied"
        pitch = float(np.random.default_rng(request.seed).uniform(*PICO_PITCH_RANGE)) if varied else None
        speed = float(np.clip(request.speed, *PICO_SPEED_RANGE))
        # In a child process, with zero-filled allocations: the library reads memory it never wrote
        # (its output would depend on the process's history) and now and then crashes the process
        # (the same text passes in another run), so a crash is tried again before the pair fails.
        for attempt in range(PICO_ATTEMPTS):
            try:
                pcm = call_in_child(lambda: NanoTTS().speak(text, voice=voices[varied], speed=speed, pitch=pitch))
                break
            except SpoofscanError as e:
                if attempt == PICO_ATTEMPTS - 1:
                    raise SpoofscanError(f"generator {self.name} on {text[:40]!r}: {e} "
                                         f"({PICO_ATTEMPTS} tries)") from None
        x = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
        if x.size == 0 or not np.any(x):
            raise SpoofscanError(f"generator {self.name}: the engine gave no audio for {text[:40]!r}")
        return x, PICO_RATE


register([PicoGenerator(c) for c in PICO_CONFIGS], roles={"pico/plain": "train", "pico/varied": "eval"})
