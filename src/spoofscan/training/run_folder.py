"""The run folder: where a run stands (:class:`RunState`), its resume state and its metrics log.

Run folder ``out/``:
    config.json       the TrainConfig
    best.safetensors  the best epoch's weights + card (calibration fitted on its dev scores)
    last.safetensors  the latest epoch's weights + card
    state.pt          everything needed to resume (model, optimiser, scheduler, RunState, RNG)
    metrics.jsonl / metrics.csv   one row per epoch

Only rank 0 writes here; every rank reads ``state.pt`` to resume.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ..errors import SpoofscanError
from ..fileio import atomic_write, atomic_write_text
from .config import TrainConfig

STATE_FILE = "state.pt"
METRICS_FILES = ("metrics.jsonl", "metrics.csv")
# TrainConfig fields a resumed run must share with the saved one (the others, such as the
# device, the workers or the progress bars, do not change the weights)
RESUME_FIELDS = ("train", "dev", "model", "features", "epochs", "batch_size", "lr", "weight_decay",
                 "warmup_fraction", "balance", "seed", "augment", "encoder_weights")


@dataclass
class RunState:
    """Where a run stands; saved in ``state.pt`` (as the mapping ``progress``) and restored on resume.

    epoch : epochs finished (the next one to run, counted from 0)
    step : optimiser steps already taken in epoch ``epoch`` (a save inside an epoch), else 0
    best_eer : the best dev EER so far (a fraction; inf before the first epoch)
    best_epoch : the epoch (from 0) that reached it (-1 before the first epoch)
    bad_epochs : epochs since the last better dev EER (early stopping at ``patience``)
    history : one metrics row per finished epoch
    best_metrics : the dev metrics of the best epoch
    elapsed : training seconds so far, over every start of the run
    epoch_losses : the batch losses of the ``step`` steps taken in epoch ``epoch`` (a save inside an
        epoch), so that the epoch's logged train loss is the uninterrupted run's
    epoch_seconds : the seconds spent in epoch ``epoch`` before that save
    """

    epoch: int = 0
    step: int = 0
    best_eer: float = math.inf
    best_epoch: int = -1
    bad_epochs: int = 0
    history: list = field(default_factory=list)
    best_metrics: dict = field(default_factory=dict)
    elapsed: float = 0.0
    epoch_losses: list = field(default_factory=list)
    epoch_seconds: float = 0.0


def prepare_run_dir(run_dir: Path, cfg: TrainConfig, resume: bool) -> None:
    """Check that ``run_dir`` holds a run exactly when resuming, and write its ``config.json``
    (a fresh run also drops an old metrics log)."""
    state = run_dir / STATE_FILE
    if resume and not state.is_file():
        raise SpoofscanError(f"--resume: no {STATE_FILE} in {str(run_dir)!r} to resume from")
    if not resume and state.is_file():
        raise SpoofscanError(f"{str(run_dir)!r} already holds a run; pass --resume to continue it "
                             f"or choose another --out")
    run_dir.mkdir(parents=True, exist_ok=True)
    if not resume:
        for name in METRICS_FILES:
            (run_dir / name).unlink(missing_ok=True)
    atomic_write_text(run_dir / "config.json", json.dumps(cfg.to_dict(), indent=2))


def save_state(path: Path, cfg: TrainConfig, state: RunState, model, optimizer, scheduler) -> None:
    """Write everything a resumed run needs (atomically): config, RunState, model, optimiser,
    scheduler and the torch RNG states (CPU and every CUDA device)."""
    blob = {"config": cfg.to_dict(), "progress": asdict(state), "model": model.state_dict(),
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}
    atomic_write(path, lambda tmp: torch.save(blob, tmp))


def load_state(path: Path, cfg: TrainConfig, model, optimizer, scheduler) -> RunState:
    """Restore model, optimiser, scheduler and RNG from ``path`` in place; return the RunState.

    Raises SpoofscanError naming the fields (:data:`RESUME_FIELDS`) where ``cfg`` differs from the saved run.
    """
    blob = torch.load(path, map_location="cpu", weights_only=True)
    saved = TrainConfig.from_dict(blob["config"])
    diff = [k for k in RESUME_FIELDS if getattr(saved, k) != getattr(cfg, k)]
    if diff:
        raise SpoofscanError(f"--resume: the config differs from the saved run in {diff}; "
                             f"resume with the same settings")
    model.load_state_dict(blob["model"], strict=True)
    optimizer.load_state_dict(blob["optimizer"])
    scheduler.load_state_dict(blob["scheduler"])
    torch.set_rng_state(blob["torch_rng"])
    if blob["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(blob["cuda_rng"])
    return RunState(**blob["progress"])


def rewrite_metrics(run_dir: Path, rows: list) -> None:
    """The metrics log as of the saved state: it may hold rows written after the state was
    saved (a kill in between), which the resumed run writes again."""
    for name in METRICS_FILES:
        (run_dir / name).unlink(missing_ok=True)
    for row in rows:
        append_metrics(run_dir, row)


def append_metrics(run_dir: Path, row: dict) -> None:
    """Add one epoch's row to ``metrics.jsonl`` and ``metrics.csv`` (its header first when new)."""
    with open(run_dir / "metrics.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")
    path = run_dir / "metrics.csv"
    new = not path.exists()
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(row))
        if new:
            w.writeheader()
        w.writerow(row)
