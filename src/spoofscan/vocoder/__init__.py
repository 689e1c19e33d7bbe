"""Small neural vocoders the project trains on its own real speech, for the corpus's neural fakes.

- :mod:`.model`: :class:`VocoderConfig`, :func:`build_vocoder` (``istft``: Vocos-like;
  ``upsample``: HiFi-GAN-like), :data:`VOCODER_PRESETS` (family -> corpus size -> config);
- :mod:`.train`: :func:`train_vocoder` (resumable, reproducible, safetensors + JSON card),
  :func:`load_vocoder`, :func:`vocode` (copy-synthesis), :func:`mel_distance`.

CLI: ``spoofscan vocoder train``. The corpus builder trains one per neural family on its
train-split real clips and caches it (:mod:`spoofscan.corpus.builder`).
"""

from .model import ARCHS, VOCODER_PRESETS, Vocoder, VocoderConfig, build_vocoder
from .train import (VocoderResult, VocoderTrainConfig, load_vocoder, mel_distance, prepare, read_vocoder_card,
                    train_vocoder, vocode)

__all__ = ["ARCHS", "VOCODER_PRESETS", "Vocoder", "VocoderConfig", "VocoderResult", "VocoderTrainConfig",
           "build_vocoder", "load_vocoder", "mel_distance", "prepare", "read_vocoder_card", "train_vocoder", "vocode"]
