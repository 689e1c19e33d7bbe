"""spoofscan: tell real human speech from fake speech.

    >>> import spoofscan
    >>> det = spoofscan.load_detector("runs/quickstart/best.safetensors")
    >>> r = det.predict("clip.wav")
    >>> r.score, r.p_fake, r.label      # higher score = more bona fide; label real/fake
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import AudioError, SpoofscanError  # noqa: E402


def load_detector(path, device: str = "auto", **kwargs):
    """Load a detector from a checkpoint (``.safetensors``) or an exported model (``.onnx``).

    Returns a :class:`spoofscan.detector.Detector` with ``predict`` and ``predict_many``.
    Keyword arguments (``batch_size``, ``max_seconds``, ``threshold``...) go to the detector.
    """
    from pathlib import Path

    if Path(path).suffix.lower() == ".onnx":
        from .runtime import OnnxDetector

        return OnnxDetector.from_file(path, device=device, **kwargs)
    from .inference import TorchDetector

    return TorchDetector.from_checkpoint(path, device=device, **kwargs)


__all__ = ["AudioError", "SpoofscanError", "load_detector", "__version__"]
