"""The log-mel front end as a torch module, shared by training, prediction and ONNX export.

Settings come from :class:`~spoofscan.dsp.FeatureConfig` (re-exported here), which is stored
in every checkpoint. The numpy twin of this module is :func:`spoofscan.dsp.log_mel`.
"""

from __future__ import annotations

import torch
from torch import nn

from .dsp import NORM_EPS, FeatureConfig, mel_filterbank, stft_window

__all__ = ["FeatureConfig", "LogMel"]


class LogMel(nn.Module):
    """Waveform to normalised log-mel spectrogram.

    Input: (batch, samples) float32 at ``cfg.sample_rate``.
    Output: (batch, 1, n_mels, frames) with ``frames = samples // hop_length + 1``.

    The mel matrix and window are non-persistent buffers: they are rebuilt from the config
    and never stored in checkpoints, so the state dict holds only the network's weights.
    """

    def __init__(self, cfg: FeatureConfig):
        super().__init__()
        self.cfg = cfg
        self.register_buffer("mel", torch.from_numpy(mel_filterbank(cfg)), persistent=False)
        self.register_buffer("window", torch.from_numpy(stft_window(cfg)), persistent=False)

    def forward(self, waves: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        with torch.autocast(device_type=waves.device.type, enabled=False):
            spec = torch.stft(waves.float(), cfg.n_fft, hop_length=cfg.hop_length, win_length=cfg.n_fft,
                              window=self.window, center=True, pad_mode="reflect", return_complex=True)
            power = spec.real.square() + spec.imag.square()  # (batch, bins, frames)
            x = torch.log(torch.clamp(self.mel @ power, min=cfg.log_floor))  # (batch, n_mels, frames)
            if cfg.normalize != "none":
                x = x - x.mean(dim=-1, keepdim=True)
            if cfg.normalize == "meanvar":
                x = x / (x.std(dim=-1, keepdim=True, unbiased=False) + NORM_EPS)
        return x.unsqueeze(1)
