"""Device names: the one parser behind every ``--device`` flag (training, prediction, the ONNX
runtime, the corpus's vocoders), and the torch device a name stands for.

Names are ``auto``, ``cpu``, ``cuda``, ``cuda:N`` and, where torch runs the model, ``mps``.
This module imports torch only inside :func:`resolve_device`.
"""

from __future__ import annotations

from .errors import SpoofscanError

TORCH_DEVICES = ("auto", "cpu", "cuda", "mps")  # where torch can run a model
CUDA_DEVICES = ("auto", "cpu", "cuda")  # ONNX Runtime, and what trains reproducibly (the vocoders)


def parse_device(name: str, choices: tuple = TORCH_DEVICES, what: str = "device") -> tuple[str, int | None]:
    """``cuda:1`` -> ``("cuda", 1)``, ``cpu`` -> ``("cpu", None)``; a name outside ``choices`` (or an
    index on anything but ``cuda``) raises :class:`SpoofscanError` naming the valid ones."""
    base, _, index = str(name).partition(":")
    if base not in choices or (index and (base != "cuda" or not index.isdigit())):
        raise SpoofscanError(f"unknown {what} {name!r} (choose from: {', '.join(choices)}, or cuda:N)")
    return base, int(index) if index else None


def resolve_device(name: str = "auto", choices: tuple = TORCH_DEVICES, what: str = "device"):
    """The ``torch.device`` a name stands for: ``auto`` picks CUDA, then Apple MPS (when in
    ``choices``), then the CPU. Raises :class:`SpoofscanError` for a device this machine lacks."""
    import torch

    base, index = parse_device(name, choices, what)
    has_mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if base == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if "mps" in choices and has_mps:
            return torch.device("mps")
        return torch.device("cpu")
    if base == "cuda" and not torch.cuda.is_available():
        raise SpoofscanError(f"{what} {name!r} asked for, but torch sees no CUDA GPU (use cpu or auto)")
    if base == "cuda" and index is not None and index >= torch.cuda.device_count():
        raise SpoofscanError(f"{what} {name!r} asked for, but torch sees {torch.cuda.device_count()} CUDA GPU(s)")
    if base == "mps" and not has_mps:
        raise SpoofscanError(f"{what} {name!r} asked for, but this torch has no Apple MPS backend (use cpu or auto)")
    return torch.device(name)
