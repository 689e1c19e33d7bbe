"""ONNX export: FP32 equals PyTorch, dynamic axes, static INT8, metadata, CLI.

All on the ``tiny`` model with random weights and 1-s windows (conftest ``tiny_checkpoint``).
"""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from synth import make_corpus, synth_clip

import spoofscan
from spoofscan.backends.onnx import FEATURES_INPUT, OUTPUT_NAME, OnnxDetector, read_metadata
from spoofscan.backends.torch import TorchDetector
from spoofscan.checkpoint import read_card
from spoofscan.cli import main
from spoofscan.errors import SpoofscanError
from spoofscan.export import export_onnx
from spoofscan.frontend.config import FeatureConfig
from spoofscan.frontend.numpy import frontend


def _noisy_windows(n: int, samples: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([synth_clip(("bonafide", "spoof")[i % 2], samples / 16_000, rng, syllables=False) for i in range(n)])


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny checkpoint (random weights, BN statistics made non-trivial) and its FP32 and INT8 exports."""
    from spoofscan.calibration import Calibration
    from spoofscan.checkpoint import make_card, save_checkpoint
    from spoofscan.frontend.config import FeatureConfig
    from spoofscan.models import create_model, model_preset

    root = tmp_path_factory.mktemp("export")
    torch.manual_seed(0)
    features = FeatureConfig(window_seconds=1.0, hop_seconds=0.5)
    model = create_model(model_preset("resnet10-mini"), features)
    for m in model.modules():  # trained-like BN statistics, so every layer shapes the output
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    card = make_card(features.to_dict(), model.cfg.to_dict(), Calibration(a=1.5, b=0.2).to_dict(),
                     threshold=0.4, train={"corpus": "synthetic"}, metrics={"dev_eer": 0.25})
    ckpt = root / "tiny.safetensors"
    save_checkpoint(ckpt, model.state_dict(), card)
    manifest = make_corpus(root / "corpus", {"dev": 4}, seconds=(1.0, 2.5), seed=3)
    fp32 = export_onnx(ckpt, root / "tiny.onnx")
    int8 = export_onnx(ckpt, root / "tiny-int8.onnx", int8=True, calibration=f"csv:{manifest}:dev")
    return {"ckpt": ckpt, "fp32": fp32, "int8": int8, "manifest": manifest, "root": root}


def test_fp32_scores_equal_pytorch(exported):
    assert exported["fp32"].max_abs_diff <= 1e-4
    torch_det = TorchDetector.from_checkpoint(exported["ckpt"], device="cpu")
    onnx_det = spoofscan.load_detector(exported["root"] / "tiny.onnx")
    assert isinstance(onnx_det, OnnxDetector) and onnx_det.precision == "fp32"
    windows = _noisy_windows(6, torch_det.features.window_samples)
    a, b = torch_det.window_scores(windows), onnx_det.window_scores(windows)
    assert a.shape == b.shape == (6,)
    assert np.abs(a - b).max() < 1e-4
    assert np.ptp(a) > 1e-3  # the check is not trivially passed by a constant output

    # the whole predict path: same clip score, p_fake, label and timeline
    clip = synth_clip("spoof", 3.3, np.random.default_rng(5))
    pt, ox = torch_det.predict(clip, 16_000), onnx_det.predict(clip, 16_000)
    assert abs(pt.score - ox.score) < 1e-4 and abs(pt.p_fake - ox.p_fake) < 1e-4 and pt.label == ox.label
    assert [(w.start, w.end) for w in pt.timeline] == [(w.start, w.end) for w in ox.timeline]
    assert max(abs(p.score - o.score) for p, o in zip(pt.timeline, ox.timeline)) < 1e-4


@pytest.mark.parametrize("batch,seconds", [(1, 1.0), (5, 1.0), (3, 0.37), (2, 6.0)])
def test_dynamic_batch_and_time_axes(exported, batch, seconds):
    torch_det = TorchDetector.from_checkpoint(exported["ckpt"], device="cpu")
    session = ort.InferenceSession(str(exported["root"] / "tiny.onnx"), providers=["CPUExecutionProvider"])
    x = frontend(_noisy_windows(batch, int(seconds * 16_000), seed=batch), torch_det.features)
    got = session.run([OUTPUT_NAME], {FEATURES_INPUT: x})[0]
    with torch.inference_mode():
        want = torch_det.model.forward_inputs(torch.from_numpy(x)).numpy()
    assert got.shape == (batch,)
    assert np.abs(got - want).max() < 1e-4


def test_int8_is_quantized_and_follows_fp32(exported):
    r = exported["int8"]
    assert r.precision == "int8" and r.calibration_windows >= 8 and r.calibration_clips == 8
    graph = onnx.load(str(exported["root"] / "tiny-int8.onnx"))
    ops = {n.op_type for n in graph.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops
    int8_weights = [t for t in graph.graph.initializer if t.data_type == onnx.TensorProto.INT8 and len(t.dims) == 4]
    assert len(int8_weights) >= 5  # every convolution's weights are stored as int8
    assert r.int8_correlation > 0.95

    fp32 = spoofscan.load_detector(exported["root"] / "tiny.onnx")
    int8 = spoofscan.load_detector(exported["root"] / "tiny-int8.onnx")
    windows = _noisy_windows(16, fp32.features.window_samples, seed=11)  # not the calibration clips
    a, b = fp32.window_scores(windows), int8.window_scores(windows)
    assert np.corrcoef(a, b)[0, 1] > 0.9
    assert np.abs(a - b).max() < 0.25 * np.ptp(a) + 1e-3


def test_metadata_round_trip(exported):
    card = read_card(exported["ckpt"])
    for name, precision in (("tiny.onnx", "fp32"), ("tiny-int8.onnx", "int8")):
        meta = read_metadata(exported["root"] / name)
        assert meta["precision"] == precision
        assert meta["features"] == card["features"] and meta["calibration"] == card["calibration"]
        assert meta["threshold"] == card["threshold"] == 0.4
        assert meta["label_map"] == card["label_map"] == {"spoof": 0, "bonafide": 1}
        assert meta["card"] == card
        det = spoofscan.load_detector(exported["root"] / name)
        assert det.features.to_dict() == card["features"]
        assert det.calibration.to_dict() == card["calibration"] and det.threshold == 0.4
        assert det.card == card
    q = read_metadata(exported["root"] / "tiny-int8.onnx")["quantization"]
    assert q["format"] == "QDQ" and q["source"].startswith("csv:") and q["windows"] == exported["int8"].calibration_windows


def test_calibration_from_waveforms_and_errors(exported, tmp_path):
    rng = np.random.default_rng(0)
    clips = [synth_clip("bonafide", 1.5, rng), synth_clip("spoof", 0.6, rng)]  # one shorter than a window
    r = export_onnx(exported["ckpt"], tmp_path / "w.onnx", int8=True, calibration=clips, calibration_windows=3)
    assert r.calibration_windows == 3 and r.calibration_clips == 2
    # many calibration runs (8 batches of 8 windows): every run's ranges are merged, none dropped
    clips = [synth_clip(("bonafide", "spoof")[i % 2], 2.5, rng) for i in range(16)]
    r = export_onnx(exported["ckpt"], tmp_path / "w64.onnx", int8=True, calibration=clips, calibration_windows=64)
    assert r.calibration_windows == 64 and r.int8_correlation > 0.95
    with pytest.raises(SpoofscanError, match="calibration"):
        export_onnx(exported["ckpt"], tmp_path / "x.onnx", int8=True)
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    with pytest.raises(SpoofscanError, match="could be read"):
        export_onnx(exported["ckpt"], tmp_path / "y.onnx", int8=True, calibration=[str(bad)])
    assert not (tmp_path / "x.onnx").exists() and not (tmp_path / "y.onnx").exists()


def test_cli_export(exported, tmp_path, capsys):
    out = tmp_path / "cli.onnx"
    assert main(["export", str(exported["ckpt"]), "--format", "onnx", str(out)]) == 0
    text = capsys.readouterr().out
    assert "max |logit diff| vs PyTorch" in text and out.is_file()
    assert read_metadata(out)["precision"] == "fp32"

    assert main(["export", str(exported["ckpt"]), "--int8", str(tmp_path / "q.onnx")]) == 2
    assert "calibration" in capsys.readouterr().err
    out8 = tmp_path / "cli-int8.onnx"
    assert main(["export", str(exported["ckpt"]), "--int8", "--calibration", f"csv:{exported['manifest']}:dev",
                 "--calibration-windows", "6", str(out8)]) == 0
    assert "int8 vs fp32 on 6 calibration windows" in capsys.readouterr().out
    assert read_metadata(out8)["quantization"]["windows"] == 6


def test_info_reads_an_exported_model_and_files_are_readable(exported, capsys):
    path = exported["root"] / "tiny-int8.onnx"
    assert main(["info", str(path)]) == 0
    text = capsys.readouterr().out
    assert "ONNX model, int8" in text and "calibration llr" in text
    assert main(["info", "--json", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["precision"] == "int8"
    umask = os.umask(0)
    os.umask(umask)
    for name in ("tiny.onnx", "tiny-int8.onnx"):
        assert stat.S_IMODE((exported["root"] / name).stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE(exported["ckpt"].stat().st_mode) == 0o666 & ~umask


# ------------------------------------------------------------------ other architectures and front ends


@pytest.mark.parametrize("preset,kind", [("resnet10-mini-hybrid", "logmel"), ("resnet10-mini", "lfcc"),
                                        ("resnet10-mini-hybrid", "linear")])
def test_every_architecture_and_front_end_exports_and_runs_torch_free(exported, tmp_path, preset, kind):
    """The runtime feeds the graph the inputs it declares (features and/or the waveform), with
    the front end the metadata names: FP32 equals PyTorch, INT8 follows it."""
    from spoofscan.calibration import Calibration
    from spoofscan.checkpoint import make_card, save_checkpoint
    from spoofscan.models import create_model, model_preset

    features = FeatureConfig(frontend=kind, n_mels=48, n_lfcc=16, window_seconds=1.0, hop_seconds=0.5)
    torch.manual_seed(3)
    model = create_model(model_preset(preset), features)
    card = make_card(features.to_dict(), model.cfg.to_dict(), Calibration(a=1.0, b=0.0).to_dict())
    ckpt = tmp_path / "m.safetensors"
    save_checkpoint(ckpt, model.state_dict(), card)
    fp32 = export_onnx(ckpt, tmp_path / "m.onnx")
    assert fp32.max_abs_diff <= 1e-4
    int8 = export_onnx(ckpt, tmp_path / "m8.onnx", int8=True, calibration=f"csv:{exported['manifest']}:dev")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == list(model.inputs)
    meta = read_metadata(tmp_path / "m.onnx")
    assert [i["name"] for i in meta["inputs"]] == list(model.inputs) and meta["model"]["arch"] == model.cfg.arch
    torch_det = TorchDetector.from_checkpoint(ckpt, device="cpu")
    onnx_det = spoofscan.load_detector(tmp_path / "m.onnx")
    windows = _noisy_windows(6, features.window_samples, seed=7)
    a, b = torch_det.window_scores(windows), onnx_det.window_scores(windows)
    assert np.abs(a - b).max() < 2e-3 and np.ptp(a) > 1e-3  # torch front end vs numpy twin, then the same graph
    q = spoofscan.load_detector(tmp_path / "m8.onnx").window_scores(windows)
    assert np.isfinite(q).all() and int8.int8_correlation > 0.9
    if "wave" in model.inputs:  # the waveform branch stays FP32, the spectrogram branch is quantised
        import onnx

        graph = onnx.load(str(tmp_path / "m8.onnx")).graph
        made_by = {out: node.op_type for node in graph.node for out in node.output}
        ranks = {t.name: len(t.dims) for t in graph.initializer}
        convs = [n for n in graph.node if n.op_type == "Conv"]
        one_d = [n for n in convs if ranks.get(n.input[1]) == 3]
        assert one_d and all(made_by.get(n.input[0]) != "DequantizeLinear" for n in one_d)
        assert all(made_by.get(n.input[1]) == "DequantizeLinear" for n in convs if n not in one_d)
