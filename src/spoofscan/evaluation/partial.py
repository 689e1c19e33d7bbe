"""Partly fake clips: how well the timeline finds the fake passages, and what the segment rule
does to the clip verdict.

For a protocol whose records carry fake passages (:attr:`spoofscan.datasets.Record.segments`,
the manifest's ``segments`` column, written by :mod:`spoofscan.corpus.splice`), scored by a
detector with its timelines (:func:`partial_report`):

- **segment EER at 20 ms** (PartialSpoof style): every clip is cut into 20-ms frames from 0;
  a frame of a spoof clip is fake when it overlaps one of its passages (by any amount, as
  PartialSpoof labels its segments), every frame of a spoof clip without passages is fake and
  every frame of a bona fide clip is real. A frame's score is the score of the window whose
  cell holds the frame's centre (:func:`spoofscan.segments.window_cells`: the window whose
  centre is nearest); a window without speech lends the clip's score instead. One EER over
  the frames of every clip, and one over the frames of the spliced clips alone;
- **segment EER at the window resolution**: the same with the windows' cells (one hop long,
  2 windows' overlap apart) as the units, each scored by its own window;
- **boundary precision and recall** within :data:`BOUNDARY_TOLERANCE_SECONDS`: a boundary is
  the start or end of a passage (true) or of a run of the segment rule (predicted), except at
  the clip's own start or end (no transition there); predicted and true boundaries of a clip
  are paired one to one, nearest first, when they lie within the tolerance. Runs in real and
  clean fake clips count as predicted boundaries too;
- **clip EER**: real clips against fake and spliced ones, with the clip's mean score (today's
  verdict) and with the segment verdict's score: the lower of the mean and the
  :func:`stretch_score` (the rule without its hysteresis, enter = stay); and the share of each
  kind of clip the detector's labels call right (``fake`` or ``partly fake`` for a fake or a
  spliced clip).

Frame and window scores are raw scores (higher = more bona fide), like every EER here.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..labels import BONAFIDE, HUMAN_LABEL
from ..segments import window_cells
from .metrics import compute_eer
from .report import percent, table

FRAME_SECONDS = 0.02  # the PartialSpoof segment resolution
BOUNDARY_TOLERANCE_SECONDS = 0.5  # a predicted boundary this near a true one finds it


def overlaps(units: np.ndarray, passages: Sequence) -> np.ndarray:
    """(n,) bool: which of ``units`` ((n, 2) start and end seconds) overlap any of ``passages``
    (``(start, end)`` seconds) by more than nothing."""
    units = np.asarray(units, dtype=np.float64).reshape(-1, 2)
    hit = np.zeros(len(units), dtype=bool)
    for a, b in passages:
        hit |= (units[:, 0] < b) & (units[:, 1] > a)
    return hit


def unit_labels(units: np.ndarray, passages: Sequence, spoof: bool) -> np.ndarray:
    """(n,) bool, True = fake: the units a passage overlaps in a spoof clip with passages,
    every unit of a spoof clip without them, none of a bona fide clip."""
    if not spoof:
        return np.zeros(len(units), dtype=bool)
    return overlaps(units, passages) if passages else np.ones(len(units), dtype=bool)


def frames(duration: float, frame: float = FRAME_SECONDS) -> np.ndarray:
    """(n, 2) seconds: the ``frame``-long frames of a clip from 0, ``n = round(duration / frame)``
    as PartialSpoof counts them (at least 1): a remainder under half a frame is left out, one
    over half a frame makes a last frame cut at ``duration``."""
    n = max(1, int(duration / frame + 0.5))
    starts = np.arange(n) * frame
    return np.stack([starts, np.minimum(starts + frame, duration)], axis=1)


def unit_scores(units: np.ndarray, cells: np.ndarray, window_scores: Sequence, fallback: float) -> np.ndarray:
    """(n,) float64: each unit's score, that of the window whose cell holds the unit's centre;
    a window without a score (None) lends ``fallback`` (the clip's score)."""
    centres = np.asarray(units, dtype=np.float64).reshape(-1, 2).mean(axis=1)
    owner = np.minimum(np.searchsorted(cells[:, 1], centres, side="right"), len(cells) - 1)
    values = np.array([fallback if s is None else float(s) for s in window_scores], dtype=np.float64)
    return values[owner]


def boundary_times(passages: Sequence, duration: float, edge: float = FRAME_SECONDS) -> list[float]:
    """The starts and ends of ``passages``, seconds, except those within ``edge`` of the clip's ends."""
    return [t for a, b in passages for t in (a, b) if edge < t < duration - edge]


def match_boundaries(predicted: Sequence[float], true: Sequence[float],
                     tolerance: float = BOUNDARY_TOLERANCE_SECONDS) -> int:
    """How many ``predicted`` boundaries pair with a ``true`` one within ``tolerance`` seconds,
    one to one, the nearest pairs first."""
    pairs = sorted((abs(p - t), i, j) for i, p in enumerate(predicted) for j, t in enumerate(true)
                   if abs(p - t) <= tolerance)
    used_p, used_t = set(), set()
    for _, i, j in pairs:
        if i not in used_p and j not in used_t:
            used_p.add(i)
            used_t.add(j)
    return len(used_p)


def stretch_score(window_scores: Sequence, min_windows: int) -> float:
    """The score of a clip's most fake stretch of ``min_windows`` consecutive windows with speech:
    per stretch its highest (least fake) score, and the lowest of those. Windows without a score
    (None) break stretches; ``inf`` when no stretch is long enough. ``p_fake`` of it at or above
    ``stay`` is the segment rule's run with ``enter = stay``."""
    best = np.inf
    piece: list = []
    for s in [*window_scores, None]:
        if s is not None:
            piece.append(float(s))
            continue
        for i in range(len(piece) - min_windows + 1):
            best = min(best, max(piece[i:i + min_windows]))
        piece = []
    return best


def _eer(scores: list, labels: list):
    """EER (fraction) of real (False) against fake (True) units, or None without both."""
    s, y = np.concatenate(scores) if scores else np.zeros(0), np.concatenate(labels) if labels else np.zeros(0, bool)
    if not y.any() or y.all():
        return None
    return compute_eer(s[~y], s[y])[0]


def partial_report(records: Sequence, predictions: dict, rule, frame: float = FRAME_SECONDS,
                   tolerance: float = BOUNDARY_TOLERANCE_SECONDS) -> dict:
    """Every metric of the module docstring for ``records`` and their ``{trial: Prediction}``
    (scored with ``score_no_speech``, so every clip has a score); ``rule`` is the detector's
    :class:`~spoofscan.segments.SegmentRule`. Records without a prediction are left out.

    Returns a JSON-ready dict: ``counts`` (clips of each kind, frames, fake frames), ``segment_eer``
    (``frame``, ``window``, ``frame_spliced``, ``window_spliced``: fractions or None),
    ``boundaries`` (``true``, ``predicted``, ``matched``, ``precision``, ``recall``), ``clip_eer``
    (``mean``, ``verdict``), ``verdict`` (share of ``real``, ``fake`` and ``spliced`` clips called
    right, and how many were labelled ``partly fake``), ``rule``, ``frame_seconds``,
    ``tolerance_seconds``.
    """
    keys = ("frame", "window", "frame_spliced", "window_spliced")
    units = {k: ([], []) for k in keys}
    true_b = predicted_b = matched = 0
    clip = {"mean": [], "verdict": [], "fake": [], "kind": [], "right": [], "partly": 0}
    for r in records:
        p = predictions.get(r.trial)
        if p is None:
            continue
        spoof, spliced = r.label != BONAFIDE, bool(r.segments)
        cells = window_cells([w.start for w in p.timeline], [w.end for w in p.timeline], p.duration)
        scores = [w.score for w in p.timeline]
        for name, u in (("frame", frames(p.duration, frame)), ("window", cells)):
            for key in (name, name + "_spliced") if spliced else (name,):
                units[key][0].append(unit_scores(u, cells, scores, p.score))
                units[key][1].append(unit_labels(u, r.segments, spoof))
        truth = boundary_times(r.segments, p.duration)
        guess = boundary_times([(s.start, s.end) for s in p.segments], p.duration)
        true_b, predicted_b = true_b + len(truth), predicted_b + len(guess)
        matched += match_boundaries(guess, truth, tolerance)
        clip["mean"].append(p.score)
        clip["verdict"].append(min(p.score, stretch_score(scores, rule.min_windows)))
        clip["fake"].append(spoof)
        clip["kind"].append("spliced" if spliced else HUMAN_LABEL[r.label])
        clip["right"].append((p.label != HUMAN_LABEL[BONAFIDE]) == spoof)
        clip["partly"] += p.label == "partly fake"
    return _assemble(units, (true_b, predicted_b, matched), clip, rule, frame, tolerance)


def _assemble(units: dict, boundary: tuple, clip: dict, rule, frame: float, tolerance: float) -> dict:
    true_b, predicted_b, matched = boundary
    fake = np.array(clip["fake"], dtype=bool)
    kinds = np.array(clip["kind"])
    right = np.array(clip["right"], dtype=bool)
    frame_labels = units["frame"][1]
    return {
        "counts": {"clips": len(kinds), **{k: int((kinds == k).sum()) for k in ("real", "fake", "spliced")},
                   "frames": int(sum(len(y) for y in frame_labels)), "fake_frames": int(sum(y.sum() for y in frame_labels))},
        "segment_eer": {k: _eer(*units[k]) for k in units},
        "boundaries": {"true": true_b, "predicted": predicted_b, "matched": matched,
                       "precision": matched / predicted_b if predicted_b else None,
                       "recall": matched / true_b if true_b else None},
        "clip_eer": {name: _eer([np.array(clip[name])], [fake]) for name in ("mean", "verdict")},
        "verdict": {**{f"{k}_right": float(right[kinds == k].mean()) if (kinds == k).any() else None
                       for k in ("real", "fake", "spliced")}, "partly_fake": clip["partly"]},
        "rule": {"enter": rule.enter, "stay": rule.stay, "min_windows": rule.min_windows},
        "frame_seconds": frame, "tolerance_seconds": tolerance,
    }


def partial_markdown(partial: dict) -> list[str]:
    """The report's section on partly fake clips (Markdown lines)."""
    c, e, b, k, v, r = (partial[x] for x in ("counts", "segment_eer", "boundaries", "clip_eer", "verdict", "rule"))
    rows = [["segment EER, 20-ms frames (all clips / spliced clips)", f"{percent(e['frame'])} / {percent(e['frame_spliced'])} %"],
            ["segment EER, window cells (all clips / spliced clips)", f"{percent(e['window'])} / {percent(e['window_spliced'])} %"],
            [f"boundary precision / recall within {partial['tolerance_seconds']:g} s",
             f"{percent(b['precision'])} / {percent(b['recall'])} % ({b['matched']} of {b['predicted']} predicted, "
             f"{b['true']} true)"],
            ["clip EER, mean score / segment verdict score", f"{percent(k['mean'])} / {percent(k['verdict'])} %"],
            ["called right: real / fake / spliced clips",
             f"{percent(v['real_right'])} / {percent(v['fake_right'])} / {percent(v['spliced_right'])} %"]]
    return ["## Partly fake clips", "",
            f"{c['clips']} clips ({c['real']} real, {c['fake']} fake, {c['spliced']} spliced), {c['frames']} frames of "
            f"{partial['frame_seconds'] * 1000:g} ms ({c['fake_frames']} fake); segment rule enter {r['enter']:g}, "
            f"stay {r['stay']:g}, at least {r['min_windows']} windows; {v['partly_fake']} clip(s) labelled partly fake.",
            "", *table(["metric", "value"], rows, "ll"), ""]
