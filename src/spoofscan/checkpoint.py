"""Self-describing checkpoints: one ``.safetensors`` file, weights plus a JSON card.

The card (safetensors header metadata, key ``spoofscan``) holds the format version, the
feature and model configs, the label map, the calibration, a summary of the training data
and the dev metrics. Reading the card needs neither torch nor the weights; loading never
unpickles anything and is strict: a missing or unexpected tensor is an error.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from safetensors import safe_open

from . import __version__
from .errors import SpoofscanError
from .labels import LABEL_INDEX

FORMAT = "spoofscan-checkpoint"
FORMAT_VERSION = 1
CARD_KEY = "spoofscan"


def make_card_base(fmt: str = FORMAT, version: int = FORMAT_VERSION) -> dict:
    """The fields every spoofscan card starts with: format, its version, spoofscan's version, creation time."""
    return {
        "format": fmt,
        "format_version": version,
        "spoofscan_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def make_card(features: dict, model: dict, calibration: dict, *, threshold: float = 0.5,
              train: dict | None = None, metrics: dict | None = None) -> dict:
    """The checkpoint card: everything needed to rebuild and interpret the model."""
    return {
        **make_card_base(),
        "features": features,
        "model": model,
        "label_map": dict(LABEL_INDEX),
        "output": "one logit of bonafide: score higher = more bona fide",
        "calibration": calibration,
        "threshold": threshold,  # label fake when p_fake >= threshold
        "train": train or {},
        "metrics": metrics or {},
    }


def atomic_write(path: str | Path, write) -> None:
    """Call ``write(tmp_path)`` then rename over ``path``: a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_checkpoint(path: str | Path, state_dict: dict, card: dict) -> None:
    """Write weights (``{name: tensor}``) and the card atomically to ``path``."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={CARD_KEY: json.dumps(card)}))


def read_card(path: str | Path, fmt: str = FORMAT, version: int = FORMAT_VERSION) -> dict:
    """The card of a checkpoint, without loading weights or torch.

    ``fmt`` and ``version``: the card format expected (a detector's by default; the vocoders
    of :mod:`spoofscan.vocoder` have their own) and the newest version this code reads.
    """
    path = Path(path)
    if not path.is_file():
        raise SpoofscanError(f"checkpoint {str(path)!r}: no such file")
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
    except Exception as e:
        raise SpoofscanError(f"checkpoint {str(path)!r}: not a safetensors file ({e})") from None
    if CARD_KEY not in meta:
        raise SpoofscanError(f"checkpoint {str(path)!r}: a safetensors file without a spoofscan card")
    card = json.loads(meta[CARD_KEY])
    if card.get("format") != fmt or card.get("format_version", 0) > version:
        raise SpoofscanError(
            f"checkpoint {str(path)!r}: format {card.get('format')} v{card.get('format_version')} "
            f"(expected {fmt} up to v{version})")
    return card


def load_checkpoint(path: str | Path, fmt: str = FORMAT, version: int = FORMAT_VERSION):
    """Return ``(state_dict, card)``; tensors on the CPU (``fmt``, ``version``: see :func:`read_card`)."""
    from safetensors.torch import load_file

    card = read_card(path, fmt, version)
    return load_file(str(path), device="cpu"), card
