"""Whisper's audio encoder as a torch module of spoofscan's own, for use as a frozen front end.

The network (Radford et al. 2022, "Robust Speech Recognition via Large-Scale Weak Supervision"):
two 1-D convolutions over the log-mel (kernel 3, padding 1, GELU; the second with stride 2, so one
position per 20 ms), a position table added, pre-norm transformer blocks (self-attention with the
query, key and value projections fused in one matrix, then a 4x GELU feed-forward layer, each
behind a LayerNorm and a residual), and a final LayerNorm.

Whisper was trained on 30-s inputs (3000 log-mel frames, 1500 positions); its table is cut to the
input's length here, so 2- to 4-s windows run without 26 s of padding. The input is the
``whisper`` front end of :mod:`spoofscan.frontend` (see :func:`check_whisper_features`).

:class:`WhisperEncoder` returns the hidden state of every layer: what the convolutions and the
position table give, each block's output, the last one after the final LayerNorm (as Whisper and
Hugging Face's ``output_hidden_states`` give them). Its weights come from
:func:`spoofscan.models.encoders.weights.load_whisper_encoder`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...config import Config
from ...errors import SpoofscanError
from ...frontend.config import WHISPER_SETTINGS, FeatureConfig

LAYER_NORM_EPS = 1e-5
FFN_MULTIPLE = 4  # the feed-forward layer's width is 4 x d_model in every Whisper model
STEM_STRIDE = 2  # log-mel frames per position (conv2's stride)
MAX_TIMESCALE = 10_000  # of Whisper's sinusoidal position table
# Size limits of a WhisperConfig (a card from a file is built through them); Whisper large is 1280 x 32
MAX_D_MODEL = 4096
MAX_LAYERS = 64
MAX_POSITIONS = 1 << 16


@dataclass(frozen=True)
class WhisperConfig(Config):
    """Dimensions of a Whisper encoder; the default is Whisper base.

    n_mels : log-mel bands of the input (80; 128 for large-v3)
    d_model : width of every hidden state (tiny 384, base 512, small 768, medium 1024, large 1280)
    heads : attention heads (d_model / 64 in every Whisper model)
    layers : transformer blocks (tiny 4, base 6, small 12, medium 24, large 32)
    max_positions : rows of the position table: the longest input is ``2 * max_positions``
        log-mel frames (1500 rows: 30 s)
    """

    n_mels: int = 80
    d_model: int = 512
    heads: int = 8
    layers: int = 6
    max_positions: int = 1500

    def __post_init__(self):
        for name, top in (("n_mels", 512), ("d_model", MAX_D_MODEL), ("heads", MAX_D_MODEL), ("layers", MAX_LAYERS),
                          ("max_positions", MAX_POSITIONS)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= top:
                raise SpoofscanError(f"WhisperConfig {name} must be an integer in 1..{top}, got {value!r}")
        if self.d_model % self.heads:
            raise SpoofscanError(f"WhisperConfig d_model {self.d_model} must be a multiple of heads {self.heads}")

    def positions(self, frames: int) -> int:
        """Positions (hidden-state rows) for an input of ``frames`` log-mel frames."""
        return (frames - 1) // STEM_STRIDE + 1


def sinusoids(length: int, channels: int) -> torch.Tensor:
    """Whisper's position table, (length, channels) float32: sines of ``channels / 2`` timescales
    from 1 to :data:`MAX_TIMESCALE` positions (geometric), then the cosines of the same."""
    half = channels // 2
    inv_timescales = torch.exp(-math.log(MAX_TIMESCALE) / (half - 1) * torch.arange(half, dtype=torch.float64))
    angles = torch.arange(length, dtype=torch.float64)[:, None] * inv_timescales[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1).float()


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attention(norm(x))``, then ``x + ffn(norm(x))``.

    ``qkv`` holds the query, key and value projections stacked in that order (3 * d_model rows);
    Whisper's key projection has no bias, so the middle third of ``qkv.bias`` is zero.
    """

    def __init__(self, d_model: int, heads: int):
        super().__init__()
        self.heads = heads
        self.attn_norm = nn.LayerNorm(d_model, eps=LAYER_NORM_EPS)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.ffn_norm = nn.LayerNorm(d_model, eps=LAYER_NORM_EPS)
        self.fc1 = nn.Linear(d_model, FFN_MULTIPLE * d_model)
        self.fc2 = nn.Linear(FFN_MULTIPLE * d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, positions, d_model) -> the same shape."""
        batch, length, width = x.shape
        qkv = self.qkv(self.attn_norm(x)).reshape(batch, length, 3, self.heads, width // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (batch, heads, positions, head width)
        attended = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(batch, length, width)
        x = x + self.out(attended)
        return x + self.fc2(F.gelu(self.fc1(self.ffn_norm(x))))


class WhisperEncoder(nn.Module):
    """Whisper's encoder: log-mel -> the hidden state of every layer.

    Input: (batch, n_mels, frames) float32, the ``whisper`` front end (frames >= 1, at most
    ``2 * max_positions``; a 4-s window is 400 frames).
    Output: a list of ``layers + 1`` tensors (batch, positions, d_model) with
    ``positions = cfg.positions(frames)`` (200 for 4 s, 100 for 2 s): the convolutions' output
    plus the position table, then each block's output, the last one after the final LayerNorm.

    A new module has random weights and Whisper's sinusoidal table; load pretrained ones with
    :func:`~spoofscan.models.encoders.weights.load_whisper_encoder`. ``weights`` then names them
    (:class:`~spoofscan.models.encoders.weights.EncoderWeights`), else it is None.
    """

    def __init__(self, cfg: WhisperConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or WhisperConfig()
        self.weights = None
        self.conv1 = nn.Conv1d(cfg.n_mels, cfg.d_model, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(cfg.d_model, cfg.d_model, kernel_size=3, stride=STEM_STRIDE, padding=1)
        self.register_buffer("positions", sinusoids(cfg.max_positions, cfg.d_model))  # (max_positions, d_model)
        self.blocks = nn.ModuleList(Block(cfg.d_model, cfg.heads) for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(cfg.d_model, eps=LAYER_NORM_EPS)

    def forward(self, mel: torch.Tensor) -> list[torch.Tensor]:
        x = F.gelu(self.conv1(mel))
        x = F.gelu(self.conv2(x)).transpose(1, 2)  # (batch, positions, d_model)
        length = x.shape[1]
        # a RuntimeError in eager mode, and the fact torch.export needs to cut the table with a symbolic length
        torch._check(length <= self.cfg.max_positions,
                     lambda: f"{mel.shape[-1]} log-mel frames make {length} positions, more than the encoder's "
                             f"{self.cfg.max_positions}")
        x = x + self.positions[:length]
        hidden = [x]
        for i, block in enumerate(self.blocks):
            x = block(x)
            hidden.append(self.norm(x) if i == len(self.blocks) - 1 else x)
        return hidden


def check_whisper_features(features: FeatureConfig, cfg: WhisperConfig) -> None:
    """Raise a :class:`SpoofscanError` naming every setting of ``features`` that differs from the
    log-mel the encoder ``cfg`` was trained on (Whisper's, with ``cfg.n_mels`` bands), and a window
    too long for its position table."""
    wanted = {"frontend": "whisper", **WHISPER_SETTINGS, "n_mels": cfg.n_mels}
    wrong = [f"{name}={getattr(features, name)!r} (needs {value!r})" for name, value in wanted.items()
             if getattr(features, name) != value]
    frames = features.num_frames(features.window_samples)
    if cfg.positions(frames) > cfg.max_positions:
        wrong.append(f"window_seconds={features.window_seconds:g} ({frames} frames; the encoder takes at most "
                     f"{STEM_STRIDE * cfg.max_positions})")
    if wrong:
        raise SpoofscanError(f"features do not match the Whisper encoder: {', '.join(wrong)}")
