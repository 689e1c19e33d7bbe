"""The front end in numpy: the torch-free runtime's features, and the tests' independent check
of :class:`spoofscan.frontend.torch.Frontend` (the same computation)."""

from __future__ import annotations

import functools
from concurrent.futures import Executor
from typing import NamedTuple

import numpy as np
import scipy.fft

from .config import (DELTA_WIDTH, NORM_EPS, WHISPER_DYNAMIC_RANGE, WHISPER_OFFSET, WHISPER_SCALE, FeatureConfig,
                     dct_matrix, filterbank, stft_window)
from .phase import PHASE_FLOOR, cepstral_lifter, derivative_window, pooling_filterbank, ramp_window
from .spans import FramePlan, WindowSpan, edge_audio, frame_plan, on_grid

TWO_PI = 2.0 * np.pi
# Frames per call of the per-frame steps when a span's shared frames are computed: about a 2-s
# window's worth, so that no temporary outgrows those of the per-window front end (larger ones
# are mapped from the OS and handed back on every call: 2,300 page faults, +3 ms, were measured
# for a 4-s clip's 393 frames in one call).
FRAMES_PER_RUN = 200


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
    np.ndarray, shape (batch, cfg.num_channels, cfg.rows, frames), float32: the channels in the
    order of ``cfg.channels``
    """
    waves = np.asarray(waves, dtype=np.float32)
    pad = cfg.n_fft // 2
    padded = np.pad(waves, ((0, 0), (pad, pad)), mode="reflect")
    frames = _frames(padded, cfg, cfg.num_frames(waves.shape[1]))
    return window_features(_frame_features_in_runs(frames, cfg, pool, parts if pool is not None else 1), cfg)


def span_frontend(span: WindowSpan, cfg: FeatureConfig, *, pool: Executor | None = None, parts: int = 1) -> np.ndarray:
    """The front end of the windows of ``span``, their shared frames computed once.

    Equal to ``frontend(span.windows(), cfg)`` within float32 rounding: inner frames come from
    the span's continuous signal, edge frames from each window's reflected edges, and the
    window-local steps (deltas, Whisper's floor, ``normalize``) are applied per window after
    the cut (:mod:`spoofscan.frontend.spans`). Windows off the first window's frame grid get
    :func:`frontend`. ``pool``, ``parts``: as for :func:`frontend`.

    Returns
    -------
    np.ndarray, shape (len(span), cfg.num_channels, cfg.rows, frames), float32
    """
    plan = frame_plan(cfg, span.window)
    grid = on_grid(span.starts, cfg)
    if plan is None or grid.sum() < 2:
        return frontend(span.windows(), cfg, pool=pool, parts=parts)
    audio, hop, pad = np.asarray(span.audio, dtype=np.float32), cfg.hop_length, cfg.n_fft // 2
    starts = np.asarray(span.starts, dtype=np.int64)
    shared = starts[grid]
    steps = (shared - shared[0]) // hop  # each window's first inner frame, in frames of the span
    first = shared[0] + plan.first_inner * hop - pad  # the first inner frame's first sample
    count = int(steps[-1]) + plan.inner
    inner = _frame_features_in_runs(_frames(audio[None, first:first + (count - 1) * hop + cfg.n_fft], cfg, count),
                                    cfg, pool, max(parts, -(-count // FRAMES_PER_RUN)))[0]  # (count, channels, n_mels)
    edges = _frame_features(_edge_frames(span, shared, plan, cfg), cfg)  # (windows, edge frames, channels, n_mels)
    out = np.empty((len(starts), cfg.num_channels, cfg.rows, plan.frames), dtype=np.float32)
    for k, (i, step) in enumerate(zip(np.flatnonzero(grid), steps)):  # one at a time: temporaries of a window's size
        frames = np.concatenate([edges[k, :plan.first_inner], inner[step:step + plan.inner], edges[k, plan.first_inner:]])
        out[i] = window_features(frames[None], cfg)[0]
    for i in np.flatnonzero(~grid):
        out[i] = frontend(audio[None, starts[i]:starts[i] + span.window], cfg, pool=pool, parts=parts)[0]
    return out


def window_features(feats: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """The window-local steps: (batch, frames, channels, n_mels) per-frame features of whole
    windows -> (batch, channels, rows, frames) float32, with LFCC's deltas, Whisper's scaling
    and the per-window ``normalize``."""
    x = feats.transpose(0, 2, 3, 1)  # (batch, channels, bands or coefficients, frames)
    if cfg.frontend == "lfcc":  # only the logmag channel: phase channels need bands
        d = deltas(x)
        x = np.concatenate([x, d, deltas(d)], axis=2)
    elif cfg.frontend == "whisper":
        x = whisper_scale(x)
    return normalize_features(x, cfg.normalize).astype(np.float32)


def _frames(padded: np.ndarray, cfg: FeatureConfig, count: int) -> np.ndarray:
    """(batch, frames, n_fft) view of the first ``count`` frames of (batch, samples) audio: no copy."""
    return np.lib.stride_tricks.sliding_window_view(padded, cfg.n_fft, axis=-1)[:, ::cfg.hop_length][:, :count]


def _edge_frames(span: WindowSpan, starts: np.ndarray, plan: FramePlan, cfg: FeatureConfig) -> np.ndarray:
    """(len(starts), head + tail frames, n_fft): the edge frames of the windows of ``span`` that start
    at ``starts``, each reflected at its own window's edges, head frames first (a copy)."""
    heads, tails = edge_audio(span, starts, plan, cfg)
    runs = [_frames(heads, cfg, plan.first_inner)] + ([_frames(tails, cfg, plan.tail_frames)] if plan.tail_frames else [])
    return np.concatenate(runs, axis=1)


def _frame_features_in_runs(frames: np.ndarray, cfg: FeatureConfig, pool: Executor | None, parts: int) -> np.ndarray:
    """:func:`_frame_features` of (batch, frames, n_fft), the frames cut into ``parts`` runs
    (computed on ``pool`` if there is one)."""
    if parts < 2:
        return _frame_features(frames, cfg)
    bounds = np.linspace(0, frames.shape[1], parts + 1).astype(int)
    runs = [frames[:, a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    compute = (lambda run: _frame_features(run, cfg))  # noqa: E731
    return np.concatenate(list(pool.map(compute, runs) if pool is not None else map(compute, runs)), axis=1)


def _frame_features(frames: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """(batch, frames, n_fft) frames -> (batch, frames, channels, n_mels): log band energies
    (``n_lfcc`` cepstral coefficients for ``lfcc``; log10 for ``whisper``) and the phase channels,
    before deltas and normalisation."""
    window, fbank_t, dct_t = _cached_matrices(cfg)
    spec = scipy.fft.rfft(frames * window, axis=-1)  # (batch, frames, bins) complex64
    power = np.square(spec.real) + np.square(spec.imag)
    band_power = power @ fbank_t
    out = []
    for name in cfg.channels:
        if name == "logmag":
            log = np.log10 if cfg.frontend == "whisper" else np.log
            logs = log(np.maximum(band_power, cfg.log_floor))
            out.append(logs if dct_t is None else logs @ dct_t)
        elif name == "mgd":
            out.append(_modified_group_delay(frames, spec, power, cfg))
        else:
            out.append(_frequency_deviation(frames, spec, power, band_power, cfg))
    return np.stack(out, axis=2)


def _phase_floor(power: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """(batch, frames, 1): the power below which a bin's phase fades out (see :mod:`spoofscan.frontend.phase`)."""
    return PHASE_FLOOR * power.max(axis=-1, keepdims=True) + cfg.log_floor


def _modified_group_delay(frames: np.ndarray, spec: np.ndarray, power: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """The ``mgd`` channel, (batch, frames, n_mels), from the frames (batch, frames, n_fft), their
    STFT and its power (batch, frames, bins)."""
    m = _cached_phase_matrices(cfg)
    ramped = scipy.fft.rfft(frames * m.ramp_window, axis=-1)
    floor = _phase_floor(power, cfg)
    smooth_log_power = (np.log(power + floor) @ m.to_cepstrum_t) @ m.from_cepstrum_t
    tau = (spec.real * ramped.real + spec.imag * ramped.imag) / np.exp(cfg.mgd_gamma * smooth_log_power)
    mgd = power / (power + floor) * np.sign(tau) * (np.power(1 + np.abs(tau), cfg.mgd_alpha) - 1)
    return mgd @ m.pooling_t


def _frequency_deviation(frames: np.ndarray, spec: np.ndarray, power: np.ndarray, band_power: np.ndarray,
                         cfg: FeatureConfig) -> np.ndarray:
    """The ``ifd`` channel in FFT bins, (batch, frames, n_mels), from the frames (batch, frames,
    n_fft), their STFT, its power (batch, frames, bins) and the band powers ``power @ filterbank.T``."""
    m = _cached_phase_matrices(cfg)
    deriv = scipy.fft.rfft(frames * m.derivative_window, axis=-1)
    cross = spec.real * deriv.imag - spec.imag * deriv.real  # Im(D conj(X))
    radians = -(cross @ _cached_matrices(cfg)[1]) / (band_power + _phase_floor(power, cfg) * m.band_weight)
    return radians * np.float32(cfg.n_fft / TWO_PI)


@functools.lru_cache(maxsize=8)
def _cached_matrices(cfg: FeatureConfig) -> tuple:
    """The STFT window (n_fft,), the transposed filterbank (bins, n_mels) and, for ``lfcc``, the
    transposed DCT (n_mels, n_lfcc), built once per config."""
    dct_t = np.ascontiguousarray(dct_matrix(cfg.n_lfcc, cfg.n_mels).T) if cfg.frontend == "lfcc" else None
    return stft_window(cfg), np.ascontiguousarray(filterbank(cfg).T), dct_t


class _PhaseMatrices(NamedTuple):
    """What the phase channels multiply by (see :mod:`spoofscan.frontend.phase`), transposed for
    (batch, frames, bins) spectra."""

    ramp_window: np.ndarray  # (n_fft,)
    derivative_window: np.ndarray  # (n_fft,)
    to_cepstrum_t: np.ndarray  # (bins, mgd_lifter)
    from_cepstrum_t: np.ndarray  # (mgd_lifter, bins)
    pooling_t: np.ndarray  # (bins, n_mels), each band's weights summing to 1
    band_weight: np.ndarray  # (n_mels,): each band's summed filterbank weight


@functools.lru_cache(maxsize=8)
def _cached_phase_matrices(cfg: FeatureConfig) -> _PhaseMatrices:
    """The phase channels' matrices, built once per config."""
    to_cepstrum, from_cepstrum = cepstral_lifter(cfg)
    return _PhaseMatrices(ramp_window(cfg), derivative_window(cfg), np.ascontiguousarray(to_cepstrum.T),
                          np.ascontiguousarray(from_cepstrum.T), np.ascontiguousarray(pooling_filterbank(cfg).T),
                          filterbank(cfg).sum(axis=1))


