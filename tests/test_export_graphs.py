"""Graph kinds of an export: every kind is written, checked against FP32 and run by the torch-free
runtime; ``auto`` times them all and records the choice in the metadata, which ``info`` shows."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from synth import make_corpus, synth_clip

import spoofscan
from spoofscan.backends.onnx import read_metadata
from spoofscan.cli import main
from spoofscan.errors import SpoofscanError
from spoofscan.export import export_onnx
from spoofscan.graphs import AUTO, GRAPH_KINDS, MIN_CORRELATION, PRECISION_OF, choose


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny random-weight checkpoint (1-s windows) and a manifest with a dev split to calibrate on."""
    from spoofscan.calibration import Calibration
    from spoofscan.checkpoint import make_card, save_checkpoint
    from spoofscan.frontend.config import FeatureConfig
    from spoofscan.models import create_model, model_preset

    root = tmp_path_factory.mktemp("graphs")
    torch.manual_seed(5)
    features = FeatureConfig(window_seconds=1.0, hop_seconds=0.5)
    model = create_model(model_preset("resnet10-mini"), features)
    card = make_card(features.to_dict(), model.cfg.to_dict(), Calibration(a=1.0, b=0.0).to_dict())
    save_checkpoint(root / "tiny.safetensors", model.state_dict(), card)
    manifest = make_corpus(root / "corpus", {"dev": 4}, seconds=(1.0, 2.5), seed=4)
    return {"ckpt": root / "tiny.safetensors", "calibration": f"csv:{manifest}:dev", "root": root}


def _windows(n: int = 8) -> np.ndarray:
    rng = np.random.default_rng(9)
    return np.stack([synth_clip(("bonafide", "spoof")[i % 2], 1.0, rng) for i in range(n)])


@pytest.mark.parametrize("kind", ["int8-dynamic", "fp16"])
def test_each_graph_kind_is_written_checked_and_run_torch_free(checkpoint, tmp_path, kind):
    """Kinds that need no calibration audio are compared with FP32 on the generated check windows."""
    fp32 = spoofscan.load_detector(export_onnx(checkpoint["ckpt"], tmp_path / "fp32.onnx").path)
    result = export_onnx(checkpoint["ckpt"], tmp_path / f"{kind}.onnx", graph=kind)
    assert result.graph == kind and result.precision == PRECISION_OF[kind]
    assert result.calibration_clips == 0 and np.isfinite(result.int8_max_abs_diff)
    meta = read_metadata(tmp_path / f"{kind}.onnx")
    assert meta["graph"]["kind"] == kind and meta["precision"] == PRECISION_OF[kind]
    assert (meta["quantization"] is not None) == kind.startswith("int8")
    det = spoofscan.load_detector(tmp_path / f"{kind}.onnx")
    a, b = fp32.window_scores(_windows()), det.window_scores(_windows())
    assert np.isfinite(b).all() and np.corrcoef(a, b)[0, 1] > 0.95


def test_auto_times_every_kind_and_keeps_the_fastest_of_equal_accuracy(checkpoint, tmp_path, capsys):
    out = tmp_path / "auto.onnx"
    assert main(["export", str(checkpoint["ckpt"]), "--graph", "auto", "--calibration", checkpoint["calibration"],
                 str(out)]) == 0
    printed = capsys.readouterr().out
    graph = read_metadata(out)["graph"]
    candidates = graph["candidates"]
    assert [c["kind"] for c in candidates] == list(GRAPH_KINDS)
    assert all(c["batch1_ms"] > 0 and c["batch32_ms_per_window"] > 0 for c in candidates)
    equal = [c for c in candidates if c["kind"] == "fp32" or c["correlation"] >= MIN_CORRELATION]
    assert graph["kind"] == min(equal, key=lambda c: c["batch1_ms"])["kind"]
    assert graph["chosen_by"].startswith("auto") and graph["timed_on"]["threads"] == 1
    assert "<- chosen" in printed
    assert main(["info", str(out)]) == 0
    info = capsys.readouterr().out
    assert f"graph      {graph['kind']} (auto" in info and "ms per window at batch 1" in info
    assert spoofscan.load_detector(out).predict(synth_clip("bonafide", 2.2, np.random.default_rng(1)), 16_000).ok


def test_choose_prefers_speed_only_among_graphs_of_equal_accuracy():
    fast_but_off = {"kind": "int8-static", "batch1_ms": 1.0, "correlation": MIN_CORRELATION - 0.01}
    fp32 = {"kind": "fp32", "batch1_ms": 3.0, "correlation": float("nan")}  # fp32 is the reference
    fp16 = {"kind": "fp16", "batch1_ms": 2.0, "correlation": 1.0}
    assert choose([fp32, fast_but_off, fp16])["kind"] == "fp16"
    assert choose([fp32, fast_but_off])["kind"] == "fp32"


def test_graph_kind_errors_name_the_choices(checkpoint, tmp_path, capsys):
    with pytest.raises(SpoofscanError, match="int8-dynamic"):
        export_onnx(checkpoint["ckpt"], tmp_path / "a.onnx", graph="int4")
    with pytest.raises(SpoofscanError, match="contradicts"):
        export_onnx(checkpoint["ckpt"], tmp_path / "b.onnx", int8=True, graph="fp16")
    for kind in (AUTO, "int8-static"):
        with pytest.raises(SpoofscanError, match="calibration"):
            export_onnx(checkpoint["ckpt"], tmp_path / "c.onnx", graph=kind)
    assert main(["export", str(checkpoint["ckpt"]), "--calibration", checkpoint["calibration"],
                 str(tmp_path / "d.onnx")]) == 2
    assert "--calibration goes with --int8 or --graph" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
