"""Training: ``fit(TrainConfig)`` on one CPU, one GPU, or many under ``torchrun``.

AdamW with linear warm-up and a cosine decay, class imbalance handled by a weighted loss
or balanced sampling, the best epoch chosen on the dev set by EER (never on evaluation
data), early stopping, a metrics log per epoch, atomic checkpoint writes and exact
resumption (``resume=True`` continues a killed run to the same weights as an uninterrupted
one). Under ``torchrun`` every process trains on its shard (DistributedDataParallel); only
rank 0 evaluates and writes. The run folder is described in :mod:`spoofscan.training.run_folder`.

:func:`fit` reads top to bottom: :func:`_setup` builds what the run trains with
(:class:`_Training`), then each epoch is :func:`_train_epoch` (one pass over the loader) and
:func:`_validate_and_save` (dev EER, calibration, checkpoints, metrics log), around a
:class:`~spoofscan.training.run_folder.RunState` that the resume state saves.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..augment.specaugment import step_generator
from ..backends.torch import TorchDetector
from ..calibration import fit_calibration
from ..checkpoint import make_card, save_checkpoint
from ..datasets import load_records, summarize
from ..devices import resolve_device
from ..errors import SpoofscanError
from ..evaluation.metrics import compute_eer
from ..labels import BONAFIDE, SPOOF
from ..models import create_model, load_pretrained
from ..models.config import ENCODER_ARCHS
from ..models.ssl import load_encoder_weights
from ..progress import progress_bar
from .config import TrainConfig, TrainResult
from .data import CropDataset, EpochSampler
from .distributed import Dist, barrier, broadcast, distributed
from .run_folder import STATE_FILE, RunState, append_metrics, load_state, prepare_run_dir, rewrite_metrics, save_state

LOSS_SMOOTHING_STEPS = 50  # the progress bar shows the mean loss of the last this many steps


def fit(cfg: TrainConfig, *, resume: bool = False,
        on_epoch_end: Callable[[dict], None] | None = None) -> TrainResult:
    """Train a detector; return the best checkpoint and the dev metrics.

    Parameters
    ----------
    cfg : the run's configuration
    resume : continue the run in ``cfg.out`` from its ``state.pt`` (the config must match)
    on_epoch_end : called on rank 0 with the epoch's metrics row, after the state is saved
    """
    with distributed(cfg.device) as d:
        return _fit(cfg, d, resume, on_epoch_end)


def _fit(cfg: TrainConfig, d: Dist, resume: bool, on_epoch_end) -> TrainResult:
    run_dir = Path(cfg.out)
    device = _device(cfg, d)
    if d.main:
        prepare_run_dir(run_dir, cfg, resume)
    t = _setup(cfg, d, device, run_dir)
    state = RunState()
    if resume:
        state = load_state(run_dir / STATE_FILE, cfg, t.model, t.optimizer, t.scheduler)
        if d.main:  # only rank 0 touches the run folder (every rank rewriting the log raced and duplicated rows)
            rewrite_metrics(run_dir, state.history)
    t.started = time.monotonic() - state.elapsed

    for epoch in range(state.epoch, cfg.epochs):
        epoch_start = time.monotonic() - (state.epoch_seconds if epoch == state.epoch else 0.0)
        losses = _train_epoch(t, state, epoch, epoch_start)
        row = _validate_and_save(t, state, epoch, losses, time.monotonic() - epoch_start) if d.main else None
        state = broadcast(state, d)
        _save_state(t, state, epoch + 1, 0)
        if d.main and on_epoch_end is not None:
            on_epoch_end(row)
        if state.bad_epochs >= cfg.patience:
            if d.main and cfg.progress:
                print(f"stopping after epoch {epoch + 1}: no better dev EER for {cfg.patience} epochs", flush=True)
            break

    barrier(d)
    return TrainResult(checkpoint=run_dir / "best.safetensors", run_dir=run_dir, metrics=state.best_metrics,
                       best_epoch=state.best_epoch + 1, history=state.history)


@dataclass
class _Training:
    """What one run trains with, made once by :func:`_setup`.

    ``net`` is ``model`` itself, or its DistributedDataParallel wrapper under torchrun (train
    through ``net``, save and evaluate ``model``). ``dataset`` yields waveform crops
    (:class:`CropDataset`), or a frozen encoder's cached hidden states
    (:mod:`~spoofscan.training.encoder_cache`). ``summary`` (the data and the processes)
    goes into every checkpoint card; ``started`` is the monotonic time the run's elapsed
    seconds count from.
    """

    cfg: TrainConfig
    d: Dist
    device: torch.device
    run_dir: Path
    model: torch.nn.Module
    net: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    sampler: EpochSampler
    dataset: torch.utils.data.Dataset
    score_dev: Callable[[], np.ndarray]  # the dev clips' scores, (len(dev_records),)
    pos_weight: torch.Tensor
    drop_last: bool
    steps_per_epoch: int
    dev_records: list
    summary: dict
    started: float = 0.0


def _device(cfg: TrainConfig, d: Dist) -> torch.device:
    """The run's device; under torchrun on CUDA, this process's own GPU."""
    device = resolve_device(cfg.device)
    if device.type == "cuda" and d.world > 1:
        device = torch.device("cuda", d.local_rank)
        torch.cuda.set_device(device)
    return device


def _load_data(cfg: TrainConfig) -> tuple[list, list]:
    """The train and dev records; each must hold both classes."""
    train_records = load_records(cfg.train)
    dev_records = load_records(cfg.dev)
    for name, recs in (("train", train_records), ("dev", dev_records)):
        labels = {r.label for r in recs}
        if labels != {BONAFIDE, SPOOF}:
            raise SpoofscanError(f"{name} data {getattr(cfg, name)!r} must hold both bonafide and spoof clips, "
                                 f"found {sorted(labels)}")
    return train_records, dev_records


def _setup(cfg: TrainConfig, d: Dist, device: torch.device, run_dir: Path) -> _Training:
    """Data, model (seeded by ``cfg.seed``), sampler, optimiser and learning-rate schedule."""
    train_records, dev_records = _load_data(cfg)
    torch.manual_seed(cfg.seed)
    model = create_model(cfg.model, cfg.features)
    if cfg.init != "random":
        if d.main:
            load_pretrained(model, cfg.init)  # rank 0 fetches; weights then reach the others through DDP
    if cfg.model.arch in ENCODER_ARCHS:
        load_encoder_weights(model, cfg.encoder_weights)  # local files, on every rank
    model.to(device)
    net = model
    if d.world > 1:
        device_ids = [device.index] if device.type == "cuda" else None
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)

    dataset, labels, score_dev = _training_data(cfg, d, model, device, train_records, dev_records)
    n_bona = sum(label == BONAFIDE for label in labels)
    n_spoof = len(labels) - n_bona
    pos_weight = torch.tensor(n_spoof / n_bona if cfg.balance == "loss" else 1.0, device=device)
    sampler = EpochSampler(labels, seed=cfg.seed, balanced=cfg.balance == "sampler", rank=d.rank, world=d.world)
    drop_last = len(sampler) > cfg.batch_size  # a final batch of one item breaks batch norm
    steps_per_epoch = len(sampler) // cfg.batch_size if drop_last else math.ceil(len(sampler) / cfg.batch_size)
    total_steps = steps_per_epoch * cfg.epochs
    warmup = int(cfg.warmup_fraction * total_steps)

    trainable = [p for p in model.parameters() if p.requires_grad]  # a frozen encoder's are not
    optimizer = torch.optim.AdamW(trainable, lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _lr_factor(s, warmup, total_steps))
    summary = {"train": cfg.train, "dev": cfg.dev, "train_data": summarize(train_records),
               "dev_data": summarize(dev_records), "world_size": d.world, "device": device.type}
    return _Training(cfg, d, device, run_dir, model, net, optimizer, scheduler, sampler, dataset, score_dev,
                     pos_weight, drop_last, steps_per_epoch, dev_records, summary)


def _training_data(cfg: TrainConfig, d: Dist, model, device: torch.device, train_records: list, dev_records: list):
    """What the epochs train on and how dev is scored: ``(dataset, label of each item, score_dev)``.

    Waveform crops (:class:`CropDataset`) and dev scored through ``predict``; or, for a network with
    a frozen encoder, the encoder's hidden states of every window, computed once into the feature
    cache (rank 0 first) and dev scored from it (:mod:`spoofscan.training.encoder_cache`).
    """
    if not model.caches_hidden_states:
        dataset = CropDataset(train_records, cfg.features, seed=cfg.seed, augment=cfg.augment)
        return dataset, [r.label for r in train_records], \
            lambda: score_records(model, dev_records, device, batch_size=cfg.batch_size)
    from .encoder_cache import cached_clip_scores, cached_training_data

    def prepare():
        return cached_training_data(model, train_records, dev_records, device, root=cfg.feature_cache or None,
                                    main=d.main, progress=cfg.progress, batch_size=cfg.batch_size)

    data = prepare() if d.main else None
    barrier(d)
    dataset, dev = data if d.main else prepare()
    return dataset, dataset.labels, lambda: cached_clip_scores(model, dev, device, batch_size=cfg.batch_size)


def _train_epoch(t: _Training, state: RunState, epoch: int, epoch_start: float) -> list[float]:
    """One pass over the epoch's batches (from the step ``state`` reached, on a resume inside
    the epoch); the epoch's batch losses (those before the resume included). Saves the resume state
    every ``save_every_steps`` steps; ``epoch_start``: the monotonic time the epoch's seconds count from."""
    cfg = t.cfg
    skip_steps = state.step if epoch == state.epoch else 0
    t.sampler.set_epoch(epoch, skip=skip_steps * cfg.batch_size)
    loader = torch.utils.data.DataLoader(t.dataset, batch_size=cfg.batch_size, sampler=t.sampler,
                                         num_workers=cfg.num_workers, drop_last=t.drop_last,
                                         pin_memory=t.device.type == "cuda")
    t.net.train()
    losses = list(state.epoch_losses) if skip_steps else []
    show = cfg.progress and t.d.main
    bar = progress_bar(loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", enabled=show, leave=False, initial=skip_steps,
                       total=t.steps_per_epoch)
    for step, (waves, targets) in enumerate(bar, start=skip_steps):
        losses.append(_train_step(t, waves, targets, epoch, step))
        if show:
            bar.set_postfix(loss=f"{np.mean(losses[-LOSS_SMOOTHING_STEPS:]):.4f}", refresh=False)
        if cfg.save_every_steps and (step + 1) % cfg.save_every_steps == 0 and step + 1 < t.steps_per_epoch:
            _save_state(t, state, epoch, step + 1, losses, time.monotonic() - epoch_start)
    return losses


def _train_step(t: _Training, waves: torch.Tensor, targets: torch.Tensor, epoch: int, step: int) -> float:
    """One optimiser step on a batch: waves (batch, window_samples) float32 (or a frozen encoder's
    cached hidden states, which the model's forward takes too), targets (batch,) 1.0 bona fide /
    0.0 spoof; bfloat16 autocast on CUDA. Returns the batch loss."""
    cfg, device = t.cfg, t.device
    waves = waves.to(device, non_blocking=True)
    targets = targets.to(device, non_blocking=True)
    with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        spec_augment = None
        if cfg.augment.specaugment.p > 0:
            generator = step_generator(cfg.seed, epoch, step, t.d.rank)
            spec_augment = lambda feats: cfg.augment.specaugment.apply(feats, generator)  # noqa: E731
        logits = t.net(waves, feature_augment=spec_augment)
    loss = F.binary_cross_entropy_with_logits(logits.float(), targets, pos_weight=t.pos_weight)
    t.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    t.optimizer.step()
    t.scheduler.step()
    return loss.item()


def _validate_and_save(t: _Training, state: RunState, epoch: int, losses: list, seconds: float) -> dict:
    """Score dev, fit the calibration, write last/best checkpoints and the metrics row (rank 0).

    Updates ``state`` (history, best epoch, epochs without improvement) and returns the row.
    """
    cfg = t.cfg
    scores = t.score_dev()
    t.model.train()
    labels = np.array([r.label == BONAFIDE for r in t.dev_records])
    eer, threshold = compute_eer(scores[labels], scores[~labels])
    calibration = fit_calibration(scores[labels], scores[~labels])
    improved = eer < state.best_eer
    row = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)) if losses else float("nan"),
           "dev_eer": float(eer), "dev_threshold": float(threshold), "lr": t.optimizer.param_groups[0]["lr"],
           "steps": len(losses), "seconds": round(seconds, 2), "best": improved}
    state.history.append(row)
    metrics = {"dev_eer": float(eer), "dev_threshold": float(threshold), "epoch": epoch + 1,
               "dev_trials": len(t.dev_records)}
    card = make_card(cfg.features.to_dict(), cfg.model.to_dict(), calibration.to_dict(),
                     train={**t.summary, "config": cfg.to_dict(), "epochs_run": epoch + 1}, metrics=metrics)
    card.update(t.model.card_sections())
    weights = t.model.checkpoint_state()
    save_checkpoint(t.run_dir / "last.safetensors", weights, card)
    if improved:
        state.best_eer, state.best_epoch, state.bad_epochs, state.best_metrics = float(eer), epoch, 0, metrics
        save_checkpoint(t.run_dir / "best.safetensors", weights, card)
    else:
        state.bad_epochs += 1
    append_metrics(t.run_dir, row)
    if cfg.progress:
        print(f"epoch {epoch + 1}/{cfg.epochs}: loss {row['train_loss']:.4f}, dev EER {100 * eer:.2f} % "
              f"(best {100 * state.best_eer:.2f} % at epoch {state.best_epoch + 1}), {seconds:.0f} s", flush=True)
    return row


def _save_state(t: _Training, state: RunState, epoch: int, step: int, losses: list = (),
                seconds: float = 0.0) -> None:
    """Record that the run reached ``step`` of ``epoch`` (with that epoch's batch ``losses`` and
    ``seconds`` so far, inside an epoch) and write the resume state (rank 0)."""
    if not t.d.main:
        return
    state.epoch, state.step, state.elapsed = epoch, step, time.monotonic() - t.started
    state.epoch_losses, state.epoch_seconds = list(losses), seconds
    save_state(t.run_dir / STATE_FILE, t.cfg, state, t.model, t.optimizer, t.scheduler)


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


def _lr_factor(step: int, warmup: int, total: int) -> float:
    """The learning rate's multiplier at ``step``: a linear warm-up over ``warmup`` steps, then a
    cosine decay to 0 at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))
