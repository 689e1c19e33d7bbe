"""The front end in numpy: the torch-free runtime's features, and the tests' independent check
of :class:`spoofscan.frontend.torch.Frontend` (the same computation)."""

from __future__ import annotations

import functools
from concurrent.futures import Executor

import numpy as np

from .config import (DELTA_WIDTH, NORM_EPS, WHISPER_DYNAMIC_RANGE, WHISPER_OFFSET, WHISPER_SCALE, FeatureConfig,
                     dct_matrix, filterbank, stft_window)


def deltas(x: np.ndarray, width: int = DELTA_WIDTH) -> np.ndarray:
    """Regression deltas over the last (time) axis, edges repeated (HTK's formula):
    ``d[t] = sum_n n * (x[t+n] - x[t-n]) / (2 * sum_n n^2)`` for n = 1..width. Same shape."""
    padded = np.concatenate([np.repeat(x[..., :1], width, axis=-1), x, np.repeat(x[..., -1:], width, axis=-1)], axis=-1)
    frames = x.shape[-1]
    num = sum(n * (padded[..., width + n:width + n + frames] - padded[..., width - n:width - n + frames])
              for n in range(1, width + 1))
    return (num / (2.0 * sum(n * n for n in range(1, width + 1)))).astype(x.dtype)


def whisper_scale(x: np.ndarray) -> np.ndarray:
    """Whisper's scaling of log10 band powers (batch, bands, frames): floored
    :data:`~spoofscan.frontend.config.WHISPER_DYNAMIC_RANGE` below each item's maximum, then
    ``(x + 4) / 4``. Same shape."""
    x = np.maximum(x, x.max(axis=(-2, -1), keepdims=True) - WHISPER_DYNAMIC_RANGE)
    return (x + WHISPER_OFFSET) / WHISPER_SCALE


def normalize_features(x: np.ndarray, mode: str) -> np.ndarray:
    """Per-clip normalisation over the last (time) axis of (..., rows, frames)."""
    if mode == "none":
        return x
    x = x - x.mean(axis=-1, keepdims=True, dtype=np.float64)
    if mode == "meanvar":
        x = x / (x.std(axis=-1, keepdims=True) + NORM_EPS)
    return x


def frontend(waves: np.ndarray, cfg: FeatureConfig, *, pool: Executor | None = None, parts: int = 1) -> np.ndarray:
    """Numpy front end, the same computation as :class:`spoofscan.frontend.torch.Frontend`.

    Parameters
    ----------
    waves : (batch, samples) float32 at ``cfg.sample_rate``
    pool, parts : with an executor, the frames are cut into ``parts`` contiguous runs computed
        in parallel (numpy's FFT, matrix product and log release the GIL); the result equals
        the one-piece result up to float32 rounding (the BLAS blocks the product differently).

    Returns
    -------
    np.ndarray, shape (batch, 1, cfg.rows, frames), float32
    """
    waves = np.asarray(waves, dtype=np.float32)
    pad = cfg.n_fft // 2
    padded = np.pad(waves, ((0, 0), (pad, pad)), mode="reflect")
    # (batch, frames, n_fft) view of the frames: no copy until the window is applied
    frames = np.lib.stride_tricks.sliding_window_view(padded, cfg.n_fft, axis=-1)[:, ::cfg.hop_length]
    frames = frames[:, :cfg.num_frames(waves.shape[1])]  # whisper drops the last one
    if pool is None or parts < 2:
        feats = _frame_features(frames, cfg)
    else:
        bounds = np.linspace(0, frames.shape[1], parts + 1).astype(int)
        runs = [frames[:, a:b] for a, b in zip(bounds[:-1], bounds[1:])]
        feats = np.concatenate(list(pool.map(lambda run: _frame_features(run, cfg), runs)), axis=1)
    x = feats.transpose(0, 2, 1)  # (batch, bands or coefficients, frames)
    if cfg.frontend == "lfcc":
        d = deltas(x)
        x = np.concatenate([x, d, deltas(d)], axis=1)
    elif cfg.frontend == "whisper":
        x = whisper_scale(x)
    return normalize_features(x, cfg.normalize)[:, None].astype(np.float32)


def _frame_features(frames: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """(batch, frames, n_fft) frames -> (batch, frames, n_mels) log band energies (``n_lfcc``
    cepstral coefficients for ``lfcc``; log10 for ``whisper``), before deltas and normalisation."""
    window, fbank_t, dct_t = _cached_matrices(cfg)
    spec = np.fft.rfft(frames * window, axis=-1)  # (batch, frames, bins) complex64
    power = np.square(spec.real) + np.square(spec.imag)
    log = np.log10 if cfg.frontend == "whisper" else np.log
    logs = log(np.maximum(power @ fbank_t, cfg.log_floor))
    return logs if dct_t is None else logs @ dct_t


@functools.lru_cache(maxsize=8)
def _cached_matrices(cfg: FeatureConfig) -> tuple:
    """The STFT window (n_fft,), the transposed filterbank (bins, n_mels) and, for ``lfcc``, the
    transposed DCT (n_mels, n_lfcc), built once per config."""
    dct_t = np.ascontiguousarray(dct_matrix(cfg.n_lfcc, cfg.n_mels).T) if cfg.frontend == "lfcc" else None
    return stft_window(cfg), np.ascontiguousarray(filterbank(cfg).T), dct_t


