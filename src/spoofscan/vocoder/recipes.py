"""Named ways to make the project's neural vocoders: each family's architecture and the training budget.

The corpus builder trains one vocoder per neural fake family (``vocos``: Vocos-like, ``hifigan``:
HiFi-GAN-like) on held-back real clips; ``spoofscan vocoder train --recipe NAME`` trains one on
yours. The two families differ in architecture *and* mel settings (10 ms frames of 80 bands vs
16 ms frames of 64 bands), as separately built vocoders do. Budgets are steps, never time.

========  ===============================================================  ===========================
recipe    architectures                                                    budget
========  ===============================================================  ===========================
draft     narrow (Vocos-like 0.56 M parameters, HiFi-GAN-like 0.09 M)       300 steps of 8 crops
quality   wider and deeper                                                 4,000 steps of 16 crops
========  ===============================================================  ===========================

``draft`` fits the quickstart's CPU budget (the tiny and small corpora); ``quality`` is the full
corpus's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..errors import choice_error
from .config import VocoderConfig


@dataclass(frozen=True)
class VocoderRecipe:
    """Architectures and budget of one recipe.

    models : family (``vocos``, ``hifigan``) -> its :class:`VocoderConfig`
    steps, batch_size, segment_seconds : the training budget (:class:`~spoofscan.vocoder.VocoderTrainConfig`)
    clips : real clips of the corpus's train split held back to train on (None: up to ``clip_share``)
    clip_share : at most this share of the train split is held back
    lrs : family -> peak learning rate, where :class:`~spoofscan.vocoder.VocoderTrainConfig`'s default
        is too high for its architecture
    """

    models: dict
    steps: int
    batch_size: int
    segment_seconds: float
    clips: Optional[int]
    clip_share: float
    lrs: dict = field(default_factory=dict)

    def train_config(self, family: str, **settings):
        """The :class:`~spoofscan.vocoder.VocoderTrainConfig` of ``family`` under this recipe (its budget
        and learning rate), with ``settings`` (seed, threads, device, or another budget) over it; a
        setting of None keeps the recipe's."""
        from .train import VocoderTrainConfig

        base = {"steps": self.steps, "batch_size": self.batch_size, "segment_seconds": self.segment_seconds}
        if family in self.lrs:
            base["lr"] = self.lrs[family]
        return VocoderTrainConfig(**base | {k: v for k, v in settings.items() if v is not None})


VOCODER_RECIPES = {
    "draft": VocoderRecipe(
        models={"vocos": VocoderConfig(arch="istft", n_mels=80, n_fft=640, hop_length=160, channels=128, blocks=4),
                "hifigan": VocoderConfig(arch="upsample", n_mels=64, n_fft=1024, hop_length=256, channels=64,
                                         upsample_rates=(8, 8, 4), kernels=(3,), dilations=(1, 3))},
        steps=300, batch_size=8, segment_seconds=0.5, clips=240, clip_share=0.3),
    "quality": VocoderRecipe(
        models={"vocos": VocoderConfig(arch="istft", n_mels=80, n_fft=640, hop_length=160, channels=256, blocks=8),
                "hifigan": VocoderConfig(arch="upsample", n_mels=64, n_fft=1024, hop_length=256, channels=256,
                                         upsample_rates=(8, 8, 4), kernels=(3, 7, 11), dilations=(1, 3, 5))},
        steps=4000, batch_size=16, segment_seconds=0.5, clips=None, clip_share=0.2,
        # at the default 2e-3 this HiFi-GAN-like generator (4x draft's width, three kernel sizes) diverged at step
        # 325 of 4,000 and never recovered (copies farther from the originals than an untrained one's);
        # so it trains at a quarter of it (about in proportion to the width, as usual with Adam)
        lrs={"hifigan": 5e-4}),
}
VOCODER_FAMILIES = ("vocos", "hifigan")


def vocoder_recipe(name: str) -> VocoderRecipe:
    """The recipe called ``name`` (:data:`VOCODER_RECIPES`)."""
    if name not in VOCODER_RECIPES:
        raise choice_error("vocoder recipe", name, VOCODER_RECIPES)
    return VOCODER_RECIPES[name]
