"""Self-describing checkpoints: one ``.safetensors`` file, weights plus a JSON card.

The card (safetensors header metadata, key ``spoofscan``) holds the format version, the
feature and model configs, the label map, the calibration, a summary of the training data
and the dev metrics. Reading the card needs neither torch nor the weights; loading never
unpickles anything and is strict: a missing or unexpected tensor is an error.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from safetensors import safe_open

from . import __version__
from .errors import SpoofscanError
from .fileio import atomic_write  # noqa: F401  (corpus/ imports it from here)
from .labels import LABEL_INDEX

FORMAT = "spoofscan-checkpoint"
FORMAT_VERSION = 1
CARD_KEY = "spoofscan"


def make_card(features: dict, model: dict, calibration: dict, *, threshold: float = 0.5,
              train: dict | None = None, metrics: dict | None = None) -> dict:
    """The checkpoint card: everything needed to rebuild and interpret the model."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "spoofscan_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "features": features,
        "model": model,
        "label_map": dict(LABEL_INDEX),
        "output": "one logit of bonafide: score higher = more bona fide",
        "calibration": calibration,
        "threshold": threshold,  # label fake when p_fake >= threshold
        "train": train or {},
        "metrics": metrics or {},
    }


def save_checkpoint(path: str | Path, state_dict: dict, card: dict) -> None:
    """Write weights (``{name: tensor}``) and the card atomically to ``path``."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={CARD_KEY: json.dumps(card)}))


def read_card(path: str | Path) -> dict:
    """The card of a checkpoint, without loading weights or torch."""
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
    if card.get("format") != FORMAT or card.get("format_version", 0) > FORMAT_VERSION:
        raise SpoofscanError(
            f"checkpoint {str(path)!r}: format {card.get('format')} v{card.get('format_version')} "
            f"(this spoofscan reads {FORMAT} up to v{FORMAT_VERSION})")
    return card


def load_checkpoint(path: str | Path):
    """Return ``(state_dict, card)``; tensors on the CPU."""
    from safetensors.torch import load_file

    card = read_card(path)
    return load_file(str(path), device="cpu"), card
