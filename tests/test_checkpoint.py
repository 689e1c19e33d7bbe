"""Checkpoints (spoofscan.checkpoint): safetensors weights with their card; they reload to the
same scores, load strictly, read without torch, and refuse non-finite or huge weights (the ONNX
backend refuses them in an exported model too)."""

from __future__ import annotations

import json

import pytest
from helpers import rewrite_card, run_without
from synth import write_speech

import spoofscan
from spoofscan.backends.torch import TorchDetector
from spoofscan.checkpoint import CARD_KEY, load_checkpoint, read_card, save_checkpoint
from spoofscan.errors import SpoofscanError


def test_checkpoint_round_trip_gives_identical_scores(tiny_detector, tiny_checkpoint, tmp_path):
    path = write_speech(tmp_path / "clip.wav", seconds=3.4, seed=7)
    loaded = TorchDetector.from_checkpoint(tiny_checkpoint, device="cpu", batch_size=4)
    assert loaded.features == tiny_detector.features
    assert loaded.calibration == tiny_detector.calibration
    assert loaded.model.cfg == tiny_detector.model.cfg
    a, b = tiny_detector.predict(path), loaded.predict(path)
    assert a == b  # every score, p_fake and window, bit for bit: the same weights, batches and process
    via_api = spoofscan.load_detector(tiny_checkpoint, device="cpu", batch_size=4)
    assert isinstance(via_api, TorchDetector) and via_api.predict(path) == a


def test_the_file_format_is_pinned_so_checkpoints_of_earlier_versions_load(tiny_checkpoint):
    """Tensor names are the file format: the trained features travel as ``spoofscan.features`` (renaming
    it would make every checkpoint saved before refuse to load as 'unexpected' weights)."""
    from safetensors import safe_open

    with safe_open(str(tiny_checkpoint), framework="numpy") as f:
        names = set(f.keys())
        assert f.metadata()[CARD_KEY]
    assert "spoofscan.features" in names and not {n for n in names if n.startswith("spoofscan.")} - {"spoofscan.features"}


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
    with pytest.raises(SpoofscanError,
                       match="do not match its model and feature config .*of another shape, e.g. conv1.weight"):
        TorchDetector.from_checkpoint(tmp_path / "wider.safetensors", device="cpu")


def test_card_reads_without_torch(tiny_checkpoint, tmp_path):
    code = ("from spoofscan.checkpoint import read_card\nimport spoofscan.detector, json\n"
            f"print(json.dumps(read_card({str(tiny_checkpoint)!r})))")
    done = run_without(tmp_path, ["-c", code])  # any torch import would fail
    assert done.returncode == 0, done.stderr
    card = json.loads(done.stdout)
    assert card == read_card(tiny_checkpoint)
    assert card["format"] == "spoofscan-checkpoint" and card["label_map"] == {"spoof": 0, "bonafide": 1}
    assert card["train"] == {"corpus": "synthetic"} and card["metrics"] == {"dev_eer": 0.25}


def test_not_a_checkpoint(tmp_path):
    (tmp_path / "x.safetensors").write_bytes(b"garbage")
    with pytest.raises(SpoofscanError, match="not a safetensors file"):
        read_card(tmp_path / "x.safetensors")
    with pytest.raises(SpoofscanError, match="no such file"):
        read_card(tmp_path / "absent.safetensors")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 1e30])
def test_nan_or_huge_weights_are_refused_by_both_backends(tiny_onnx, tmp_path, value):
    import onnx
    from onnx import numpy_helper
    from safetensors import safe_open
    from safetensors.numpy import load_file

    tensors = load_file(str(tiny_onnx["ckpt"]))
    tensors["fc.weight"] = tensors["fc.weight"].copy()
    tensors["fc.weight"][0, 0] = value
    with safe_open(str(tiny_onnx["ckpt"]), framework="numpy") as f:
        card_text = f.metadata()[CARD_KEY]
    bad = rewrite_card(tiny_onnx["ckpt"], tmp_path / "bad.safetensors", card_text, tensors)
    with pytest.raises(SpoofscanError, match="tensor 'fc.weight' holds"):
        spoofscan.load_detector(bad, device="cpu")

    graph = onnx.load(str(tiny_onnx["onnx"]))
    init = next(t for t in graph.graph.initializer if numpy_helper.to_array(t).size > 4)
    array = numpy_helper.to_array(init).copy()
    array.flat[0] = value
    init.CopyFrom(numpy_helper.from_array(array, init.name))
    onnx.save(graph, str(tmp_path / "bad.onnx"))
    with pytest.raises(SpoofscanError, match=f"weight '{init.name}' holds"):
        spoofscan.load_detector(tmp_path / "bad.onnx")
