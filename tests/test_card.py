"""The checkpoint card and the ONNX metadata (spoofscan.card): one schema, validated wherever a
model is read (read_card, load_detector, the info command); a malformed card is one clear error,
never a traceback nor a detector that scores NaN."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import one_line_error, rewrite_card
from hypothesis import given
from hypothesis import strategies as st
from strategies import SPEECH, bounded, time_limit

import spoofscan
from spoofscan.backends.onnx import METADATA_KEY, read_metadata
from spoofscan.checkpoint import read_card
from spoofscan.errors import SpoofscanError

RATE = 16_000


def _mutations(card: dict):
    """(label, card text, what the error must say) for malformed cards."""
    def edit(**changes):
        new = json.loads(json.dumps(card))
        for dotted, value in changes.items():
            *parents, last = dotted.split("__")
            node = new
            for p in parents:
                node = node[p]
            if value is KeyError:
                del node[last]
            else:
                node[last] = value
        return json.dumps(new)

    yield "bad json", "{not json", "not valid JSON"
    yield "a list", "[1, 2]", "must be a JSON mapping"
    yield "deep", "[" * 100_000 + "]" * 100_000, "nested too deeply"
    yield "huge", json.dumps({"x": "y" * 5_000_000}), "more than the"
    yield "no features", edit(features=KeyError), "'features' is missing"
    yield "no calibration", edit(calibration=KeyError), "'calibration' is missing"
    yield "text calibration", edit(calibration__a="1.5"), "card field 'calibration.a'"
    yield "nan calibration", edit(calibration__b=float("nan")), "finite number"
    yield "threshold 2", edit(threshold=2.0), "card field 'threshold'"
    yield "label map", edit(label_map={"spoof": 1, "bonafide": 0}), "card field 'label_map'"
    yield "future", edit(format_version=99), "v99"
    yield "n_mels 1e9", edit(features__n_mels=10**9), "n_mels 1000000000 must be at most 512"
    yield "hop 1e-6", edit(features__hop_seconds=1e-6), "hop_seconds 1e-06"
    yield "unknown feature", edit(features__colour="red"), "unknown FeatureConfig field"
    yield "string size", edit(features__n_fft="1024"), "n_fft must be a positive integer"
    yield "8 kHz", edit(features__sample_rate=8000, features__fmax=4000.0), "sample_rate must be 16000"


def test_malformed_cards_are_one_clear_error_everywhere(tiny_checkpoint, tmp_path, capsys):
    card = read_card(tiny_checkpoint)
    for label, text, message in _mutations(card):
        path = rewrite_card(tiny_checkpoint, tmp_path / "bad.safetensors", text)
        for load in (read_card, lambda p: spoofscan.load_detector(p, device="cpu")):
            with pytest.raises(SpoofscanError, match="bad.safetensors") as info:
                load(path)
            assert message in str(info.value), (label, str(info.value))
        err = one_line_error(capsys, ["info", path])
        assert message in err, (label, err)


def test_a_model_section_torch_cannot_build_is_an_error(tiny_checkpoint, tmp_path):
    card = read_card(tiny_checkpoint)
    for model, message in (({**card["model"], "width": 10**6}, "width must be at most 256"),
                           ([1, 2], "card field .model.: Input should be a valid dictionary"),
                           ({**card["model"], "depth": 3}, "unknown ModelConfig")):
        path = rewrite_card(tiny_checkpoint, tmp_path / "m.safetensors", json.dumps({**card, "model": model}))
        with pytest.raises(SpoofscanError, match=message):
            spoofscan.load_detector(path, device="cpu")


def test_onnx_metadata_is_validated_by_the_same_schema(tiny_onnx, tmp_path, capsys):
    import onnx

    meta = read_metadata(tiny_onnx["onnx"])
    graph = onnx.load(str(tiny_onnx["onnx"]))
    entry = next(p for p in graph.metadata_props if p.key == METADATA_KEY)
    for label, text, message in _mutations(meta):  # the envelope around the card: the same mistakes
        entry.value = text
        onnx.save(graph, str(tmp_path / "bad.onnx"))
        for load in (read_metadata, spoofscan.load_detector):
            with pytest.raises(SpoofscanError, match="bad.onnx") as info:
                load(tmp_path / "bad.onnx")
            assert message in str(info.value), (label, str(info.value))
        assert message in one_line_error(capsys, ["info", tmp_path / "bad.onnx"])
    inner = {**meta, "card": {**meta["card"], "calibration": {"a": "x", "b": 0}}}  # the checkpoint card inside
    entry.value = json.dumps(inner)
    onnx.save(graph, str(tmp_path / "bad.onnx"))
    with pytest.raises(SpoofscanError, match=r"the checkpoint card inside it\): card field 'calibration.a'"):
        spoofscan.load_detector(tmp_path / "bad.onnx")


def test_a_card_whose_features_disagree_with_the_weights_is_an_error_on_torch_too(tiny_checkpoint, tmp_path):
    card = read_card(tiny_checkpoint)  # 128 mels
    edited = {**card, "features": {**card["features"], "n_mels": 64}}
    path = rewrite_card(tiny_checkpoint, tmp_path / "64.safetensors", json.dumps(edited))
    with pytest.raises(SpoofscanError, match="n_mels 64 in the card, 128 with the weights"):
        spoofscan.load_detector(path, device="cpu")


# ---------------------------------------------------------------------------- random cards (Hypothesis)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)


def _paths(value, prefix=()):
    """Every key path inside a JSON mapping (to pick one to replace)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield prefix + (key,)
            yield from _paths(item, prefix + (key,))


@st.composite
def mutated(draw, card: dict) -> str:
    """The card's JSON text with one field replaced, removed, or a key added; or random JSON;
    or the card as it is (so that the loaders' success path is checked too)."""
    pick = draw(st.integers(0, 9))
    if pick == 0:
        return json.dumps(draw(json_values))
    if pick == 1:
        return json.dumps(card)
    new = json.loads(json.dumps(card))
    path = draw(st.sampled_from(sorted(_paths(new), key=str)))
    node = new
    for key in path[:-1]:
        node = node[key]
    action = draw(st.sampled_from(["replace", "replace", "remove", "add"]))
    if action == "remove":
        del node[path[-1]]
    elif action == "add":
        node[draw(st.text(min_size=1, max_size=8))] = draw(json_values)
    else:
        node[path[-1]] = draw(json_values | st.sampled_from([0, -1, 10**9, 1e-9, 1e300, "16000", [], {}]))
    return json.dumps(new)


@pytest.fixture(scope="module")
def checkpoint_parts(tiny_onnx):
    """The tiny checkpoint's tensors and card, and the ONNX model's proto and metadata."""
    import onnx
    from safetensors.numpy import load_file

    return {"tensors": load_file(str(tiny_onnx["ckpt"])), "card": read_card(tiny_onnx["ckpt"]),
            "onnx": onnx.load(str(tiny_onnx["onnx"])), "meta": read_metadata(tiny_onnx["onnx"])}


def check_detector(load, path) -> None:
    """The property for a model file: SpoofscanError, or a detector whose verdicts are finite."""
    with time_limit():
        try:
            det = load(path)
        except SpoofscanError:
            return
        r = det.predict((SPEECH, RATE))
    assert r.label in ("real", "fake") and np.isfinite([r.score, r.p_fake]).all() and 0 <= r.p_fake <= 1


@bounded(30)
@given(data=st.data())
def test_checkpoint_loader_with_random_cards(checkpoint_parts, tmp_path_factory, data):
    from safetensors.numpy import save_file

    from spoofscan.checkpoint import CARD_KEY

    text = data.draw(mutated(checkpoint_parts["card"]))
    path = tmp_path_factory.mktemp("card") / "m.safetensors"
    save_file(checkpoint_parts["tensors"], str(path), metadata={CARD_KEY: text})
    with time_limit():
        try:
            read_card(path)
        except SpoofscanError:
            pass
    check_detector(lambda p: spoofscan.load_detector(p, device="cpu"), path)


@bounded(25)
@given(data=st.data())
def test_onnx_loader_with_random_metadata(checkpoint_parts, tmp_path_factory, data):
    import onnx

    text = data.draw(mutated(checkpoint_parts["meta"]))
    graph = onnx.ModelProto()
    graph.CopyFrom(checkpoint_parts["onnx"])
    next(p for p in graph.metadata_props if p.key == METADATA_KEY).value = text
    path = tmp_path_factory.mktemp("meta") / "m.onnx"
    onnx.save(graph, str(path))
    check_detector(lambda p: spoofscan.load_detector(p, warmup=False), path)
