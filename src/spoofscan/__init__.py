"""spoofscan: tell real human speech from fake speech.

    >>> import spoofscan
    >>> det = spoofscan.load_detector("runs/quickstart/best.safetensors")
    >>> r = det.predict("clip.wav")
    >>> r.score, r.p_fake, r.label      # higher score = more bona fide; label real, fake or no speech
"""

from __future__ import annotations

from .errors import AudioError, SpoofscanError, choice_error, missing_extra
from .version import __version__

BACKENDS = ("auto", "torch", "onnx")


def resolve_backend(path, backend: str = "auto") -> str:
    """``torch`` or ``onnx`` for a model file: ``auto`` goes by the suffix (``.onnx`` or not)."""
    from pathlib import Path

    if backend not in BACKENDS:
        raise choice_error("backend", backend, BACKENDS)
    if backend != "auto":
        return backend
    return "onnx" if Path(path).suffix.lower() == ".onnx" else "torch"


def load_detector(path, device: str = "auto", backend: str = "auto", **kwargs):
    """Load a detector from a checkpoint (``.safetensors``) or an exported model (``.onnx``).

    ``backend``: ``torch`` (PyTorch, for checkpoints), ``onnx`` (ONNX Runtime, torch-free, for
    exported models) or ``auto`` (by the file's suffix). Returns a
    :class:`spoofscan.detector.Detector` with ``predict`` and ``predict_many``. Keyword
    arguments go to the detector: ``batch_size``, ``max_seconds``, ``threshold``, and
    ``threads`` for both backends (ONNX Runtime's threads and the log-mel's; torch's threads
    around each forward pass, restored after it, see :mod:`spoofscan.backends.torch`).
    """
    from pathlib import Path

    backend = resolve_backend(path, backend)
    suffix = Path(path).suffix.lower()
    if backend == "onnx":
        if suffix in (".safetensors", ".pt", ".pth"):
            raise SpoofscanError(f"{str(path)!r} is a PyTorch checkpoint; the onnx backend runs exported models "
                                 f"(make one with: spoofscan export {path} --format onnx [--int8] MODEL.onnx)")
        from .backends.onnx import OnnxDetector

        return OnnxDetector.from_file(path, device=device, **kwargs)
    if suffix == ".onnx":
        raise SpoofscanError(f"{str(path)!r} is an exported ONNX model; the torch backend runs .safetensors "
                             f"checkpoints (use --backend onnx or auto)")
    try:
        from .backends.torch import TorchDetector
    except ModuleNotFoundError as e:
        raise (missing_extra(e) or e) from None
    return TorchDetector.from_checkpoint(path, device=device, **kwargs)


__all__ = ["BACKENDS", "AudioError", "SpoofscanError", "load_detector", "resolve_backend", "__version__"]
