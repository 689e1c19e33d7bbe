"""Detector networks, built from their config by :func:`create_model` (one registry, as in timm)."""

from __future__ import annotations

from torch import nn

from .resnet import MODEL_PRESETS, ModelConfig, ResNet, load_pretrained, model_preset


def create_model(cfg: ModelConfig) -> nn.Module:
    """The one way to make a network: from its config."""
    return ResNet(cfg)


__all__ = ["MODEL_PRESETS", "ModelConfig", "ResNet", "create_model", "load_pretrained", "model_preset"]
