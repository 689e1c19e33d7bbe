"""The front end as a torch module: waveform to log-mel, linear log-spectrogram, LFCC or Whisper's log-mel.

Settings come from :class:`~spoofscan.frontend.config.FeatureConfig` (re-exported here), which is stored
in every checkpoint. The numpy twin of this module is :func:`spoofscan.frontend.numpy.frontend`; the
torch-free runtime uses that one, so an exported graph holds the network only.

Every model owns one of these (``model.frontend``). Its matrices are rebuilt from the config
and never stored in checkpoints, so the state dict holds only the network's weights (the
checkpoint records the features the weights were trained with, see :mod:`spoofscan.checkpoint`).
"""

from __future__ import annotations

import torch
from torch import nn

from .config import (DELTA_WIDTH, NORM_EPS, WHISPER_DYNAMIC_RANGE, WHISPER_OFFSET, WHISPER_SCALE, FeatureConfig,
                     dct_matrix, filterbank, stft_window)

__all__ = ["FeatureConfig", "Frontend"]


class Frontend(nn.Module):
    """Waveform to normalised log filterbank features (see :mod:`spoofscan.frontend.config`).

    Input: (batch, samples) float32 at ``cfg.sample_rate``.
    Output: (batch, 1, cfg.rows, frames) with ``frames = cfg.num_frames(samples)``.

    Buffers (not persistent): ``filterbank`` (n_mels, n_fft // 2 + 1), for ``lfcc`` ``dct``
    (n_lfcc, n_mels), and the STFT ``window`` (n_fft,).
    """

    def __init__(self, cfg: FeatureConfig):
        super().__init__()
        self.cfg = cfg
        self.register_buffer("filterbank", torch.from_numpy(filterbank(cfg)), persistent=False)
        if cfg.frontend == "lfcc":
            self.register_buffer("dct", torch.from_numpy(dct_matrix(cfg.n_lfcc, cfg.n_mels)), persistent=False)
        self.register_buffer("window", torch.from_numpy(stft_window(cfg)), persistent=False)

    def forward(self, waves: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        with torch.autocast(device_type=waves.device.type, enabled=False):
            spec = torch.stft(waves.float(), cfg.n_fft, hop_length=cfg.hop_length, win_length=cfg.n_fft,
                              window=self.window, center=True, pad_mode="reflect", return_complex=True)
            if cfg.frontend == "whisper":
                spec = spec[..., :-1]  # Whisper drops the last frame
            power = spec.real.square() + spec.imag.square()  # (batch, bins, frames)
            log = torch.log10 if cfg.frontend == "whisper" else torch.log
            x = log(torch.clamp(self.filterbank @ power, min=cfg.log_floor))  # (batch, n_mels, frames)
            if cfg.frontend == "lfcc":
                x = self.dct @ x  # (batch, n_lfcc, frames)
                d = _deltas(x)
                x = torch.cat([x, d, _deltas(d)], dim=1)
            elif cfg.frontend == "whisper":
                x = _whisper_scale(x)
            if cfg.normalize != "none":
                x = x - x.mean(dim=-1, keepdim=True)
            if cfg.normalize == "meanvar":
                x = x / (x.std(dim=-1, keepdim=True, unbiased=False) + NORM_EPS)
        return x.unsqueeze(1)


def _whisper_scale(x: torch.Tensor) -> torch.Tensor:
    """Whisper's scaling of (batch, bands, frames) log10 powers; the twin of
    :func:`spoofscan.frontend.numpy.whisper_scale`."""
    x = torch.maximum(x, x.amax(dim=(-2, -1), keepdim=True) - WHISPER_DYNAMIC_RANGE)
    return (x + WHISPER_OFFSET) / WHISPER_SCALE


def _deltas(x: torch.Tensor, width: int = DELTA_WIDTH) -> torch.Tensor:
    """Regression deltas over the last axis, edges repeated; the twin of :func:`spoofscan.frontend.numpy.deltas`."""
    frames = x.shape[-1]
    padded = torch.cat([x[..., :1].expand(*x.shape[:-1], width), x, x[..., -1:].expand(*x.shape[:-1], width)], dim=-1)
    num = sum(n * (padded[..., width + n:width + n + frames] - padded[..., width - n:width - n + frames])
              for n in range(1, width + 1))
    return num / (2.0 * sum(n * n for n in range(1, width + 1)))
