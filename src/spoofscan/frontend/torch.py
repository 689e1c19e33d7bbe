"""The front end as a torch module: waveform to log-mel, linear log-spectrogram, LFCC or Whisper's
log-mel, with phase channels stacked when the config names them (:mod:`spoofscan.frontend.phase`).

Settings come from :class:`~spoofscan.frontend.config.FeatureConfig` (re-exported here), which is stored
in every checkpoint. The numpy twin of this module is :func:`spoofscan.frontend.numpy.frontend`; the
torch-free runtime uses that one, so an exported graph holds the network only.

Every model owns one of these (``model.frontend``). Its matrices are rebuilt from the config
and never stored in checkpoints, so the state dict holds only the network's weights (the
checkpoint records the features the weights were trained with, see :mod:`spoofscan.checkpoint`).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config import (DELTA_WIDTH, NORM_EPS, WHISPER_DYNAMIC_RANGE, WHISPER_OFFSET, WHISPER_SCALE, FeatureConfig,
                     dct_matrix, filterbank, stft_window)
from .phase import PHASE_FLOOR, cepstral_lifter, derivative_window, pooling_filterbank, ramp_window
from .spans import WindowSpan, edge_audio, frame_plan, on_grid

__all__ = ["FeatureConfig", "Frontend"]


class Frontend(nn.Module):
    """Waveform to normalised log filterbank features (see :mod:`spoofscan.frontend.config`).

    Input: (batch, samples) float32 at ``cfg.sample_rate``.
    Output: (batch, cfg.num_channels, cfg.rows, frames) with ``frames = cfg.num_frames(samples)``,
    the channels in the order of ``cfg.channels``.

    Buffers (not persistent): ``filterbank`` (n_mels, n_fft // 2 + 1), for ``lfcc`` ``dct``
    (n_lfcc, n_mels), the STFT ``window`` (n_fft,), and for the phase channels their windows,
    lifter and pooling matrices (see :mod:`spoofscan.frontend.phase`).
    """

    def __init__(self, cfg: FeatureConfig):
        super().__init__()
        self.cfg = cfg
        self.register_buffer("filterbank", torch.from_numpy(filterbank(cfg)), persistent=False)
        if cfg.frontend == "lfcc":
            self.register_buffer("dct", torch.from_numpy(dct_matrix(cfg.n_lfcc, cfg.n_mels)), persistent=False)
        self.register_buffer("window", torch.from_numpy(stft_window(cfg)), persistent=False)
        buffers = {}
        if "mgd" in cfg.channels:
            to_cepstrum, from_cepstrum = cepstral_lifter(cfg)
            buffers.update(ramp_window=ramp_window(cfg), to_cepstrum=to_cepstrum, from_cepstrum=from_cepstrum,
                           pooling=pooling_filterbank(cfg))
        if "ifd" in cfg.channels:  # (n_mels, 1): each band's summed weight, the floor's share
            buffers.update(derivative_window=derivative_window(cfg), band_weight=filterbank(cfg).sum(axis=1)[:, None])
        for name, value in buffers.items():
            self.register_buffer(name, torch.from_numpy(value), persistent=False)

    def forward(self, waves: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=waves.device.type, enabled=False):
            waves = waves.float()
            pad = self.cfg.n_fft // 2
            padded = F.pad(waves[:, None], (pad, pad), mode="reflect")[:, 0]  # as torch.stft(center=True) pads
            return self._window_features(self._frame_features(padded, self.cfg.num_frames(waves.shape[-1])))

    def span_features(self, span: WindowSpan) -> torch.Tensor:
        """The features of the windows of ``span`` (:class:`~spoofscan.frontend.spans.WindowSpan`),
        their shared frames computed once: (len(span), channels, rows, frames), equal to
        ``self(span.windows())`` within float32 rounding; the twin of
        :func:`spoofscan.frontend.numpy.span_frontend` (see :mod:`spoofscan.frontend.spans`)."""
        cfg, device = self.cfg, self.window.device
        plan = frame_plan(cfg, span.window)
        grid = on_grid(span.starts, cfg)
        if plan is None or grid.sum() < 2:
            return self(self._tensor(span.windows()))
        hop, pad = cfg.hop_length, cfg.n_fft // 2
        starts = np.asarray(span.starts, dtype=np.int64)
        shared = starts[grid]
        steps = (shared - shared[0]) // hop  # each window's first inner frame, in frames of the span
        first = int(shared[0]) + plan.first_inner * hop - pad  # the first inner frame's first sample
        count = int(steps[-1]) + plan.inner
        heads, tails = edge_audio(span, shared, plan, cfg)
        with torch.autocast(device_type=device.type, enabled=False):
            inner = self._frame_features(self._tensor(span.audio[None, first:first + (count - 1) * hop + cfg.n_fft]),
                                         count)[0]  # (channels, n_mels, count)
            cut = inner[..., self._tensor(steps[:, None] + np.arange(plan.inner))]  # (channels, n_mels, windows, inner)
            parts = [self._frame_features(self._tensor(heads), plan.first_inner), cut.permute(2, 0, 1, 3)]
            if plan.tail_frames:
                parts.append(self._frame_features(self._tensor(tails), plan.tail_frames))
            x = self._window_features(torch.cat(parts, dim=-1))
        if grid.all():
            return x
        out = x.new_empty((len(starts), *x.shape[1:]))
        out[self._tensor(grid)] = x
        out[self._tensor(~grid)] = self(self._tensor(np.stack([span.audio[s:s + span.window] for s in starts[~grid]])))
        return out

    def _tensor(self, x: np.ndarray) -> torch.Tensor:
        """A numpy array on this module's device (float32 for float input)."""
        x = np.ascontiguousarray(x, dtype=np.float32 if x.dtype.kind == "f" else None)
        return torch.from_numpy(x).to(self.window.device)

    def _frame_features(self, padded: torch.Tensor, frames: int) -> torch.Tensor:
        """(batch, samples) audio, padded already -> (batch, channels, n_mels, frames): the
        per-frame features of its first ``frames`` frames (before deltas, Whisper's floor and normalisation)."""
        spec = self._stft(padded, self.window, frames)
        power = spec.real.square() + spec.imag.square()  # (batch, bins, frames)
        band_power = self.filterbank @ power  # (batch, n_mels, frames)
        channels = []
        for name in self.cfg.channels:
            if name == "logmag":
                channels.append(self._log_magnitude(band_power))
            elif name == "mgd":
                channels.append(self._modified_group_delay(padded, spec, power, frames))
            else:
                channels.append(self._frequency_deviation(padded, spec, power, band_power, frames))
        return torch.stack(channels, dim=1)  # (batch, channels, rows, frames)

    def _window_features(self, x: torch.Tensor) -> torch.Tensor:
        """The window-local steps on (batch, channels, rows, frames) per-frame features of whole
        windows: LFCC's deltas, Whisper's scaling and the per-window ``normalize``."""
        cfg = self.cfg
        if cfg.frontend == "lfcc":
            d = _deltas(x)
            x = torch.cat([x, d, _deltas(d)], dim=2)
        elif cfg.frontend == "whisper":
            x = _whisper_scale(x)
        if cfg.normalize != "none":
            x = x - x.mean(dim=-1, keepdim=True)
        if cfg.normalize == "meanvar":
            x = x / (x.std(dim=-1, keepdim=True, unbiased=False) + NORM_EPS)
        return x

    def _stft(self, padded: torch.Tensor, window: torch.Tensor, frames: int) -> torch.Tensor:
        """(batch, samples) padded audio -> (batch, bins, frames) complex STFT with ``window`` of its first ``frames`` frames."""
        cfg = self.cfg
        spec = torch.stft(padded, cfg.n_fft, hop_length=cfg.hop_length, win_length=cfg.n_fft, window=window,
                          center=False, return_complex=True)
        return spec[..., :frames]  # Whisper drops the last frame

    def _log_magnitude(self, band_power: torch.Tensor) -> torch.Tensor:
        """(batch, n_mels, frames) band powers -> log band energies, or LFCC with deltas for ``lfcc``."""
        log = torch.log10 if self.cfg.frontend == "whisper" else torch.log
        x = log(torch.clamp(band_power, min=self.cfg.log_floor))
        return self.dct @ x if self.cfg.frontend == "lfcc" else x  # LFCC: (batch, n_lfcc, frames), deltas come later

    def _phase_floor(self, power: torch.Tensor) -> torch.Tensor:
        """(batch, 1, frames): the power below which a bin's phase fades out (see :mod:`spoofscan.frontend.phase`)."""
        return PHASE_FLOOR * power.amax(dim=1, keepdim=True) + self.cfg.log_floor

    def _modified_group_delay(self, padded: torch.Tensor, spec: torch.Tensor, power: torch.Tensor,
                              frames: int) -> torch.Tensor:
        """The ``mgd`` channel (batch, n_mels, frames); the twin of the numpy front end's."""
        ramped = self._stft(padded, self.ramp_window, frames)
        floor = self._phase_floor(power)
        smooth_log_power = self.from_cepstrum @ (self.to_cepstrum @ torch.log(power + floor))
        tau = (spec.real * ramped.real + spec.imag * ramped.imag) / torch.exp(self.cfg.mgd_gamma * smooth_log_power)
        mgd = power / (power + floor) * torch.sign(tau) * ((1 + tau.abs()).pow(self.cfg.mgd_alpha) - 1)
        return self.pooling @ mgd

    def _frequency_deviation(self, padded: torch.Tensor, spec: torch.Tensor, power: torch.Tensor,
                             band_power: torch.Tensor, frames: int) -> torch.Tensor:
        """The ``ifd`` channel in FFT bins (batch, n_mels, frames); the twin of the numpy front end's."""
        deriv = self._stft(padded, self.derivative_window, frames)
        cross = spec.real * deriv.imag - spec.imag * deriv.real  # Im(D conj(X))
        radians = -(self.filterbank @ cross) / (band_power + self._phase_floor(power) * self.band_weight)
        return radians * (self.cfg.n_fft / (2.0 * math.pi))


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
