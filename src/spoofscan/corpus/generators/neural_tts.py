"""Text-to-speech with a neural waveform: a TTS engine's speech re-synthesised by the published
HiFi-GAN V1 vocoder, so that text-to-speech fakes carry a neural vocoder's traces, as today's
systems do (an acoustic model predicts a mel spectrogram, a neural vocoder makes the waveform).

``tts-hifigan/espeak``: eSpeak NG (100+ languages) re-vocoded; ``tts-hifigan/pico``: SVOX Pico
(six languages) re-vocoded. The TTS engine sets the words, the language and the prosody; the
vocoder, the waveform.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...audio import resample
from ...errors import SpoofscanError, choice_error
from .base import Generator, Request
from .espeak import EspeakGenerator
from .pico import PicoGenerator
from .pretrained_vocoder import HifiganV1Generator
from .registry import register

FRONT_ENDS = {"espeak": EspeakGenerator("m3"), "pico": PicoGenerator("plain")}  # configuration -> the TTS engine


@dataclass(frozen=True, repr=False)
class NeuralTtsGenerator(Generator):
    """A TTS engine (:data:`FRONT_ENDS`) followed by the published HiFi-GAN V1 (universal) vocoder."""

    config: str = "espeak"
    vocoder: HifiganV1Generator = field(default_factory=lambda: HifiganV1Generator("universal"))
    engine = "tts-hifigan"
    needs = "text"

    def __post_init__(self):
        if self.config not in FRONT_ENDS:
            raise choice_error("neural TTS configuration", self.config, FRONT_ENDS)

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"{self.engine}/{self.config}"

    @property
    def tts(self) -> Generator:
        return FRONT_ENDS[self.config]

    @property
    def licence(self) -> str:  # type: ignore[override]
        return f"{self.tts.licence}; re-vocoded by {self.vocoder.licence}"

    def fingerprint(self) -> str:
        return ";".join(g.fingerprint() for g in (self.tts, self.vocoder) if g.fingerprint())

    def is_available(self) -> bool:
        return self.tts.is_available() and self.vocoder.is_available()

    def missing_hint(self) -> str:
        return "; ".join(g.missing_hint() for g in (self.tts, self.vocoder) if not g.is_available())

    def supports(self, language: str) -> bool:
        return self.tts.supports(language)

    def synthesize(self, request: Request) -> tuple[np.ndarray, int]:
        x, rate = self.tts.synthesize(request)
        if not np.any(x):
            raise SpoofscanError(f"generator {self.name}: the TTS engine gave no audio")
        return self.vocoder.synthesize(Request(audio=resample(x, rate), seed=request.seed))


register([NeuralTtsGenerator(c) for c in FRONT_ENDS],
         roles={"tts-hifigan/espeak": "train", "tts-hifigan/pico": "eval"})
