"""Self-describing checkpoints: one ``.safetensors`` file, weights plus a JSON card.

The card (safetensors header metadata, key ``spoofscan``) holds the format version, the
feature and model configs, the label map, the calibration, a summary of the training data
and the dev metrics. Reading the card needs neither torch nor the weights; loading never
unpickles anything and is strict: a missing or unexpected tensor is an error.

The card is validated by :mod:`spoofscan.card` (one schema for both backends, ``info`` and
export). Beside the weights, a checkpoint stores the feature config it was trained with as
one more tensor (:data:`FEATURES_TENSOR`): a ResNet's weights fit any number of mel bands, so
that is how a card edited to other features (64 mels on a 128-mel model) is caught on load.
Loading also refuses weights that are NaN, infinite or beyond :data:`MAX_ABS_WEIGHT`.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from safetensors import safe_open

from .card import FORMAT, FORMAT_VERSION, feature_config, parse_json, validate_card
from .errors import SpoofscanError, first_line
from .fileio import atomic_write
from .labels import LABEL_INDEX
from .version import __version__

CARD_KEY = "spoofscan"
FEATURES_TENSOR = "spoofscan.features"  # uint8: the UTF-8 JSON of the features the weights were trained with
MAX_ABS_WEIGHT = 1e6  # a trained network has no parameter or statistic near this; 1e30 is a broken file


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


def save_checkpoint(path: str | Path, state_dict: dict, card: dict) -> None:
    """Write weights (``{name: tensor}``) and the card atomically to ``path``.

    The card's features are stored beside the weights too (:data:`FEATURES_TENSOR`).
    """
    import torch
    from safetensors.torch import save_file

    tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    if "features" in card:
        text = json.dumps(card["features"], sort_keys=True).encode("utf-8")
        tensors[FEATURES_TENSOR] = torch.frombuffer(bytearray(text), dtype=torch.uint8)
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={CARD_KEY: json.dumps(card)}))


def read_card(path: str | Path, fmt: str = FORMAT, version: int = FORMAT_VERSION) -> dict:
    """The card of a checkpoint, without loading weights or torch.

    ``fmt`` and ``version``: the card format expected and the newest version this code reads. A
    detector's card (the default) is validated whole (:func:`spoofscan.card.validate_card`);
    other formats (the vocoders of :mod:`spoofscan.vocoder`) are checked for format and version.
    """
    path = Path(path)
    where = f"checkpoint {str(path)!r}"
    if not path.is_file():
        raise SpoofscanError(f"{where}: no such file")
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
    except Exception as e:
        raise SpoofscanError(f"{where}: not a safetensors file ({first_line(e)})") from None
    if CARD_KEY not in meta:
        raise SpoofscanError(f"{where}: a safetensors file without a spoofscan card")
    card = parse_json(meta[CARD_KEY], where)
    if fmt == FORMAT:
        return validate_card(card, where)
    if not isinstance(card, dict) or card.get("format") != fmt or not isinstance(card.get("format_version"), int) \
            or not 1 <= card["format_version"] <= version:
        found = f"{card.get('format')} v{card.get('format_version')}" if isinstance(card, dict) else type(card).__name__
        raise SpoofscanError(f"{where}: format {found} (expected {fmt} up to v{version})")
    return card


def load_checkpoint(path: str | Path, fmt: str = FORMAT, version: int = FORMAT_VERSION):
    """Return ``(state_dict, card)``; tensors on the CPU, the card read as :func:`read_card` does
    (``fmt``, ``version``).

    Raises :class:`SpoofscanError` for a card that disagrees with the features stored beside
    the weights, and for weights that are NaN, infinite or beyond :data:`MAX_ABS_WEIGHT`.
    """
    import torch
    from safetensors.torch import load_file

    card = read_card(path, fmt, version)
    where = f"checkpoint {str(path)!r}"
    try:
        state = load_file(str(path), device="cpu")
    except Exception as e:
        raise SpoofscanError(f"{where}: cannot read its weights ({first_line(e)})") from None
    trained = state.pop(FEATURES_TENSOR, None)
    if trained is not None:
        text = bytes(trained.to(torch.uint8).numpy().tobytes())
        stored = feature_config({"features": parse_json(text, where, "stored features")}, where)
        stated = feature_config(card, where)
        if stored != stated:
            diff = [f"{k} {v} in the card, {stored.to_dict()[k]} with the weights"
                    for k, v in stated.to_dict().items() if stored.to_dict()[k] != v]
            raise SpoofscanError(f"{where}: its card's features disagree with the ones its weights were trained "
                                 f"with: {'; '.join(diff)}")
    for name, tensor in state.items():
        if tensor.is_floating_point() and tensor.numel():
            peak = float(tensor.detach().abs().max())
            if not peak <= MAX_ABS_WEIGHT:  # NaN fails too
                what = "NaN or infinite values" if not torch.isfinite(tensor).all() else f"values up to {peak:.3g}"
                raise SpoofscanError(f"{where}: tensor {name!r} holds {what} (a trained network stays within "
                                     f"±{MAX_ABS_WEIGHT:g}): the file is broken")
    return state, card

