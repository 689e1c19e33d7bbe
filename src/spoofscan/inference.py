"""The PyTorch backend of :class:`~spoofscan.detector.Detector`, and device selection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .calibration import Calibration
from .checkpoint import load_checkpoint
from .detector import Detector
from .dsp import FeatureConfig
from .errors import SpoofscanError
from .models import DetectorNet, ModelConfig, create_model

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
    """Scores windows with a network of :mod:`spoofscan.models` in PyTorch (its own front end
    included, on the device). On CUDA the forward pass runs under bf16 autocast (``autocast=True``).
    """

    def __init__(self, model: DetectorNet, calibration: Calibration, *,
                 device: str | torch.device = "cpu", autocast: bool | None = None, **kwargs):
        super().__init__(model.features, calibration, **kwargs)
        self.device = torch.device(device) if not isinstance(device, torch.device) else device
        self.model = model.to(self.device).eval()
        self.autocast = (self.device.type == "cuda") if autocast is None else autocast

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "auto", **kwargs) -> "TorchDetector":
        state, card = load_checkpoint(path)
        model = load_model(state, card, str(path))
        kwargs.setdefault("threshold", card.get("threshold", 0.5))
        return cls(model, Calibration.from_dict(card["calibration"]), device=resolve_device(device), card=card,
                   **kwargs)

    @torch.inference_mode()
    def window_scores(self, windows: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32)).to(self.device)
        with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            logits = self.model(x)
        return logits.float().cpu().numpy()


def load_model(state: dict, card: dict, where: str) -> DetectorNet:
    """Rebuild a checkpoint's network from its card and load its weights, strictly.

    The front end's filterbank is part of the weights (format 2): it must match the one the
    card's features describe, so a card edited to other features is refused. Format-1
    checkpoints (written before the front end was saved) get the filterbank the card describes.
    """
    features = FeatureConfig.from_dict(card["features"])
    model = create_model(ModelConfig.from_dict(card["model"]), features)
    own = {k: v.clone() for k, v in model.state_dict().items()}  # copies: loading overwrites the buffers
    state = dict(state)
    if int(card.get("format_version", 1)) < 2:
        state.update({k: v for k, v in own.items() if k.startswith("frontend.") and k not in state})
    problems = _state_mismatch(state, own)
    if problems:
        raise SpoofscanError(f"checkpoint {where!r}: weights do not match its model and feature config ({problems})")
    model.load_state_dict(state, strict=True)
    for name, expected in own.items():
        if name.startswith("frontend.") and not torch.allclose(model.state_dict()[name], expected, atol=1e-6):
            raise SpoofscanError(f"checkpoint {where!r}: the front end in the weights ({name}) is not the one its card's "
                                 f"features describe ({features.frontend}, {features.n_mels} bands, "
                                 f"{features.fmin:g}-{features.fmax:g} Hz): the card does not belong to these weights")
    return model


def _state_mismatch(state: dict, own: dict, shown: int = 3) -> str:
    """What keeps ``state`` from loading strictly into a model whose state dict is ``own`` ("" if nothing)."""
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} in the file, {tuple(own[k].shape)} expected"
              for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    parts = [f"{len(items)} {what}, e.g. {', '.join(items[:shown])}"
             for what, items in (("missing", missing), ("unexpected", unexpected), ("of another shape", shapes)) if items]
    return "; ".join(parts)
