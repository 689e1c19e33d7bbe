"""Small neural vocoders the project trains on its own real speech, for the corpus's neural fakes.

- :mod:`.config`: :class:`VocoderConfig`, a vocoder's architecture and mel front end (no torch);
- :mod:`.recipes`: :data:`VOCODER_RECIPES`, each family's architecture and the training budget (no torch);
- :mod:`.model`: :func:`build_vocoder` (``istft``: Vocos-like; ``upsample``: HiFi-GAN-like);
- :mod:`.train`: :func:`train_vocoder` (resumable, reproducible, safetensors + JSON card),
  :func:`load_vocoder`, :func:`vocode` (copy-synthesis), :func:`mel_distance`;

CLI: ``spoofscan vocoder train``. The corpus builder trains one per neural family on its
train-split real clips and caches it (:mod:`spoofscan.corpus.vocoder_jobs`). Importing this
package does not import torch: the names of :mod:`.model` and :mod:`.train` load it on first use.
"""

import importlib

from .config import ARCHS, VocoderConfig
from .recipes import VOCODER_FAMILIES, VOCODER_RECIPES, VocoderRecipe, vocoder_recipe

_TORCH_NAMES = {"Vocoder": "model", "build_vocoder": "model", "VocoderResult": "train", "VocoderTrainConfig": "train",
                "load_vocoder": "train", "mel_distance": "train", "prepare": "train", "read_vocoder_card": "train",
                "train_vocoder": "train", "vocode": "train"}


def __getattr__(name: str):
    if name in _TORCH_NAMES:
        return getattr(importlib.import_module(f".{_TORCH_NAMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ARCHS", "VOCODER_FAMILIES", "VOCODER_RECIPES", "VocoderConfig", "VocoderRecipe", "vocoder_recipe",
           *sorted(_TORCH_NAMES)]
