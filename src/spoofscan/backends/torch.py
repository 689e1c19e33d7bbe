"""The PyTorch backend of :class:`~spoofscan.detector.Detector`.

Threads: PyTorch has one intra-op thread pool per process, and ``torch.set_num_threads``
resizes it for every torch operation in the process, from every thread. So a
``TorchDetector(threads=N)`` sets it only around its own forward passes and puts the previous
value back after each (:func:`_torch_threads`); it leaves the process as it found it, but two
threads running torch at the same moment still share the one pool.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import torch

from ..calibration import Calibration
from ..card import feature_config, model_config
from ..checkpoint import load_checkpoint
from ..detector import Detector, check_threads
from ..devices import resolve_device
from ..errors import SpoofscanError
from ..frontend.spans import WindowSpan
from ..models import DetectorNet, create_model


class TorchDetector(Detector):
    """Scores windows with a network of :mod:`spoofscan.models` in PyTorch (its own front end
    included, on the device). On CUDA the forward pass runs under bf16 autocast (``autocast=True``).
    ``threads``: CPU threads of the forward passes (None: torch's setting, untouched; see the
    module docstring).
    """

    def __init__(self, model: DetectorNet, calibration: Calibration, *,
                 device: str | torch.device = "cpu", autocast: bool | None = None, threads: int | None = None,
                 **kwargs):
        super().__init__(model.features, calibration, **kwargs)
        self.threads = check_threads(threads)
        self.device = torch.device(device) if not isinstance(device, torch.device) else device
        self.model = model.to(self.device).eval()
        self.autocast = (self.device.type == "cuda") if autocast is None else autocast

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "auto", **kwargs) -> "TorchDetector":
        """Load a checkpoint (validated card, checked weights; see :mod:`spoofscan.checkpoint`).

        ``kwargs``: ``threads``, ``batch_size``, ``max_seconds``, ``threshold`` (default: the
        card's)... (see :class:`~spoofscan.detector.Detector`).
        """
        state, card = load_checkpoint(path)
        where = f"checkpoint {str(path)!r}"
        model = create_model(model_config(card, where), feature_config(card, where))
        problems = _state_mismatch(state, model.state_dict())
        if problems:
            raise SpoofscanError(f"{where}: weights do not match its model and feature config ({problems})")
        model.load_state_dict(state, strict=True)
        kwargs.setdefault("threshold", card["threshold"])
        return cls(model, Calibration.from_dict(card["calibration"]), device=resolve_device(device), card=card,
                   **kwargs)

    @torch.inference_mode()
    def window_scores(self, windows: np.ndarray) -> np.ndarray:
        """(batch, samples) -> (batch,) logits; NaN for a window whose features are not finite."""
        x = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32)).to(self.device)
        with _torch_threads(self.threads):
            return self._logits(self.model.frontend(x), x)

    @torch.inference_mode()
    def span_scores(self, spans: list[WindowSpan]) -> np.ndarray:
        """The windows of runs of contiguous audio -> (windows,) logits, the frames that
        overlapping windows share computed once (:meth:`~spoofscan.frontend.torch.Frontend.span_features`)."""
        with _torch_threads(self.threads):
            features = torch.cat([self.model.frontend.span_features(span) for span in spans])
            waves = None
            if "wave" in self.model.inputs:
                waves = torch.from_numpy(np.concatenate([span.windows() for span in spans])).to(self.device)
            return self._logits(features, waves)

    def _logits(self, features: torch.Tensor, waves: torch.Tensor | None) -> np.ndarray:
        """The network on the front end's output (and the windows, for a model that reads them)
        -> (batch,) float32 logits, NaN where the features are not finite (the network then sees zeros)."""
        bad = ~torch.isfinite(features).flatten(1).all(dim=1)
        if bad.any():
            features[bad] = 0.0
        inputs = {"features": features, "wave": waves}
        with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            logits = self.model.forward_inputs(*[inputs[name] for name in self.model.inputs])
        logits = logits.float()
        logits[bad] = float("nan")
        return logits.cpu().numpy()


def _state_mismatch(state: dict, own: dict, shown: int = 3) -> str:
    """What keeps ``state`` from loading strictly into a model whose state dict is ``own`` ("" if nothing)."""
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} in the file, {tuple(own[k].shape)} expected"
              for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    parts = [f"{len(items)} {what}, e.g. {', '.join(items[:shown])}"
             for what, items in (("missing", missing), ("unexpected", unexpected), ("of another shape", shapes)) if items]
    return "; ".join(parts)


@contextlib.contextmanager
def _torch_threads(threads: int | None):
    """Run the block with ``threads`` intra-op threads, then restore the previous count."""
    if threads is None or threads == torch.get_num_threads():
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
