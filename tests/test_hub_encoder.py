"""The ``hub`` architecture: a transformers wav2vec 2.0 / WavLM encoder (the ``hub`` extra) under the
same layer-weighted back end, on the raw waveform. Tiny randomly initialised transformers configs made
here; nothing is downloaded. Skipped where transformers is not installed.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")

import spoofscan  # noqa: E402
from spoofscan.backends.torch import TorchDetector  # noqa: E402
from spoofscan.calibration import Calibration  # noqa: E402
from spoofscan.checkpoint import make_card, read_card, save_checkpoint  # noqa: E402
from spoofscan.errors import SpoofscanError  # noqa: E402
from spoofscan.export import export_onnx  # noqa: E402
from spoofscan.fileio import file_sha256  # noqa: E402
from spoofscan.frontend.config import FeatureConfig  # noqa: E402
from spoofscan.models import HubEncoderDetector, ModelConfig, create_model  # noqa: E402
from spoofscan.models.encoders.hub import NORM_EPS, config_mapping, hub_config  # noqa: E402
from spoofscan.models.ssl import load_encoder_weights  # noqa: E402

FEATURES = FeatureConfig(window_seconds=1.0, hop_seconds=0.5)  # only the window and hop matter
TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, conv_dim=(16, 16),
            conv_kernel=(10, 3), conv_stride=(5, 2), num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)
KINDS = {"wav2vec2": "Wav2Vec2Config", "wavlm": "WavLMConfig"}


def tiny_config(kind: str):
    return getattr(transformers, KINDS[kind])(**TINY)


def hub_model(kind: str = "wav2vec2", seed: int = 0, **fields) -> HubEncoderDetector:
    cfg = ModelConfig.from_dict({"arch": "hub", "hub": config_mapping(tiny_config(kind)), "head_width": 16, **fields})
    torch.manual_seed(seed)
    model = create_model(cfg, FEATURES).eval()
    with torch.no_grad():  # a back end wide enough that windows get distinct scores
        for name, p in model.named_parameters():
            if not name.startswith("encoder."):
                p.normal_(0.0, 0.5)
    return model


def waves(n: int = 3, seconds: float = 1.0, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, int(16_000 * seconds))) * np.linspace(0.02, 0.3, n)[:, None]
    x[:, ::7] += np.sin(np.arange(x.shape[1])[::7] / (3 + np.arange(n)[:, None]))
    return torch.from_numpy(x.astype(np.float32))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_hidden_states_are_the_transformers_models_of_the_normalised_window(kind):
    model = hub_model(kind)
    x = waves()
    reference = transformers.AutoModel.from_config(tiny_config(kind)).eval()
    reference.load_state_dict(model.encoder.model.state_dict())
    normalised = (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, unbiased=False, keepdim=True) + NORM_EPS)
    with torch.no_grad():
        want = torch.stack(reference(normalised, output_hidden_states=True).hidden_states, dim=1)
        got = model.encode(x)
        assert got.shape == (3, *model.hidden_shape(16_000)) == (3, 3, 1599, 32)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(model.encode(5 * x + 0.1), got, rtol=1e-3, atol=1e-3)  # the level is no cue
        logits = model(x)
        assert logits.std() > 1e-2
        torch.testing.assert_close(model(got), logits)  # from cached states
    assert model.inputs == ("wave",) and model.caches_hidden_states


def test_frozen_and_top_layer_training_and_the_config_round_trip():
    model = hub_model().train()
    model(waves()).square().sum().backward()
    assert all(p.grad is None for n, p in model.named_parameters() if n.startswith("encoder."))
    assert all(p.grad is not None for n, p in model.named_parameters() if not n.startswith("encoder."))
    tuned = hub_model(trainable_layers=1).train()
    tuned(waves()).square().sum().backward()
    encoder = {n for n, p in tuned.named_parameters() if n.startswith("encoder.") and p.grad is not None}
    assert encoder and all(n.startswith("encoder.model.encoder.layers.1.") for n in encoder), encoder

    cfg = model.cfg
    assert ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(SpoofscanError, match="hub model_type 'bert' is not one of wav2vec2, wavlm, hubert"):
        ModelConfig.from_dict({**cfg.to_dict(), "hub": {**cfg.hub, "model_type": "bert"}})
    with pytest.raises(SpoofscanError, match="hub num_hidden_layers must be an integer in 1..64, got 1000"):
        ModelConfig.from_dict({**cfg.to_dict(), "hub": {**cfg.hub, "num_hidden_layers": 1000}})
    with pytest.raises(SpoofscanError, match="model arch 'hub' needs its transformers config"):
        ModelConfig(arch="hub")


def test_published_weights_load_from_a_save_pretrained_folder(tmp_path):
    torch.manual_seed(4)
    published = transformers.AutoModel.from_config(tiny_config("wav2vec2"))
    published.save_pretrained(tmp_path / "w2v", safe_serialization=True)
    model = hub_model()
    assert model.cfg.hub == hub_config(tmp_path / "w2v")
    load_encoder_weights(model, tmp_path / "w2v")
    for name, value in published.state_dict().items():
        assert torch.equal(model.encoder.model.state_dict()[name], value), name
    section = model.card_sections()["encoder"]
    assert section["format"] == "transformers" and section["sha256"] == file_sha256(tmp_path / "w2v/model.safetensors")
    with pytest.raises(SpoofscanError, match=r"another encoder than the model's: hidden_size 48 \(the model's: 32\)"):
        load_encoder_weights(hub_model(), _other_size(tmp_path / "wide"))
    with pytest.raises(SpoofscanError, match="a hub encoder has no installed weights"):
        load_encoder_weights(hub_model(), "installed")
    (tmp_path / "w2v" / "model.safetensors").unlink()
    with pytest.raises(SpoofscanError, match=r"\.bin pickles are refused"):
        load_encoder_weights(hub_model(), tmp_path / "w2v")


def _other_size(folder):
    transformers.AutoModel.from_config(transformers.Wav2Vec2Config(**{**TINY, "hidden_size": 48})).save_pretrained(
        folder, safe_serialization=True)
    return folder


def test_checkpoint_export_and_the_torch_free_runtime_agree(tmp_path):
    model = hub_model()
    card = make_card(FEATURES.to_dict(), model.cfg.to_dict(), Calibration().to_dict())
    card.update(model.card_sections())
    save_checkpoint(tmp_path / "h.safetensors", model.checkpoint_state(), card)
    assert read_card(tmp_path / "h.safetensors")["encoder"]["config"]["model_type"] == "wav2vec2"
    torch_det = TorchDetector.from_checkpoint(tmp_path / "h.safetensors", device="cpu")
    x = waves(4, seed=2).numpy()
    np.testing.assert_array_equal(torch_det.window_scores(x), model(torch.from_numpy(x)).detach().numpy())

    assert export_onnx(tmp_path / "h.safetensors", tmp_path / "h.onnx").max_abs_diff <= 1e-4
    int8 = export_onnx(tmp_path / "h.safetensors", tmp_path / "h8.onnx", int8=True)
    onnx_det = spoofscan.load_detector(tmp_path / "h.onnx")
    assert onnx_det.input_names == ["wave"]
    for n, seconds in ((4, 1.0), (2, 0.6)):  # dynamic batch and length
        x = waves(n, seconds, seed=n).numpy()
        a, b = torch_det.window_scores(x), onnx_det.window_scores(x)
        assert np.ptp(a) > 1e-2 and np.abs(a - b).max() < 1e-4
    assert int8.int8_correlation > 0.95
    q = spoofscan.load_detector(tmp_path / "h8.onnx").window_scores(waves(4, seed=2).numpy())
    assert np.isfinite(q).all() and q.shape == (4,)


def test_a_hub_model_trains_on_cached_hidden_states(tmp_path):
    from synth import make_corpus

    from spoofscan.training import TrainConfig, fit

    manifest = make_corpus(tmp_path / "corpus", {"train": 4, "dev": 3}, seconds=(0.6, 1.6), seed=2)
    cfg = TrainConfig.from_dict(dict(train=f"csv:{manifest}:train", dev=f"csv:{manifest}:dev",
                                     out=str(tmp_path / "run"), model=hub_model().cfg.to_dict(),
                                     features=FEATURES.to_dict(), epochs=2, batch_size=4, num_workers=0, device="cpu",
                                     progress=False, encoder_weights="random", feature_cache=str(tmp_path / "cache")))
    result = fit(cfg)
    assert [r["epoch"] for r in result.history] == [1, 2]
    entries = list((tmp_path / "cache" / "features").glob("*/*.npy"))
    assert len(entries) == 14 and np.load(entries[0]).shape[1:] == (3, 1599, 32)
    det = spoofscan.load_detector(result.checkpoint, device="cpu")
    assert det.card["encoder"]["config"]["model_type"] == "wav2vec2" and det.model.inputs == ("wave",)
