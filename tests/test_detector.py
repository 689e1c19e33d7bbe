"""The detector (spoofscan.detector, on the PyTorch and ONNX backends): windows cover every
second, streaming equals whole-array scoring, batching across files changes nothing beyond float
rounding, a bad file or a failing backend costs only its own result, and no NaN or Inf becomes a
verdict."""

from __future__ import annotations

import io

import numpy as np
import pytest
from helpers import BATCH_ATOL, BATCH_RTOL
from hypothesis import assume, given
from hypothesis import strategies as st
from strategies import any_bytes, bounded, time_limit
from synth import encode, riff_wav, speechlike, write_audio, write_speech

import spoofscan
from spoofscan.audio import decode as audio
from spoofscan.backends.torch import TorchDetector
from spoofscan.detector import Detector, Failure, Prediction
from spoofscan.errors import AudioError, SpoofscanError

RATE = 16_000


def window_scores(p: Prediction) -> np.ndarray:
    return np.array([w.score for w in p.timeline])


# ------------------------------------------------------------------ windows and the verdict


@pytest.mark.parametrize("seconds", [1.0, 2.0, 3.3, 4.75])
def test_timeline_covers_the_whole_clip(tiny_detector, seconds):
    p = tiny_detector.predict(speechlike(seconds), RATE)  # 1-s windows every 0.5 s
    starts = [w.start for w in p.timeline]
    ends = [w.end for w in p.timeline]
    assert p.duration == seconds
    assert starts[0] == 0.0 and ends[-1] == seconds
    assert all(e - s == pytest.approx(1.0) for s, e in zip(starts, ends))
    regular = np.arange(0, seconds - 1.0 + 1e-9, 0.5)  # 50 % overlap...
    assert starts[: len(regular)] == pytest.approx(regular.tolist())
    assert len(starts) == len(regular) + (regular[-1] + 1.0 < seconds)  # ...plus one aligned to the end
    assert all(b - a <= 0.5 + 1e-9 for a, b in zip(starts, starts[1:]))


def test_clip_verdict_aggregates_windows(tiny_detector):
    p = tiny_detector.predict(speechlike(3.3), RATE)
    scores = window_scores(p)
    assert p.score == pytest.approx(scores.mean())
    cal = tiny_detector.calibration
    assert p.p_fake == pytest.approx(float(cal.p_fake(p.score)))
    assert [w.p_fake for w in p.timeline] == pytest.approx(cal.p_fake(scores).tolist())
    assert 0.0 <= p.p_fake <= 1.0 and p.label == ("fake" if p.p_fake >= tiny_detector.threshold else "real")
    assert p.ok and p.source == "<array>"


def test_windows_are_scored_on_exactly_their_samples(tiny_detector):
    x = speechlike(2.7)
    p = tiny_detector.predict(x, RATE)
    win = tiny_detector.features.window_samples
    windows = np.stack([x[int(round(w.start * RATE)): int(round(w.start * RATE)) + win] for w in p.timeline])
    np.testing.assert_allclose(window_scores(p), tiny_detector.window_scores(windows), rtol=BATCH_RTOL, atol=BATCH_ATOL)


def test_short_clip_is_repeat_padded_to_one_window(tiny_detector):
    x = speechlike(0.3)
    p = tiny_detector.predict(x, RATE)
    assert len(p.timeline) == 1 and p.duration == 0.3
    assert (p.timeline[0].start, p.timeline[0].end) == (0.0, 0.3)
    padded = np.tile(x, 4)[: tiny_detector.features.window_samples]
    assert p.score == pytest.approx(float(tiny_detector.window_scores(padded[None])[0]), abs=1e-6)


@pytest.mark.parametrize("block_seconds", [0.13, 0.5, 0.77, 2.0])
def test_streaming_in_small_blocks_equals_whole_array(tiny_detector, tmp_path, monkeypatch, block_seconds):
    x = speechlike(4.3, seed=3)
    path = write_audio(tmp_path / "clip.wav", x)
    whole = tiny_detector.predict(x, RATE)
    monkeypatch.setattr(audio, "BLOCK_SECONDS", block_seconds)
    assert len(list(audio.stream_audio(path))) >= 4.3 / block_seconds - 1  # it did stream
    streamed = tiny_detector.predict(path)
    assert [(w.start, w.end) for w in streamed.timeline] == [(w.start, w.end) for w in whole.timeline]
    np.testing.assert_allclose(window_scores(streamed), window_scores(whole), rtol=BATCH_RTOL, atol=BATCH_ATOL)
    assert streamed.source == path and streamed.duration == whole.duration


def test_streaming_with_resampling_matches_whole_array(tiny_detector, tmp_path, monkeypatch):
    x = speechlike(3.2, seed=4, rate=44_100)
    path = write_audio(tmp_path / "cd.wav", x, 44_100)
    whole = tiny_detector.predict(x, 44_100)
    monkeypatch.setattr(audio, "BLOCK_SECONDS", 0.3)
    streamed = tiny_detector.predict(path)
    assert len(streamed.timeline) == len(whole.timeline)
    np.testing.assert_allclose(window_scores(streamed), window_scores(whole), atol=1e-3)


def test_bytes_file_object_and_path_agree(tiny_detector, tmp_path):
    x = speechlike(2.2, seed=5)
    path = write_audio(tmp_path / "a.wav", x)
    data = open(path, "rb").read()
    a = tiny_detector.predict(path)
    b = tiny_detector.predict(data)
    c = tiny_detector.predict(io.BytesIO(data), name="upload.wav")
    assert a.score == b.score == c.score  # the same samples in the same batches, in one process: bit for bit
    assert (b.source, c.source) == ("<bytes>", "upload.wav")


def test_bad_input_to_predict_raises(tiny_detector, tmp_path):
    with pytest.raises(AudioError, match="too short"):
        tiny_detector.predict(speechlike(0.001), RATE)
    with pytest.raises(SpoofscanError, match="needs sample_rate"):
        tiny_detector.predict(speechlike(1.0))
    with pytest.raises(AudioError, match="no such file"):
        tiny_detector.predict(tmp_path / "absent.wav")


# ------------------------------------------------------------------ many files


def _clips(tmp_path):
    paths = [write_audio(tmp_path / f"c{i}.wav", speechlike(s, seed=i))
             for i, s in enumerate((0.4, 2.6, 1.0, 3.1, 1.7))]
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio at all")
    return paths, str(bad)


def test_predict_many_reports_a_bad_file_and_scores_the_rest_in_order(tiny_detector, tmp_path):
    paths, bad = _clips(tmp_path)
    inputs = paths[:2] + [bad] + paths[2:]
    results = list(tiny_detector.predict_many(inputs))
    assert [r.source for r in results] == inputs
    failure = results[2]
    assert isinstance(failure, Failure) and not failure.ok and failure.source == bad
    assert "not audio" in failure.error
    for r, path in zip(results[:2] + results[3:], paths):
        assert isinstance(r, Prediction) and r.ok
        assert r.score == pytest.approx(tiny_detector.predict(path).score, rel=BATCH_RTOL, abs=BATCH_ATOL)


def test_a_file_failing_after_its_windows_were_scored_is_dropped_cleanly(tiny_features, tiny_detector, tmp_path):
    det = TorchDetector(tiny_detector.model, tiny_detector.calibration, batch_size=2, max_seconds=2.0)
    short = [write_audio(tmp_path / f"s{i}.wav", speechlike(1.5, seed=i)) for i in range(3)]
    long = write_audio(tmp_path / "long.wav", speechlike(6.0, seed=9))  # fails only once 2 s are decoded
    results = list(det.predict_many([short[0], long, short[1], short[2]]))
    assert [r.ok for r in results] == [True, False, True, True]
    assert "too long" in results[1].error
    for r, path in zip([results[0], results[2], results[3]], short):
        assert r.score == pytest.approx(det.predict(path).score, rel=BATCH_RTOL, abs=BATCH_ATOL)


@pytest.mark.parametrize("batch_size", [2, 3, 7, 64])
def test_batching_across_files_gives_the_scores_of_batch_size_one(tiny_features, tiny_detector, tmp_path, batch_size):
    paths, _ = _clips(tmp_path)
    one = TorchDetector(tiny_detector.model, tiny_detector.calibration, batch_size=1)
    many = TorchDetector(tiny_detector.model, tiny_detector.calibration, batch_size=batch_size)
    for a, b in zip(one.predict_many(paths), many.predict_many(paths), strict=True):
        assert a.source == b.source
        np.testing.assert_allclose(window_scores(a), window_scores(b), rtol=BATCH_RTOL, atol=BATCH_ATOL)


def test_predict_arrays_batches_across_arrays_like_predict_many(tiny_detector, tmp_path):
    paths, _ = _clips(tmp_path)
    waves = [speechlike(s, seed=i) for i, s in enumerate((0.4, 2.6, 1.0, 3.1, 1.7))]  # what _clips wrote
    bad = np.full(RATE, np.nan, dtype=np.float32)
    names = [f"a{i}" for i in range(len(waves))]
    items = list(zip(names, waves))
    det = TorchDetector(tiny_detector.model, tiny_detector.calibration, batch_size=3)
    calls = []
    scores = det.span_scores  # the windows of runs of contiguous audio, one backend call per batch
    det.span_scores = lambda spans: calls.append(sum(map(len, spans))) or scores(spans)
    results = list(det.predict_arrays(iter(items[:2] + [("bad", bad)] + items[2:]), RATE))
    assert [r.source for r in results] == names[:2] + ["bad"] + names[2:]
    assert not results[2].ok and "NaN" in results[2].error
    assert max(calls) == 3 and len(calls) < sum(len(r.timeline) for r in results if r.ok)  # batched across clips
    for a, b in zip([r for r in results if r.ok], tiny_detector.predict_many(paths), strict=True):
        np.testing.assert_allclose(window_scores(a), window_scores(b), rtol=BATCH_RTOL, atol=BATCH_ATOL)


# ------------------------------------------------------------------ a failure costs only its own result


def test_one_undecodable_file_never_kills_the_batch(tiny_checkpoint, tmp_path):
    good = [write_speech(tmp_path / f"good{i}.wav", seconds=1.2, seed=i) for i in range(3)]
    bad = tmp_path / "tag1234.wav"
    bad.write_bytes(riff_wav(0x1234))
    det = spoofscan.load_detector(tiny_checkpoint, device="cpu")
    results = list(det.predict_many([good[0], str(bad), good[1], good[2]]))
    assert [r.ok for r in results] == [True, False, True, True]
    assert results[2].score == pytest.approx(det.predict(good[1]).score, rel=BATCH_RTOL, abs=BATCH_ATOL)


def test_an_exception_from_the_backend_costs_only_its_own_clip(tiny_detector, tmp_path):
    good = [write_speech(tmp_path / f"g{i}.wav", seconds=1.0, seed=i) for i in range(3)]
    poisoned = speechlike(1.0, seed=9)
    poisoned[:10] = 0.123456  # the backend below raises on the window that starts like this
    original = tiny_detector.window_scores

    def picky(windows):
        if any(np.all(w[:10] == np.float32(0.123456)) for w in windows):
            raise RuntimeError("kernel failure")
        return original(windows)

    tiny_detector.window_scores = picky
    tiny_detector.span_scores = Detector.span_scores.__get__(tiny_detector)  # the shared-frames path cuts windows too
    results = list(tiny_detector.predict_many([good[0], (poisoned, RATE), good[1], good[2]]))
    assert [r.ok for r in results] == [True, False, True, True]
    assert "RuntimeError: kernel failure" in results[1].error


# ------------------------------------------------------------------ no NaN or Inf verdicts


def test_non_finite_features_give_nan_never_a_finite_logit(tiny_detector, tiny_onnx):
    onnx = spoofscan.load_detector(tiny_onnx["onnx"])
    windows = np.stack([speechlike(1.0, seed=1), speechlike(1.0, seed=2)])
    windows[1, 100] = np.nan  # past the audio checks: the backend itself must not invent a number
    for det in (tiny_detector, onnx):
        scores = det.window_scores(windows)
        assert np.isfinite(scores[0]) and np.isnan(scores[1])


def test_a_nan_window_score_makes_the_clip_a_failure(tiny_detector, tmp_path):
    good = write_speech(tmp_path / "good.wav", seed=1)
    original = tiny_detector.window_scores
    tiny_detector.window_scores = lambda w: np.where(np.abs(w[:, :1]).sum(axis=1) > 0, original(w), np.nan)
    tiny_detector.span_scores = Detector.span_scores.__get__(tiny_detector)  # the shared-frames path cuts windows too
    silent_start = np.r_[np.zeros(RATE), speechlike(1.0)].astype(np.float32)  # its first window scores NaN
    results = list(tiny_detector.predict_many([(silent_start, RATE), good]))
    assert not results[0].ok and "non-finite score" in results[0].error and results[1].ok
    with pytest.raises(SpoofscanError, match="non-finite score"):
        tiny_detector.predict(silent_start, RATE)


# ------------------------------------------------------------------ the (array, rate) pair; threads


def test_the_documented_pair_and_threads_for_both_backends(tiny_onnx):
    import torch

    x = speechlike(2.0)
    for path in (tiny_onnx["ckpt"], tiny_onnx["onnx"]):
        det = spoofscan.load_detector(path, device="cpu", threads=1)
        before = torch.get_num_threads()
        a, b = det.predict((x, RATE)), det.predict(x, RATE)
        assert a == b and a.label in ("real", "fake")  # one detector, the same batches: bit for bit
        assert torch.get_num_threads() == before  # the caller's setting is left as it was
        results = list(det.predict_many([(x, RATE), (x,), ("not an array", RATE)]))
        assert [r.ok for r in results] == [True, False, False]
        with pytest.raises(SpoofscanError, match="threads"):
            spoofscan.load_detector(path, device="cpu", threads=0)


# ------------------------------------------------------------------ random bad files in a batch (Hypothesis)


@pytest.fixture(scope="module")
def batch_detector(tiny_onnx):
    det = spoofscan.load_detector(tiny_onnx["onnx"], batch_size=3, threads=1)
    goods = [encode(speechlike(s, seed=i)) for i, s in enumerate((0.4, 1.7, 2.6))]
    alone = [det.predict(g) for g in goods]
    return det, goods, alone


@bounded(25)
@given(bad=st.lists(any_bytes, min_size=1, max_size=3), where=st.lists(st.integers(0, 3), min_size=3, max_size=3))
def test_good_files_in_a_batch_are_always_scored(batch_detector, bad, where):
    """Good files among random bad bytes: scored, with the score they get alone (within float
    rounding: their windows share batches with other files'); the bad ones fail or get a verdict."""
    det, goods, alone = batch_detector
    items = list(bad)
    for good, at in zip(goods, where):
        items.insert(min(at, len(items)), good)
    assume(all(any(item is g for item in items) for g in goods))
    with time_limit():
        results = list(det.predict_many(items))  # never raises
    assert len(results) == len(items)
    for item, result in zip(items, results):
        if any(item is g for g in goods):
            expected = alone[[i for i, g in enumerate(goods) if item is g][0]]
            assert result.ok and result.score == pytest.approx(expected.score, rel=BATCH_RTOL, abs=1e-5)
        elif result.ok:
            assert result.label in ("real", "fake", "no speech")
            assert result.score is None or np.isfinite(result.score)
        else:
            assert result.error



def _clip(*labels: str, seconds: float = 4.0) -> np.ndarray:
    """tests/synth.py speech of these classes in turn, ``seconds`` each, 16 kHz."""
    from synth import synth_clip

    return np.concatenate([synth_clip(label, seconds, np.random.default_rng(30 + i)) for i, label in enumerate(labels)])


def test_a_clip_whose_mean_says_real_but_whose_middle_scores_fake_is_partly_fake():
    """The band-ratio stand-in scores the synthetic middle fake: the mean stays real, the run
    makes the label partly fake, placed over the middle; Prediction.to_dict can leave it out."""
    from serve_support import BandDetector

    from spoofscan.segments import SegmentRule

    r = BandDetector().predict(_clip("bonafide", "spoof", "bonafide"), 16_000)
    assert r.p_fake < 0.5 and r.label == "partly fake"
    (run,) = r.segments
    assert 3.5 <= run.start <= 4.5 and 7.5 <= run.end <= 8.5 and run.p_fake > 0.8 and run.windows >= 5
    assert list(r.to_dict()["segments"]) == [{"start": run.start, "end": run.end, "p_fake": run.p_fake,
                                              "windows": run.windows}]
    assert "segments" not in r.to_dict(segments=False)
    strict = BandDetector(segment_rule=SegmentRule(min_windows=50)).predict(_clip("bonafide", "spoof", "bonafide"), 16_000)
    assert strict.label == "real" and strict.segments == ()  # the run is shorter than this rule's minimum
    fake = BandDetector().predict(_clip("spoof"), 16_000)
    assert fake.label == "fake" and len(fake.segments) == 1  # its mean says fake: it stays fake, its run listed


def test_a_detector_needs_a_segment_rule():
    from serve_support import BandDetector

    with pytest.raises(SpoofscanError, match="SegmentRule"):
        BandDetector(segment_rule={"enter": 0.8})
