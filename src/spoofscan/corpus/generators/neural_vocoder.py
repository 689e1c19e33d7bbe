"""Neural-vocoder copy-synthesis with a vocoder spoofscan trained itself (:mod:`spoofscan.vocoder`).

The real clip's log-mel spectrogram goes through a small neural vocoder, as in the vocoded
spoofing data of Wang and Yamagishi (ICASSP 2023). Two families, each its own trained model:

- ``vocos/*``: the Vocos-like vocoder (ConvNeXt backbone, inverse-STFT head), 10 ms frames of
  80 mel bands;
- ``hifigan/*``: the HiFi-GAN-like vocoder (transposed-convolution upsampling), 16 ms frames
  of 64 mel bands.

Configurations: ``copy`` vocodes the clip's own log-mel; ``smooth`` first averages it over
about 50 ms and shrinks each band's variation by 15 % - the over-smoothed mel a TTS acoustic
model predicts - and then vocodes it.

The builder trains each family's vocoder once on train-split real clips that it then never
vocodes, caches it, and gives the generator its checkpoint (:meth:`NeuralVocoderGenerator.bound`).
Outside the builder, pass ``checkpoint=`` (a ``spoofscan vocoder train`` output).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ...errors import SpoofscanError, choice_error
from .base import CopySynthesisGenerator, Request
from .registry import register

NEURAL_FAMILIES = ("vocos", "hifigan")
SMOOTH_SECONDS = 0.05  # the "smooth" configurations average the log-mel over this span
SMOOTH_DETAIL = 0.85  # ... and keep this share of each band's variation around its mean
NEURAL_CONFIGS = ("copy", "smooth")
SYNTHESIS_THREADS = 1  # torch threads while vocoding: fixed, so the output does not depend on the machine


@functools.lru_cache(maxsize=4)
def _load(checkpoint: str):
    from ...vocoder import load_vocoder

    return load_vocoder(checkpoint)


@dataclass(frozen=True, repr=False)
class NeuralVocoderGenerator(CopySynthesisGenerator):
    """Copy-synthesis through a trained neural vocoder.

    family_name : ``vocos`` or ``hifigan`` (which vocoder the corpus builder trains for it: its ``trained_vocoder``)
    config : ``copy`` or ``smooth``
    checkpoint : the vocoder (``vocoder.safetensors`` or its folder); set by the corpus builder
    key : a hash of everything the vocoder depends on (the builder's cache key; ``""`` when
        the checkpoint was given by hand: then its path stands in)
    """

    family_name: str = "vocos"
    config: str = "copy"
    checkpoint: str = ""
    key: str = ""
    configs = NEURAL_CONFIGS
    config_kind = "neural vocoder configuration"
    requires = ("torch",)
    install_hint = "install torch (pip install 'spoofscan[torch]'); the corpus builder trains the vocoder itself"

    def __post_init__(self):
        if self.family_name not in NEURAL_FAMILIES:
            raise choice_error("neural vocoder family", self.family_name, NEURAL_FAMILIES)
        super().__post_init__()

    @property
    def engine(self) -> str:  # type: ignore[override]
        return self.family_name

    @property
    def trained_vocoder(self) -> str:  # type: ignore[override]
        return self.family_name

    @property
    def needs_description(self) -> str:
        return "audio + a vocoder the corpus build trains"

    @property
    def licence(self) -> str:  # type: ignore[override]
        arch = "Vocos-like (after Siuzdak 2023, MIT)" if self.family_name == "vocos" else \
            "HiFi-GAN-like (after Kong et al. 2020, MIT)"
        return (f"{arch} vocoder written and trained by spoofscan (Apache-2.0) on this corpus's train-split "
                "real clips; its weights derive from those recordings (see their licences above)")

    @property
    def analysis_rate(self) -> int:  # type: ignore[override]
        """The vocoder's sample rate (read from its checkpoint)."""
        return int(_load(str(self.checkpoint))[1]["model"]["sample_rate"])

    def bound(self, checkpoint: str | Path, key: str) -> "NeuralVocoderGenerator":
        """This configuration with a trained vocoder."""
        return replace(self, checkpoint=str(checkpoint), key=key)

    def fingerprint(self) -> str:
        return self.key or self.checkpoint

    def require(self) -> None:
        if not self.checkpoint:
            raise SpoofscanError(f"generator {self.name} has no trained vocoder: the corpus builder trains one, "
                                 "or pass checkpoint= a 'spoofscan vocoder train' output")
        super().require()

    def synthesize(self, request: Request) -> tuple[np.ndarray, int]:
        self.require()
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(SYNTHESIS_THREADS)  # before any torch work, loading too: see corpus/workers.py
        try:
            return super().synthesize(request)
        finally:
            torch.set_num_threads(threads)

    def resynthesize(self, x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        from ...vocoder import vocode

        model, card = _load(str(self.checkpoint))
        rate = self.analysis_rate
        frames_per_second = rate / int(card["model"]["hop_length"])
        smooth = self.config == "smooth"
        y = vocode(model, x, smooth_frames=max(1, round(SMOOTH_SECONDS * frames_per_second)) if smooth else 1,
                   detail=SMOOTH_DETAIL if smooth else 1.0)
        if not np.isfinite(y).all() or not np.any(y):
            raise SpoofscanError(f"generator {self.name}: the vocoder produced no finite audio")
        return y, rate


register([NeuralVocoderGenerator(f, c) for f in NEURAL_FAMILIES for c in NEURAL_CONFIGS],
         roles={"vocos/copy": "train", "hifigan/copy": "train", "vocos/smooth": "eval", "hifigan/smooth": "eval"})
