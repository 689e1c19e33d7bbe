"""The encoder model exported: one ONNX graph (encoder and back end, input ``features``), FP32 equal to
PyTorch, dynamic INT8 of the matrix products that follows FP32, the metadata saying which, and
``spoofscan export`` / ``predict`` running it with torch blocked.

The model is the tiny random ``whisper-mini-sls`` (tests/encoder_support.py); the audio is generated.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import onnx
import pytest
import soundfile as sf
import torch
from encoder_support import FEATURES, MINI, mini_model
from synth import make_corpus, synth_clip

import spoofscan
from spoofscan.backends.onnx import read_metadata
from spoofscan.backends.torch import TorchDetector
from spoofscan.calibration import Calibration
from spoofscan.checkpoint import make_card, save_checkpoint
from spoofscan.cli import main
from spoofscan.export import export_onnx

BLOCK_TORCH = '''
import sys

class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)

sys.meta_path.insert(0, _NoTorch())
'''


def speech_windows(n: int, seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    """(n, samples) generated voiced sounds of both kinds, at random levels."""
    rng = np.random.default_rng(seed)
    return np.stack([synth_clip(("bonafide", "spoof")[i % 2], seconds, rng) for i in range(n)])


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A checkpoint of the tiny encoder model, its FP32 export, its INT8 export without calibration
    audio and one calibrated on a small dev split."""
    root = tmp_path_factory.mktemp("encoder-export")
    model = mini_model()
    card = make_card(FEATURES.to_dict(), MINI.to_dict(), Calibration(a=1.2, b=0.1).to_dict(), threshold=0.5)
    card.update(model.card_sections())
    save_checkpoint(root / "m.safetensors", model.checkpoint_state(), card)
    manifest = make_corpus(root / "corpus", {"dev": 4}, seconds=(1.0, 2.5), seed=5)
    return {"root": root, "ckpt": root / "m.safetensors", "manifest": manifest,
            "fp32": export_onnx(root / "m.safetensors", root / "m.onnx"),
            "int8": export_onnx(root / "m.safetensors", root / "m8.onnx", int8=True),
            "int8_calibrated": export_onnx(root / "m.safetensors", root / "m8c.onnx", int8=True,
                                           calibration=f"csv:{manifest}:dev")}


def test_one_graph_takes_the_features_and_equals_pytorch(exported):
    assert exported["fp32"].max_abs_diff <= 1e-4
    graph = onnx.load(str(exported["root"] / "m.onnx")).graph
    assert [i.name for i in graph.input] == ["features"]
    assert sum(n.op_type == "Conv" for n in graph.node) == 2 and any(n.op_type == "Softmax" for n in graph.node)

    torch_det = TorchDetector.from_checkpoint(exported["ckpt"], device="cpu")
    onnx_det = spoofscan.load_detector(exported["root"] / "m.onnx")
    for batch, seconds in ((6, 1.0), (1, 1.0), (3, 0.37), (2, 3.9)):  # dynamic batch and time, within 4 s
        waves = speech_windows(batch, seconds, seed=batch)
        feeds = onnx_det.graph_inputs(waves)  # the same numpy features into both: the graphs alone
        with torch.inference_mode():
            want = torch_det.model.forward_inputs(torch.from_numpy(feeds["features"])).numpy()
        np.testing.assert_allclose(onnx_det.logits(feeds), want, atol=1e-4, rtol=0)
    waves = speech_windows(8)
    a, b = torch_det.window_scores(waves), onnx_det.window_scores(waves)
    assert np.ptp(a) > 0.05 and np.abs(a - b).max() < 2e-3  # then the torch and numpy front ends too


def test_int8_quantises_the_matrix_products_dynamically_and_follows_fp32(exported):
    meta = read_metadata(exported["root"] / "m8.onnx")
    q = meta["quantization"]
    assert meta["precision"] == "int8" and q["format"] == "dynamic" and q["ops"] == ["MatMul", "Gemm"]
    assert q["source"].startswith("generated") and q["windows"] == 18
    graph = onnx.load(str(exported["root"] / "m8.onnx")).graph
    ops = [n.op_type for n in graph.node]
    assert ops.count("MatMulInteger") >= 4 * MINI.encoder.layers and "DynamicQuantizeLinear" in ops
    made_by = {out: node.op_type for node in graph.node for out in node.output}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    assert len(convs) == 2 and not any(made_by.get(name) == "DequantizeLinear" for n in convs for name in n.input)
    assert os.path.getsize(exported["root"] / "m8.onnx") < os.path.getsize(exported["root"] / "m.onnx")

    # Dynamic INT8 rounds each weight row, and each activation tensor on every run, to 256 levels of its range:
    # about 0.4 % of the range per product, compounded over the blocks and this untrained back end's wide
    # weights. Measured here: logits near -9 move by 0.08-0.16 (1-2 %), mostly together, correlation 0.996;
    # the bounds leave room for other BLAS kernels but fail a graph that quantised wrongly (correlation ~0).
    fp32 = spoofscan.load_detector(exported["root"] / "m.onnx").window_scores(speech_windows(16, seed=9))
    int8 = spoofscan.load_detector(exported["root"] / "m8.onnx").window_scores(speech_windows(16, seed=9))
    assert np.ptp(fp32) > 0.05 and np.isfinite(int8).all()
    assert np.corrcoef(fp32, int8)[0, 1] > 0.98 and np.abs(int8 - fp32).max() < 0.05 * np.abs(fp32).max()
    for result in (exported["int8"], exported["int8_calibrated"]):
        assert result.int8_correlation > 0.95
    calibrated = read_metadata(exported["root"] / "m8c.onnx")["quantization"]
    assert calibrated["source"] == f"csv:{exported['manifest']}:dev" and calibrated["clips"] == 8


def test_export_and_predict_through_the_cli_with_torch_blocked(exported, tmp_path, capsys):
    out = tmp_path / "cli-int8.onnx"
    assert main(["export", str(exported["ckpt"]), str(out), "--int8"]) == 0  # no calibration audio needed
    assert "int8 vs fp32 on 18 generated check windows" in capsys.readouterr().out
    clip = tmp_path / "clip.wav"
    sf.write(clip, speech_windows(1, 2.7, seed=3)[0], 16_000, subtype="PCM_16")
    (tmp_path / "sitecustomize.py").write_text(BLOCK_TORCH)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path)] + [p for p in sys.path if p]))
    script = textwrap.dedent(f"""
        import sys
        from spoofscan.cli import main
        code = main(["predict", "--model", {str(out)!r}, {str(clip)!r}, "--format", "jsonl", "--timeline"])
        assert not any(m == "torch" or m.startswith("torch.") for m in sys.modules), "torch got imported"
        sys.exit(code)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])
    want = spoofscan.load_detector(exported["ckpt"], device="cpu").predict(str(clip))
    assert len(got["timeline"]) == len(want.timeline) == 5 and got["label"] in ("real", "fake", "no speech")
    assert abs(got["score"] - want.score) < 0.05 * abs(want.score) + 0.05  # INT8 against the FP32 checkpoint
