"""The corpus's own neural vocoders: which real clips train them, the cache, the training.

A neural-vocoder fake family (``vocos/*``, ``hifigan/*``: :mod:`.generators.neural_vocoder`) needs a
vocoder trained on real speech. The builder holds back a seeded share of the *train* split's
real clips (:func:`held_clips`): each family's vocoder trains on them, and those clips get
their fakes from the other engines only, so every neural fake is the copy-synthesis of a clip
its vocoder never saw (and dev and eval clips, from other speakers for eval, never are).

A trained vocoder is cached in ``CACHE/vocoders/FAMILY-KEY/`` where ``KEY`` hashes everything
it depends on: the clips (their keys and bytes), the architecture, the training settings
(steps, seed, threads, device), the check clips, torch's version and :data:`DATA_VERSION`.
A rebuild finds it there; an interrupted training resumes from its last checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from ..errors import SpoofscanError
from ..seeding import stable_seed
from ..vocoder.recipes import vocoder_recipe
from .sources import read_real

DATA_VERSION = 1  # bump when the data preparation changes: every cached vocoder is retrained
CHECK_CLIPS = 16  # dev clips for the listen-free check (mel distance, trained vs untrained)
TRAIN_THREADS = 1  # torch threads per vocoder: each trains in one process, beside the pairs (corpus.workers)


@dataclass(frozen=True)
class VocoderJob:
    """One vocoder the build needs: its family, cache key and folder, and how to train it."""

    family: str
    key: str
    folder: Path
    clips: tuple  # RealClip records it trains on
    check: tuple  # RealClip records of the listen-free check
    model: object  # VocoderConfig
    train: object  # VocoderTrainConfig

    @property
    def weights(self) -> Path:
        return self.folder / "vocoder.safetensors"


def held_clips(clips: list, splits: dict, recipe: str, seed: int, max_clips: Optional[int] = None) -> set:
    """Keys of the train-split clips the vocoders train on (a seeded choice; never dev or eval)."""
    budget = vocoder_recipe(recipe)
    train = sorted((c for c in clips if splits[c.key] == "train"), key=lambda c: stable_seed(seed, "vocoder", c.key))
    cap = int(budget.clip_share * len(train))
    if max_clips is not None or budget.clips is not None:
        cap = min(cap, max_clips if max_clips is not None else budget.clips)
    return {c.key for c in train[:max(1, cap)]} if train else set()


def plan_vocoders(families: list, clips: list, splits: dict, held: set, *, recipe: str, seed: int, steps: Optional[int],
                  device: str, cache: Path) -> dict:
    """family -> :class:`VocoderJob` for each neural family the build uses."""
    import torch

    budget = vocoder_recipe(recipe)
    train_clips = tuple(sorted((c for c in clips if c.key in held), key=lambda c: c.key))
    dev = sorted((c for c in clips if splits[c.key] == "dev"), key=lambda c: stable_seed(seed, "check", c.key))
    check = tuple(sorted(dev[:CHECK_CLIPS], key=lambda c: c.key))
    if not train_clips:
        raise SpoofscanError("the neural vocoder families need train-split real clips to train on, and there are none")
    digests = [[c.key, _file_digest(c.path)] for c in train_clips + check]
    jobs = {}
    for family in families:
        model = budget.models[family]
        train = budget.train_config(family, steps=steps or None, seed=stable_seed(seed, "vocoder", family) % 2 ** 31,
                                    threads=TRAIN_THREADS, device=device)
        key = hashlib.sha256(json.dumps([family, model.to_dict(), train.to_dict(), digests, len(train_clips),
                                         torch.__version__, DATA_VERSION]).encode()).hexdigest()[:20]
        jobs[family] = VocoderJob(family, key, cache / "vocoders" / f"{family}-{key}", train_clips, check, model, train)
    return jobs


def is_trained(job: VocoderJob) -> bool:
    """Whether the job's vocoder is in the cache (its card names the job's key)."""
    if not job.weights.is_file():
        return False
    from ..vocoder import read_vocoder_card

    try:
        return read_vocoder_card(job.weights).get("data", {}).get("key") == job.key
    except SpoofscanError:
        return False


def check_trained(job: VocoderJob) -> None:
    """Refuse a cached vocoder that failed its listen-free check (:func:`spoofscan.vocoder.train.check_result`:
    copy-synthesis no closer to the originals than the untrained vocoder's). Such a training diverged
    or learned nothing, and its "copies" would be noise: a fake family trivially told apart, not the one
    asked for. Raises SpoofscanError naming the vocoder, both distances and what to do.
    """
    from ..vocoder import read_vocoder_card
    from ..vocoder.train import check_result

    check_result(read_vocoder_card(job.weights).get("metrics", {}),
                 f"the {job.family} vocoder in {job.folder} (loss curve: {job.folder / 'metrics.csv'})",
                 "lower its learning rate (spoofscan.vocoder.recipes) or leave the family out of the build")


def train_job(job: VocoderJob, log: Callable[[str], None] | None = None) -> dict:
    """Train the job's vocoder into its folder (resuming a stopped run); returns its summary.

    ``log`` gets a line when it starts and one with the loss curve's ends and the
    listen-free check when it is done.
    """
    from ..audio import SAMPLE_RATE, resample
    from ..vocoder import train_vocoder

    started = time.perf_counter()
    if log:
        log(start_line(job))
    waves, check = [], []
    for target, clips in ((waves, job.clips), (check, job.check)):
        for c in clips:
            try:
                x, rate = read_real(c)
            except SpoofscanError:
                continue  # build_pair reports the clip; the key already names the clip list
            if x.size and rate:
                target.append(resample(x, rate, SAMPLE_RATE))
    result = train_vocoder(waves, job.model, job.train, job.folder, check_waves=check, resume=True,
                           data={"key": job.key, "clip_keys_sha256": _clips_hash(job.clips)})
    first, last = result.history[0], result.history[-1]
    summary = {"family": job.family, "key": job.key, "steps": job.train.steps, "clips": len(waves),
               "minutes_of_audio": round(sum(len(w) for w in waves) / SAMPLE_RATE / 60, 1),
               "loss_first": first["loss"], "loss_first_steps": first["step"], "loss_last": last["loss"],
               **result.metrics, "seconds": round(time.perf_counter() - started, 1)}
    if log:
        log(done_line(summary))
    return summary


def start_line(job: VocoderJob) -> str:
    """The log line of a training that starts."""
    return (f"training the {job.family} vocoder ({job.train.steps} steps on {len(job.clips)} held-back train "
            f"clips) -> {job.folder}")


def done_line(s: dict) -> str:
    """The log line of a training that ended (``s``: :func:`train_job`'s summary)."""
    return (f"{s['family']} vocoder: {s['clips']} clips ({s['minutes_of_audio']} min); training loss "
            f"{s['loss_first']:.3f} (mean of steps 1-{s['loss_first_steps']}) -> {s['loss_last']:.3f} (step "
            f"{s['steps']}); log-mel L1 of copy-synthesis on {s.get('check_clips', 0)} dev clips "
            f"{s.get('mel_l1', float('nan')):.3f} (untrained {s.get('mel_l1_untrained', float('nan')):.3f}); "
            f"{s['seconds']:.0f} s")


def describe(job: VocoderJob) -> dict:
    """A trained vocoder's summary from its card (the same whether trained now or found in the cache)."""
    if not is_trained(job):
        return {"key": job.key, "trained": False}
    from ..vocoder import read_vocoder_card

    card = read_vocoder_card(job.weights)
    history = card.get("history") or [{}]
    return {"key": job.key, "trained": True, "arch": card["model"]["arch"], "steps": card["step"],
            "clips": card["data"].get("clips"), "seconds_of_audio": card["data"].get("seconds"),
            "loss_first": history[0].get("loss"), "loss_last": history[-1].get("loss"), **card.get("metrics", {})}


def _file_digest(path: str) -> str:
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


def _clips_hash(clips: tuple) -> str:
    return hashlib.sha256("\n".join(c.key for c in clips).encode()).hexdigest()

