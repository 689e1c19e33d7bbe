"""Speech encoders of Hugging Face ``transformers`` (wav2vec 2.0, XLS-R, WavLM, HuBERT): the raw
waveform in, the hidden state of every layer out, for the ``hub`` architecture of
:mod:`spoofscan.models.ssl`.

Optional, for users with such weights and a GPU: ``pip install 'spoofscan[hub]'`` brings
``transformers``. Nothing is downloaded: a model is built from its config (stored in the
checkpoint's model config as a mapping), and published weights come from a local folder that
``save_pretrained`` wrote (``config.json`` and ``model.safetensors``; pickled ``.bin`` files are
refused). Get one once with ``huggingface-cli download facebook/wav2vec2-xls-r-300m
--local-dir DIR`` on a machine with access.

Every window is whole (no padding), so attention runs without a mask: the model is built with an
attention of spoofscan's own (:data:`UNPADDED_ATTENTION`, PyTorch's scaled dot-product attention
with no mask), because the masks ``transformers`` otherwise builds when a graph is exported hold
float32's lowest value as a constant, which the ONNX runtime's weight check rightly refuses.

The window is normalised to zero mean and unit variance first, as the feature extractors of these
models do (``do_normalize``; for the models without it, the first convolution is followed by a
group norm, which makes them indifferent to the input's level and offset). The network's own
training-time behaviour (SpecAugment-like masking, layer drop) is switched off: the hidden states
depend on the input only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import nn

from ...errors import SpoofscanError, first_line
from ...fileio import file_sha256

HUB_TYPES = ("wav2vec2", "wavlm", "hubert")  # transformers model_type values whose hidden states are taken
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
VOLATILE_KEYS = ("_name_or_path", "transformers_version", "architectures", "dtype", "torch_dtype")  # not the network
NORM_EPS = 1e-7  # of the window's variance, as the feature extractors of these models add
MAX_HIDDEN = 4096  # width of the hidden states (XLS-R 2B: 1920)
MAX_LAYERS = 64  # transformer layers (XLS-R 2B: 48)
UNPADDED_ATTENTION = "spoofscan_unpadded"  # registered with transformers by _transformers()


def check_hub_config(config) -> None:
    """Raise a :class:`SpoofscanError` unless ``config`` is a mapping of a transformers speech
    encoder's config within the size limits (a card from a file is built through this)."""
    if not isinstance(config, dict):
        raise SpoofscanError(f"hub must be a mapping of a transformers config, got {config!r}")
    if config.get("model_type") not in HUB_TYPES:
        raise SpoofscanError(f"hub model_type {config.get('model_type')!r} is not one of {', '.join(HUB_TYPES)}")
    for name, top in (("hidden_size", MAX_HIDDEN), ("num_hidden_layers", MAX_LAYERS)):
        value = config.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= top:
            raise SpoofscanError(f"hub {name} must be an integer in 1..{top}, got {value!r}")


def _transformers():
    """The transformers module, with :data:`UNPADDED_ATTENTION` registered (attention without a mask)."""
    try:
        import transformers
        from transformers.integrations.sdpa_attention import sdpa_attention_forward
    except ModuleNotFoundError:
        raise SpoofscanError("a hub encoder needs transformers, which is not installed: "
                             "pip install 'spoofscan[hub]'") from None

    def unpadded(module, query, key, value, attention_mask, **kwargs):
        return sdpa_attention_forward(module, query, key, value, None, **kwargs)

    transformers.AttentionInterface.register(UNPADDED_ATTENTION, unpadded)
    transformers.AttentionMaskInterface.register(UNPADDED_ATTENTION, lambda *args, **kwargs: None)
    return transformers


class HubEncoder(nn.Module):
    """A transformers speech encoder: (batch, samples) 16 kHz -> (batch, layers + 1, frames, hidden_size),
    the hidden state of every layer (``output_hidden_states``), frames at the model's rate (50 per second
    for wav2vec 2.0 and its kin).

    ``config``: the mapping of the model's config (``model_type`` one of :data:`HUB_TYPES`); a new module
    has random weights (seeded by torch's generator). ``weights`` names loaded weights, else None.
    """

    def __init__(self, config: dict):
        super().__init__()
        check_hub_config(config)
        transformers = _transformers()
        cfg = transformers.AutoConfig.for_model(**{k: v for k, v in config.items() if k not in VOLATILE_KEYS})
        cfg.apply_spec_augment, cfg.layerdrop = False, 0.0  # training-time randomness of the network itself
        self.config = config
        self.model = transformers.AutoModel.from_config(cfg, attn_implementation=UNPADDED_ATTENTION)
        self.weights = None

    @property
    def layers(self) -> int:
        return int(self.config["num_hidden_layers"])

    @property
    def blocks(self) -> nn.ModuleList:
        """The transformer layers, lowest first."""
        return self.model.encoder.layers

    def frames(self, samples: int) -> int:
        """Hidden-state frames for a window of ``samples`` samples."""
        return int(self.model._get_feat_extract_output_lengths(samples))

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        wave = wave.float()
        mean = wave.mean(dim=-1, keepdim=True)
        wave = (wave - mean) / torch.sqrt((wave - mean).square().mean(dim=-1, keepdim=True) + NORM_EPS)
        return torch.stack(self.model(wave, output_hidden_states=True).hidden_states, dim=1)


def hub_config(path: str | os.PathLike) -> dict:
    """The config mapping of the transformers model in folder ``path`` (its ``config.json``), as a
    ``hub`` model config holds it."""
    transformers = _transformers()
    try:
        cfg = transformers.AutoConfig.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as e:
        raise SpoofscanError(f"encoder weights {str(path)!r}: no readable transformers {CONFIG_FILE} "
                             f"({first_line(e)})") from None
    return config_mapping(cfg)


def config_mapping(cfg) -> dict:
    """A transformers config as a ``hub`` model config holds it: its fields but the volatile ones
    (:data:`VOLATILE_KEYS`), as JSON gives them back (string keys, lists), so a card's copy compares equal."""
    config = json.loads(json.dumps({k: v for k, v in cfg.to_dict().items() if k not in VOLATILE_KEYS}))
    check_hub_config(config)
    return config


def load_hub_encoder(path: str | os.PathLike) -> HubEncoder:
    """A :class:`HubEncoder` (eval mode, no gradients) with the weights in folder ``path``
    (``config.json`` and ``model.safetensors``, as ``save_pretrained`` writes them); ``weights`` records
    the file's sha256 (:class:`~spoofscan.models.encoders.weights.EncoderWeights`)."""
    from .weights import EncoderWeights

    folder = Path(path)
    file = folder / WEIGHTS_FILE
    if not folder.is_dir() or not file.is_file():
        raise SpoofscanError(f"encoder weights {str(path)!r}: a hub encoder's weights are a folder holding "
                             f"{CONFIG_FILE} and {WEIGHTS_FILE} (save_pretrained's; .bin pickles are refused)")
    encoder = HubEncoder(hub_config(folder))
    try:
        published = _transformers().AutoModel.from_pretrained(str(folder), local_files_only=True, use_safetensors=True)
    except (OSError, ValueError) as e:
        raise SpoofscanError(f"encoder weights {str(path)!r}: cannot load ({first_line(e)})") from None
    missing, unexpected = encoder.model.load_state_dict(published.state_dict(), strict=False)
    if missing or unexpected:
        raise SpoofscanError(f"encoder weights {str(path)!r}: tensors missing {missing[:3]}, "
                             f"unexpected {unexpected[:3]}")
    encoder.weights = EncoderWeights("transformers", str(file), file_sha256(file), encoder.config)
    return encoder.eval().requires_grad_(False)
