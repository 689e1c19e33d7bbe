"""Features once per stretch of audio: the shared-frame front end (numpy and torch) equals the
per-window front end within 5e-5 (relative above 1) for every front end, channel set and
normalisation, with windows on and off the frame grid, odd FFT sizes and windows too short
to share a frame."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from synth import synth_clip

from spoofscan.frontend.config import FRONTENDS, NORMALIZATIONS, FeatureConfig
from spoofscan.frontend.numpy import frontend, span_frontend
from spoofscan.frontend.spans import WindowSpan, frame_plan, on_grid
from spoofscan.frontend.torch import Frontend
from spoofscan.frontend.windows import window_starts

TOLERANCE = 5e-5  # absolute up to 1, relative above: float32 steps of the unnormalised features (4e-6 at 50: the phase
# channels, the LFCC cepstra) times a few, as BLAS sums a span and a window in orders that depend on the CPU (AVX2 vs
# AVX-512); a misaligned frame differs far more
CHANNEL_SETS = [("logmag",), ("logmag", "mgd", "ifd"), ("mgd",), ("ifd", "logmag")]
COMBINATIONS = [(kind, channels) for kind in FRONTENDS for channels in CHANNEL_SETS
                if channels == ("logmag",) or kind in ("logmel", "linear")]  # phase channels need bands


def _audio(seconds: float, seed: int = 0) -> np.ndarray:
    """Speech-like audio with a stretch of digital silence (the normalisations' hardest case)."""
    x = synth_clip("bonafide", seconds, np.random.default_rng(seed))
    x[len(x) // 3: len(x) // 3 + 4000] = 0.0
    return x


def _span(cfg: FeatureConfig, seconds: float = 4.3037) -> WindowSpan:
    """The windows the detector cuts from a clip: on the grid every hop, the last one aligned to the end."""
    audio = _audio(seconds)
    return WindowSpan(audio, tuple(int(s) for s in window_starts(len(audio), cfg.window_samples, cfg.hop_samples)),
                      cfg.window_samples)


def _config(kind: str, channels: tuple, normalize: str = "mean", **kw) -> FeatureConfig:
    return FeatureConfig.from_dict({"frontend": kind, "channels": list(channels), "normalize": normalize,
                                    "window_seconds": 1.0, "hop_seconds": 0.5, **kw})


def _assert_equal_within_tolerance(shared: np.ndarray, per_window: np.ndarray) -> None:
    assert shared.shape == per_window.shape and shared.dtype == np.float32
    np.testing.assert_allclose(shared, per_window, rtol=TOLERANCE, atol=TOLERANCE)


@pytest.mark.parametrize("normalize", NORMALIZATIONS)
@pytest.mark.parametrize("kind, channels", COMBINATIONS)
def test_numpy_shared_frames_equal_per_window_features(kind, channels, normalize):
    cfg = _config(kind, channels, normalize)
    span = _span(cfg)
    assert not on_grid(span.starts, cfg).all()  # not a whole number of hops: the last window is off the grid
    _assert_equal_within_tolerance(span_frontend(span, cfg), frontend(span.windows(), cfg))


@pytest.mark.parametrize("normalize", NORMALIZATIONS)
@pytest.mark.parametrize("kind, channels", COMBINATIONS)
def test_torch_shared_frames_equal_per_window_features(kind, channels, normalize):
    cfg = _config(kind, channels, normalize)
    span = _span(cfg)
    module = Frontend(cfg)
    with torch.inference_mode():
        shared = module.span_features(span).numpy()
        per_window = module(torch.from_numpy(span.windows())).numpy()
    _assert_equal_within_tolerance(shared, per_window)


@pytest.mark.parametrize("kw", [dict(n_fft=513, win_length=400, n_mels=40), dict(n_fft=401, win_length=401, n_mels=40),
                                dict(n_fft=1024, win_length=401, hop_length=100), dict(n_fft=512, hop_length=256, n_mels=40)])
@pytest.mark.parametrize("kind", ["logmel", "lfcc", "whisper"])
def test_odd_sizes_and_hops_share_frames_exactly_too(kind, kw):
    """Odd FFT sizes centre the window off the middle; a hop as long as half the FFT leaves one
    head frame; windows every 0.45 s lie on the grid of a 100-sample hop but not of others."""
    cfg = _config(kind, ("logmag",), "meanvar", hop_seconds=0.45, **kw)
    span = _span(cfg, 3.1037)
    assert frame_plan(cfg, span.window) is not None
    _assert_equal_within_tolerance(span_frontend(span, cfg), frontend(span.windows(), cfg))
    with torch.inference_mode():
        shared = Frontend(cfg).span_features(span).numpy()
    _assert_equal_within_tolerance(shared, frontend(span.windows(), cfg))


def test_parallel_parts_and_a_span_at_an_offset_give_the_same_features():
    cfg = _config("logmel", ("logmag", "ifd"))
    audio = _audio(6.0, seed=2)
    span = WindowSpan(audio[5_000:], (0, 8_000, 16_000, 24_000, 30_000), cfg.window_samples, offset=5_000)
    with ThreadPoolExecutor(3) as pool:
        parts = span_frontend(span, cfg, pool=pool, parts=3)
    _assert_equal_within_tolerance(parts, frontend(span.windows(), cfg))


def test_a_window_too_short_for_an_inner_frame_falls_back_to_per_window_features():
    cfg = FeatureConfig(n_fft=1024, window_seconds=0.064, hop_seconds=0.032, hop_length=400)
    assert frame_plan(cfg, cfg.window_samples) is None
    audio = _audio(0.5)
    span = WindowSpan(audio, (0, 512, 1024, 1536), cfg.window_samples)
    np.testing.assert_array_equal(span_frontend(span, cfg), frontend(span.windows(), cfg))
    module = Frontend(cfg)
    with torch.inference_mode():
        np.testing.assert_array_equal(module.span_features(span).numpy(), module(torch.from_numpy(span.windows())).numpy())


def test_frame_plan_inner_frames_lie_inside_the_window_and_edges_cross_it():
    for cfg in (FeatureConfig(window_seconds=2.0), FeatureConfig.from_dict({"frontend": "whisper"})):
        window, pad, hop = cfg.window_samples, cfg.n_fft // 2, cfg.hop_length
        plan = frame_plan(cfg, window)
        inside = [k * hop - pad >= 0 and k * hop - pad + cfg.n_fft <= window for k in range(plan.frames)]
        assert inside == [plan.first_inner <= k <= plan.last_inner for k in range(plan.frames)]
        assert plan.first_inner + plan.inner + plan.tail_frames == plan.frames == cfg.num_frames(window)


def test_window_span_split_keeps_windows_and_their_place_in_the_clip():
    audio = np.arange(100, dtype=np.float32)
    span = WindowSpan(audio[10:], (0, 20, 40, 60, 70), 20, offset=10)
    head, rest = span.split(2)
    assert (len(head), len(rest)) == (2, 3)
    for part in (head, rest):
        for s, w in zip(part.starts, part.windows()):
            np.testing.assert_array_equal(w, np.arange(part.offset + s, part.offset + s + 20))
    assert rest.offset == 50 and rest.starts == (0, 20, 30) and len(rest.audio) == 50
    assert span.split(5) == (span, None)
    with pytest.raises(ValueError, match="do not fit"):
        WindowSpan(audio[:30], (0, 20), 20)
