"""The segment rule (spoofscan.segments) on hand-made window scores: hysteresis, the minimum
run length, windows without speech, the cells that place a run in seconds, and the label."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from spoofscan.errors import SpoofscanError
from spoofscan.segments import Segment, SegmentRule, clip_label, find_runs, find_segments, window_cells

RULE = SegmentRule(enter=0.8, stay=0.6, min_windows=2)


@pytest.mark.parametrize("p_fake, runs", [
    ([0.1, 0.7, 0.9, 0.7, 0.1], [(1, 3)]),  # enters at 0.9, stays on both sides while >= 0.6
    ([0.7, 0.7, 0.7, 0.7], []),  # fairly fake throughout, never clearly: no run
    ([0.6, 0.8], [(0, 1)]),  # both thresholds are inclusive
    ([0.5999, 0.8], []),  # one window below stay: the run is one window long
    ([0.65, 0.65, 0.85], [(0, 2)]),  # the rule reads the same backwards: the run starts before its peak
    ([0.9, 0.7, 0.7, 0.9], [(0, 3)]),  # two peaks joined by fairly fake windows: one run
    ([0.9, 0.9, 0.1, 0.9, 0.9], [(0, 1), (3, 4)]),  # runs at both ends of the clip
    ([0.1, 0.95, 0.1], []),  # a lone window is too short
    ([0.9, None, 0.9], []),  # a window without speech breaks a run
    ([0.9, 0.9, None, float("nan"), 0.9, 0.9], [(0, 1), (4, 5)]),  # NaN counts as no speech
    ([], []),
])
def test_runs_follow_the_hysteresis_and_the_minimum_length(p_fake, runs):
    assert find_runs(p_fake, RULE) == runs


def test_min_windows_one_keeps_a_lone_window_and_enter_equal_to_stay_is_a_plain_threshold():
    assert find_runs([0.1, 0.95, 0.1], SegmentRule(0.8, 0.6, 1)) == [(1, 1)]
    plain = SegmentRule(enter=0.7, stay=0.7, min_windows=2)
    assert find_runs([0.69, 0.7, 0.71, 0.69, 0.99, 0.99], plain) == [(1, 2), (4, 5)]
    assert find_runs([0.9, 0.9, 0.9], SegmentRule(0.8, 0.6, 3)) == [(0, 2)]
    assert find_runs([0.9, 0.9], SegmentRule(0.8, 0.6, 3)) == []


@pytest.mark.parametrize("kwargs, words", [
    (dict(enter=1.5), "enter must be a probability"),
    (dict(stay=-0.1), "stay must be a probability"),
    (dict(enter=0.5, stay=0.7), "must not exceed enter"),
    (dict(min_windows=0), "min_windows must be a whole number"),
    (dict(min_windows=True), "min_windows must be a whole number"),
    (dict(enter=float("nan")), "enter must be a probability"),
])
def test_a_rule_out_of_range_is_refused_naming_the_value(kwargs, words):
    with pytest.raises(SpoofscanError, match=words):
        SegmentRule(**kwargs)


def test_cells_tile_the_clip_around_the_window_centres():
    """Windows of 2 s every 1 s, the last aligned to the end: cells meet halfway between centres."""
    cells = window_cells([0.0, 1.0, 2.0, 2.5], [2.0, 3.0, 4.0, 4.5], 4.5)
    np.testing.assert_allclose(cells, [[0, 1.5], [1.5, 2.5], [2.5, 3.25], [3.25, 4.5]])
    np.testing.assert_allclose(window_cells([0.0], [0.7], 0.7), [[0, 0.7]])  # one window: the whole clip
    assert window_cells([], [], 1.0).shape == (0, 2)


def test_segments_are_the_runs_cells_with_their_mean_p_fake():
    p = [0.1, 0.85, 0.65, 0.2, None]
    timeline = [SimpleNamespace(start=float(i), end=i + 2.0, p_fake=v) for i, v in enumerate(p)]
    (segment,) = find_segments(timeline, 6.0, RULE)
    assert segment == Segment(start=1.5, end=3.5, p_fake=pytest.approx(0.75), windows=2)


def test_the_label_partly_fake_only_where_the_mean_says_real():
    run = (Segment(1.0, 3.0, 0.9, 2),)
    assert clip_label(False, run) == "partly fake"
    assert clip_label(True, run) == "fake"  # a clip whose mean says fake stays fake
    assert clip_label(False, ()) == "real" and clip_label(True, ()) == "fake"
