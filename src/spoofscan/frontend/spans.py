"""Windows cut from one stretch of audio, and the STFT frames they share.

Windows overlap (2-s windows every second: each sample lies in two), so the frames of a
stretch of audio are computed once and cut into its windows instead of once per window.
The result equals the per-window front end within float32 rounding, because of three rules
that both implementations (:func:`spoofscan.frontend.numpy.span_frontend` and
:meth:`spoofscan.frontend.torch.Frontend.span_features`) follow, as :class:`FramePlan` lays out:

1. **Edges are per window.** The STFT is centred: each window is padded by reflection at its
   own edges (``n_fft // 2`` samples), so the first and last few frames of a window (those
   whose analysis span crosses its edge) are not frames of the continuous signal. They are
   computed from the window's own reflected edges. Only the *inner* frames, which lie wholly
   inside the window, are shared.
2. **Windows off the frame grid are per window.** An inner frame is shared only when the
   windows' starts differ by whole hops (``hop_length``). The windows of a span on the
   span's first window's grid share; any other window (the last window of a clip, aligned to
   its end, usually is) gets the per-window front end.
3. **Window-local steps come after the cut.** Everything per frame (FFT, filterbank, log,
   DCT, the phase channels with their per-frame floor) is shared; what looks across a
   window's frames is applied to each window after its frames are cut: LFCC's deltas (edges
   repeated at the window's ends), Whisper's floor below the window's maximum and the
   per-band ``normalize`` (mean or mean and variance over the window's frames).

So every front end (``logmel``, ``linear``, ``lfcc``, ``whisper``) and every channel
(``logmag``, ``mgd``, ``ifd``) shares its frames; the only fallbacks to per-window computation
are the windows off the grid, a span of one window, and a window too short to have an inner
frame (:func:`frame_plan` returns None).

This module is torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np

from .config import FeatureConfig
from .windows import repeat_pad


@dataclass(frozen=True, eq=False)
class WindowSpan:
    """Windows cut from one stretch of contiguous audio.

    audio : (samples,) float32 at 16 kHz
    starts : the windows' first samples in ``audio``, ascending
    window : samples per window: window ``i`` is ``audio[starts[i]:starts[i] + window]``
    offset : where ``audio[0]`` lies in the clip, in samples (the timeline's origin)
    """

    audio: np.ndarray
    starts: tuple
    window: int
    offset: int = 0

    def __post_init__(self):
        if not self.starts or self.starts[0] < 0 or self.starts[-1] + self.window > len(self.audio):
            raise ValueError(f"window starts {self.starts[:1]}..{self.starts[-1:]} of {self.window} samples do not "
                             f"fit in {len(self.audio)} samples of audio")

    def __len__(self) -> int:
        return len(self.starts)

    def windows(self) -> np.ndarray:
        """The windows, (len(self), window) float32 (a copy)."""
        return np.stack([self.audio[s:s + self.window] for s in self.starts])

    def split(self, n: int) -> tuple["WindowSpan", "WindowSpan | None"]:
        """The first ``n`` windows and the rest (None when nothing is left), each holding only
        the audio its windows need."""
        if n >= len(self.starts):
            return self, None
        return self._part(self.starts[:n]), self._part(self.starts[n:])

    def _part(self, starts: tuple) -> "WindowSpan":
        first = starts[0]
        return WindowSpan(self.audio[first:starts[-1] + self.window], tuple(s - first for s in starts), self.window,
                          self.offset + first)


@dataclass(frozen=True)
class FramePlan:
    """Which STFT frames of a window of ``window`` samples are inner (shared) and how its edge
    frames are computed; frame ``k`` of a window starting at sample ``s`` analyses samples
    ``s + k * hop_length - n_fft // 2`` onwards (``n_fft`` of them, reflected past its edges).

    frames : frames per window (``cfg.num_frames(window)``)
    first_inner, last_inner : the inner frames ``first_inner..last_inner`` lie wholly inside it
    head_samples : samples of the window that the head frames ``0..first_inner - 1`` read,
        before reflection (at least ``n_fft // 2 + 1``, so the reflection is the whole window's)
    tail_from : first sample of the window that the tail frames ``last_inner + 1..frames - 1``
        read (at most ``window - n_fft // 2 - 1``, likewise)
    """

    frames: int
    first_inner: int
    last_inner: int
    head_samples: int
    tail_from: int

    @property
    def inner(self) -> int:
        return self.last_inner - self.first_inner + 1

    @property
    def tail_frames(self) -> int:
        return self.frames - self.last_inner - 1


def frame_plan(cfg: FeatureConfig, window: int) -> FramePlan | None:
    """The :class:`FramePlan` of windows of ``window`` samples, or None when they have no inner frame."""
    pad, hop, n_fft = cfg.n_fft // 2, cfg.hop_length, cfg.n_fft
    frames = cfg.num_frames(window)
    first = -(-pad // hop)  # k * hop >= pad
    last = min(frames - 1, (window + pad - n_fft) // hop)  # k * hop - pad + n_fft <= window
    if last < first:
        return None
    head = min(window, max((first - 1) * hop - pad + n_fft, pad + 1))
    tail = max(0, min((last + 1) * hop - pad, window - pad - 1))
    return FramePlan(frames, first, last, head, tail)


def on_grid(starts, cfg: FeatureConfig) -> np.ndarray:
    """(len(starts),) bool: the windows whose inner frames lie on the first window's frame grid."""
    starts = np.asarray(starts, dtype=np.int64)
    return (starts - starts[0]) % cfg.hop_length == 0


def edge_audio(span: WindowSpan, starts: np.ndarray, plan: FramePlan, cfg: FeatureConfig) -> tuple:
    """The audio of the edge frames of the windows of ``span`` starting at ``starts``, each window
    reflected at its own edges: ``(heads, tails)``, (len(starts), samples) float32 arrays whose
    frames (every ``hop_length`` samples from the first) are the windows' ``plan.first_inner``
    head frames and ``plan.tail_frames`` tail frames (``tails`` is None when there are none)."""
    pad, hop = cfg.n_fft // 2, cfg.hop_length
    audio = np.asarray(span.audio, dtype=np.float32)
    heads = np.pad(np.stack([audio[s:s + plan.head_samples] for s in starts]), ((0, 0), (pad, 0)), mode="reflect")
    if not plan.tail_frames:
        return heads, None
    tails = np.pad(np.stack([audio[s + plan.tail_from:s + span.window] for s in starts]), ((0, 0), (0, pad)),
                   mode="reflect")
    skip = (plan.last_inner + 1) * hop - pad - plan.tail_from  # the first tail frame's first sample in ``tails``
    return heads, tails[:, skip:]


def iter_spans(blocks: Iterable[np.ndarray], window: int, hop: int) -> Iterator[WindowSpan]:
    """Cut a stream of audio blocks into the windows of
    :func:`spoofscan.frontend.windows.window_starts`, one :class:`WindowSpan` per block.

    A span holds the windows that end in its block (its ``offset`` places it in the stream);
    the last window, aligned to the end of the stream, comes as a span of its own, and a stream
    shorter than one window as one repeat-padded window. Keeps at most one block plus one
    window of audio besides the spans it yields.
    """
    buf = np.zeros(0, dtype=np.float32)
    buf_start = 0  # position of buf[0] in the stream
    next_start = 0
    last_end = 0  # end of the last window yielded
    for block in blocks:
        buf = np.concatenate([buf, block]) if len(buf) else block
        first = next_start
        while next_start + window <= buf_start + len(buf):
            next_start += hop
        if next_start > first:
            last_end = next_start - hop + window
            yield WindowSpan(buf[first - buf_start:last_end - buf_start], tuple(range(0, next_start - first, hop)),
                             window, offset=first)
        total = buf_start + len(buf)
        keep_from = max(buf_start, min(next_start, total - window))  # the last window may need the last samples
        buf = buf[keep_from - buf_start:]
        buf_start = keep_from
    total = buf_start + len(buf)
    if last_end == 0:  # shorter than one window
        yield WindowSpan(repeat_pad(buf, window), (0,), window)
    elif last_end < total:
        yield WindowSpan(buf[len(buf) - window:], (0,), window, offset=total - window)
