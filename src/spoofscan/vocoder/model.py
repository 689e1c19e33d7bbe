"""Small neural vocoders (log-mel spectrogram to waveform) that spoofscan trains itself.

Two architectures, the two main lines of modern GAN vocoders, cut down to fit a CPU:

- ``istft`` (after Vocos, Siuzdak 2023): a ConvNeXt backbone at the frame rate predicts the
  log-magnitude and the phase of every STFT bin; an inverse STFT makes the waveform. All the
  work happens at the frame rate, so it is cheap.
- ``upsample`` (after HiFi-GAN, Kong et al. 2020): transposed convolutions upsample the mel
  frames to the sample rate, each stage followed by a multi-receptive-field block of dilated
  residual convolutions; a convolution and tanh make the waveform.

The mel front end is the project's :class:`~spoofscan.frontend.torch.Frontend` (log-mel) with the vocoder's
own settings (no normalisation), so training targets and synthesis inputs are computed alike.

    >>> model = build_vocoder(VOCODER_RECIPES["draft"].models["vocos"])
    >>> wave = model(model.mel(torch.zeros(1, 16000)))   # (1, 16000)
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..frontend.torch import Frontend
from .config import VocoderConfig

MAX_LOG_MAGNITUDE = 4.6  # exp(4.6) ~ 100: the istft head's magnitude ceiling (keeps early training finite)
LEAKY_SLOPE = 0.1  # HiFi-GAN's LeakyReLU slope
INIT_STD = 0.02  # weight init (Vocos: truncated normal, std 0.02)


class Vocoder(nn.Module):
    """Base: ``mel(waves)`` (batch, samples) -> (batch, n_mels, frames); ``forward(mel)`` -> (batch, samples)."""

    def __init__(self, cfg: VocoderConfig):
        super().__init__()
        self.cfg = cfg
        self.front = Frontend(cfg.features())

    def mel(self, waves: torch.Tensor) -> torch.Tensor:
        return self.front(waves).squeeze(1)

    def _init(self) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, std=INIT_STD)
                nn.init.zeros_(m.bias)


class ConvNeXtBlock(nn.Module):
    """Depthwise conv (kernel 7), LayerNorm, pointwise MLP (x3, GELU), layer scale, residual. (batch, C, T)."""

    def __init__(self, dim: int, scale: float):
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pw1 = nn.Linear(dim, 3 * dim)
        self.pw2 = nn.Linear(3 * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).transpose(1, 2)
        y = self.pw2(F.gelu(self.pw1(self.norm(y))))
        return x + (self.gamma * y).transpose(1, 2)


class IstftVocoder(Vocoder):
    """Vocos-like: ConvNeXt backbone at the frame rate, magnitude and phase head, inverse STFT."""

    def __init__(self, cfg: VocoderConfig):
        super().__init__(cfg)
        dim = cfg.channels
        self.embed = nn.Conv1d(cfg.n_mels, dim, 7, padding=3)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.backbone = nn.ModuleList(ConvNeXtBlock(dim, 1.0 / max(cfg.blocks, 1)) for _ in range(cfg.blocks))
        self.final_norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, cfg.n_fft + 2)
        self.register_buffer("window", torch.hann_window(cfg.n_fft), persistent=False)
        self._init()

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """(batch, n_mels, frames) -> (batch, (frames - 1) * hop_length)."""
        x = self.norm(self.embed(mel).transpose(1, 2)).transpose(1, 2)
        for block in self.backbone:
            x = block(x)
        x = self.head(self.final_norm(x.transpose(1, 2))).transpose(1, 2)  # (batch, n_fft + 2, frames)
        log_mag, phase = x.chunk(2, dim=1)
        mag = torch.exp(log_mag.clamp(max=MAX_LOG_MAGNITUDE))
        spec = torch.complex(mag * torch.cos(phase), mag * torch.sin(phase))
        return torch.istft(spec, self.cfg.n_fft, hop_length=self.cfg.hop_length, win_length=self.cfg.n_fft,
                           window=self.window, center=True)


class ResBlock(nn.Module):
    """HiFi-GAN's residual block: for each dilation, LeakyReLU, dilated conv, LeakyReLU, conv, residual."""

    def __init__(self, channels: int, kernel: int, dilations: tuple):
        super().__init__()
        self.convs1 = nn.ModuleList(nn.Conv1d(channels, channels, kernel, dilation=d, padding=d * (kernel - 1) // 2)
                                    for d in dilations)
        self.convs2 = nn.ModuleList(nn.Conv1d(channels, channels, kernel, padding=(kernel - 1) // 2)
                                    for _ in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c1, c2 in zip(self.convs1, self.convs2):
            x = x + c2(F.leaky_relu(c1(F.leaky_relu(x, LEAKY_SLOPE)), LEAKY_SLOPE))
        return x


class UpsampleVocoder(Vocoder):
    """HiFi-GAN-like: transposed-convolution upsampling stages, each with a multi-receptive-field block."""

    def __init__(self, cfg: VocoderConfig):
        super().__init__(cfg)
        self.pre = nn.Conv1d(cfg.n_mels, cfg.channels, 7, padding=3)
        self.ups = nn.ModuleList()
        self.mrfs = nn.ModuleList()
        ch = cfg.channels
        for r in cfg.upsample_rates:
            self.ups.append(nn.ConvTranspose1d(ch, ch // 2, 2 * r, stride=r, padding=r // 2 + r % 2,
                                               output_padding=r % 2))
            ch //= 2
            self.mrfs.append(nn.ModuleList(ResBlock(ch, k, cfg.dilations) for k in cfg.kernels))
        self.post = nn.Conv1d(ch, 1, 7, padding=3)
        self._init()

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """(batch, n_mels, frames) -> (batch, frames * hop_length)."""
        x = self.pre(mel)
        for up, mrf in zip(self.ups, self.mrfs):
            x = up(F.leaky_relu(x, LEAKY_SLOPE))
            x = sum(block(x) for block in mrf) / len(mrf)
        return torch.tanh(self.post(F.leaky_relu(x, LEAKY_SLOPE))).squeeze(1)


def build_vocoder(cfg: VocoderConfig) -> Vocoder:
    """The vocoder ``cfg`` describes, with fresh weights (seed torch first for reproducible ones)."""
    return {"istft": IstftVocoder, "upsample": UpsampleVocoder}[cfg.arch](cfg)

