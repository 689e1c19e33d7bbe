"""Train a small vocoder on real speech, resumably and reproducibly; save, load and run it.

``train_vocoder(waves, VocoderConfig(...), VocoderTrainConfig(...), out)`` trains on random
crops of the clips for a fixed number of steps with a multi-resolution STFT loss (spectral
convergence + log-magnitude L1, as in Parallel WaveGAN) plus a log-mel L1 loss (as in
HiFi-GAN); no adversarial loss. It writes into ``out``:

- ``vocoder.safetensors``: the weights and a JSON card (architecture, training settings, loss
  history, data summary, the listen-free check) - what synthesis loads;
- ``last.safetensors``: weights and optimizer state every ``save_every`` steps, for ``resume``;
- ``metrics.csv``: the loss curve.

Reproducible: the weights start from ``seed``; the crops of step ``s`` come from
``numpy.random.default_rng([seed, s])``; training runs with a fixed number of threads (and
torch's deterministic algorithms on CUDA); so a run, or a run stopped and resumed, gives the same
weights bit for bit on the same machine. The learning rate follows a cosine of the step.

A run that diverges stops at once (:func:`check_not_diverging`) rather than at its last step, hours
later, with a vocoder that makes noise; one that ends no better than it began fails
:func:`check_result`.
"""

from __future__ import annotations

import csv
import math
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from torch.nn import functional as F

from ..checkpoint import load_checkpoint, make_card_base, read_card, save_checkpoint
from ..config import Config
from ..devices import CUDA_DEVICES, parse_device, resolve_device
from ..errors import SpoofscanError
from ..fileio import atomic_write
from .model import Vocoder, VocoderConfig, build_vocoder

FORMAT = "spoofscan-vocoder"
FORMAT_VERSION = 1
WEIGHTS = "vocoder.safetensors"
LAST = "last.safetensors"
METRICS = "metrics.csv"
PEAK = 0.8  # every clip is scaled to this peak before training and before vocoding
STFT_RESOLUTIONS = ((256, 64), (512, 128), (1024, 256))  # (n_fft, hop) of the multi-resolution STFT loss
MAG_FLOOR = 1e-5  # magnitude floor of the STFT loss's log
WARMUP_STEPS = 20
DIVERGED_FACTOR = 2.0  # a point of the loss curve this many times its lowest so far: the training has diverged


@dataclass(frozen=True)
class VocoderTrainConfig(Config):
    """How a vocoder is trained (stored in its card; part of the corpus's cache key).

    steps : optimiser steps (the budget: never wall-clock)
    batch_size : crops per step
    segment_seconds : crop length
    lr : peak learning rate (AdamW), cosine decay to 0 over ``steps`` after a short warm-up
    mel_weight : weight of the log-mel L1 loss beside the multi-resolution STFT loss
    seed : initial weights and every crop derive from it
    threads : torch CPU threads while training (fixed, so results do not depend on the machine's
        core count)
    device : ``cpu``, ``cuda`` or ``auto`` (CUDA when there is one). CPU runs are bit-for-bit
        reproducible; CUDA runs use deterministic algorithms where torch has them
    save_every : steps between resumable checkpoints
    log_every : steps per point of the loss curve
    """

    steps: int = 600
    batch_size: int = 16
    segment_seconds: float = 0.5
    lr: float = 2e-3
    mel_weight: float = 1.0
    seed: int = 0
    threads: int = 1
    device: str = "cpu"
    save_every: int = 200
    log_every: int = 25

    def __post_init__(self):
        parse_device(self.device, CUDA_DEVICES, "vocoder training device")
        for name in ("steps", "batch_size", "threads", "save_every", "log_every"):
            if int(getattr(self, name)) < 1:
                raise SpoofscanError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if not self.segment_seconds > 0 or not self.lr > 0:
            raise SpoofscanError("segment_seconds and lr must be > 0")


@dataclass
class VocoderResult:
    """What :func:`train_vocoder` made: the weights' path, the loss curve, the listen-free check.

    history : one dict per ``log_every`` steps: ``step``, ``loss``, ``stft``, ``mel_l1`` (window means)
    metrics : ``mel_l1`` and ``mel_l1_untrained`` (mean log-mel L1 of copy-synthesis against the
        original on the check clips, trained and at initialisation), ``check_clips``
    """

    path: Path
    history: list
    metrics: dict
    seconds: float


# ---------------------------------------------------------------------------- data


def prepare(wave: np.ndarray) -> np.ndarray:
    """A clip as the vocoder sees it: float32 (samples,), DC removed, peak :data:`PEAK`."""
    x = np.asarray(wave, np.float32)
    x = x - x.mean()
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if not np.isfinite(x).all() or peak == 0.0:
        raise SpoofscanError("vocoder: a clip is silent or not finite")
    return x * np.float32(PEAK / peak)


def batch_for_step(waves: Sequence[np.ndarray], step: int, cfg: VocoderTrainConfig, rate: int) -> np.ndarray:
    """The crops of one step: float32 (batch_size, segment samples), from ``default_rng([seed, step])``.

    A clip is drawn with probability proportional to its length, then a crop position in it;
    clips shorter than a crop are zero-padded.
    """
    rng = np.random.default_rng([cfg.seed, step])
    n = int(round(cfg.segment_seconds * rate))
    lengths = np.array([len(w) for w in waves], np.float64)
    picks = rng.choice(len(waves), size=cfg.batch_size, p=lengths / lengths.sum())
    out = np.zeros((cfg.batch_size, n), np.float32)
    for row, i in enumerate(picks):
        w = waves[i]
        start = int(rng.integers(0, max(1, len(w) - n + 1)))
        piece = w[start:start + n]
        out[row, : len(piece)] = piece
    return out


# ---------------------------------------------------------------------------- losses


def stft_loss(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Multi-resolution STFT loss: mean over :data:`STFT_RESOLUTIONS` of spectral convergence +
    log-magnitude L1. Inputs (batch, samples)."""
    total = fake.new_zeros(())
    for n_fft, hop in STFT_RESOLUTIONS:
        window = torch.hann_window(n_fft, device=fake.device)
        mags = [torch.stft(x, n_fft, hop_length=hop, window=window, center=True, return_complex=True).abs()
                .clamp(min=MAG_FLOOR) for x in (fake, real)]
        convergence = torch.linalg.norm(mags[1] - mags[0]) / torch.linalg.norm(mags[1]).clamp(min=MAG_FLOOR)
        total = total + convergence + F.l1_loss(mags[0].log(), mags[1].log())
    return total / len(STFT_RESOLUTIONS)


def losses(model: Vocoder, real: torch.Tensor, mel_weight: float) -> tuple[torch.Tensor, dict]:
    """Copy-synthesise a batch (batch, samples) and return the total loss and its parts (floats)."""
    mel = model.mel(real)
    fake = model(mel)
    n = min(fake.shape[-1], real.shape[-1])
    fake, real = fake[..., :n], real[..., :n]
    stft = stft_loss(fake, real)
    mel_l1 = F.l1_loss(model.mel(fake), model.mel(real))
    total = stft + mel_weight * mel_l1
    return total, {"loss": total.item(), "stft": stft.item(), "mel_l1": mel_l1.item()}


# ---------------------------------------------------------------------------- synthesis


@torch.no_grad()
def vocode(model: Vocoder, wave: np.ndarray, smooth_frames: int = 1, detail: float = 1.0) -> np.ndarray:
    """Copy-synthesis: the log-mel of ``wave`` (float32 (samples,) at the vocoder's rate) through the vocoder.

    ``smooth_frames`` > 1 averages the log-mel over that many frames and ``detail`` < 1 shrinks
    each band towards its mean over the clip, before vocoding (an acoustic model's over-smoothed
    prediction). Returns float32 (samples,), same length, at :data:`PEAK` scale like training.
    """
    x = torch.from_numpy(prepare(wave))[None]
    device = next(model.parameters()).device
    mel = model.mel(x.to(device))
    if smooth_frames > 1:
        pad = (smooth_frames // 2, smooth_frames - 1 - smooth_frames // 2)
        mel = F.avg_pool1d(F.pad(mel, pad, mode="replicate"), smooth_frames, stride=1)
    if detail != 1.0:
        mean = mel.mean(dim=-1, keepdim=True)
        mel = mean + detail * (mel - mean)
    y = model(mel)[0].cpu().numpy()
    return np.pad(y, (0, max(0, len(wave) - len(y))))[: len(wave)].astype(np.float32)


@torch.no_grad()
def mel_distance(model: Vocoder, waves: Sequence[np.ndarray]) -> float:
    """Mean L1 distance between the log-mel of each clip and that of its copy-synthesis (nats)."""
    dists = []
    for w in waves:
        x = torch.from_numpy(prepare(w))[None]
        y = torch.from_numpy(vocode(model, w))[None]
        dists.append(float(F.l1_loss(model.mel(y), model.mel(x))))
    return float(np.mean(dists)) if dists else float("nan")


# ---------------------------------------------------------------------------- checkpoints


def _card(model_cfg: VocoderConfig, train_cfg: VocoderTrainConfig, step: int, history: list, data: dict,
          metrics: dict) -> dict:
    return {**make_card_base(FORMAT, FORMAT_VERSION), "model": model_cfg.to_dict(), "train": train_cfg.to_dict(),
            "step": step, "history": history, "data": data, "metrics": metrics}


def load_vocoder(path: str | Path, device: str = "cpu") -> tuple[Vocoder, dict]:
    """The vocoder in ``path`` (a ``vocoder.safetensors`` or a folder holding one) and its card; strict."""
    path = Path(path)
    if path.is_dir():
        path = path / WEIGHTS
    state, card = load_checkpoint(path, fmt=FORMAT, version=FORMAT_VERSION)
    model = build_vocoder(VocoderConfig.from_dict(card["model"]))
    model.load_state_dict({k: v for k, v in state.items() if not k.startswith("optim.")}, strict=True)
    return model.to(device).eval(), card


def _optimizer_tensors(opt: torch.optim.Optimizer) -> dict:
    out = {}
    for index, state in opt.state_dict()["state"].items():
        for name, value in state.items():
            out[f"optim.{index}.{name}"] = torch.as_tensor(value)
    return out


def _restore_optimizer(opt: torch.optim.Optimizer, tensors: dict) -> None:
    sd = opt.state_dict()
    state: dict = {}
    for key, value in tensors.items():
        _, index, name = key.split(".", 2)
        state.setdefault(int(index), {})[name] = value
    opt.load_state_dict({"state": state, "param_groups": sd["param_groups"]})


@contextmanager
def _reproducible(threads: int, device: torch.device):
    """Fixed torch threads (and, on CUDA, deterministic algorithms) for the block; the previous settings after.

    torch's CPU kernels give the same result for the same thread count; on CUDA some do not
    by default, hence ``use_deterministic_algorithms`` there (warn-only: an op without a
    deterministic kernel warns instead of failing). It is not called for CPU runs because
    its first call imports torch's compiler package, which costs seconds.
    """
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    cuda = device.type == "cuda"
    old_det = torch.are_deterministic_algorithms_enabled()
    if cuda:
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.set_num_threads(old_threads)
        if cuda:
            torch.use_deterministic_algorithms(old_det)


def _device(name: str) -> torch.device:
    device = resolve_device(name, CUDA_DEVICES, "vocoder training device")
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS (set before its first use)
    return device


# ---------------------------------------------------------------------------- training


def train_vocoder(waves: Sequence[np.ndarray], model_cfg: VocoderConfig, train_cfg: VocoderTrainConfig,
                  out: str | Path, *, check_waves: Sequence[np.ndarray] = (), resume: bool = False,
                  data: Optional[dict] = None, log: Callable[[str], None] | None = None) -> VocoderResult:
    """Train a vocoder on ``waves`` (float32 (samples,) clips at ``model_cfg.sample_rate``) into ``out``.

    Parameters
    ----------
    check_waves : clips not trained on, for the listen-free check (mel distance of the trained
        and of the untrained vocoder's copy-synthesis); none: the check is skipped
    resume : continue from ``out/last.safetensors`` if it holds the same configs (else start over)
    data : a summary of the training data for the card (clip count, seconds, a hash...)
    log : receives one line per ``log_every`` steps (default: silent)

    Returns a :class:`VocoderResult`; the weights are in ``out/vocoder.safetensors``. Raises
    SpoofscanError when the loss diverges (:func:`check_not_diverging`, at once) or the trained
    vocoder fails the listen-free check (:func:`check_result`; its weights are kept for a look).
    """
    started = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    log = log or (lambda msg: None)
    waves = [prepare(w) for w in waves]
    if not waves:
        raise SpoofscanError("vocoder training needs at least one clip")
    device = _device(train_cfg.device)
    data = {"clips": len(waves), "seconds": round(sum(len(w) for w in waves) / model_cfg.sample_rate, 1),
            **(data or {})}
    last = out / LAST
    with _reproducible(train_cfg.threads, device):
        torch.manual_seed(train_cfg.seed)
        model = build_vocoder(model_cfg).to(device)
        opt = torch.optim.AdamW(model.parameters(), lr=train_cfg.lr, betas=(0.8, 0.99), weight_decay=0.0)
        step, history = _resume(last, model, opt, model_cfg, train_cfg, device, log) if resume else (0, [])
        model.train()
        window: list = []  # the loss parts of the steps since the last point of the loss curve
        while step < train_cfg.steps:
            window.append(_train_step(model, opt, waves, model_cfg, train_cfg, device, step))
            step += 1
            if step % train_cfg.log_every == 0 or step == train_cfg.steps:
                point = {"step": step, **{k: round(float(np.mean([w[k] for w in window])), 5) for k in window[-1]}}
                history.append(point)
                window = []
                log(f"vocoder step {step}/{train_cfg.steps}: loss {point['loss']:.4f} "
                    f"(stft {point['stft']:.4f}, mel L1 {point['mel_l1']:.4f})")
                check_not_diverging(history, train_cfg, out)
            if step % train_cfg.save_every == 0 and step < train_cfg.steps:
                tensors = {**model.state_dict(), **_optimizer_tensors(opt)}
                save_checkpoint(last, tensors, _card(model_cfg, train_cfg, step, history, data, {}))
        model.eval()
        metrics = _listen_free_check(model, model_cfg, train_cfg, check_waves, device) if check_waves else {}
        save_checkpoint(out / WEIGHTS, model.state_dict(), _card(model_cfg, train_cfg, step, history, data, metrics))
        tensors = {**model.state_dict(), **_optimizer_tensors(opt)}
        save_checkpoint(last, tensors, _card(model_cfg, train_cfg, step, history, data, metrics))
    _write_metrics(out / METRICS, history)
    check_result(metrics, f"the vocoder in {out} (loss curve: {out / METRICS})")
    return VocoderResult(out / WEIGHTS, history, metrics, time.perf_counter() - started)


def _resume(last: Path, model: Vocoder, opt: torch.optim.Optimizer, model_cfg: VocoderConfig,
            train_cfg: VocoderTrainConfig, device: torch.device, log: Callable[[str], None]) -> tuple[int, list]:
    """Load weights and optimiser state from ``last`` when it holds a run of the same configs;
    return the step it reached and its loss curve (``(0, [])``: start from the beginning)."""
    if not last.is_file():
        return 0, []
    state, card = load_checkpoint(last, fmt=FORMAT, version=FORMAT_VERSION)
    if (VocoderConfig.from_dict(card["model"]) != model_cfg
            or VocoderTrainConfig.from_dict(card["train"]) != train_cfg):
        log("vocoder: last.safetensors was trained with other settings: starting over")
        return 0, []
    model.load_state_dict({k: v for k, v in state.items() if not k.startswith("optim.")}, strict=True)
    _restore_optimizer(opt, {k: v.to(device) for k, v in state.items() if k.startswith("optim.")})
    step, history = int(card["step"]), list(card["history"])
    log(f"vocoder: resuming at step {step} of {train_cfg.steps}")
    return step, history


def check_not_diverging(history: list, train_cfg: VocoderTrainConfig, out: Path) -> None:
    """Stop a training whose loss has blown up: the last point of the loss curve (``history``, one dict
    per ``log_every`` steps) not finite, or over :data:`DIVERGED_FACTOR` times the lowest point so far.

    A vocoder's loss falls, with noise of a few per cent between points; a run that diverges jumps
    to several times its best within a few points and stays there (the ``quality`` HiFi-GAN-like
    vocoder at learning rate 2e-3: 3.8 at step 275, 15.4 at 325, about 22 until step 4,000).
    Raises SpoofscanError naming the step, both losses and what to do.
    """
    last = history[-1]
    best = min(history, key=lambda point: point["loss"])
    if math.isfinite(last["loss"]) and last["loss"] <= DIVERGED_FACTOR * best["loss"]:
        return
    raise SpoofscanError(
        f"vocoder training diverged at step {last['step']} of {train_cfg.steps}: loss {last['loss']:.4g} against "
        f"{best['loss']:.4g} at step {best['step']} (the limit is {DIVERGED_FACTOR:g} times the lowest); its copies "
        f"would be noise. Training is deterministic, so the same settings diverge again: lower the learning rate "
        f"(now {train_cfg.lr:g}). The loss curve so far is in the checkpoint {out / LAST} (saved every "
        f"{train_cfg.save_every} steps)")


def check_result(metrics: dict, where: str, remedy: str = "change the learning rate or the number of steps") -> None:
    """Refuse a trained vocoder that failed its listen-free check (``metrics`` from
    :class:`VocoderResult` or the card): copy-synthesis no closer to the originals than the
    untrained vocoder's. Nothing to judge (trained without check clips): passes.

    Raises SpoofscanError naming ``where`` (the vocoder), both distances and ``remedy``.
    """
    trained, untrained = metrics.get("mel_l1"), metrics.get("mel_l1_untrained")
    if trained is None or untrained is None or (math.isfinite(trained) and trained < untrained):
        return
    raise SpoofscanError(
        f"{where} failed its check: its copies of {metrics.get('check_clips')} held-out clips are at log-mel L1 "
        f"{trained:.3f} from the originals, no better than the untrained vocoder's {untrained:.3f}, so it learned "
        f"nothing or diverged, and its fakes would be noise. Training is deterministic, so the same settings "
        f"fail again: {remedy}")


def _learning_rate(step: int, cfg: VocoderTrainConfig) -> float:
    """The learning rate of ``step`` (from 0): a linear warm-up over :data:`WARMUP_STEPS` times a
    cosine from ``cfg.lr`` to 0 over ``cfg.steps``."""
    return cfg.lr * min(1.0, (step + 1) / WARMUP_STEPS) * 0.5 * (1 + math.cos(math.pi * step / cfg.steps))


def _train_step(model: Vocoder, opt: torch.optim.Optimizer, waves: Sequence[np.ndarray], model_cfg: VocoderConfig,
                train_cfg: VocoderTrainConfig, device: torch.device, step: int) -> dict:
    """One optimiser step on the crops of ``step`` (:func:`batch_for_step`); the loss parts (floats)."""
    for group in opt.param_groups:
        group["lr"] = _learning_rate(step, train_cfg)
    real = torch.from_numpy(batch_for_step(waves, step, train_cfg, model_cfg.sample_rate)).to(device)
    loss, parts = losses(model, real, train_cfg.mel_weight)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return parts


def _listen_free_check(model: Vocoder, model_cfg: VocoderConfig, train_cfg: VocoderTrainConfig,
                       check_waves: Sequence[np.ndarray], device: torch.device) -> dict:
    """The log-mel L1 of copy-synthesis on the held-out clips, by the trained vocoder and by the
    untrained one (the same initial weights, from ``train_cfg.seed``)."""
    torch.manual_seed(train_cfg.seed)
    untrained = build_vocoder(model_cfg).to(device).eval()
    return {"mel_l1": round(mel_distance(model, check_waves), 5),
            "mel_l1_untrained": round(mel_distance(untrained, check_waves), 5),
            "check_clips": len(check_waves)}


def _write_metrics(path: Path, history: list) -> None:
    def write(tmp):
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["step", "loss", "stft", "mel_l1"], lineterminator="\n")
            w.writeheader()
            w.writerows(history)

    atomic_write(path, write)


def read_vocoder_card(path: str | Path) -> dict:
    """The card of a vocoder checkpoint, without torch or the weights."""
    path = Path(path)
    return read_card(path / WEIGHTS if path.is_dir() else path, fmt=FORMAT, version=FORMAT_VERSION)
