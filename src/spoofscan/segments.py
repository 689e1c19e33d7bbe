"""Partly fake clips: runs of consecutive fake windows in a clip's timeline.

A clip's verdict is the mean of its windows' scores, so a few seconds of synthetic speech in a
long real recording barely move it. The segment rule looks at the windows one by one instead:

- a **run** is a stretch of consecutive windows whose calibrated ``p_fake`` is at or above
  ``stay``, holding at least one window at or above ``enter`` and at least ``min_windows``
  windows (hysteresis: a window must be clearly fake to start a run, and the run goes on, both
  ways, while its neighbours stay fairly fake; the rule reads the same forwards and backwards);
- a window without speech (``p_fake`` None) belongs to no run and ends one.

Thresholds are calibrated window ``p_fake`` (probabilities at equal priors, like the clip's),
not relative to the detector's threshold. :class:`SegmentRule` holds them; the defaults were
chosen on the development split of a corpus with spliced clips (docs/PARTLY_FAKE.md says how).

Where a run lies in seconds: windows overlap, so each window stands for its **cell**, the part
of the clip nearer its centre than any other window's (:func:`window_cells`): the cells cut
the clip into consecutive pieces, from 0 to its end. A run spans its windows' cells. This
places a run's edges to within about half a hop of where the windows change their minds; the
resolution is the window hop, not finer.

A clip whose mean says real but that holds a run is labelled ``partly fake``
(:func:`clip_label`); one whose mean says fake stays ``fake``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .errors import SpoofscanError
from .labels import BONAFIDE, HUMAN_LABEL, PARTLY_FAKE, SPOOF

DEFAULT_ENTER = 0.8  # window p_fake at or above which a run starts
DEFAULT_STAY = 0.6  # window p_fake at or above which a run goes on
DEFAULT_MIN_WINDOWS = 2  # windows a run needs


@dataclass(frozen=True)
class SegmentRule:
    """How runs of fake windows are found (see the module docstring).

    enter : calibrated window p_fake at or above which a window starts a run, in [0, 1]
    stay : calibrated window p_fake at or above which a run goes on, in [0, enter]
    min_windows : the fewest windows a run may hold, at least 1

    Raises :class:`SpoofscanError` for a value out of its range.
    """

    enter: float = DEFAULT_ENTER
    stay: float = DEFAULT_STAY
    min_windows: int = DEFAULT_MIN_WINDOWS

    def __post_init__(self):
        for name in ("enter", "stay"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
                raise SpoofscanError(f"segment rule: {name} must be a probability in [0, 1], got {value!r}")
        if self.stay > self.enter:
            raise SpoofscanError(f"segment rule: stay ({self.stay!r}) must not exceed enter ({self.enter!r}): "
                                 "a run goes on at a lower p_fake than it starts")
        if not isinstance(self.min_windows, int) or isinstance(self.min_windows, bool) or self.min_windows < 1:
            raise SpoofscanError(f"segment rule: min_windows must be a whole number >= 1, got {self.min_windows!r}")


@dataclass(frozen=True)
class Segment:
    """One run of fake windows: ``start`` and ``end`` in seconds of the clip (its windows'
    cells), ``p_fake`` the mean calibrated p_fake of its windows, ``windows`` how many."""

    start: float
    end: float
    p_fake: float
    windows: int


def find_runs(p_fake: Sequence, rule: SegmentRule = SegmentRule()) -> list[tuple[int, int]]:
    """The runs of ``rule`` in a sequence of window p_fake (None or NaN: no speech).

    Returns ``(first, last)`` window indices, inclusive, in order.
    """
    p = np.array([np.nan if v is None else float(v) for v in p_fake], dtype=np.float64)
    high = np.nan_to_num(p, nan=-1.0) >= rule.stay
    runs, first = [], None
    for i, up in enumerate(np.append(high, False)):  # a sentinel closes a run at the end
        if up and first is None:
            first = i
        elif not up and first is not None:
            if i - first >= rule.min_windows and np.max(p[first:i]) >= rule.enter:
                runs.append((first, i - 1))
            first = None
    return runs


def window_cells(starts: Sequence[float], ends: Sequence[float], duration: float) -> np.ndarray:
    """Each window's cell: the part of the clip nearer its centre than any other window's centre.

    ``starts``, ``ends``: (windows,) seconds, in order; ``duration``: the clip's seconds.
    Returns (windows, 2) seconds: cell boundaries are midpoints between consecutive centres, the
    first cell starts at 0 and the last ends at ``duration``, so the cells tile the clip.
    """
    centres = (np.asarray(starts, dtype=np.float64) + np.asarray(ends, dtype=np.float64)) / 2
    if centres.size == 0:
        return np.zeros((0, 2))
    edges = np.concatenate([[0.0], (centres[1:] + centres[:-1]) / 2, [float(duration)]])
    return np.stack([edges[:-1], edges[1:]], axis=1)


def find_segments(timeline: Sequence, duration: float, rule: SegmentRule = SegmentRule()) -> tuple:
    """The runs of a clip's timeline (windows with ``start``, ``end``, ``p_fake``) as :class:`Segment`
    s, in seconds of a clip of ``duration`` seconds (3 decimals)."""
    p = [w.p_fake for w in timeline]
    cells = window_cells([w.start for w in timeline], [w.end for w in timeline], duration)
    return tuple(Segment(round(float(cells[a, 0]), 3), round(float(cells[b, 1]), 3),
                         float(np.mean(p[a:b + 1])), b - a + 1)
                 for a, b in find_runs(p, rule))


def clip_label(mean_says_fake: bool, segments: Sequence) -> str:
    """The label of a clip with speech: ``fake`` when its mean says so, else ``partly fake`` when
    it holds a run, else ``real``."""
    if mean_says_fake:
        return HUMAN_LABEL[SPOOF]
    return PARTLY_FAKE if segments else HUMAN_LABEL[BONAFIDE]
