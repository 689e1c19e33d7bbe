"""``hybrid``: the spectrogram ResNet plus a raw-waveform branch, fused before the head.

The spectrogram branch is :class:`~spoofscan.models.resnet.ResNet` (same names, so ImageNet
weights still initialise it). The waveform branch follows RawNet2 / AASIST: a bank of
learnable band-pass sinc filters (Ravanelli and Bengio, "Speaker recognition from raw
waveform with SincNet", 2018) on the window's samples, rectified and max-pooled, then three
residual 1-D convolution blocks, then mean and max over time. The two embeddings are
concatenated and one linear layer gives the bona fide logit.

The waveform branch sees what a spectrogram front end throws away: phase, the fine time
structure of excitation pulses and frame-boundary artefacts of vocoders.

Cost per 2-s window (32,000 samples) with ``wave_width`` 32: about 0.13 G multiply-adds in
the waveform branch against about 0.9 G in ResNet-18 on a 128 x 201 log-mel.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..audio import SAMPLE_RATE
from ..frontend.config import FeatureConfig, hz_to_mel, mel_to_hz
from .config import ModelConfig
from .resnet import ResNet

SINC_KERNEL = 129  # taps of each sinc filter: 8 ms at 16 kHz
SINC_STRIDE = 2
SINC_MIN_LOW_HZ = 30.0  # lowest lower cut-off
SINC_MIN_BAND_HZ = 50.0  # narrowest band
FIRST_POOL = 4  # max-pooling after the rectified sinc filters
BLOCK_POOL = 3  # max-pooling after each residual block
LEVEL_EPS = 1e-4  # floor of the window RMS the waveform is divided by
NEGATIVE_SLOPE = 0.3  # LeakyReLU, as in RawNet2


class SincConv(nn.Module):
    """Learnable band-pass filters: each is the difference of two windowed sinc low-passes.

    Input (batch, 1, samples) at ``sample_rate``; output (batch, channels, samples // stride)
    roughly. Parameters: each filter's lower cut-off and bandwidth in Hz (initialised on the mel
    scale up to Nyquist). :meth:`freeze` stores the current taps as a plain weight so that an
    exported graph holds a constant convolution (what INT8 quantisation needs).
    """

    def __init__(self, channels: int, kernel: int = SINC_KERNEL, stride: int = SINC_STRIDE,
                 sample_rate: int = SAMPLE_RATE):
        super().__init__()
        self.kernel, self.stride, self.sample_rate = kernel, stride, sample_rate
        edges = mel_to_hz(torch.linspace(float(hz_to_mel(SINC_MIN_LOW_HZ)),
                                         float(hz_to_mel(sample_rate / 2 - SINC_MIN_BAND_HZ)), channels + 1).numpy())
        edges = torch.as_tensor(edges, dtype=torch.float32)
        self.low_hz = nn.Parameter((edges[:-1] - SINC_MIN_LOW_HZ).unsqueeze(1))
        self.band_hz = nn.Parameter((edges[1:] - edges[:-1]).unsqueeze(1))
        n = torch.arange(kernel, dtype=torch.float32)
        self.register_buffer("t", ((n - (kernel - 1) / 2) / sample_rate).unsqueeze(0), persistent=False)
        self.register_buffer("taper", torch.hamming_window(kernel, periodic=False), persistent=False)
        self.frozen: torch.Tensor | None = None

    def taps(self) -> torch.Tensor:
        """The filters, (channels, 1, kernel), unit gain in the pass band."""
        low = SINC_MIN_LOW_HZ + self.low_hz.abs()
        high = torch.clamp(low + SINC_MIN_BAND_HZ + self.band_hz.abs(), SINC_MIN_LOW_HZ, self.sample_rate / 2)
        t = self.t
        centre = t == 0
        safe_t = torch.where(centre, torch.ones_like(t), t)
        band = (torch.sin(2 * math.pi * high * safe_t) - torch.sin(2 * math.pi * low * safe_t)) / (math.pi * safe_t)
        band = torch.where(centre, 2 * (high - low), band)
        return (band * self.taper / self.sample_rate).unsqueeze(1)

    def freeze(self) -> None:
        """Keep the current taps as a constant (for export); training must not follow."""
        self.frozen = self.taps().detach().clone()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.frozen if self.frozen is not None else self.taps()
        return F.conv1d(x, weight, stride=self.stride)


class MaxPoolTime(nn.Module):
    """Max-pooling over the last axis of (batch, channels, time), without padding.

    Written as a 2-D pooling over (1, size): the same result as ``nn.MaxPool1d(size)``, but
    ``torch.export`` keeps the time axis dynamic through it (its 1-D pooling pins the axis to
    the example's length).
    """

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(x.unsqueeze(2), (1, self.size)).squeeze(2)


class Block1d(nn.Module):
    """Residual block of two 3-tap convolutions, then max-pooling over time."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        self.conv1 = nn.Conv1d(in_ch, out_ch, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm1d(out_ch)
        self.conv2 = nn.Conv1d(out_ch, out_ch, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm1d(out_ch)
        self.act = nn.LeakyReLU(NEGATIVE_SLOPE)
        self.downsample = None if in_ch == out_ch else nn.Sequential(nn.Conv1d(in_ch, out_ch, 1, bias=False),
                                                                     nn.BatchNorm1d(out_ch))
        self.pool = MaxPoolTime(BLOCK_POOL)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.bn2(self.conv2(self.act(self.bn1(self.conv1(x)))))
        return self.pool(self.act(out + identity))


class WaveBranch(nn.Module):
    """(batch, samples) 16 kHz waveform -> (batch, 4 * width) embedding.

    The window is divided by its RMS first, so the branch does not see the recording level.
    """

    def __init__(self, width: int, sample_rate: int = SAMPLE_RATE):
        super().__init__()
        self.sinc = SincConv(width, sample_rate=sample_rate)
        self.pool = MaxPoolTime(FIRST_POOL)
        self.bn = nn.BatchNorm1d(width)
        self.act = nn.LeakyReLU(NEGATIVE_SLOPE)
        self.blocks = nn.Sequential(Block1d(width, width), Block1d(width, 2 * width), Block1d(2 * width, 2 * width))

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        x = wave / (wave.square().mean(dim=-1, keepdim=True).sqrt() + LEVEL_EPS)
        x = self.act(self.bn(self.pool(self.sinc(x.unsqueeze(1)).abs())))
        x = self.blocks(x).unsqueeze(2)  # global pooling written in 2-D: ONNX Global*Pool, which every tool knows
        return torch.cat([F.adaptive_avg_pool2d(x, 1).flatten(1), F.adaptive_max_pool2d(x, 1).flatten(1)], dim=1)


class HybridResNet(ResNet):
    """Graph inputs ``features`` (batch, 1, rows, frames) and ``wave`` (batch, samples);
    output (batch,) bona fide logit. ``fc`` takes both embeddings, concatenated."""

    inputs = ("features", "wave")

    def __init__(self, cfg: ModelConfig, features: FeatureConfig):
        super().__init__(cfg, features)
        self.wave = WaveBranch(cfg.wave_width, features.sample_rate)
        self.fc = nn.Linear(self.fc.in_features + 4 * cfg.wave_width, 1)

    def forward_inputs(self, features: torch.Tensor, wave: torch.Tensor) -> torch.Tensor:
        emb = torch.cat([self.forward_features(features), self.wave(wave)], dim=1)
        return self.forward_head(emb)
