"""The JSON the service answers with: a verdict, an error, the model's identity.

A verdict (``POST /v1/detect``)::

    {"ok": true, "request_id": "3f2a...", "file": "clip.wav",
     "label": "real" | "fake" | "partly fake" | "no speech",
     "p_fake": 0.041,          # calibrated probability of fake at equal priors (null: no speech)
     "score": 3.112,           # the model's score, higher = more bona fide (null: no speech)
     "speech": 0.93,           # share of the clip that holds speech, 0..1 (null: not measured)
     "padded": false,          # the clip was shorter than one window and repeated to fill it
     "duration": 4.52,         # seconds
     "threshold": 0.5,         # label fake when p_fake >= threshold
     "windows": 2,
     "segments": [{"start": 7.0, "end": 11.0, "p_fake": 0.86}],  # runs of fake windows (seconds)
     "model": {"name": ..., "version": ..., "sha256": "first 12 hex digits", ...},
     "processing_ms": 38.1,
     "timeline": [{"start": 0.0, "end": 4.0, "score": 3.0, "p_fake": 0.05, "speech": 0.9}, ...]}

``score`` and ``p_fake`` are ``null`` for a clip without speech; non-finite numbers are ``null``
too, so the JSON is always valid.
"""

from __future__ import annotations

import math
from pathlib import Path

from ..fileio import file_sha256
from ..version import __version__

HASH_CHARS = 12  # hex digits of the model file's SHA-256 shown as its short hash


def _number(x):
    """A JSON-safe number: None for None, NaN or Inf."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def window_json(w) -> dict:
    return {"start": w.start, "end": w.end, "score": _number(w.score), "p_fake": _number(w.p_fake),
            "speech": _number(w.speech)}


def segment_json(g) -> dict:
    return {"start": g.start, "end": g.end, "p_fake": _number(g.p_fake)}


def prediction_json(p, *, file: str, threshold: float, timeline: bool = True) -> dict:
    """A :class:`~spoofscan.detector.Prediction` as the service's JSON (without request fields)."""
    d = {"ok": True, "file": file, "label": p.label, "p_fake": _number(p.p_fake), "score": _number(p.score),
         "speech": _number(p.speech), "padded": bool(p.padded),
         "duration": _number(p.duration), "threshold": _number(threshold), "windows": len(p.timeline),
         "segments": [segment_json(g) for g in p.segments]}
    if timeline:
        d["timeline"] = [window_json(w) for w in p.timeline]
    return d


def error_json(kind: str, detail: str, **extra) -> dict:
    return {"ok": False, "error": kind, "detail": detail, **extra}


def backend_name(detector) -> str:
    return {"OnnxDetector": "onnx", "TorchDetector": "torch"}.get(type(detector).__name__, type(detector).__name__)


def model_info(detector, model_path: str | Path | None = None) -> dict:
    """Who is answering: the model's name, version, file hash, backend and window settings.

    ``name`` and ``version`` come from the checkpoint card (ONNX metadata carries the card)
    when it names them, else the file's name and the card's creation time.
    """
    card = detector.card or {}
    meta = getattr(detector, "metadata", None) or {}
    digest = file_sha256(model_path) if model_path else None
    f = detector.features
    return {
        "name": card.get("name") or meta.get("name") or (Path(model_path).stem if model_path else "spoofscan model"),
        "version": card.get("version") or meta.get("version") or card.get("created"),
        "sha256": digest[:HASH_CHARS] if digest else None,
        "sha256_full": digest,
        "file": Path(model_path).name if model_path else None,
        "backend": backend_name(detector),
        "precision": getattr(detector, "precision", "fp32"),
        "window_seconds": f.window_seconds,
        "hop_seconds": f.hop_seconds,
        "sample_rate": f.sample_rate,
        "threshold": detector.threshold,
        "trained_with": card.get("spoofscan_version"),
        "spoofscan_version": __version__,
    }


def short_model(info: dict) -> dict:
    """The part of :func:`model_info` repeated in every verdict."""
    return {k: info[k] for k in ("name", "version", "sha256", "backend", "precision")}
