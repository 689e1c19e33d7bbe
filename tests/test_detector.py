"""The detector: windows cover every second, streaming equals whole-array scoring, batching
across files changes nothing, bad files are reported and skipped, checkpoints reload to the
same scores and strictly, calibration, and the ``predict``/``info`` commands."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from synth import speechlike

import spoofscan
from spoofscan.audio import decode as audio
from spoofscan.audio import expand_inputs
from spoofscan.backends.torch import TorchDetector
from spoofscan.calibration import Calibration, fit_calibration
from spoofscan.checkpoint import load_checkpoint, read_card, save_checkpoint
from spoofscan.cli import main
from spoofscan.detector import Failure, Prediction
from spoofscan.errors import AudioError, SpoofscanError

RATE = 16_000


def speech(seconds: float, seed: int = 0, rate: int = RATE) -> np.ndarray:
    """Generated audio the voice-activity detector takes for speech (white noise is not, any more)."""
    return speechlike(seconds, seed=seed, rate=rate)


def write(path, x, rate=RATE):
    sf.write(path, x, rate, subtype="FLOAT")
    return str(path)


def window_scores(p: Prediction) -> np.ndarray:
    return np.array([w.score for w in p.timeline])


# ------------------------------------------------------------------ windows and the verdict


@pytest.mark.parametrize("seconds", [1.0, 2.0, 3.3, 4.75])
def test_timeline_covers_the_whole_clip(tiny_detector, seconds):
    p = tiny_detector.predict(speech(seconds), RATE)  # 1-s windows every 0.5 s
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
    p = tiny_detector.predict(speech(3.3), RATE)
    scores = window_scores(p)
    assert p.score == pytest.approx(scores.mean())
    cal = tiny_detector.calibration
    assert p.p_fake == pytest.approx(float(cal.p_fake(p.score)))
    assert [w.p_fake for w in p.timeline] == pytest.approx(cal.p_fake(scores).tolist())
    assert 0.0 <= p.p_fake <= 1.0 and p.label == ("fake" if p.p_fake >= tiny_detector.threshold else "real")
    assert p.ok and p.source == "<array>"


def test_windows_are_scored_on_exactly_their_samples(tiny_detector):
    x = speech(2.7)
    p = tiny_detector.predict(x, RATE)
    win = tiny_detector.features.window_samples
    windows = np.stack([x[int(round(w.start * RATE)): int(round(w.start * RATE)) + win] for w in p.timeline])
    np.testing.assert_allclose(window_scores(p), tiny_detector.window_scores(windows), rtol=1e-5, atol=1e-6)


def test_short_clip_is_repeat_padded_to_one_window(tiny_detector):
    x = speech(0.3)
    p = tiny_detector.predict(x, RATE)
    assert len(p.timeline) == 1 and p.duration == 0.3
    assert (p.timeline[0].start, p.timeline[0].end) == (0.0, 0.3)
    padded = np.tile(x, 4)[: tiny_detector.features.window_samples]
    assert p.score == pytest.approx(float(tiny_detector.window_scores(padded[None])[0]), abs=1e-6)


@pytest.mark.parametrize("block_seconds", [0.13, 0.5, 0.77, 2.0])
def test_streaming_in_small_blocks_equals_whole_array(tiny_detector, tmp_path, monkeypatch, block_seconds):
    x = speech(4.3, seed=3)
    path = write(tmp_path / "clip.wav", x)
    whole = tiny_detector.predict(x, RATE)
    monkeypatch.setattr(audio, "BLOCK_SECONDS", block_seconds)
    assert len(list(audio.stream_audio(path))) >= 4.3 / block_seconds - 1  # it did stream
    streamed = tiny_detector.predict(path)
    assert [(w.start, w.end) for w in streamed.timeline] == [(w.start, w.end) for w in whole.timeline]
    np.testing.assert_allclose(window_scores(streamed), window_scores(whole), rtol=1e-5, atol=1e-6)
    assert streamed.source == path and streamed.duration == whole.duration


def test_streaming_with_resampling_matches_whole_array(tiny_detector, tmp_path, monkeypatch):
    x = speech(3.2, seed=4, rate=44_100)
    path = write(tmp_path / "cd.wav", x, 44_100)
    whole = tiny_detector.predict(x, 44_100)
    monkeypatch.setattr(audio, "BLOCK_SECONDS", 0.3)
    streamed = tiny_detector.predict(path)
    assert len(streamed.timeline) == len(whole.timeline)
    np.testing.assert_allclose(window_scores(streamed), window_scores(whole), atol=1e-3)


def test_bytes_file_object_and_path_agree(tiny_detector, tmp_path):
    x = speech(2.2, seed=5)
    path = write(tmp_path / "a.wav", x)
    data = open(path, "rb").read()
    a = tiny_detector.predict(path)
    b = tiny_detector.predict(data)
    c = tiny_detector.predict(io.BytesIO(data), name="upload.wav")
    assert a.score == b.score == c.score
    assert (b.source, c.source) == ("<bytes>", "upload.wav")


def test_bad_input_to_predict_raises(tiny_detector, tmp_path):
    with pytest.raises(AudioError, match="too short"):
        tiny_detector.predict(speech(0.001), RATE)
    with pytest.raises(SpoofscanError, match="needs sample_rate"):
        tiny_detector.predict(speech(1.0))
    with pytest.raises(AudioError, match="no such file"):
        tiny_detector.predict(tmp_path / "absent.wav")


# ------------------------------------------------------------------ many files


def _clips(tmp_path):
    paths = [write(tmp_path / f"c{i}.wav", speech(s, seed=i)) for i, s in enumerate((0.4, 2.6, 1.0, 3.1, 1.7))]
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
        assert r.score == pytest.approx(tiny_detector.predict(path).score, abs=1e-6)


def test_a_file_failing_after_its_windows_were_scored_is_dropped_cleanly(tiny_features, tiny_detector, tmp_path):
    det = TorchDetector(tiny_detector.model, tiny_detector.calibration, batch_size=2, max_seconds=2.0)
    short = [write(tmp_path / f"s{i}.wav", speech(1.5, seed=i)) for i in range(3)]
    long = write(tmp_path / "long.wav", speech(6.0, seed=9))  # fails only once 2 s are decoded
    results = list(det.predict_many([short[0], long, short[1], short[2]]))
    assert [r.ok for r in results] == [True, False, True, True]
    assert "too long" in results[1].error
    for r, path in zip([results[0], results[2], results[3]], short):
        assert r.score == pytest.approx(det.predict(path).score, abs=1e-6)


@pytest.mark.parametrize("batch_size", [2, 3, 7, 64])
def test_batching_across_files_gives_the_scores_of_batch_size_one(tiny_features, tiny_detector, tmp_path, batch_size):
    paths, _ = _clips(tmp_path)
    one = TorchDetector(tiny_detector.model, tiny_detector.calibration, batch_size=1)
    many = TorchDetector(tiny_detector.model, tiny_detector.calibration, batch_size=batch_size)
    for a, b in zip(one.predict_many(paths), many.predict_many(paths), strict=True):
        assert a.source == b.source
        np.testing.assert_allclose(window_scores(a), window_scores(b), rtol=1e-5, atol=1e-6)


def test_predict_arrays_batches_across_arrays_like_predict_many(tiny_detector, tmp_path):
    paths, _ = _clips(tmp_path)
    waves = [speech(s, seed=i) for i, s in enumerate((0.4, 2.6, 1.0, 3.1, 1.7))]  # what _clips wrote
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
        np.testing.assert_allclose(window_scores(a), window_scores(b), rtol=1e-5, atol=1e-6)


def test_expand_inputs_folders_globs_and_missing(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ("b.wav", "a.flac", "sub/c.mp3", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert expand_inputs([str(tmp_path)]) == [str(tmp_path / n) for n in ("a.flac", "b.wav", "sub/c.mp3")]
    assert expand_inputs([str(tmp_path / "*.wav")]) == [str(tmp_path / "b.wav")]
    assert expand_inputs(["missing.wav"]) == ["missing.wav"]  # kept, reported later as a failure


# ------------------------------------------------------------------ checkpoints


def test_checkpoint_round_trip_gives_identical_scores(tiny_detector, tiny_checkpoint, tmp_path):
    path = write(tmp_path / "clip.wav", speech(3.4, seed=7))
    loaded = TorchDetector.from_checkpoint(tiny_checkpoint, device="cpu", batch_size=4)
    assert loaded.features == tiny_detector.features
    assert loaded.calibration == tiny_detector.calibration
    assert loaded.model.cfg == tiny_detector.model.cfg
    a, b = tiny_detector.predict(path), loaded.predict(path)
    assert a == b  # every score, p_fake and window, bit for bit
    via_api = spoofscan.load_detector(tiny_checkpoint, device="cpu", batch_size=4)
    assert isinstance(via_api, TorchDetector) and via_api.predict(path) == a


def test_loading_is_strict(tiny_checkpoint, tmp_path):
    state, card = load_checkpoint(tiny_checkpoint)
    missing = dict(state)
    del missing["layer2.0.conv1.weight"]
    save_checkpoint(tmp_path / "missing.safetensors", missing, card)
    with pytest.raises(SpoofscanError, match="layer2.0.conv1.weight"):
        TorchDetector.from_checkpoint(tmp_path / "missing.safetensors", device="cpu")
    extra = {**state, "head.weight": state["fc.weight"].clone()}
    save_checkpoint(tmp_path / "extra.safetensors", extra, card)
    with pytest.raises(SpoofscanError, match="head.weight"):
        TorchDetector.from_checkpoint(tmp_path / "extra.safetensors", device="cpu")
    wider = {**card, "model": {**card["model"], "width": 16}}
    save_checkpoint(tmp_path / "wider.safetensors", state, wider)
    with pytest.raises(SpoofscanError, match="do not match its model and feature config .*of another shape, e.g. conv1.weight"):
        TorchDetector.from_checkpoint(tmp_path / "wider.safetensors", device="cpu")


def test_card_reads_without_torch(tiny_checkpoint):
    code = ("import sys; sys.modules['torch'] = None\n"  # any torch import would fail
            "from spoofscan.checkpoint import read_card\nimport spoofscan.detector, json\n"
            f"print(json.dumps(read_card({str(tiny_checkpoint)!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    card = json.loads(out)
    assert card == read_card(tiny_checkpoint)
    assert card["format"] == "spoofscan-checkpoint" and card["label_map"] == {"spoof": 0, "bonafide": 1}
    assert card["train"] == {"corpus": "synthetic"} and card["metrics"] == {"dev_eer": 0.25}


def test_not_a_checkpoint(tmp_path):
    (tmp_path / "x.safetensors").write_bytes(b"garbage")
    with pytest.raises(SpoofscanError, match="not a safetensors file"):
        read_card(tmp_path / "x.safetensors")
    with pytest.raises(SpoofscanError, match="no such file"):
        read_card(tmp_path / "absent.safetensors")


# ------------------------------------------------------------------ calibration


def test_calibration_recovers_a_known_log_likelihood_ratio():
    # Gaussian classes N(2, 1) and N(-1, 1): the true LLR is 3 s - 1.5
    rng = np.random.default_rng(0)
    cal = fit_calibration(rng.normal(2.0, 1.0, 20_000), rng.normal(-1.0, 1.0, 5_000))
    assert cal.a == pytest.approx(3.0, abs=0.15) and cal.b == pytest.approx(-1.5, abs=0.15)
    grid = np.linspace(-50, 50, 1001)
    p = cal.p_fake(grid)
    assert ((p >= 0) & (p <= 1)).all() and np.isfinite(p).all()
    assert (np.diff(p) <= 0).all() and p[0] > 0.999 and p[-1] < 0.001  # higher score, less fake
    assert cal.p_fake(0.5) == pytest.approx(0.5, abs=0.05)  # the classes' crossing point


def test_calibration_edge_cases():
    separable = fit_calibration([1.0, 2.0, 3.0], [-1.0, -2.0, -3.0])
    assert np.isfinite([separable.a, separable.b]).all() and separable.a > 0
    assert Calibration.from_dict(separable.to_dict()) == separable
    with pytest.raises(SpoofscanError, match="both classes"):
        fit_calibration([], [1.0])
    with pytest.raises(SpoofscanError, match="NaN or Inf"):
        fit_calibration([1.0, np.nan], [0.0])
    assert Calibration(a=1.0, b=0.0).p_fake(np.array([-1e6, 1e6])).tolist() == [1.0, 0.0]  # no overflow


# ------------------------------------------------------------------ command line


def _files(tmp_path):
    good = [write(tmp_path / "one.wav", speech(1.2, seed=1)), write(tmp_path / "two.wav", speech(2.5, seed=2))]
    bad = tmp_path / "broken.wav"
    bad.write_text("hello")
    return good, str(bad)


def test_cli_predict_formats_and_exit_codes(tiny_checkpoint, tmp_path, capsys):
    good, bad = _files(tmp_path)
    model = ["--model", str(tiny_checkpoint), "--device", "cpu"]
    det = TorchDetector.from_checkpoint(tiny_checkpoint, device="cpu")
    expected = {p: det.predict(p) for p in good}

    assert main(["predict", *good, *model, "--format", "jsonl", "--timeline"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["source"] for r in rows] == good
    for r in rows:
        assert r["score"] == pytest.approx(expected[r["source"]].score, abs=1e-4)
        assert r["label"] in ("real", "fake") and 0 <= r["p_fake"] <= 1
        assert r["timeline"][-1]["end"] == r["duration"]

    assert main(["predict", good[0], bad, good[1], *model, "--format", "csv"]) == 1
    captured = capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO(captured.out)))
    assert [(r["file"], r["label"]) for r in rows] == [
        (good[0], expected[good[0]].label), (bad, "error"), (good[1], expected[good[1]].label)]
    assert "not audio" in rows[1]["error"] and "1 of 3" in captured.err

    assert main(["predict", good[0], bad, *model]) == 1
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["label", "p_fake", "score", "seconds", "speech", "file"]
    assert table[1].split()[0] == expected[good[0]].label and table[1].endswith(good[0])
    assert table[2].startswith("ERROR") and bad in table[2]


def test_cli_predict_folder_and_errors(tiny_checkpoint, tmp_path, capsys):
    good, bad = _files(tmp_path)
    assert main(["predict", str(tmp_path / "*.wav"), "--model", str(tiny_checkpoint), "--device", "cpu",
                 "--format", "jsonl"]) == 1  # broken.wav is matched by the glob
    assert len(capsys.readouterr().out.splitlines()) == 3
    assert main(["predict", good[0], "--model", str(tmp_path / "absent.safetensors")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_cli_info(tiny_checkpoint, capsys):
    assert main(["info", str(tiny_checkpoint)]) == 0
    out = capsys.readouterr().out
    assert "layers=(1, 1, 1, 1) width=8" in out and "logmel 128 bands" in out and "model      arch=resnet" in out
    assert "llr = 1.5000 * score + 0.2000" in out and "dev_eer: 0.25" in out
    assert main(["info", str(tiny_checkpoint), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == read_card(tiny_checkpoint)


def test_resolve_device(monkeypatch):
    import torch

    from spoofscan.devices import resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    for bad in ("tpu", "cpu:0", "cuda:x", "gpu"):
        with pytest.raises(SpoofscanError, match=f"unknown device '{bad}'.*auto, cpu, cuda, mps"):
            resolve_device(bad)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(SpoofscanError, match="no CUDA GPU"):
        resolve_device("cuda:0")
    with pytest.raises(SpoofscanError, match="no Apple MPS"):
        resolve_device("mps")
