"""The model config that travels in every checkpoint, and the named presets of ``--model``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Optional

from ..config import Config
from ..errors import SpoofscanError, choice_error
from .encoders.hub import check_hub_config
from .encoders.whisper import WhisperConfig

ARCHS = ("resnet", "hybrid", "encoder", "hub")  # see spoofscan.models.ARCHITECTURES
ENCODER_ARCHS = ("encoder", "hub")  # the layer-weighted networks over a pretrained encoder (spoofscan.models.ssl)
MAX_BLOCKS = 16  # basic blocks per ResNet stage (ResNet-18: 2)
MAX_WIDTH = 256  # channels of a first stage (ResNet-18: 64; its last stage has 8x)
MAX_IN_CHANS = 16
MAX_HEAD_WIDTH = 4096  # the encoder model's back end


@dataclass(frozen=True)
class ModelConfig(Config):
    """Network architecture and shape.

    arch : ``resnet`` (a ResNet on the front end's spectrogram), ``hybrid`` (the same ResNet
        branch plus a raw-waveform branch, fused before the head), ``encoder`` (Whisper's encoder,
        every layer weighted, a light back end) or ``hub`` (the same over a ``transformers``
        wav2vec 2.0 / XLS-R / WavLM); see :mod:`spoofscan.models`
    layers : basic blocks per ResNet stage (2-2-2-2 is ResNet-18)
    width : channels of the first ResNet stage (64 in ResNet-18); stages double it
    dropout : before the final linear layer
    in_chans : input channels of the ResNet stem: the front end's channel count
        (``FeatureConfig.channels``; 1: one spectrogram)
    wave_width : ``hybrid`` only: channels of the waveform branch's first stage (its sinc
        filters); its embedding has ``4 * wave_width`` values
    encoder : ``encoder`` only: the dimensions of its Whisper encoder (a :class:`WhisperConfig`;
        None for the other architectures)
    hub : ``hub`` only: the ``transformers`` config of its encoder, as a mapping (``model_type``
        wav2vec2, wavlm or hubert; see :mod:`spoofscan.models.encoders.hub`)
    head_width : ``encoder`` and ``hub``: width of the back end (the projection of the weighted hidden
        states, the attentive pooling's input; the pooled embedding has twice as many values)
    trainable_layers : ``encoder`` and ``hub``: the encoder's top blocks that training updates (0: the
        encoder is frozen, and training runs on its cached hidden states; N: the top N blocks and
        the final LayerNorm are fine-tuned end to end, a GPU option)
    """

    arch: str = "resnet"
    layers: tuple = (2, 2, 2, 2)
    width: int = 64
    dropout: float = 0.0
    in_chans: int = 1
    wave_width: int = 32
    encoder: Optional[WhisperConfig] = None
    hub: Optional[dict] = field(default=None, hash=False)
    head_width: int = 128
    trainable_layers: int = 0

    @classmethod
    def field_values(cls, d: dict) -> dict:
        """A mapping given for ``encoder`` (a card's) becomes a :class:`WhisperConfig`; arch ``encoder``
        without one gets Whisper base's dimensions."""
        if isinstance(d.get("encoder"), dict):
            d = {**d, "encoder": WhisperConfig.from_dict(d["encoder"])}
        elif d.get("arch") == "encoder" and d.get("encoder") is None:
            d = {**d, "encoder": WhisperConfig()}
        if isinstance(d.get("hub"), dict):  # as JSON gives it back, so that a card's copy compares equal
            d = {**d, "hub": json.loads(json.dumps(d["hub"]))}
        return d

    def __post_init__(self):
        # types and size limits too: a config read from a card must not raise TypeError or build a giant
        def whole(value):
            return isinstance(value, int) and not isinstance(value, bool)

        if self.arch not in ARCHS:
            raise choice_error("model arch", self.arch, ARCHS)
        if not isinstance(self.layers, (tuple, list)) or len(self.layers) != 4 \
                or not all(whole(n) and 1 <= n <= MAX_BLOCKS for n in self.layers):
            raise SpoofscanError(f"layers must be four block counts in 1..{MAX_BLOCKS}, got {self.layers!r}")
        for name, top in (("width", MAX_WIDTH), ("in_chans", MAX_IN_CHANS), ("wave_width", MAX_WIDTH)):
            value = getattr(self, name)
            if not whole(value) or value < 1:
                raise SpoofscanError(f"{name} must be a positive channel count, got {value!r}")
            if value > top:
                raise SpoofscanError(f"{name} must be at most {top} channels, got {value}")
        if not isinstance(self.dropout, (int, float)) or isinstance(self.dropout, bool) or not 0.0 <= self.dropout < 1.0:
            raise SpoofscanError(f"dropout must be in [0, 1), got {self.dropout!r}")
        self._check_encoder(whole)

    def _check_encoder(self, whole) -> None:
        """The encoder architectures' fields: an encoder config exactly for arch ``encoder``, a hub config
        exactly for arch ``hub``."""
        if self.arch == "encoder" and self.encoder is None:
            raise SpoofscanError("model arch 'encoder' needs its encoder's dimensions (encoder: a WhisperConfig; "
                                 "use ModelConfig.from_dict or the whisper-base-sls preset)")
        if self.arch == "hub" and self.hub is None:
            raise SpoofscanError("model arch 'hub' needs its transformers config (hub: a mapping, e.g. from "
                                 "spoofscan.models.encoders.hub.hub_config(FOLDER))")
        for name in ("encoder", "hub"):
            if self.arch != name and getattr(self, name) is not None:
                raise SpoofscanError(f"model arch {self.arch!r} takes no {name} config (only arch {name!r} does)")
        if self.encoder is not None and not isinstance(self.encoder, WhisperConfig):
            raise SpoofscanError(f"encoder must be a WhisperConfig or a mapping of its fields, got {self.encoder!r}")
        if self.hub is not None:
            check_hub_config(self.hub)
        if not whole(self.head_width) or not 1 <= self.head_width <= MAX_HEAD_WIDTH:
            raise SpoofscanError(f"head_width must be a whole number in 1..{MAX_HEAD_WIDTH}, got {self.head_width!r}")
        top = self.encoder.layers if self.encoder is not None else self.hub["num_hidden_layers"] if self.hub else 0
        if not whole(self.trainable_layers) or not 0 <= self.trainable_layers <= top:
            raise SpoofscanError(f"trainable_layers must be a whole number in 0..{top} (the encoder's blocks), "
                                 f"got {self.trainable_layers!r}")


# Named architectures: the layout (resnet18: 2-2-2-2 blocks, resnet10: 1-1-1-1), then the width when
# it is not ResNet-18's 64 channels (half: 32, a quarter of the parameters; mini: 8, for tests).
MODEL_PRESETS = {
    "resnet18": ModelConfig(),
    "resnet10": ModelConfig(layers=(1, 1, 1, 1)),
    "resnet18-half": ModelConfig(width=32),
    "resnet10-mini": ModelConfig(layers=(1, 1, 1, 1), width=8),  # for tests: trains in seconds on a CPU
    "resnet18-hybrid": ModelConfig(arch="hybrid"),
    "resnet18-half-hybrid": ModelConfig(arch="hybrid", width=32, wave_width=16),
    "resnet10-mini-hybrid": ModelConfig(arch="hybrid", layers=(1, 1, 1, 1), width=8, wave_width=4),  # for tests
    # a Whisper encoder's every layer, weighted, then attentive statistics pooling (spoofscan.models.ssl): base's
    # dimensions (initialised from the published weights in training), and a tiny random one for tests
    "whisper-base-sls": ModelConfig(arch="encoder", encoder=WhisperConfig(), head_width=128, dropout=0.1),
    "whisper-mini-sls": ModelConfig(arch="encoder", encoder=WhisperConfig(d_model=32, heads=2, layers=2,
                                                                          max_positions=200), head_width=16),
}


def model_preset(name: str) -> ModelConfig:
    """The ModelConfig a ``--model`` name stands for (:data:`MODEL_PRESETS`)."""
    if name not in MODEL_PRESETS:
        raise choice_error("model", name, MODEL_PRESETS)
    return MODEL_PRESETS[name]
