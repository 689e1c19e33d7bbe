"""The partly fake metrics (spoofscan.evaluation.partial) on hand-made frames, windows and
predictions with known answers, and evaluate() reporting them for a protocol with passages."""

from __future__ import annotations

import numpy as np
import pytest

from spoofscan.datasets import Record
from spoofscan.detector import Prediction, WindowResult
from spoofscan.evaluation.partial import (boundary_times, frames, match_boundaries, partial_report, stretch_score,
                                          unit_labels, unit_scores)
from spoofscan.segments import Segment, SegmentRule, window_cells

RULE = SegmentRule(enter=0.8, stay=0.6, min_windows=2)


def test_frames_are_labelled_fake_where_a_passage_overlaps_them():
    f = frames(0.1)  # five 20-ms frames
    np.testing.assert_allclose(f, [[0, .02], [.02, .04], [.04, .06], [.06, .08], [.08, .1]], atol=1e-12)
    assert unit_labels(f, [(0.03, 0.05)], spoof=True).tolist() == [False, True, True, False, False]
    assert unit_labels(f, [(0.04, 0.06)], spoof=True).tolist() == [False, False, True, False, False]  # touching is no overlap
    assert not unit_labels(f, [], spoof=False).any() and unit_labels(f, [], spoof=True).all()
    assert len(frames(0.109)) == 5 and frames(0.109)[-1, 1] == pytest.approx(0.1)  # under half a frame left out
    assert len(frames(0.111)) == 6 and frames(0.111)[-1, 1] == pytest.approx(0.111)  # over half: a shorter frame


def test_a_unit_takes_the_score_of_the_window_whose_cell_holds_its_centre():
    cells = window_cells([0.0, 1.0], [2.0, 3.0], 3.0)  # cells 0-1.5 and 1.5-3
    units = np.array([[0.0, 0.02], [1.48, 1.5], [1.5, 1.52], [2.98, 3.0]])
    assert unit_scores(units, cells, [1.0, -2.0], fallback=0.0).tolist() == [1.0, 1.0, -2.0, -2.0]
    assert unit_scores(units, cells, [1.0, None], fallback=0.5).tolist() == [1.0, 1.0, 0.5, 0.5]  # no speech: the clip's


def test_boundaries_leave_out_the_clips_ends_and_pair_one_to_one_within_the_tolerance():
    assert boundary_times([(0.0, 1.0), (2.0, 3.0)], 3.0) == [1.0, 2.0]
    assert match_boundaries([1.2, 2.9], [1.0, 2.0], 0.5) == 1  # 2.9 is 0.9 s from 2.0
    assert match_boundaries([1.0, 1.1], [1.05], 0.5) == 1  # one true boundary finds one prediction
    assert match_boundaries([1.4, 1.6], [1.0, 2.0], 0.5) == 2  # nearest pairs first
    assert match_boundaries([], [1.0], 0.5) == 0 and match_boundaries([1.0], [], 0.5) == 0


def test_the_stretch_score_is_the_most_fake_stretchs_least_fake_window():
    assert stretch_score([3.0, -1.0, -2.0, 4.0], 2) == -1.0
    assert stretch_score([3.0, -1.0, -2.0, 4.0], 1) == -2.0
    assert stretch_score([-5.0, None, -5.0], 2) == np.inf  # no speech breaks the stretch
    assert stretch_score([2.0], 2) == np.inf


def _prediction(name: str, scores: list, label: str, segments=()) -> Prediction:
    """Windows of 2 s every 1 s (score = p_fake mapped back: p_fake = 1 / (1 + exp(score)))."""
    duration = len(scores) + 1.0
    timeline = tuple(WindowResult(float(i), i + 2.0, s, float(1 / (1 + np.exp(s))), 1.0) for i, s in enumerate(scores))
    mean = float(np.mean(scores))
    return Prediction(name, mean, float(1 / (1 + np.exp(mean))), label, duration, 1.0, False, timeline, segments)


def test_a_report_on_hand_made_clips_has_the_known_answers():
    """A real clip at a steady 0.5; a spliced one real, fake for its windows 2-3, real again,
    whose mean (1.5) is more bona fide than the real clip's: the mean misranks them (clip EER
    1), the segment verdict does not (0); the frames split exactly (EER 0); the run's edges fall
    on the passage's (both boundaries found, nothing else predicted)."""
    real = Record("r", "r.wav", "bonafide", {}, ())
    spliced = Record("s", "s.wav", "spoof", {}, ((2.5, 4.5),))
    run = (Segment(2.5, 4.5, 0.95, 2),)
    predictions = {"r": _prediction("r", [0.5] * 6, "real"),
                   "s": _prediction("s", [4.0, 4.0, -3.0, -3.0, 4.0, 3.0], "partly fake", run)}
    out = partial_report([real, spliced], predictions, RULE)
    assert out["counts"] == {"clips": 2, "real": 1, "fake": 0, "spliced": 1, "frames": 700, "fake_frames": 100}
    assert out["segment_eer"] == {"frame": 0.0, "window": 0.0, "frame_spliced": 0.0, "window_spliced": 0.0}
    assert out["boundaries"] == {"true": 2, "predicted": 2, "matched": 2, "precision": 1.0, "recall": 1.0}
    assert out["clip_eer"] == {"mean": 1.0, "verdict": 0.0}
    assert out["verdict"] == {"real_right": 1.0, "fake_right": None, "spliced_right": 1.0, "partly_fake": 1}
    missed = partial_report([real, spliced], {**predictions, "s": _prediction("s", [4.0] * 6, "real")}, RULE)
    assert missed["boundaries"]["recall"] == 0.0 and missed["boundaries"]["precision"] is None
    assert missed["verdict"]["spliced_right"] == 0.0 and missed["segment_eer"]["frame_spliced"] >= 0.5


def test_evaluate_reports_the_partly_fake_metrics_for_a_protocol_with_passages(tmp_path):
    """evaluate() with the band-ratio stand-in on a real, a fake and a real-fake-real clip: the
    report's ``partial`` and its Markdown section; a protocol without passages has neither."""
    from serve_support import BandDetector
    from synth import encode, synth_clip, write_manifest

    from spoofscan.datasets import load_records
    from spoofscan.evaluation.evaluate import evaluate

    def clip(*labels):
        return np.concatenate([synth_clip(lab, 3.0, np.random.default_rng(50 + i)) for i, lab in enumerate(labels)])

    clips = {"real": (clip("bonafide"), "bonafide", ""), "fake": (clip("spoof"), "spoof", ""),
             "spliced": (clip("bonafide", "spoof", "bonafide"), "spoof", "3.000-6.000")}
    rows = []
    for name, (x, label, segments) in clips.items():
        (tmp_path / f"{name}.wav").write_bytes(encode(x))
        rows.append({"path": f"{name}.wav", "label": label, "trial": name, "segments": segments})
    manifest = write_manifest(tmp_path / "manifest.csv", rows)
    report = evaluate(BandDetector(), load_records(f"csv:{manifest}"), tmp_path / "out", progress=False)
    partial = report["partial"]
    assert partial["counts"]["spliced"] == 1 and partial["counts"]["fake_frames"] == 150 + 150
    assert partial["segment_eer"]["frame"] < 0.1 and partial["boundaries"]["recall"] == 1.0
    assert partial["verdict"]["spliced_right"] == 1.0 and partial["verdict"]["partly_fake"] == 1
    assert "## Partly fake clips" in (tmp_path / "out" / "report.md").read_text()
    plain = write_manifest(tmp_path / "plain.csv", [{k: v for k, v in r.items() if k != "segments"} for r in rows[:2]])
    assert "partial" not in evaluate(BandDetector(), load_records(f"csv:{plain}"), tmp_path / "plain", progress=False)
