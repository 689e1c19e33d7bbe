"""The torch-free ONNX runtime: runs with torch blocked, loads only spoofscan ONNX files,
scores long clips and batches the way the PyTorch detector does."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import onnx
import pytest
import soundfile as sf
from helpers import BATCH_ATOL, BATCH_RTOL, run_without
from synth import synth_clip

import spoofscan
from spoofscan.backends.onnx import METADATA_KEY, OnnxDetector, providers_for, read_metadata
from spoofscan.detector import Failure, Prediction
from spoofscan.errors import SpoofscanError
from spoofscan.frontend.numpy import frontend
from spoofscan.frontend.windows import window_starts

TORCH_FREE_MODULES = ("spoofscan", "spoofscan.backends.onnx", "spoofscan.detector", "spoofscan.audio",
                      "spoofscan.frontend", "spoofscan.calibration", "spoofscan.checkpoint", "spoofscan.cli",
                      "spoofscan.datasets", "spoofscan.labels", "spoofscan.errors")


@pytest.fixture(scope="module")
def model(tiny_onnx):
    """conftest's ``tiny_onnx``: an FP32 export of a tiny random-weight checkpoint and a test clip."""
    return tiny_onnx


def test_runs_with_torch_absent(model, tmp_path):
    script = textwrap.dedent(f"""
        import importlib, json, sys
        try:
            import torch
            sys.exit("torch imported although blocked")
        except ImportError:
            pass
        for name in {TORCH_FREE_MODULES!r}:
            importlib.import_module(name)
        import spoofscan
        det = spoofscan.load_detector({str(model['onnx'])!r}, threads=1)
        r = det.predict({str(model['clip'])!r})
        print(json.dumps(r.to_dict()))
        assert not any(m == "torch" or m.startswith("torch.") for m in sys.modules), "torch got imported"
    """)
    done = run_without(tmp_path, ["-c", script])
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])

    # the same numbers as the PyTorch checkpoint gives, in this process (where torch exists)
    want = spoofscan.load_detector(model["ckpt"], device="cpu").predict(str(model["clip"]))
    assert abs(got["score"] - want.score) < 1e-4 and got["label"] == want.label
    assert len(got["timeline"]) == len(want.timeline) == 7
    assert max(abs(g["score"] - w.score) for g, w in zip(got["timeline"], want.timeline)) < 1e-4


def test_cli_predict_with_torch_absent(model, tmp_path):
    done = run_without(tmp_path, ["-m", "spoofscan", "predict", "--model", str(model["onnx"]), "--threads", "1",
                                         "--format", "jsonl", "--timeline", str(model["clip"])])
    assert done.returncode == 0, done.stderr
    row = json.loads(done.stdout.strip())
    want = OnnxDetector.from_file(model["onnx"]).predict(str(model["clip"]))
    assert row["label"] in ("real", "fake") and len(row["timeline"]) == 7
    assert row["score"] == pytest.approx(want.score, rel=BATCH_RTOL, abs=BATCH_ATOL)  # 1 thread there, the default here


def test_backend_flag_overrides_the_suffix_and_evaluate_runs_with_torch_absent(model, tmp_path):
    renamed = tmp_path / "model.bin"  # an exported model under a name the suffix rule cannot place
    renamed.write_bytes(model["onnx"].read_bytes())
    fake = tmp_path / "fake.wav"
    sf.write(fake, synth_clip("spoof", 2.5, np.random.default_rng(5)), 16_000, subtype="PCM_16")
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"path,label,attack\n{model['clip']},bonafide,-\n{fake},spoof,A01\n")
    out = tmp_path / "report"
    done = run_without(tmp_path, ["-m", "spoofscan", "evaluate", "--backend", "onnx", "--threads", "1",
                                         "--model", str(renamed), "--protocol", f"csv:{manifest}", "--out", str(out),
                                         "--quiet"])
    assert done.returncode == 0, done.stderr
    scores = dict(line.split() for line in (out / "scores.txt").read_text().splitlines())
    alone = OnnxDetector.from_file(model["onnx"]).predict(str(model["clip"])).score  # other batches and threads
    assert float(scores[str(model["clip"])]) == pytest.approx(alone, rel=BATCH_RTOL, abs=BATCH_ATOL)
    assert "2 trials" in done.stdout


def test_without_torch_the_torch_commands_say_which_extra_to_install(model, tmp_path):
    for args in (["predict", "--model", str(model["ckpt"]), str(model["clip"])],
                 ["train", "--train", "csv:x.csv", "--dev", "csv:y.csv", "--out", str(tmp_path / "run")],
                 ["export", str(model["ckpt"]), str(tmp_path / "x.onnx")]):
        done = run_without(tmp_path, ["-m", "spoofscan", *args])
        assert done.returncode == 2, (args, done.stderr)
        assert "pip install 'spoofscan[torch]'" in done.stderr and "Traceback" not in done.stderr, done.stderr
    script = f"import spoofscan\ntry:\n    spoofscan.load_detector({str(model['ckpt'])!r})\n" \
             f"except spoofscan.SpoofscanError as e:\n    print('refused:', e)\n"
    done = run_without(tmp_path, ["-c", script])
    assert "refused: this needs 'torch'" in done.stdout, done.stdout + done.stderr


def test_backend_mismatches_say_what_to_do(model):
    with pytest.raises(SpoofscanError, match="spoofscan export"):
        spoofscan.load_detector(model["ckpt"], backend="onnx")
    with pytest.raises(SpoofscanError, match="--backend onnx"):
        spoofscan.load_detector(model["onnx"], backend="torch")
    with pytest.raises(SpoofscanError, match="unknown backend 'tensorrt' \\(choose from: auto, torch, onnx\\)"):
        spoofscan.load_detector(model["onnx"], backend="tensorrt")
    assert spoofscan.resolve_backend("a/MODEL.ONNX") == "onnx"
    assert spoofscan.resolve_backend("a/b.safetensors") == "torch"


def test_long_clip_batches_agree(model):
    det = OnnxDetector.from_file(model["onnx"], batch_size=4, threads=1)
    assert det.session.get_session_options().intra_op_num_threads == 1
    wave = synth_clip("spoof", 21.3, np.random.default_rng(4))
    r = det.predict(wave, 16_000)
    starts = window_starts(len(wave), det.features.window_samples, det.features.hop_samples)
    assert len(r.timeline) == len(starts) and r.timeline[-1].end == pytest.approx(21.3, abs=1e-3)
    windows = np.stack([wave[s:s + det.features.window_samples] for s in starts])
    direct = det.window_scores(windows)  # one batch of all windows
    np.testing.assert_allclose([w.score for w in r.timeline], direct, rtol=BATCH_RTOL, atol=1e-5)
    assert r.score == pytest.approx(float(np.mean(direct)), rel=BATCH_RTOL, abs=1e-5)
    # window-by-window front end equals the batched numpy front end
    assert np.abs(det.front_end(windows[:5]) - frontend(windows[:5], det.features)).max() < 1e-5


def test_predict_many_reports_bad_files(model, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF0000WAVEjunk")
    det = spoofscan.load_detector(model["onnx"], batch_size=3)
    results = list(det.predict_many([str(model["clip"]), str(bad), str(model["clip"])]))
    assert [type(r) for r in results] == [Prediction, Failure, Prediction]
    assert "bad.wav" in results[1].source
    assert results[0].score == pytest.approx(results[2].score, rel=BATCH_RTOL, abs=BATCH_ATOL)  # other batches


def test_refuses_files_that_are_not_spoofscan_models(model, tmp_path):
    with pytest.raises(SpoofscanError, match="no such file"):
        OnnxDetector.from_file(tmp_path / "missing.onnx")
    text = tmp_path / "text.onnx"
    text.write_text("hello")
    with pytest.raises(SpoofscanError, match="not an ONNX file"):
        spoofscan.load_detector(text)
    # a valid ONNX graph without spoofscan metadata
    plain = onnx.load(str(model["onnx"]))
    del plain.metadata_props[:]
    onnx.save(plain, str(tmp_path / "plain.onnx"))
    with pytest.raises(SpoofscanError, match="without spoofscan metadata"):
        OnnxDetector.from_file(tmp_path / "plain.onnx")
    # a newer format version than this runtime reads
    meta = read_metadata(model["onnx"])
    meta["format_version"] = 99
    entry = plain.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(meta)
    onnx.save(plain, str(tmp_path / "future.onnx"))
    with pytest.raises(SpoofscanError, match="v99"):
        OnnxDetector.from_file(tmp_path / "future.onnx")


def test_devices_and_threads():
    assert providers_for("cpu") == ["CPUExecutionProvider"]
    assert providers_for("auto")[-1] == "CPUExecutionProvider"
    with pytest.raises(SpoofscanError, match="choose from"):
        providers_for("tpu")
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(SpoofscanError, match="CUDAExecutionProvider"):
            providers_for("cuda:0")
    with pytest.raises(SpoofscanError, match="threads"):
        from spoofscan.backends.onnx import session_options

        session_options(0)
