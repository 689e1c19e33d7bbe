"""Analysis windows: where a clip is cut into the windows a model scores, and how a clip
shorter than one window is filled."""

from __future__ import annotations

import numpy as np


def window_starts(samples: int, window: int, hop: int) -> np.ndarray:
    """Start indices of the analysis windows that together cover every sample.

    Windows of ``window`` samples every ``hop`` samples; when the last one stops short of
    the end, one more is aligned to the end. A clip shorter than one window gets one
    window at 0 (it is repeat-padded, see :func:`repeat_pad`).
    """
    if samples <= window:
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, samples - window + 1, hop, dtype=np.int64)
    if starts[-1] + window < samples:
        starts = np.append(starts, samples - window)
    return starts


def repeat_pad(x: np.ndarray, length: int) -> np.ndarray:
    """Tile a short waveform (samples,) until it is ``length`` long; longer input is cut to ``length``."""
    if len(x) >= length:
        return x[:length]
    return np.tile(x, -(-length // len(x)))[:length]
