"""The command line (spoofscan.cli): the predict and info commands (formats, exit codes,
names and patterns), and what every command shares: a usage error is one line on standard error
and exit status 2, never a traceback. The other commands are tested beside their modules
(evaluate in test_evaluate.py, export in test_export.py, train in test_train.py...)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from helpers import one_line_error
from synth import riff_wav, speechlike, write_speech

from spoofscan.backends.torch import TorchDetector
from spoofscan.checkpoint import read_card
from spoofscan.cli import main

RATE = 16_000


# ---------------------------------------------------------------------------- predict and info


def _files(tmp_path):
    good = [write_speech(tmp_path / "one.wav", 1.2, seed=1), write_speech(tmp_path / "two.wav", 2.5, seed=2)]
    bad = tmp_path / "broken.wav"
    bad.write_text("hello")
    return good, str(bad)


def test_predict_formats_and_exit_codes(tiny_checkpoint, tmp_path, capsys):
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


def test_predict_a_pattern_and_a_missing_model(tiny_checkpoint, tmp_path, capsys):
    good, bad = _files(tmp_path)
    assert main(["predict", str(tmp_path / "*.wav"), "--model", str(tiny_checkpoint), "--device", "cpu",
                 "--format", "jsonl"]) == 1  # broken.wav is matched by the glob
    assert len(capsys.readouterr().out.splitlines()) == 3
    assert main(["predict", good[0], "--model", str(tmp_path / "absent.safetensors")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_info_shows_the_card_and_its_json(tiny_checkpoint, capsys):
    assert main(["info", str(tiny_checkpoint)]) == 0
    out = capsys.readouterr().out
    assert "layers=(1, 1, 1, 1) width=8" in out and "logmel 128 bands" in out and "model      arch=resnet" in out
    assert "llr = 1.5000 * score + 0.2000" in out and "dev_eer: 0.25" in out
    assert main(["info", str(tiny_checkpoint), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == read_card(tiny_checkpoint)


def test_predict_reports_an_undecodable_file_and_scores_the_rest(tiny_checkpoint, tmp_path, capsys):
    good = [write_speech(tmp_path / f"good{i}.wav", seconds=1.2, seed=i) for i in range(2)]
    bad = tmp_path / "tag1234.wav"
    bad.write_bytes(riff_wav(0x1234))
    assert main(["predict", good[0], str(bad), good[1], "--model", str(tiny_checkpoint), "--format", "csv"]) == 1
    rows = capsys.readouterr().out.splitlines()
    assert len(rows) == 4 and rows[2].startswith(f"{bad},error,")


def test_predict_scores_a_bracketed_name_and_refuses_an_empty_pattern(tiny_checkpoint, tmp_path, capsys):
    odd = write_speech(tmp_path / "take[1].wav")
    assert main(["predict", odd, "--model", str(tiny_checkpoint), "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith(f"{odd},")
    assert "matches no file" in one_line_error(capsys, ["predict", tmp_path / "*.mp3", "--model", tiny_checkpoint])


def test_a_float_wav_of_1e30_is_an_error_not_a_verdict(tiny_checkpoint, tiny_onnx, tmp_path, capsys):
    import soundfile as sf

    x = speechlike(1.5)
    x[5000:5100] = 1e30
    path = tmp_path / "huge.wav"
    sf.write(path, x, RATE, subtype="FLOAT")
    for model in (tiny_checkpoint, tiny_onnx["onnx"]):
        assert main(["predict", str(path), "--model", str(model), "--format", "jsonl"]) == 1
        row = json.loads(capsys.readouterr().out)
        assert row["ok"] is False and "far outside [-1, 1]" in row["error"]


# ---------------------------------------------------------------------------- usage errors


def test_usage_errors_are_one_line_with_exit_2(tiny_checkpoint, tmp_path, capsys):
    clip = write_speech(tmp_path / "a.wav")
    model = ["--model", tiny_checkpoint]
    assert "is a folder" in one_line_error(capsys, ["predict", clip, *model, "-o", tmp_path])
    for flag, value, message in (("--max-seconds", "-1", "max_seconds"), ("--max-seconds", "nan", "max_seconds"),
                                 ("--batch-size", "0", "batch size"), ("--threads", "0", "threads")):
        assert message in one_line_error(capsys, ["predict", clip, *model, flag, value])
    (tmp_path / "file").write_text("x")
    err = one_line_error(capsys, ["evaluate", "--scores", clip, "--protocol", f"csv:{tmp_path / 'm.csv'}",
                                  "--out", tmp_path / "file"])
    assert "is a file; give a folder" in err
    # -o into a folder that does not exist yet: made, not a traceback
    assert main(["predict", clip, *map(str, model), "-o", str(tmp_path / "new" / "deeper" / "out.csv")]) == 0
    assert (tmp_path / "new" / "deeper" / "out.csv").is_file()


def test_predict_segments_and_rttm(tiny_checkpoint, tmp_path, capsys, monkeypatch):
    """--segments adds a row per run (table, csv) or a list (jsonl); --rttm writes one SPEAKER
    line per run; --rttm may not name --output. The band-ratio stand-in finds the run."""
    import numpy as np
    from serve_support import BandDetector
    from synth import encode, synth_clip

    monkeypatch.setattr("spoofscan.cli.predict.load_detector_from_args", lambda args, **kw: BandDetector())
    clip = tmp_path / "take one.wav"  # a blank in the name: RTTM fields are blank-separated
    clip.write_bytes(encode(np.concatenate([synth_clip(label, 3.0, np.random.default_rng(60 + i))
                                            for i, label in enumerate(("bonafide", "spoof", "bonafide"))])))
    real = write_speech(tmp_path / "real.wav", 3.0, seed=3)
    model = ["--model", str(tiny_checkpoint)]
    rttm = tmp_path / "runs.rttm"
    assert main(["predict", str(clip), real, *model, "--segments", "--format", "jsonl", "--rttm", str(rttm)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[0]["label"] == "partly fake" and rows[1]["segments"] == []
    (run,) = rows[0]["segments"]
    assert 2.5 <= run["start"] <= 3.5 and 5.5 <= run["end"] <= 6.5
    assert rttm.read_text() == (f"SPEAKER take_one 1 {run['start']:.3f} {run['end'] - run['start']:.3f} "
                                "<NA> <NA> spoof <NA> <NA>\n")
    assert main(["predict", str(clip), *model, "--segments", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["label"] for r in rows] == ["partly fake", "segment"]
    assert (float(rows[1]["start"]), float(rows[1]["end"])) == (run["start"], run["end"])
    assert main(["predict", str(clip), *model, "--segments"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[1].startswith("partly fake ") and table[2].split()[0] == "segment"
    assert f"{run['start']:.2f}-{run['end']:.2f} s" in table[2]
    assert main(["predict", str(clip), *model]) == 0  # without --segments: no run rows
    assert len(capsys.readouterr().out.splitlines()) == 2
    out = tmp_path / "out.txt"
    err = one_line_error(capsys, ["predict", str(clip), *model, "--output", out, "--rttm", out])
    assert "--output" in err and "is also an input" in err and not out.exists()


def test_a_finer_hop_scores_more_windows_and_the_shared_ones_alike(tiny_checkpoint, tmp_path, capsys):
    """--hop-seconds replaces the model's hop (not its window): windows that start at the same sample
    score the same; a hop the window length does not allow is a one-line error naming the bounds."""
    clip = write_speech(tmp_path / "long.wav", 4.0, seed=3)
    det = TorchDetector.from_checkpoint(tiny_checkpoint, device="cpu")
    hop = det.features.hop_seconds / 2
    timelines = []
    for extra in ([], ["--hop-seconds", str(hop)]):
        assert main(["predict", clip, "--model", str(tiny_checkpoint), "--device", "cpu", "--format", "jsonl",
                     "--timeline", *extra]) == 0
        timelines.append({w["start"]: w["score"] for w in json.loads(capsys.readouterr().out)["timeline"]})
    coarse, fine = timelines
    assert len(fine) > len(coarse) and set(coarse) <= set(fine)
    assert all(abs(fine[start] - score) <= 1e-4 * max(1.0, abs(score)) for start, score in coarse.items())
    err = one_line_error(capsys, ["predict", clip, "--model", tiny_checkpoint, "--hop-seconds",
                                  str(det.features.window_seconds * 2)])
    assert "hop_seconds" in err and "must be in" in err
