"""Training: ``fit(TrainConfig)`` on one CPU, one GPU, or many under ``torchrun``.

AdamW with linear warm-up and a cosine decay, class imbalance handled by a weighted loss
or balanced sampling, the best epoch chosen on the dev set by EER (never on evaluation
data), early stopping, a metrics log per epoch (``metrics.jsonl`` and ``metrics.csv``),
atomic checkpoint writes and exact resumption (``resume=True`` continues a killed run to
the same weights as an uninterrupted one). Under ``torchrun`` every process trains on its
shard (DistributedDataParallel); only rank 0 evaluates and writes.

Run folder ``out/``:
    config.json       the TrainConfig
    best.safetensors  the best epoch's weights + card (calibration fitted on its dev scores)
    last.safetensors  the latest epoch's weights + card
    state.pt          everything needed to resume (model, optimiser, scheduler, sampler, RNG)
    metrics.jsonl / metrics.csv   one row per epoch
"""

from __future__ import annotations

import contextlib
import csv
import gc
import json
import math
import os
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from ..augment import AugmentConfig, augment_config
from ..augment.specaugment import step_generator
from ..backends.torch import TorchDetector
from ..calibration import fit_calibration
from ..checkpoint import make_card, save_checkpoint
from ..config import Config, load_config
from ..datasets import load_records, summarize
from ..devices import resolve_device
from ..errors import SpoofscanError, choice_error
from ..evaluation.metrics import compute_eer
from ..fileio import atomic_write, atomic_write_text
from ..frontend.config import FeatureConfig
from ..labels import BONAFIDE, SPOOF
from ..models import ModelConfig, create_model, load_pretrained, match_in_chans, model_preset
from .data import CropDataset, EpochSampler

BALANCE_MODES = ("loss", "sampler", "none")
STATE_FILE = "state.pt"


@dataclass(frozen=True)
class TrainConfig(Config):
    """Everything a training run depends on; stored in the run folder and the checkpoint card.

    ``train`` / ``dev`` are data specs (``CORPUS:PATH[:SUBSET]``, see
    :func:`spoofscan.datasets.load_records`). ``model`` is a preset name or a ModelConfig.
    ``init`` is ``random``, ``imagenet`` or a path to torchvision ResNet-18 weights.
    The budget is ``epochs`` (and early stopping after ``patience`` epochs without a better dev
    EER), never wall-clock time, so a run gives the same weights on a fast and a slow machine. ``augment`` is on-the-fly augmentation (an AugmentConfig, a
    mapping of its fields, or a preset name of :data:`spoofscan.augment.AUGMENT_PRESETS`;
    off by default).
    """

    train: str = ""
    dev: str = ""
    out: str = "runs/default"
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

    def __post_init__(self):
        if isinstance(self.model, str):
            object.__setattr__(self, "model", model_preset(self.model))
        elif isinstance(self.model, dict):
            object.__setattr__(self, "model", ModelConfig.from_dict(self.model))
        if isinstance(self.features, dict):
            object.__setattr__(self, "features", FeatureConfig.from_dict(self.features))
        object.__setattr__(self, "model", match_in_chans(self.model, self.features))  # a preset fits any channels
        object.__setattr__(self, "augment", augment_config(self.augment))
        if self.balance not in BALANCE_MODES:
            raise choice_error("balance", self.balance, BALANCE_MODES)
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise SpoofscanError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise SpoofscanError(f"lr must be positive, got {self.lr}")


def load_train_config(path: str | Path | None = None, **overrides) -> TrainConfig:
    """A TrainConfig from a YAML, TOML or JSON file, with keyword overrides (``None`` values ignored)."""
    return load_config(TrainConfig, path, **overrides)


@dataclass(frozen=True)
class TrainResult:
    checkpoint: Path  # best.safetensors
    run_dir: Path
    metrics: dict  # dev metrics of the best epoch
    best_epoch: int
    history: list  # one dict per epoch


# --------------------------------------------------------------------------- distributed


@dataclass(frozen=True)
class _Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


@contextlib.contextmanager
def _distributed(device_name: str) -> Iterator[_Dist]:
    """Join the process group when started by torchrun (WORLD_SIZE > 1); else a single process.

    A group joined here is destroyed on the way out, errors included: a gloo group left alive
    until interpreter exit can abort the process ("terminate called without an active exception").
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        yield _Dist()
        return
    created = not dist.is_initialized()
    if created:
        use_nccl = torch.cuda.is_available() and device_name != "cpu"
        dist.init_process_group("nccl" if use_nccl else "gloo", timeout=timedelta(hours=2))
    try:
        yield _Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    finally:
        if created:
            # DistributedDataParallel sits in reference cycles that keep the C++ group alive; collect
            # them so that destroying the group joins gloo's worker threads now, while Python can
            # still serve their last tensor releases (else: SIGABRT at exit, pytorch PR 179291).
            gc.collect()
            dist.destroy_process_group()


def _broadcast(obj, d: _Dist):
    if d.world == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


# --------------------------------------------------------------------------- training


def fit(cfg: TrainConfig, *, resume: bool = False,
        on_epoch_end: Callable[[dict], None] | None = None) -> TrainResult:
    """Train a detector; return the best checkpoint and the dev metrics.

    Parameters
    ----------
    cfg : the run's configuration
    resume : continue the run in ``cfg.out`` from its ``state.pt`` (the config must match)
    on_epoch_end : called on rank 0 with the epoch's metrics row, after the state is saved
    """
    with _distributed(cfg.device) as d:
        return _fit(cfg, d, resume, on_epoch_end)


def _fit(cfg: TrainConfig, d: _Dist, resume: bool, on_epoch_end) -> TrainResult:
    device = resolve_device(cfg.device)
    if device.type == "cuda" and d.world > 1:
        device = torch.device("cuda", d.local_rank)
        torch.cuda.set_device(device)
    run_dir = Path(cfg.out)
    state_path = run_dir / STATE_FILE
    if d.main:
        _prepare_run_dir(run_dir, cfg, resume)

    train_records = load_records(cfg.train)
    dev_records = load_records(cfg.dev)
    for name, recs in (("train", train_records), ("dev", dev_records)):
        labels = {r.label for r in recs}
        if labels != {BONAFIDE, SPOOF}:
            raise SpoofscanError(f"{name} data {getattr(cfg, name)!r} must hold both bonafide and spoof clips, found {sorted(labels)}")

    torch.manual_seed(cfg.seed)
    model = create_model(cfg.model, cfg.features)
    if cfg.init != "random":
        if d.main:
            load_pretrained(model, cfg.init)  # rank 0 fetches; weights then reach the others through DDP
    model.to(device)
    net = model
    if d.world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    n_bona = sum(r.label == BONAFIDE for r in train_records)
    n_spoof = len(train_records) - n_bona
    pos_weight = torch.tensor(n_spoof / n_bona if cfg.balance == "loss" else 1.0, device=device)
    sampler = EpochSampler([r.label for r in train_records], seed=cfg.seed, balanced=cfg.balance == "sampler",
                           rank=d.rank, world=d.world)
    dataset = CropDataset(train_records, cfg.features, seed=cfg.seed, augment=cfg.augment)
    drop_last = len(sampler) > cfg.batch_size  # a final batch of one item breaks batch norm
    steps_per_epoch = len(sampler) // cfg.batch_size if drop_last else math.ceil(len(sampler) / cfg.batch_size)
    total_steps = steps_per_epoch * cfg.epochs
    warmup = int(cfg.warmup_fraction * total_steps)

    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _lr_factor(s, warmup, total_steps))
    autocast = device.type == "cuda"

    progress = {"epoch": 0, "step": 0, "best_eer": math.inf, "best_epoch": -1, "bad_epochs": 0,
                "history": [], "best_metrics": {}, "elapsed": 0.0}
    if resume:
        progress = _load_state(state_path, cfg, model, optimizer, scheduler)
        if d.main:  # only rank 0 touches the run folder (every rank rewriting the log raced and duplicated rows)
            _rewrite_metrics(run_dir, progress["history"])
    summary = {"train": cfg.train, "dev": cfg.dev, "train_data": summarize(train_records),
               "dev_data": summarize(dev_records), "world_size": d.world, "device": device.type}
    started = time.monotonic() - progress["elapsed"]

    def save_state(epoch: int, step: int) -> None:
        if not d.main:
            return
        progress.update(epoch=epoch, step=step, elapsed=time.monotonic() - started)
        blob = {"config": cfg.to_dict(), "progress": progress, "model": model.state_dict(),
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}
        atomic_write(state_path, lambda tmp: torch.save(blob, tmp))

    for epoch in range(progress["epoch"], cfg.epochs):
        skip_steps = progress["step"] if epoch == progress["epoch"] else 0
        sampler.set_epoch(epoch, skip=skip_steps * cfg.batch_size)
        loader = torch.utils.data.DataLoader(dataset, batch_size=cfg.batch_size, sampler=sampler,
                                             num_workers=cfg.num_workers, drop_last=drop_last,
                                             pin_memory=device.type == "cuda")
        net.train()
        epoch_start = time.monotonic()
        losses = []
        bar = _progress_bar(loader, cfg.progress and d.main, f"epoch {epoch + 1}/{cfg.epochs}",
                            initial=skip_steps, total=steps_per_epoch)
        for step, (waves, targets) in enumerate(bar, start=skip_steps):
            waves = waves.to(device, non_blocking=True)
            targets = targets.to(device, non_blocking=True)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=autocast):
                spec_augment = None
                if cfg.augment.specaugment.p > 0:
                    generator = step_generator(cfg.seed, epoch, step, d.rank)
                    spec_augment = lambda feats: cfg.augment.specaugment.apply(feats, generator)  # noqa: E731
                logits = net(waves, feature_augment=spec_augment)
            loss = F.binary_cross_entropy_with_logits(logits.float(), targets, pos_weight=pos_weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
            if cfg.progress and d.main:
                bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
            if cfg.save_every_steps and (step + 1) % cfg.save_every_steps == 0 and step + 1 < steps_per_epoch:
                save_state(epoch, step + 1)

        row = None
        if d.main:
            row = _end_of_epoch(cfg, model, dev_records, device, epoch, losses, optimizer, progress, summary,
                                time.monotonic() - epoch_start, run_dir)
        progress = _broadcast(progress, d)
        save_state(epoch + 1, 0)
        if d.main:
            if on_epoch_end is not None:
                on_epoch_end(row)
        if progress["bad_epochs"] >= cfg.patience:
            if d.main and cfg.progress:
                print(f"stopping after epoch {epoch + 1}: no better dev EER for {cfg.patience} epochs", flush=True)
            break

    if d.world > 1:
        dist.barrier()
    return TrainResult(checkpoint=run_dir / "best.safetensors", run_dir=run_dir, metrics=progress["best_metrics"],
                       best_epoch=progress["best_epoch"] + 1, history=progress["history"])


def score_records(model, records, device, batch_size: int = 32) -> np.ndarray:
    """Clip scores (len(records),) through the inference path (all windows, mean score).

    Raises SpoofscanError naming the first clip that cannot be read: dev data must be clean.
    """
    from ..calibration import Calibration

    det = TorchDetector(model, Calibration(), device=device, batch_size=batch_size)
    scores = []
    for r in det.predict_many([rec.path for rec in records], score_no_speech=True):  # every dev clip needs a score
        if not r.ok:
            raise SpoofscanError(f"dev clip {r.source}: {r.error}")
        scores.append(r.score)
    return np.asarray(scores, dtype=np.float64)


def _end_of_epoch(cfg, model, dev_records, device, epoch, losses, optimizer, progress, summary, seconds, run_dir) -> dict:
    """Score dev, log the epoch, write last/best checkpoints; updates ``progress`` in place."""
    scores = score_records(model, dev_records, device, batch_size=cfg.batch_size)
    model.train()
    labels = np.array([r.label == BONAFIDE for r in dev_records])
    eer, threshold = compute_eer(scores[labels], scores[~labels])
    calibration = fit_calibration(scores[labels], scores[~labels])
    row = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)) if losses else float("nan"),
           "dev_eer": float(eer), "dev_threshold": float(threshold), "lr": optimizer.param_groups[0]["lr"],
           "steps": len(losses), "seconds": round(seconds, 2)}
    improved = eer < progress["best_eer"]
    row["best"] = improved
    progress["history"].append(row)
    metrics = {"dev_eer": float(eer), "dev_threshold": float(threshold), "epoch": epoch + 1,
               "dev_trials": len(dev_records)}
    card = make_card(cfg.features.to_dict(), cfg.model.to_dict(), calibration.to_dict(),
                     train={**summary, "config": cfg.to_dict(), "epochs_run": epoch + 1}, metrics=metrics)
    save_checkpoint(run_dir / "last.safetensors", model.state_dict(), card)
    if improved:
        progress.update(best_eer=float(eer), best_epoch=epoch, bad_epochs=0, best_metrics=metrics)
        save_checkpoint(run_dir / "best.safetensors", model.state_dict(), card)
    else:
        progress["bad_epochs"] += 1
    _append_metrics(run_dir, row)
    if cfg.progress:
        best = progress["best_eer"]
        print(f"epoch {epoch + 1}/{cfg.epochs}: loss {row['train_loss']:.4f}, dev EER {100 * eer:.2f} % "
              f"(best {100 * best:.2f} % at epoch {progress['best_epoch'] + 1}), {seconds:.0f} s", flush=True)
    return row


def _lr_factor(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))


def _progress_bar(iterable, enabled: bool, desc: str, initial: int, total: int):
    if not enabled:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, desc=desc, initial=initial, total=total, leave=False, dynamic_ncols=True)


def _prepare_run_dir(run_dir: Path, cfg: TrainConfig, resume: bool) -> None:
    state = run_dir / STATE_FILE
    if resume and not state.is_file():
        raise SpoofscanError(f"--resume: no {STATE_FILE} in {str(run_dir)!r} to resume from")
    if not resume and state.is_file():
        raise SpoofscanError(f"{str(run_dir)!r} already holds a run; pass --resume to continue it or choose another --out")
    run_dir.mkdir(parents=True, exist_ok=True)
    if not resume:
        for name in ("metrics.jsonl", "metrics.csv"):
            (run_dir / name).unlink(missing_ok=True)
    atomic_write_text(run_dir / "config.json", json.dumps(cfg.to_dict(), indent=2))


def _load_state(path: Path, cfg: TrainConfig, model, optimizer, scheduler) -> dict:
    blob = torch.load(path, map_location="cpu", weights_only=True)
    saved = TrainConfig.from_dict(blob["config"])
    same = ("train", "dev", "model", "features", "epochs", "batch_size", "lr", "weight_decay",
            "warmup_fraction", "balance", "seed", "augment")
    diff = [k for k in same if getattr(saved, k) != getattr(cfg, k)]
    if diff:
        raise SpoofscanError(f"--resume: the config differs from the saved run in {diff}; resume with the same settings")
    model.load_state_dict(blob["model"], strict=True)
    optimizer.load_state_dict(blob["optimizer"])
    scheduler.load_state_dict(blob["scheduler"])
    torch.set_rng_state(blob["torch_rng"])
    if blob["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(blob["cuda_rng"])
    return blob["progress"]


def _rewrite_metrics(run_dir: Path, rows: list) -> None:
    """The metrics log as of the saved state: it may hold rows written after the state was
    saved (a kill in between), which the resumed run writes again."""
    (run_dir / "metrics.jsonl").unlink(missing_ok=True)
    (run_dir / "metrics.csv").unlink(missing_ok=True)
    for row in rows:
        _append_metrics(run_dir, row)


def _append_metrics(run_dir: Path, row: dict) -> None:
    with open(run_dir / "metrics.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")
    path = run_dir / "metrics.csv"
    new = not path.exists()
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(row))
        if new:
            w.writeheader()
        w.writerow(row)
