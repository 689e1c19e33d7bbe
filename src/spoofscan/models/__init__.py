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
``encoder`` Whisper's encoder, every layer weighted, then   features
            attentive statistics pooling and an MLP
``hub``     the same over a transformers wav2vec 2.0 /      wave
            XLS-R / WavLM (the ``hub`` extra)
==========  ==============================================  ===================

:mod:`.encoders` holds pretrained speech encoders (Whisper's); :mod:`.ssl` the ``encoder`` network
built on one.
"""

from __future__ import annotations

from dataclasses import replace

from ..errors import SpoofscanError
from ..frontend.config import FeatureConfig
from .config import ARCHS, MODEL_PRESETS, ModelConfig, model_preset
from .hybrid import HybridResNet
from .resnet import DetectorNet, ResNet, load_pretrained
from .ssl import EncoderDetector, HubEncoderDetector

ARCHITECTURES = {"resnet": ResNet, "hybrid": HybridResNet, "encoder": EncoderDetector, "hub": HubEncoderDetector}
assert tuple(ARCHITECTURES) == ARCHS


def create_model(cfg: ModelConfig, features: FeatureConfig | None = None) -> DetectorNet:
    """The one way to make a network: from its config and its front end's config
    (default: the default :class:`~spoofscan.frontend.config.FeatureConfig`).

    Raises :class:`~spoofscan.errors.SpoofscanError` when the network's ``in_chans`` is not the
    front end's channel count."""
    features = features or FeatureConfig()
    if cfg.in_chans != features.num_channels:
        raise SpoofscanError(f"model in_chans={cfg.in_chans} does not match the front end's {features.num_channels} "
                             f"channel(s) {', '.join(features.channels)}: set the model's in_chans to "
                             f"{features.num_channels} (see spoofscan.models.match_in_chans)")
    return ARCHITECTURES[cfg.arch](cfg, features)


def match_in_chans(cfg: ModelConfig, features: FeatureConfig) -> ModelConfig:
    """``cfg`` with ``in_chans`` set to the front end's channel count when it is left at 1 (the
    default, what every preset has), so that a preset name goes with any ``channels``; any other
    value is kept (and :func:`create_model` refuses it if it does not match)."""
    if cfg.in_chans == 1 and features.num_channels != 1:
        return replace(cfg, in_chans=features.num_channels)
    return cfg


__all__ = ["ARCHITECTURES", "MODEL_PRESETS", "DetectorNet", "EncoderDetector", "HubEncoderDetector", "HybridResNet",
           "ModelConfig", "ResNet", "create_model", "load_pretrained", "match_in_chans", "model_preset"]
