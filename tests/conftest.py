"""Shared test fixtures: generated audio and a tiny detector (random weights, 1-s windows).

Everything is made here from numbers: no downloads, no corpus files.
"""

from __future__ import annotations

import numpy as np
import pytest


def make_tone(freq: float = 440.0, seconds: float = 1.0, rate: int = 16_000, amp: float = 0.5,
              channels: int = 1) -> np.ndarray:
    """A sine, float32, shape (samples,) or (samples, channels) (every channel the same tone)."""
    t = np.arange(int(round(seconds * rate))) / rate
    x = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return x if channels == 1 else np.repeat(x[:, None], channels, axis=1)


@pytest.fixture
def tone():
    """``tone(freq=440, seconds=1, rate=16000, amp=0.5, channels=1)`` -> float32 sine."""
    return make_tone


@pytest.fixture
def tiny_features():
    """Default log-mel settings with 1-s windows every 0.5 s, so tests need little audio."""
    from spoofscan.frontend.config import FeatureConfig

    return FeatureConfig(window_seconds=1.0, hop_seconds=0.5)


@pytest.fixture
def tiny_detector(tiny_features):
    """A :class:`TorchDetector` on the ``tiny`` preset with seeded random weights, CPU."""
    import torch

    from spoofscan.backends.torch import TorchDetector
    from spoofscan.calibration import Calibration
    from spoofscan.models import create_model, model_preset

    torch.manual_seed(0)
    model = create_model(model_preset("resnet10-mini"), tiny_features)
    return TorchDetector(model, Calibration(a=1.5, b=0.2), device="cpu", batch_size=4)


@pytest.fixture
def tiny_checkpoint(tmp_path, tiny_detector):
    """Path of a saved checkpoint of ``tiny_detector`` (a ``.safetensors`` file with its card)."""
    from spoofscan.checkpoint import make_card, save_checkpoint

    det = tiny_detector
    card = make_card(det.features.to_dict(), det.model.cfg.to_dict(), det.calibration.to_dict(),
                     threshold=0.5, train={"corpus": "synthetic"}, metrics={"dev_eer": 0.25})
    path = tmp_path / "tiny.safetensors"
    save_checkpoint(path, det.model.state_dict(), card)
    return path


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory):
    """An FP32 export of a tiny random-weight checkpoint (1-s windows), made once per session
    (export takes seconds), and a 3.7-s test clip: ``{"root", "onnx", "ckpt", "clip"}``."""
    import soundfile as sf
    import torch
    from synth import synth_clip

    from spoofscan.calibration import Calibration
    from spoofscan.checkpoint import make_card, save_checkpoint
    from spoofscan.export import export_onnx
    from spoofscan.frontend.config import FeatureConfig
    from spoofscan.models import create_model, model_preset

    root = tmp_path_factory.mktemp("runtime")
    torch.manual_seed(1)
    features = FeatureConfig(window_seconds=1.0, hop_seconds=0.5)
    net = create_model(model_preset("resnet10-mini"), features)
    card = make_card(features.to_dict(), net.cfg.to_dict(), Calibration(a=2.0, b=-0.1).to_dict(), threshold=0.5)
    save_checkpoint(root / "tiny.safetensors", net.state_dict(), card)
    export_onnx(root / "tiny.safetensors", root / "tiny.onnx")
    clip = root / "clip.wav"
    sf.write(clip, synth_clip("bonafide", 3.7, np.random.default_rng(2)), 16_000, subtype="PCM_16")
    return {"root": root, "onnx": root / "tiny.onnx", "ckpt": root / "tiny.safetensors", "clip": clip}
