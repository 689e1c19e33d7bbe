"""The networks: every registered architecture and preset runs forward and backward from the
waveform, owns its front end, and names its graph inputs; torchvision-compatible names,
ImageNet initialisation from a local file or (offline) a clear error, config validation."""

from __future__ import annotations

import json
import urllib.error

import pytest
import torch

from spoofscan.errors import SpoofscanError
from spoofscan.frontend.config import FRONTENDS, FeatureConfig
from spoofscan.models import ARCHITECTURES, MODEL_PRESETS, ModelConfig, create_model, load_pretrained, model_preset
from spoofscan.models.config import ENCODER_ARCHS

SMALL = FeatureConfig(n_mels=32, n_fft=256, win_length=256, window_seconds=0.5, hop_seconds=0.25)
# the networks on a spectrogram; the ones over a pretrained encoder (a frozen encoder; the whisper front end or
# the waveform) have tests of their own (test_encoder_model.py, test_hub_encoder.py)
SPECTROGRAM_PRESETS = sorted(name for name, cfg in MODEL_PRESETS.items() if cfg.arch not in ENCODER_ARCHS)
SPECTROGRAM_ARCHS = sorted(name for name in ARCHITECTURES if name not in ENCODER_ARCHS)


def torchvision_resnet18_shapes() -> dict[str, tuple]:
    """Every state-dict entry of torchvision's ``resnet18()`` and its shape, written out from
    the published architecture (torchvision itself does not import beside this torch)."""
    shapes: dict[str, tuple] = {}

    def bn(prefix, ch):
        for name in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{prefix}.{name}"] = (ch,)
        shapes[f"{prefix}.num_batches_tracked"] = ()

    shapes["conv1.weight"] = (64, 3, 7, 7)
    bn("bn1", 64)
    in_ch = 64
    for stage, ch in enumerate((64, 128, 256, 512), start=1):
        for block in range(2):
            p = f"layer{stage}.{block}"
            shapes[f"{p}.conv1.weight"] = (ch, in_ch if block == 0 else ch, 3, 3)
            bn(f"{p}.bn1", ch)
            shapes[f"{p}.conv2.weight"] = (ch, ch, 3, 3)
            bn(f"{p}.bn2", ch)
            if block == 0 and stage > 1:
                shapes[f"{p}.downsample.0.weight"] = (ch, in_ch, 1, 1)
                bn(f"{p}.downsample.1", ch)
        in_ch = ch
    shapes["fc.weight"] = (1000, 512)
    shapes["fc.bias"] = (1000,)
    return shapes


def fake_imagenet_state(with_counters: bool = True) -> dict[str, torch.Tensor]:
    """A random state dict with torchvision resnet18's names and shapes."""
    g = torch.Generator().manual_seed(0)
    state = {}
    for k, shape in torchvision_resnet18_shapes().items():
        if k.endswith("num_batches_tracked"):
            if with_counters:
                state[k] = torch.tensor(7)
        elif k.endswith("running_var"):
            state[k] = torch.rand(shape, generator=g) + 0.5
        else:
            state[k] = torch.randn(shape, generator=g)
    return state


# ------------------------------------------------------------------ presets


# the full-size presets take a second or more each on 2 cores: slow; the mini ones stay in the fast loop
PRESETS = [p if "-mini" in p else pytest.param(p, marks=pytest.mark.slow)
           for p in SPECTROGRAM_PRESETS]


@pytest.mark.parametrize("preset", PRESETS)
def test_preset_forward_backward(preset):
    torch.manual_seed(0)
    cfg = model_preset(preset)
    model = create_model(cfg, SMALL).train()
    waves = 0.1 * torch.randn(2, SMALL.window_samples)
    y = model(waves)
    assert y.shape == (2,) and torch.isfinite(y).all()
    feats = model.frontend(waves)
    assert feats.shape == (2, 1, SMALL.rows, SMALL.num_frames(SMALL.window_samples))
    assert model.forward_features(feats).shape == (2, 8 * cfg.width)
    inputs = {"features": feats, "wave": waves}
    torch.testing.assert_close(model.forward_inputs(*[inputs[n] for n in model.inputs]), y)
    (y.square().sum()).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("arch", SPECTROGRAM_ARCHS)
@pytest.mark.parametrize("kind", FRONTENDS)
def test_every_architecture_takes_every_front_end(arch, kind):
    features = FeatureConfig(frontend=kind, n_mels=40, n_lfcc=12, n_fft=512, window_seconds=0.5, hop_seconds=0.25)
    model = create_model(ModelConfig(arch=arch, layers=(1, 1, 1, 1), width=8, wave_width=4), features).eval()
    assert model.cfg.arch == arch and model.features == features
    assert "features" in model.inputs and ("wave" in model.inputs) == (arch == "hybrid")
    with torch.no_grad():
        y = model(0.1 * torch.randn(3, features.window_samples))
    assert y.shape == (3,) and torch.isfinite(y).all()


def test_feature_augment_sees_the_front_end_output():
    model = create_model(model_preset("resnet10-mini"), SMALL).eval()
    seen = []
    with torch.no_grad():
        model(torch.randn(2, SMALL.window_samples), feature_augment=lambda x: seen.append(x.shape) or x * 0)
    assert seen == [(2, 1, SMALL.rows, SMALL.num_frames(SMALL.window_samples))]


@pytest.mark.parametrize("preset", ["resnet10-mini", "resnet10-mini-hybrid"])
def test_eval_is_deterministic_and_batch_independent(preset):
    model = create_model(model_preset(preset), SMALL).eval()
    x = 0.1 * torch.randn(3, SMALL.window_samples)
    with torch.no_grad():
        whole = model(x)
        one_by_one = torch.cat([model(x[i:i + 1]) for i in range(3)])
    torch.testing.assert_close(whole, one_by_one, rtol=1e-5, atol=1e-5)


def test_hybrid_waveform_branch_ignores_the_level_and_sinc_freezes_to_the_same_filters():
    model = create_model(model_preset("resnet10-mini-hybrid"), SMALL).eval()
    x = 0.1 * torch.randn(2, SMALL.window_samples)
    with torch.no_grad():
        torch.testing.assert_close(model.wave(x), model.wave(10 * x), rtol=5e-3, atol=5e-3)  # up to LEVEL_EPS
        before = model.wave(x)
        model.wave.sinc.freeze()
        torch.testing.assert_close(model.wave(x), before)
    taps = model.wave.sinc.taps()
    assert taps.shape == (4, 1, 129) and torch.isfinite(taps).all()


def test_resnet18_names_and_shapes_follow_torchvision():
    model = create_model(model_preset("resnet18"))
    expected = torchvision_resnet18_shapes()
    expected["conv1.weight"] = (64, 1, 7, 7)  # one log-mel channel
    expected["fc.weight"], expected["fc.bias"] = (1, 512), (1,)  # one bona fide logit
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert list(ours) == list(expected)  # same names, same order
    assert ours == expected
    assert sum(p.numel() for p in model.parameters()) == 11_170_753  # torchvision's 11,689,512 adapted


# ------------------------------------------------------------------ pretrained weights


@pytest.mark.parametrize("with_counters", [True, False])
def test_load_pretrained_from_local_pth(tmp_path, with_counters):
    state = fake_imagenet_state(with_counters)
    path = tmp_path / "resnet18-f37072fd.pth"
    torch.save(state, path)
    torch.manual_seed(1)
    model = create_model(model_preset("resnet18"))
    fc_before = {k: v.clone() for k, v in model.fc.state_dict().items()}
    load_pretrained(model, path)
    ours = model.state_dict()
    torch.testing.assert_close(ours["conv1.weight"], state["conv1.weight"].sum(dim=1, keepdim=True))
    for k, v in state.items():
        if k.startswith("fc.") or k == "conv1.weight" or k.endswith("num_batches_tracked"):
            continue
        torch.testing.assert_close(ours[k], v, msg=k)
    for k, v in fc_before.items():
        torch.testing.assert_close(model.fc.state_dict()[k], v)  # the head keeps its own init


def test_load_pretrained_wrong_shape_missing_key_and_bad_files(tmp_path):
    model = create_model(model_preset("resnet18"))
    state = fake_imagenet_state()
    state["layer1.0.conv1.weight"] = torch.zeros(64, 64, 5, 5)
    torch.save(state, tmp_path / "shape.pth")
    with pytest.raises(SpoofscanError, match=r"wrong shape for layer1.0.conv1.weight \(64, 64, 5, 5\)"):
        load_pretrained(model, tmp_path / "shape.pth")

    state = fake_imagenet_state()
    del state["layer3.1.bn2.running_var"]
    torch.save(state, tmp_path / "missing.pth")
    with pytest.raises(SpoofscanError, match="missing.*layer3.1.bn2.running_var"):
        load_pretrained(model, tmp_path / "missing.pth")

    (tmp_path / "text.pth").write_text("not a torch file")
    with pytest.raises(SpoofscanError, match="cannot read as a torch state dict"):
        load_pretrained(model, tmp_path / "text.pth")
    with pytest.raises(SpoofscanError, match="no such file"):
        load_pretrained(model, tmp_path / "absent.pth")
    with pytest.raises(SpoofscanError, match="only the resnet18 shape"):
        load_pretrained(create_model(model_preset("resnet10-mini")), tmp_path / "shape.pth")


def test_imagenet_offline_gives_a_clear_error(monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(SpoofscanError) as info:
        load_pretrained(create_model(model_preset("resnet18")), "imagenet")
    message = str(info.value)
    assert "URLError" in message and "Offline?" in message and "resnet18-f37072fd.pth" in message


def test_imagenet_goes_through_torch_hub_with_weights_only(monkeypatch):
    calls = []

    def hub(url, **kwargs):
        calls.append((url, kwargs))
        return fake_imagenet_state()

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", hub)
    model = create_model(model_preset("resnet18"))
    load_pretrained(model, "imagenet")
    assert calls and calls[0][0].endswith("resnet18-f37072fd.pth") and calls[0][1]["weights_only"] is True
    torch.testing.assert_close(model.bn1.running_var, fake_imagenet_state()["bn1.running_var"])


# ------------------------------------------------------------------ config


@pytest.mark.parametrize("kwargs, bad", [
    ({"layers": (2, 2, 2)}, "(2, 2, 2)"),
    ({"layers": (2, 0, 2, 2)}, "(2, 0, 2, 2)"),
    ({"width": 0}, "width must be a positive channel count, got 0"),
    ({"dropout": 1.0}, "dropout must be in [0, 1), got 1.0"),
    ({"dropout": -0.1}, "got -0.1"),
    ({"in_chans": 0}, "in_chans must be a positive channel count, got 0"),
    ({"arch": "transformer"}, "unknown model arch 'transformer' (choose from: resnet, hybrid, encoder, hub)"),
    ({"wave_width": 0}, "wave_width must be a positive channel count, got 0"),
    # limits and types, so that a card read from a file can neither build a giant nor raise TypeError
    ({"width": 10_000}, "width must be at most 256 channels, got 10000"),
    ({"layers": (2, 2, 2, 1000)}, "(2, 2, 2, 1000)"),
    ({"layers": "abcd"}, "'abcd'"),
    ({"width": "64"}, "got '64'"),
    ({"dropout": float("nan")}, "got nan"),
])
def test_model_config_validation(kwargs, bad):
    with pytest.raises(SpoofscanError) as info:
        ModelConfig(**kwargs)
    assert bad in str(info.value)


def test_model_config_round_trip_and_presets():
    cfg = ModelConfig(layers=(1, 2, 3, 1), width=16, dropout=0.2)
    assert ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg  # lists back to tuples
    with pytest.raises(SpoofscanError, match=r"unknown ModelConfig field\(s\) \['depth'\]"):
        ModelConfig.from_dict({"depth": 18})
    with pytest.raises(SpoofscanError, match=r"unknown model 'resnet50' \(choose from: resnet18, resnet10, resnet18-half, "
                                             r"resnet10-mini, resnet18-hybrid, resnet18-half-hybrid, "
                                             r"resnet10-mini-hybrid, whisper-base-sls, whisper-mini-sls\)"):
        model_preset("resnet50")
    assert model_preset("resnet18") == ModelConfig()
    assert create_model(model_preset("resnet10-mini")).cfg == model_preset("resnet10-mini")
