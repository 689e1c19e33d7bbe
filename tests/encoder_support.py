"""What the encoder model's tests share: whisper features of 1-s windows, the tiny random
``whisper-mini-sls`` model with distinct scores, and windows it tells apart."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from spoofscan.frontend.config import FeatureConfig
from spoofscan.models import EncoderDetector, ModelConfig, create_model, model_preset

FEATURES = FeatureConfig.from_dict({"frontend": "whisper", "window_seconds": 1.0, "hop_seconds": 0.5})
MINI = model_preset("whisper-mini-sls")


def mini_model(seed: int = 0, cfg: ModelConfig = MINI, features: FeatureConfig = FEATURES) -> EncoderDetector:
    """The tiny encoder model with seeded random weights; the back end's drawn wider than PyTorch's
    default so that windows get distinct scores, the encoder's rounded to float16 (as published
    Whisper weights are)."""
    torch.manual_seed(seed)
    model = create_model(cfg, features).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if not name.startswith("encoder."):
                p.normal_(0.0, 0.5)
        for t in model.encoder.state_dict().values():  # the position table too
            t.copy_(t.half().float())
    return model


def windows(n: int = 4, seed: int = 0) -> torch.Tensor:
    """(n, 16000) noise at different levels and colours: 1-s windows that the model tells apart."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        x = rng.standard_normal(16_000)
        x = np.convolve(x, np.ones(1 + 3 * i) / (1 + 3 * i), mode="same")
        out.append(0.02 * (i + 1) * x / np.abs(x).max())
    return torch.from_numpy(np.stack(out).astype(np.float32))


def write_hf_whisper(folder, encoder) -> Path:
    """``encoder``'s weights as a Hugging Face Whisper checkpoint (``model.safetensors`` with the
    ``model.encoder.`` names, q, k and v apart, and ``config.json``) in ``folder``; its path."""
    from safetensors.torch import save_file

    from spoofscan.models.encoders.weights import HF_BLOCK_NAMES, HF_OTHER_NAMES

    state, cfg = encoder.state_dict(), encoder.cfg
    out = {f"model.encoder.{theirs}": state[ours] for ours, theirs in HF_OTHER_NAMES.items()}
    for i in range(cfg.layers):
        for ours, theirs in HF_BLOCK_NAMES.items():
            for kind in ("weight", "bias"):
                out[f"model.encoder.layers.{i}.{theirs}.{kind}"] = state[f"blocks.{i}.{ours}.{kind}"]
        for kind in ("weight", "bias"):
            for part, value in zip("qkv", state[f"blocks.{i}.qkv.{kind}"].chunk(3)):
                if (part, kind) != ("k", "bias"):  # Whisper's key projection has no bias
                    out[f"model.encoder.layers.{i}.self_attn.{part}_proj.{kind}"] = value
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in out.items()}, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({"encoder_attention_heads": cfg.heads}))
    return folder / "model.safetensors"
