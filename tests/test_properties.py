"""Property-based tests (Hypothesis): random bytes, random WAV headers and random card JSON
into the audio reader, both model loaders and ``predict_many``.

Each property: a project error (:class:`SpoofscanError`) or a finite result, never another
exception, never a hang; and good files in the same batch are always scored, with the score
they get alone. Bounded for CI: a few dozen examples each, derandomized (the same examples
every run, no example database written), and every example under a hard time limit.
"""

from __future__ import annotations

import contextlib
import io
import json
import signal
import struct

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from synth import speechlike

from spoofscan.audio import load_audio
from spoofscan.errors import AudioError, SpoofscanError

RATE = 16_000
EXAMPLE_SECONDS = 20  # hard limit per example: a hang fails the test instead of stalling CI


def bounded(examples: int):
    """Hypothesis settings for CI: few examples, reproducible, no database, no wall-time deadline
    (the machine may be shared; :func:`time_limit` catches hangs instead)."""
    return settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])


class Hang(BaseException):
    """Raised by the alarm: a BaseException, so that no ``except Exception`` can swallow it."""


@contextlib.contextmanager
def time_limit(seconds: float = EXAMPLE_SECONDS):
    def alarm(signum, frame):
        raise Hang(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def encode(x: np.ndarray, fmt: str, subtype: str | None = None) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, x, RATE, format=fmt, subtype=subtype)
    return buf.getvalue()


SPEECH = speechlike(1.2, seed=7)
VALID_FILES = [encode(SPEECH, "WAV"), encode(SPEECH, "FLAC"), encode(SPEECH, "OGG", "VORBIS"),
               encode(SPEECH, "MP3", "MPEG_LAYER_III"), encode(SPEECH, "WAV", "FLOAT")]


@st.composite
def damaged_files(draw) -> bytes:
    """A valid file of some format, cut short and/or with some bytes overwritten."""
    data = bytearray(draw(st.sampled_from(VALID_FILES)))
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(data) - 1))
        data[at:at + 4] = draw(st.binary(min_size=1, max_size=4))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


@st.composite
def wav_headers(draw) -> bytes:
    """A RIFF/WAVE file whose every header field is drawn at random, with some data."""
    tag = draw(st.sampled_from([0, 1, 2, 3, 6, 7, 0x11, 0x55, 0xFFFE, 0x1234]) | st.integers(0, 0xFFFF))
    channels = draw(st.sampled_from([0, 1, 2, 7, 255, 65535]) | st.integers(0, 0xFFFF))
    rate = draw(st.sampled_from([0, 1, 8000, 16000, 44100, 192000, 384000, 2**31]) | st.integers(0, 2**32 - 1))
    bits = draw(st.sampled_from([0, 1, 8, 12, 16, 24, 32, 64]) | st.integers(0, 0xFFFF))
    block = draw(st.integers(0, 0xFFFF))
    payload = draw(st.binary(min_size=0, max_size=2048))
    announced = draw(st.sampled_from([len(payload), 0, 0xFFFFFFFF, len(payload) * 7]) | st.integers(0, 2**32 - 1))
    fmt = struct.pack("<HHIIHH", tag, channels, rate, (rate * block) & 0xFFFFFFFF, block, bits)
    return (b"RIFF" + struct.pack("<I", (36 + len(payload)) & 0xFFFFFFFF) + b"WAVE" + b"fmt " + struct.pack("<I", 16)
            + fmt + b"data" + struct.pack("<I", announced) + payload)


any_bytes = st.binary(max_size=4096) | damaged_files() | wav_headers()


def check_audio_result(data: bytes) -> None:
    """The property: AudioError, or float32 mono finite samples in range."""
    with time_limit():
        try:
            y = load_audio(data, name="x")
        except AudioError as e:
            assert str(e).startswith("x: ") and e.reason
            return
    assert y.dtype == np.float32 and y.ndim == 1 and len(y) > 0 and np.isfinite(y).all()


@bounded(40)
@given(any_bytes)
def test_audio_reader_gives_an_audio_error_or_finite_samples(data):
    check_audio_result(data)


# ---------------------------------------------------------------------------- cards

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

    from spoofscan.backends.onnx import read_metadata
    from spoofscan.checkpoint import read_card

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

    import spoofscan
    from spoofscan.checkpoint import read_card

    text = data.draw(mutated(checkpoint_parts["card"]))
    path = tmp_path_factory.mktemp("card") / "m.safetensors"
    save_file(checkpoint_parts["tensors"], str(path), metadata={"spoofscan": text})
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

    import spoofscan
    from spoofscan.backends.onnx import METADATA_KEY

    text = data.draw(mutated(checkpoint_parts["meta"]))
    graph = onnx.ModelProto()
    graph.CopyFrom(checkpoint_parts["onnx"])
    next(p for p in graph.metadata_props if p.key == METADATA_KEY).value = text
    path = tmp_path_factory.mktemp("meta") / "m.onnx"
    onnx.save(graph, str(path))
    check_detector(lambda p: spoofscan.load_detector(p, warmup=False), path)


# ---------------------------------------------------------------------------- batches


@pytest.fixture(scope="module")
def batch_detector(tiny_onnx):
    import spoofscan

    det = spoofscan.load_detector(tiny_onnx["onnx"], batch_size=3, threads=1)
    goods = [encode(speechlike(s, seed=i), "WAV") for i, s in enumerate((0.4, 1.7, 2.6))]
    alone = [det.predict(g) for g in goods]
    return det, goods, alone


@bounded(25)
@given(bad=st.lists(any_bytes, min_size=1, max_size=3), where=st.lists(st.integers(0, 3), min_size=3, max_size=3))
def test_good_files_in_a_batch_are_always_scored(batch_detector, bad, where):
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
            assert result.ok and result.score == pytest.approx(expected.score, abs=1e-5)
        elif result.ok:
            assert result.label in ("real", "fake", "no speech")
            assert result.score is None or np.isfinite(result.score)
        else:
            assert result.error
