"""``predict`` with features once per run of windows gives the scores of the plain seam.

The detector hands its backends runs of windows cut from contiguous audio
(:meth:`Detector.span_scores`); the PyTorch and ONNX backends compute the frames that
overlapping windows share once. Their scores must be those of :meth:`Detector.window_scores`
on the windows cut out (per-window features, as before), on every path that scores audio, and a
backend that implements only ``window_scores`` must still work.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from synth import synth_clip

from spoofscan.backends.onnx import OnnxDetector
from spoofscan.backends.torch import TorchDetector
from spoofscan.detector import Detector
from spoofscan.errors import SpoofscanError
from spoofscan.frontend.spans import WindowSpan
from spoofscan.frontend.windows import repeat_pad, window_starts

RATE = 16_000
LENGTHS = (0.4, 1.0, 2.5, 3.7037, 9.0)  # shorter than a window, one window, on and off the frame grid, many


def _clip(seconds: float, seed: int = 0) -> np.ndarray:
    return synth_clip("bonafide" if seed % 2 else "spoof", seconds, np.random.default_rng(seed))


def _windows_of(det: Detector, x: np.ndarray) -> np.ndarray:
    """The windows the detector cuts from ``x``, one by one (a short clip repeat-padded)."""
    win = det.features.window_samples
    return np.stack([repeat_pad(x[s:s + win], win) for s in window_starts(len(x), win, det.features.hop_samples)])


class PlainSeam(Detector):
    """A backend that implements only the one seam, ``window_scores``, by asking another detector."""

    def __init__(self, inner: Detector, **kwargs):
        super().__init__(inner.features, inner.calibration, **kwargs)
        self.inner = inner
        self.calls = 0

    def window_scores(self, windows: np.ndarray) -> np.ndarray:
        self.calls += 1
        return self.inner.window_scores(windows)


@pytest.fixture
def onnx_detector(tiny_onnx):
    return OnnxDetector.from_file(tiny_onnx["onnx"], threads=1, batch_size=4)


@pytest.fixture(params=["torch", "onnx"])
def detector(request, tiny_detector, onnx_detector):
    return tiny_detector if request.param == "torch" else onnx_detector


def _scores(result) -> np.ndarray:
    return np.array([w.score for w in result.timeline], dtype=np.float64)


@pytest.mark.parametrize("seconds", LENGTHS)
def test_predict_scores_equal_the_per_window_seam(detector, seconds):
    x = _clip(seconds, seed=int(seconds * 10))
    got = detector.predict(x, RATE, score_no_speech=True)
    want = detector.window_scores(_windows_of(detector, x))
    np.testing.assert_allclose(_scores(got), want, rtol=1e-5, atol=1e-5)


def test_a_backend_with_only_window_scores_gives_the_same_predictions(detector, tmp_path):
    plain = PlainSeam(detector, batch_size=3)
    clips = [_clip(s, seed=i) for i, s in enumerate(LENGTHS)]
    paths = []
    for i, x in enumerate(clips):
        paths.append(str(tmp_path / f"c{i}.wav"))
        sf.write(paths[-1], x, RATE, subtype="FLOAT")
    for a, b in zip(detector.predict_many(paths, score_no_speech=True), plain.predict_many(paths, score_no_speech=True),
                    strict=True):
        assert a.ok and b.ok and [(w.start, w.end, w.speech) for w in a.timeline] == \
            [(w.start, w.end, w.speech) for w in b.timeline]
        np.testing.assert_allclose(_scores(a), _scores(b), rtol=1e-5, atol=1e-5)
    arrays = list(plain.predict_arrays(((f"a{i}", x) for i, x in enumerate(clips)), RATE, score_no_speech=True))
    for r, x in zip(arrays, clips):
        np.testing.assert_allclose(_scores(r), _scores(detector.predict(x, RATE, score_no_speech=True)),
                                   rtol=1e-5, atol=1e-5)
    assert plain.calls > 0


def test_the_clip_seam_of_the_web_service_gives_the_scores_of_predict(detector):
    """``open_clip`` yields single windows (the service's batcher scores them through ``score_windows``)."""
    x = _clip(3.7037, seed=5)
    clip, windows = detector.open_clip(x, RATE)
    got = list(windows)
    clip.scores[:], errors = detector.score_windows(got)
    assert errors == [None] * len(got) and clip.done
    served, predicted = detector.finish(clip, score_no_speech=True), detector.predict(x, RATE, score_no_speech=True)
    assert [w.start for w in served.timeline] == [w.start for w in predicted.timeline]
    np.testing.assert_allclose(_scores(served), _scores(predicted), rtol=1e-5, atol=1e-5)


def test_a_failing_span_call_falls_back_to_windows_and_a_bad_window_fails_only_its_clip(tiny_detector):
    det = TorchDetector(tiny_detector.model, tiny_detector.calibration, batch_size=8)
    clips = [("ok1", _clip(2.5, 1)), ("bad", _clip(2.5, 2)), ("ok2", _clip(1.7, 3))]
    bad_first = float(clips[1][1][0])
    window_scores = det.window_scores

    def broken_spans(spans):
        raise RuntimeError("span path broken")

    def picky(windows):
        if any(float(w[0]) == bad_first for w in windows):
            raise RuntimeError("cannot score this window")
        return window_scores(windows)

    det.span_scores, det.window_scores = broken_spans, picky
    results = list(det.predict_arrays(iter(clips), RATE))
    assert [r.ok for r in results] == [True, False, True]
    assert "cannot score this window" in results[1].error
    np.testing.assert_allclose(_scores(results[0]), _scores(tiny_detector.predict(clips[0][1], RATE)), atol=1e-5)


def test_the_default_span_scores_cuts_the_windows_for_window_scores(tiny_detector):
    plain = PlainSeam(tiny_detector)
    x = _clip(3.0, 4)
    span = WindowSpan(x, (0, 8_000, 16_000, 32_000), tiny_detector.features.window_samples)
    np.testing.assert_allclose(plain.span_scores([span, span.split(2)[1]]),
                               tiny_detector.window_scores(np.concatenate([span.windows(), span.windows()[2:]])),
                               rtol=1e-6, atol=1e-6)
    with pytest.raises(SpoofscanError, match="3 scores for 4 windows"):
        Detector._checked_scores(np.zeros(3), 4)
