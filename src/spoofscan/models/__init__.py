"""Detector networks: one registry, one :func:`create_model` (as timm does).

A network is chosen by name in its config (``ModelConfig.arch``) and built from its config
and the front end's config, both stored in every checkpoint. Every network owns its front
end and names the inputs of its graph (see :class:`~spoofscan.models.resnet.DetectorNet`), so
the checkpoint card, ``info``, export and both runtimes read what they need from the artifact:
adding an architecture here needs no change in the detector, the CLI or the runtimes.

==========  ==============================================  ===================
arch        network                                         graph inputs
==========  ==============================================  ===================
``resnet``  ResNet on the spectrogram (ResNet-18 default)   features
``hybrid``  the same + a raw-waveform sinc/conv branch      features, wave
==========  ==============================================  ===================

:mod:`.encoders` holds pretrained speech encoders (Whisper's) used as frozen front ends.
"""

from __future__ import annotations

from ..frontend.config import FeatureConfig
from .config import ARCHS, MODEL_PRESETS, ModelConfig, model_preset
from .hybrid import HybridResNet
from .resnet import DetectorNet, ResNet, load_pretrained

ARCHITECTURES = {"resnet": ResNet, "hybrid": HybridResNet}
assert tuple(ARCHITECTURES) == ARCHS


def create_model(cfg: ModelConfig, features: FeatureConfig | None = None) -> DetectorNet:
    """The one way to make a network: from its config and its front end's config
    (default: the default :class:`~spoofscan.frontend.config.FeatureConfig`)."""
    return ARCHITECTURES[cfg.arch](cfg, features or FeatureConfig())


__all__ = ["ARCHITECTURES", "MODEL_PRESETS", "DetectorNet", "HybridResNet", "ModelConfig", "ResNet", "create_model",
           "load_pretrained", "model_preset"]
