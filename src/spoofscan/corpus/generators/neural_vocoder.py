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
import importlib.util
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ...audio import resample
from ...errors import SpoofscanError, choice_error
from .base import Generator, Request

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
class NeuralVocoderGenerator(Generator):
    """Copy-synthesis through a trained neural vocoder.

    family : ``vocos`` or ``hifigan`` (which vocoder the corpus builder trains for it)
    config : ``copy`` or ``smooth``
    checkpoint : the vocoder (``vocoder.safetensors`` or its folder); set by the corpus builder
    key : a hash of everything the vocoder depends on (the builder's cache key; ``""`` when
        the checkpoint was given by hand: then its path stands in)
    """

    family_name: str = "vocos"
    config: str = "copy"
    checkpoint: str = ""
    key: str = ""
    needs: str = "audio"

    def __post_init__(self):
        if self.family_name not in NEURAL_FAMILIES:
            raise choice_error("neural vocoder family", self.family_name, NEURAL_FAMILIES)
        if self.config not in NEURAL_CONFIGS:
            raise choice_error("neural vocoder configuration", self.config, NEURAL_CONFIGS)

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"{self.family_name}/{self.config}"

    @property
    def engine(self) -> str:  # type: ignore[override]
        return self.family_name

    @property
    def licence(self) -> str:  # type: ignore[override]
        arch = "Vocos-like (after Siuzdak 2023, MIT)" if self.family_name == "vocos" else \
            "HiFi-GAN-like (after Kong et al. 2020, MIT)"
        return (f"{arch} vocoder written and trained by spoofscan (Apache-2.0) on this corpus's train-split "
                "real clips; its weights derive from those recordings (see their licences above)")

    def bound(self, checkpoint: str | Path, key: str) -> "NeuralVocoderGenerator":
        """This configuration with a trained vocoder."""
        return replace(self, checkpoint=str(checkpoint), key=key)

    def fingerprint(self) -> str:
        return self.key or self.checkpoint

    def is_available(self) -> bool:
        return importlib.util.find_spec("torch") is not None

    def missing_hint(self) -> str:
        return "install torch (pip install 'spoofscan[torch]'); the corpus builder trains the vocoder itself"

    def synthesize(self, request: Request) -> tuple[np.ndarray, int]:
        if not self.checkpoint:
            raise SpoofscanError(f"generator {self.name} has no trained vocoder: the corpus builder trains one, "
                                 "or pass checkpoint= a 'spoofscan vocoder train' output")
        if request.audio is None or len(request.audio) == 0:
            raise SpoofscanError(f"generator {self.name} needs a source clip, got none")
        import torch

        from ...vocoder import vocode

        threads = torch.get_num_threads()
        torch.set_num_threads(SYNTHESIS_THREADS)  # before any torch work: see _init_worker in corpus/builder.py
        try:
            model, card = _load(str(self.checkpoint))
            rate = int(card["model"]["sample_rate"])
            frames_per_second = rate / int(card["model"]["hop_length"])
            smooth = self.config == "smooth"
            x = resample(np.asarray(request.audio, np.float32), int(request.rate), rate)
            y = vocode(model, x, smooth_frames=max(1, round(SMOOTH_SECONDS * frames_per_second)) if smooth else 1,
                       detail=SMOOTH_DETAIL if smooth else 1.0)
        finally:
            torch.set_num_threads(threads)
        if not np.isfinite(y).all() or not np.any(y):
            raise SpoofscanError(f"generator {self.name}: the vocoder produced no finite audio")
        return y, rate
