"""The PyTorch backend of :class:`~spoofscan.detector.Detector`, and device selection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from .calibration import Calibration
from .checkpoint import load_checkpoint
from .detector import Detector
from .dsp import FeatureConfig
from .errors import SpoofscanError
from .features import LogMel
from .models import ModelConfig, create_model

DEVICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then the CPU; ``cuda:1`` style names are accepted."""
    base, _, index = str(name).partition(":")
    if base not in DEVICES or (index and (base != "cuda" or not index.isdigit())):
        raise SpoofscanError(f"unknown device {name!r} (choose from: {', '.join(DEVICES)}, or cuda:N)")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if base == "cuda" and not torch.cuda.is_available():
        raise SpoofscanError(f"device {name!r} asked for, but torch sees no CUDA GPU (use --device cpu or auto)")
    if base == "cuda" and index and int(index) >= torch.cuda.device_count():
        raise SpoofscanError(f"device {name!r} asked for, but torch sees {torch.cuda.device_count()} CUDA GPU(s)")
    if base == "mps" and not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
        raise SpoofscanError(f"device {name!r} asked for, but this torch has no Apple MPS backend (use --device cpu or auto)")
    return torch.device(name)


class TorchDetector(Detector):
    """Scores windows with a ResNet in PyTorch: log-mel on the device, then the network.

    On CUDA the forward pass runs under bf16 autocast (``autocast=True``).
    """

    def __init__(self, model: nn.Module, features: FeatureConfig, calibration: Calibration, *,
                 device: str | torch.device = "cpu", autocast: bool | None = None, **kwargs):
        super().__init__(features, calibration, **kwargs)
        self.device = torch.device(device) if not isinstance(device, torch.device) else device
        self.frontend = LogMel(features).to(self.device)
        self.model = model.to(self.device).eval()
        self.autocast = (self.device.type == "cuda") if autocast is None else autocast

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "auto", **kwargs) -> "TorchDetector":
        state, card = load_checkpoint(path)
        model = create_model(ModelConfig.from_dict(card["model"]))
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as e:
            raise SpoofscanError(f"checkpoint {str(path)!r}: weights do not match its model config ({e})") from None
        kwargs.setdefault("threshold", card.get("threshold", 0.5))
        return cls(model, FeatureConfig.from_dict(card["features"]), Calibration.from_dict(card["calibration"]),
                   device=resolve_device(device), card=card, **kwargs)

    @torch.inference_mode()
    def window_scores(self, windows: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32)).to(self.device)
        with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            logits = self.model(self.frontend(x))
        return logits.float().cpu().numpy()
