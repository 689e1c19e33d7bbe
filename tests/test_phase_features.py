"""Phase channels of the front end (modified group delay ``mgd``, instantaneous-frequency deviation
``ifd``): the torch module and its numpy twin agree, they stack with the magnitude on one time
axis, they measure what they say on signals whose phase is known, they stay finite and
deterministic on silence, DC, clipping and a tone; config validation and old cards; a network
with several input channels from a training step to the torch-free runtime.

Parity tolerances (numpy twin against the torch module, both float32):

- ``normalize`` none or mean: ``atol=2e-3, rtol=1e-4``, the tolerance of the magnitude front
  ends (tests/test_features.py). Measured: ``ifd`` differs by at most 1e-4 bins (it is a ratio of
  band sums, both floored); ``mgd`` by at most 1.5e-3, on a clipped tone: its numerator
  ``X_re Y_re + X_im Y_im`` cancels where the group delay is near 0, so the two FFTs' rounding
  (about 1e-7 of the frame's peak) leaves about 1e-3 in tau, which the compression
  ``(1 + |tau|) ** alpha - 1`` passes on with slope alpha = 0.4.
- ``meanvar``: ``atol=1e-2``: a band that barely changes over time (a steady or clipped tone) is
  divided by its standard deviation + NORM_EPS (0.01), which multiplies those differences by
  up to 100 where the values themselves are ~0 (measured: 4e-3).
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from synth import make_corpus, make_tone, synth_clip

import spoofscan
from spoofscan.backends.onnx import OnnxDetector, read_metadata
from spoofscan.backends.torch import TorchDetector
from spoofscan.calibration import Calibration
from spoofscan.checkpoint import make_card, read_card, save_checkpoint
from spoofscan.cli import main
from spoofscan.errors import SpoofscanError
from spoofscan.export import export_onnx
from spoofscan.frontend.config import CHANNELS, NORMALIZATIONS, FeatureConfig, linear_filterbank, stft_window
from spoofscan.frontend.numpy import frontend
from spoofscan.frontend.phase import cepstral_lifter, derivative_window, ramp_window
from spoofscan.frontend.torch import Frontend
from spoofscan.models import ModelConfig, create_model, match_in_chans, model_preset

RATE = 16_000
ALL = ("logmag", "mgd", "ifd")
TOLERANCE = {"none": 2e-3, "mean": 2e-3, "meanvar": 1e-2}  # see the module docstring


def _edge_signals(seconds: float = 1.0) -> dict:
    """Named (samples,) float32 signals: the hard cases for phase and a few ordinary ones."""
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    rng = np.random.default_rng(0)
    click = np.zeros(n)
    click[n // 2] = 0.9
    return {
        "silence": np.zeros(n),
        "dc": np.full(n, 0.3),
        "clipped": np.clip(3.0 * np.sin(2 * np.pi * 220 * t), -1.0, 1.0),
        "tone": 0.5 * np.sin(2 * np.pi * 700 * t),
        "click": click,
        "full-scale noise": np.clip(rng.standard_normal(n), -1.0, 1.0),
        "speech-like": synth_clip("bonafide", seconds, rng),
        "low-passed": synth_clip("spoof", seconds, rng),
        "noise after silence": np.concatenate([np.zeros(n // 2), 0.3 * rng.standard_normal(n - n // 2)]),
    }


def _waves(seconds: float = 1.0) -> np.ndarray:
    return np.stack(list(_edge_signals(seconds).values())).astype(np.float32)


def _torch(cfg: FeatureConfig, waves: np.ndarray) -> np.ndarray:
    return Frontend(cfg)(torch.from_numpy(waves)).numpy()


# ------------------------------------------------------------------ numpy twin and torch module


@pytest.mark.parametrize("kind", ["logmel", "linear"])
@pytest.mark.parametrize("normalize", NORMALIZATIONS)
@pytest.mark.parametrize("channels", [ALL, ("mgd",), ("ifd", "logmag")])
def test_torch_module_matches_numpy_twin(kind, normalize, channels):
    cfg = FeatureConfig(frontend=kind, normalize=normalize, channels=channels)
    w = _waves()
    ours, twin = _torch(cfg, w), frontend(w, cfg)
    assert ours.shape == twin.shape == (len(w), len(channels), cfg.rows, cfg.num_frames(w.shape[1]))
    assert ours.dtype == twin.dtype == np.float32
    assert np.isfinite(ours).all() and np.isfinite(twin).all()
    np.testing.assert_allclose(ours, twin, atol=TOLERANCE[normalize], rtol=1e-4)
    assert np.abs(twin).max() > 1.0  # the comparison is not of near-zeros


@pytest.mark.parametrize("kw", [dict(n_fft=513, win_length=400, n_mels=40), dict(n_fft=401, win_length=401, n_mels=40),
                                dict(n_fft=1024, win_length=401, hop_length=100, mgd_lifter=12)])
def test_numpy_twin_matches_on_odd_sizes_and_in_parallel_parts(kw):
    """Odd FFT and window lengths place the window (and its ramp and derivative) off-centre."""
    cfg = FeatureConfig(frontend="linear", channels=ALL, **kw)
    w = np.random.default_rng(1).standard_normal((2, 16_001)).astype(np.float32)
    ours = _torch(cfg, w)
    with ThreadPoolExecutor(3) as pool:
        parts = frontend(w, cfg, pool=pool, parts=3)
    assert ours.shape == parts.shape == (2, 3, cfg.rows, cfg.num_frames(w.shape[1]))
    np.testing.assert_allclose(frontend(w, cfg), ours, atol=2e-3, rtol=1e-4)
    np.testing.assert_allclose(parts, frontend(w, cfg), atol=1e-4)


@pytest.mark.parametrize("kind", ["logmel", "linear"])
def test_the_magnitude_channel_is_the_front_end_alone_on_the_same_frames(kind):
    """Stacking changes nothing in the magnitude channel: bit for bit, in both implementations."""
    w = _waves()
    alone, stacked = FeatureConfig(frontend=kind), FeatureConfig(frontend=kind, channels=("ifd", "logmag", "mgd"))
    assert stacked.num_channels == 3 and alone.num_channels == 1
    np.testing.assert_array_equal(frontend(w, stacked)[:, 1], frontend(w, alone)[:, 0])
    np.testing.assert_array_equal(_torch(stacked, w)[:, 1], _torch(alone, w)[:, 0])


def test_every_signal_gives_finite_deterministic_features_and_silence_gives_zero():
    cfg = FeatureConfig(channels=ALL, normalize="none")
    w = _waves()
    first, again = frontend(w, cfg), frontend(w, cfg)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(_torch(cfg, w), _torch(cfg, w))
    for i, name in enumerate(_edge_signals()):
        assert np.isfinite(first[i]).all(), name
    silence = list(_edge_signals()).index("silence")
    assert not first[silence, 1:].any()  # phase of digital silence: exactly 0, not rounding noise
    late = list(_edge_signals()).index("noise after silence")
    frames = cfg.num_frames(w.shape[1])
    quiet = slice(0, frames // 2 - cfg.n_fft // cfg.hop_length)  # frames that see none of the noise
    assert not first[late, 1:, :, quiet].any()


# ------------------------------------------------------------------ what the channels measure


def _group_delay_config(**kw) -> FeatureConfig:
    """alpha = gamma = 1: ``mgd`` is the group delay itself, times |X|^2 / S^2 (1 for a click)."""
    return FeatureConfig(channels=("mgd",), normalize="none", mgd_alpha=1.0, mgd_gamma=1.0, **kw)


@pytest.mark.parametrize("offset", [-60, -7, 25, 150])
def test_group_delay_of_a_click_is_its_time_from_the_frame_centre(offset):
    cfg = _group_delay_config()
    frame = 40
    wave = np.zeros((1, RATE), np.float32)
    wave[0, frame * cfg.hop_length + offset] = 0.5  # the centre of frame t is sample t * hop
    mgd = frontend(wave, cfg)[0, 0, :, frame]
    np.testing.assert_allclose(mgd, offset, rtol=1e-3)  # every band, in samples
    np.testing.assert_allclose(_torch(cfg, wave)[0, 0, :, frame], offset, rtol=1e-3)
    compressed = frontend(wave, FeatureConfig(channels=("mgd",), normalize="none"))[0, 0, :, frame]
    assert (np.sign(compressed) == np.sign(offset)).all()  # the default exponents keep the sign


def test_instantaneous_frequency_deviation_follows_a_tone_across_a_band():
    cfg = FeatureConfig(frontend="linear", channels=("ifd",), normalize="none")
    fb = linear_filterbank(cfg)
    centres = np.fft.rfftfreq(cfg.n_fft, 1 / RATE) @ fb.T / fb.sum(axis=1)
    band, bin_hz = 40, RATE / cfg.n_fft
    got = []
    for offset in (-0.5, -0.25, 0.0, 0.25, 0.5):  # FFT bins
        tone = make_tone(centres[band] + offset * bin_hz, 0.5)[None]
        ifd = frontend(tone, cfg)[0, 0, :, 5:-5].mean(axis=-1)
        got.append(ifd[band])
        assert ifd[band - 1] > 1.0 and ifd[band + 1] < -1.0  # the energy lies above the band below, below the one above
    assert abs(got[2]) < 0.02 and np.all(np.diff(got) > 0) and np.sign(got[0]) == -1 and np.sign(got[-1]) == 1
    quiet = frontend(0.01 * make_tone(centres[band] + 0.25 * bin_hz, 0.5)[None], cfg)[0, 0, :, 5:-5].mean(axis=-1)
    np.testing.assert_allclose(quiet[band], got[3], atol=1e-3)  # 34 dB quieter: the same deviation


def test_lifter_keeps_low_quefrencies_and_drops_the_rest():
    cfg = FeatureConfig(mgd_lifter=30)
    to_cepstrum, from_cepstrum = cepstral_lifter(cfg)
    k = np.arange(cfg.n_fft // 2 + 1)
    envelope = 1.0 + np.cos(2 * np.pi * 3 * k / cfg.n_fft) - 0.5 * np.cos(2 * np.pi * 29 * k / cfg.n_fft)
    harmonics = 0.3 * np.cos(2 * np.pi * 100 * k / cfg.n_fft)  # quefrency 100 samples: a 160 Hz pitch
    smooth = from_cepstrum.astype(np.float64) @ (to_cepstrum.astype(np.float64) @ (envelope + harmonics))
    np.testing.assert_allclose(smooth, envelope, atol=1e-5)


def test_ramp_and_derivative_windows():
    cfg = FeatureConfig()
    w = stft_window(cfg).astype(np.float64)
    np.testing.assert_allclose(ramp_window(cfg), w * (np.arange(cfg.n_fft) - cfg.n_fft // 2), rtol=1e-6, atol=1e-5)
    slope = np.gradient(w)  # central differences: the analytic derivative up to O(1 / win_length^2) ...
    inside = slice((cfg.n_fft - cfg.win_length) // 2 + 1, (cfg.n_fft + cfg.win_length) // 2 - 1)  # ... inside
    np.testing.assert_allclose(derivative_window(cfg)[inside], slope[inside], atol=1e-6)
    assert derivative_window(cfg)[:inside.start].sum() == derivative_window(cfg)[inside.stop + 1:].sum() == 0


# ------------------------------------------------------------------ config


@pytest.mark.parametrize("kwargs, bad", [
    ({"channels": ("logmag", "phase")}, "unknown channel 'phase' (choose from: logmag, mgd, ifd)"),
    ({"channels": ("mgd", "mgd")}, "name a channel twice"),
    ({"channels": ()}, "channels must be a non-empty tuple"),
    ({"channels": "logmag"}, "channels must be a non-empty tuple of names from logmag, mgd, ifd, got 'logmag'"),
    ({"channels": ("logmag", "mgd"), "frontend": "lfcc"}, "need frontend logmel or linear, got 'lfcc'"),
    ({"channels": ALL, "mgd_alpha": 0.0}, "mgd_alpha must be in (0, 1], got 0.0"),
    ({"channels": ALL, "mgd_gamma": 1.5}, "mgd_gamma must be in (0, 1], got 1.5"),
    ({"mgd_lifter": 600}, "mgd_lifter 600 must be at most n_fft // 2 = 512"),
    ({"mgd_lifter": 0}, "mgd_lifter must be a positive integer, got 0"),
])
def test_config_validation_names_the_bad_value(kwargs, bad):
    with pytest.raises(SpoofscanError) as info:
        FeatureConfig(**kwargs)
    assert bad in str(info.value)


def test_config_round_trip_and_cards_without_the_phase_fields():
    cfg = FeatureConfig(frontend="linear", channels=("logmag", "ifd"), mgd_lifter=20)
    assert FeatureConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg  # a JSON list becomes the tuple
    without = {k: v for k, v in FeatureConfig().to_dict().items()
               if k not in ("channels", "mgd_alpha", "mgd_gamma", "mgd_lifter")}
    assert FeatureConfig.from_dict(without) == FeatureConfig()  # a card written before they existed: magnitude only
    assert FeatureConfig.from_dict(without).channels == ("logmag",)
    assert set(CHANNELS) == set(ALL)


# ------------------------------------------------------------------ networks


def test_create_model_refuses_a_stem_that_does_not_fit_the_channels():
    features = FeatureConfig(channels=ALL, window_seconds=0.5, hop_seconds=0.25)
    with pytest.raises(SpoofscanError, match=r"model in_chans=1 does not match the front end's 3 channel\(s\) "
                                             r"logmag, mgd, ifd: set the model's in_chans to 3"):
        create_model(model_preset("resnet10-mini"), features)
    with pytest.raises(SpoofscanError, match="in_chans=2"):
        create_model(ModelConfig(layers=(1, 1, 1, 1), width=8, in_chans=2), features)
    assert match_in_chans(model_preset("resnet10-mini"), features).in_chans == 3
    assert match_in_chans(model_preset("resnet10-mini"), FeatureConfig()) == model_preset("resnet10-mini")
    two = ModelConfig(in_chans=2)
    assert match_in_chans(two, features) == two  # a set value is kept, and refused by create_model


@pytest.mark.parametrize("preset", ["resnet10-mini", "resnet10-mini-hybrid"])
def test_a_multi_channel_network_trains_a_step(preset):
    features = FeatureConfig(frontend="linear", n_mels=40, n_fft=512, channels=ALL, window_seconds=0.5,
                             hop_seconds=0.25)
    torch.manual_seed(0)
    model = create_model(match_in_chans(model_preset(preset), features), features).train()
    waves = torch.from_numpy(_waves(0.5)[-4:])
    feats = model.frontend(waves)
    assert feats.shape == (4, 3, 40, features.num_frames(features.window_samples))
    assert model.conv1.weight.shape[1] == 3
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(model(waves), torch.tensor([1.0, 0.0, 1.0, 0.0]))
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    before = model.conv1.weight.detach().clone()
    optimizer.step()
    assert not torch.equal(before, model.conv1.weight)


@pytest.fixture(scope="module")
def phase_model(tmp_path_factory):
    """A tiny 3-channel checkpoint (random weights, non-trivial BN statistics) and its FP32 export."""
    root = tmp_path_factory.mktemp("phase")
    features = FeatureConfig(frontend="linear", channels=ALL, window_seconds=1.0, hop_seconds=0.5)
    torch.manual_seed(0)
    model = create_model(match_in_chans(model_preset("resnet10-mini"), features), features)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    card = make_card(features.to_dict(), model.cfg.to_dict(), Calibration(a=1.5, b=0.2).to_dict(), threshold=0.5)
    save_checkpoint(root / "phase.safetensors", model.state_dict(), card)
    result = export_onnx(root / "phase.safetensors", root / "phase.onnx")
    return {"root": root, "ckpt": root / "phase.safetensors", "onnx": root / "phase.onnx", "export": result,
            "features": features}


def test_checkpoint_carries_the_channels_and_reloads(phase_model):
    card = read_card(phase_model["ckpt"])
    assert card["features"]["channels"] == list(ALL) and card["model"]["in_chans"] == 3
    det = TorchDetector.from_checkpoint(phase_model["ckpt"], device="cpu")
    assert det.features == phase_model["features"] and det.model.cfg.in_chans == 3


def test_export_and_the_torch_free_runtime_give_the_torch_scores(phase_model):
    assert phase_model["export"].max_abs_diff <= 1e-4
    meta = read_metadata(phase_model["onnx"])
    assert meta["inputs"][0]["shape"] == ["batch", 3, 128, "frames"] and meta["features"]["channels"] == list(ALL)
    torch_det = TorchDetector.from_checkpoint(phase_model["ckpt"], device="cpu")
    onnx_det = OnnxDetector.from_file(phase_model["onnx"], threads=1)
    rng = np.random.default_rng(7)
    windows = np.stack([synth_clip(("bonafide", "spoof")[i % 2], 1.0, rng) for i in range(6)])
    a, b = torch_det.window_scores(windows), onnx_det.window_scores(windows)
    assert np.ptp(a) > 1e-2  # the windows score differently, so agreement means something
    assert np.abs(a - b).max() < 1e-4
    clip = synth_clip("bonafide", 3.7, rng)
    pt, ox = torch_det.predict(clip, RATE), onnx_det.predict(clip, RATE)
    assert abs(pt.score - ox.score) < 1e-4 and len(pt.timeline) == len(ox.timeline) == 7
    assert max(abs(p.score - o.score) for p, o in zip(pt.timeline, ox.timeline)) < 1e-4


def test_int8_keeps_the_stem_of_phase_channels_in_fp32(phase_model):
    """One uint8 range cannot hold log-magnitude and the phase channels together: the convolution
    that reads them stays FP32 (spoofscan.graphs.stem_nodes); the rest of the network is INT8."""
    import onnx

    rng = np.random.default_rng(3)
    audio = [synth_clip(("bonafide", "spoof")[i % 2], 1.5, rng) for i in range(8)]
    int8 = phase_model["root"] / "phase-int8.onnx"
    export_onnx(phase_model["ckpt"], int8, int8=True, calibration=audio)
    nodes = onnx.load(str(int8)).graph.node
    stem = [n for n in nodes if n.op_type == "Conv" and "features" in n.input]
    assert len(stem) == 1  # the stem reads the features as they are, in FP32
    assert sum(n.op_type == "DequantizeLinear" for n in nodes) > 10  # and the rest is quantised
    onnx_det, torch_det = OnnxDetector.from_file(int8, threads=1), TorchDetector.from_checkpoint(phase_model["ckpt"])
    windows = np.stack(audio)[:, :RATE]
    assert np.corrcoef(onnx_det.window_scores(windows), torch_det.window_scores(windows))[0, 1] > 0.95
    dynamic = phase_model["root"] / "phase-int8-dynamic.onnx"  # quantised at run time, per tensor too: the same
    export_onnx(phase_model["ckpt"], dynamic, graph="int8-dynamic")
    nodes = onnx.load(str(dynamic)).graph.node
    assert [n.op_type for n in nodes if "features" in n.input] == ["Conv"]
    assert any(n.op_type == "ConvInteger" for n in nodes)


@pytest.mark.slow
def test_train_cli_takes_channels_and_the_run_reloads(tmp_path, capsys):
    manifest = make_corpus(tmp_path / "corpus", {"train": 6, "dev": 3}, seconds=(1.0, 1.5), seed=4)
    config = tmp_path / "train.yaml"
    config.write_text("features:\n  n_mels: 40\n  n_fft: 512\n  window_seconds: 1.0\n  hop_seconds: 0.5\n")
    out = tmp_path / "run"
    code = main(["train", "--config", str(config), "--train", f"csv:{manifest}:train", "--dev", f"csv:{manifest}:dev",
                 "--out", str(out), "--model", "resnet10-mini", "--frontend", "linear", "--channels", "logmag, mgd,ifd",
                 "--epochs", "1", "--batch-size", "4", "--workers", "0", "--device", "cpu", "--quiet"])
    assert code == 0
    card = read_card(out / "best.safetensors")
    assert card["features"]["channels"] == list(ALL) and card["features"]["frontend"] == "linear"
    assert card["model"]["in_chans"] == 3
    det = spoofscan.load_detector(out / "best.safetensors", device="cpu")
    assert np.isfinite(det.predict(synth_clip("spoof", 1.2, np.random.default_rng(0)), RATE).score)
    capsys.readouterr()
    assert main(["info", str(out / "best.safetensors")]) == 0
    assert "channels logmag+mgd+ifd" in capsys.readouterr().out
    bad = main(["train", "--config", str(config), "--train", f"csv:{manifest}:train", "--dev", f"csv:{manifest}:dev",
                "--out", str(tmp_path / "bad"), "--model", "resnet10-mini", "--frontend", "lfcc",
                "--channels", "logmag,mgd"])
    assert bad == 2 and "need frontend logmel or linear" in capsys.readouterr().err
