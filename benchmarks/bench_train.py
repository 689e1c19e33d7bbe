"""Training throughput with and without augmentation: does the data loader keep the model busy?

The real training path: generated speech-like clips (1-4 s, written as 16 kHz wav files),
``CropDataset`` with its ``Augmenter`` in the DataLoader workers, 2-s crops (the quickstart's
window), batch 32, ResNet-18, the log-mel front end, SpecAugment where on, BCE, backward,
AdamW. Random weights: timing does not depend on them.

Two tables, both measured in this run:

1. **loader alone**: wall and CPU milliseconds per clip that ``CropDataset`` (decode, crop,
   augment) takes in one process, for each effect family at p = 1, the ``full`` preset, and
   every effect at p = 1;
2. **training**: steps/s and clips/s of whole training steps with the DataLoader at
   ``num_workers`` 0, 1 and 2, the share of the time the step waited for data, and the CPU
   time per clip of the training process and of the workers.

Wall times depend on what else the machine runs ("other load"); CPU times much less so.

    python benchmarks/bench_train.py            # 4 timed steps per row (a few minutes on 2 cores)
    python benchmarks/bench_train.py --quick    # 2 timed steps per row, fewer rows
    python benchmarks/bench_train.py --threads 1 --workers 1   # one core for the model, one for the loader
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import OtherLoad, cpu_model, speech_like

from spoofscan.recipes import load_recipe

CLIPS = 64  # generated training clips
CLIP_SECONDS = (1.0, 4.0)
BATCH = 32
LOADER_CLIPS = 48  # clips timed per row of the loader table

P1 = {"p": 1.0}
CONFIGS = {  # row name -> AugmentConfig mapping (or a preset name)
    "off": {},
    "codec (p=1)": {"codec": P1},
    "channel: eq, gain, clip, narrowband (p=1)": {"eq": P1, "gain": P1, "clip": P1, "narrowband": P1},
    "noise (p=1)": {"noise": P1},
    "reverb (p=1)": {"reverb": P1},
    "rawboost algo 5 (p=1)": {"rawboost": P1},
    "specaugment (p=1)": {"specaugment": P1},
    "preset full": "full",
    "every effect (p=1)": {name: P1 for name in ("reverb", "noise", "rawboost", "eq", "gain", "clip", "narrowband",
                                                 "codec", "specaugment")},
}
QUICK_CONFIGS = ("off", "codec (p=1)", "preset full", "every effect (p=1)")


def cpu_seconds(who: int) -> float:
    """User + system CPU seconds of this process (RUSAGE_SELF) or of its ended children (RUSAGE_CHILDREN)."""
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def make_records(folder: Path) -> list:
    import soundfile as sf

    from spoofscan.datasets import Record

    rng = np.random.default_rng(0)
    records = []
    for i in range(CLIPS):
        path = folder / f"clip{i:03d}.wav"
        sf.write(path, speech_like(rng.uniform(*CLIP_SECONDS), rng), 16_000, subtype="PCM_16")
        records.append(Record(trial=path.stem, path=str(path), label=("bonafide", "spoof")[i % 2]))
    return records


def loader_row(records, features, augment) -> tuple[float, float, float]:
    """(ms per clip, set-up seconds, other load) of CropDataset items in this process.

    The set-up is ``Augmenter.prepare()``: simulating the rooms and measuring the codec delays,
    once per training run, before the workers start."""
    from spoofscan.augment import codecs, reverb
    from spoofscan.training.data import CropDataset

    reverb._BANK.clear()  # time the set-up from scratch, not from an earlier row's cache
    codecs._DELAYS.clear()
    t0 = time.perf_counter()
    dataset = CropDataset(records, features, seed=0, augment=augment)  # simulates rooms if needed
    prepare = time.perf_counter() - t0
    dataset[(0, 0)]  # warm-up: imports
    with OtherLoad() as load:
        t0, c0 = time.perf_counter(), cpu_seconds(resource.RUSAGE_SELF)
        for i in range(LOADER_CLIPS):
            dataset[(1, i % len(records))]
        wall, cpu = time.perf_counter() - t0, cpu_seconds(resource.RUSAGE_SELF) - c0
    return 1000 * wall / LOADER_CLIPS, 1000 * cpu / LOADER_CLIPS, prepare, load.cores


def train_row(records, features, augment, workers: int, warmup: int, steps: int) -> dict:
    """Steps/s, clips/s and the share of time spent waiting for data, over ``steps`` timed steps."""
    import torch
    import torch.nn.functional as F

    from spoofscan.augment.specaugment import step_generator
    from spoofscan.models import create_model, model_preset
    from spoofscan.training.data import CropDataset

    torch.manual_seed(0)
    model = create_model(model_preset("resnet18"), features)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    dataset = CropDataset(records, features, seed=0, augment=augment)
    children = cpu_seconds(resource.RUSAGE_CHILDREN)
    total = (warmup + steps) * BATCH
    keys = [(k // len(records), int(i)) for k in range(0, total, len(records))
            for i in np.random.default_rng(k).permutation(len(records))][:total]
    loader = torch.utils.data.DataLoader(dataset, batch_size=BATCH, sampler=keys, num_workers=workers)
    model.train()
    batches = iter(loader)

    def step(number: int, batches) -> tuple[float, float]:  # (seconds waiting for the batch, computing)
        t0 = time.perf_counter()
        waves, targets = next(batches)
        t1 = time.perf_counter()
        spec = None
        if augment.specaugment.p > 0:
            spec = lambda feats: augment.specaugment.apply(feats, step_generator(0, 0, number))  # noqa: E731
        loss = F.binary_cross_entropy_with_logits(model(waves, feature_augment=spec), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return t1 - t0, time.perf_counter() - t1

    for number in range(warmup):  # worker start-up, first batches, allocator warm-up
        step(number, batches)
    own = cpu_seconds(resource.RUSAGE_SELF)
    with OtherLoad() as load:
        times = np.array([step(warmup + number, batches) for number in range(steps)])
    own = cpu_seconds(resource.RUSAGE_SELF) - own
    del batches, loader  # the workers end (they made exactly `total` clips) and their CPU time is counted
    gc.collect()
    workers_cpu = cpu_seconds(resource.RUSAGE_CHILDREN) - children
    waited, computed = times.sum(axis=0)
    seconds = waited + computed
    return {"steps_s": steps / seconds, "clips_s": steps * BATCH / seconds, "wait": waited / seconds,
            "other": load.cores, "cpu_main": 1000 * own / (steps * BATCH),
            "cpu_workers": 1000 * workers_cpu / total if workers else 0.0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 timed steps per row and fewer rows")
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--steps", type=int, default=None, help="timed steps per training row (default 4, quick 2)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads of the training process (default: torch's)")
    ap.add_argument("--configs", nargs="+", choices=list(CONFIGS), metavar="ROW", help="only these rows")
    args = ap.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    from spoofscan.augment import augment_config
    from spoofscan.frontend.config import FeatureConfig

    steps = args.steps or (2 if args.quick else 4)
    warmup = 2
    names = tuple(args.configs or (QUICK_CONFIGS if args.quick else CONFIGS))
    features = FeatureConfig.from_dict(load_recipe("quick")["features"])  # the quickstart's 2-s crops
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="spoofscan-bench-train-") as tmp:
        records = make_records(Path(tmp))
        loader_rows, train_rows = [], []
        for name in names:
            augment = augment_config(CONFIGS[name])
            loader_rows.append((name, *loader_row(records, features, augment)))
            print(f"loader {name}: {loader_rows[-1][2]:.1f} CPU ms/clip", file=sys.stderr)
        for name in names:
            augment = augment_config(CONFIGS[name])
            for workers in args.workers:
                r = train_row(records, features, augment, workers, warmup, steps)
                train_rows.append((name, workers, r))
                print(f"train {name}, {workers} workers: {r['clips_s']:.1f} clips/s", file=sys.stderr)

    print(f"CPU: {cpu_model()} ({os.cpu_count()} logical cores); torch {torch.__version__} "
          f"({torch.get_num_threads()} threads); numpy {np.__version__}; python {platform.python_version()}; "
          f"load average at start/end: {load_start:.2f}/{os.getloadavg()[0]:.2f}; 'other load' = cores other "
          "processes kept busy during the row (0 = the machine was ours)")
    print(f"{CLIPS} generated clips of {CLIP_SECONDS[0]:g}-{CLIP_SECONDS[1]:g} s; {load_recipe('quick')['features']['window_seconds']:g}-s crops; "
          f"ResNet-18, batch {BATCH}; {warmup} warm-up + {steps} timed steps per training row; "
          f"command: python {' '.join(sys.argv)}\n")
    print("| loader alone (one process) | wall ms per clip | CPU ms per clip | CPU x off | set-up (once per run) "
          "| other load |")
    print("|---|---|---|---|---|---|")
    base = loader_rows[0][2]
    for name, wall, cpu, prepare, other in loader_rows:
        print(f"| {name} | {wall:.1f} | {cpu:.1f} | {cpu / base:.1f} | {prepare:.1f} s | {other:.1f} |")
    print()
    print("| training | workers | steps/s | clips/s | x off (same workers) | waiting for data "
          "| CPU ms per clip: training process / workers | other load |")
    print("|---|---|---|---|---|---|---|---|")
    off = {w: r for name, w, r in train_rows if name == "off"}
    for name, workers, r in train_rows:
        print(f"| {name} | {workers} | {r['steps_s']:.3f} | {r['clips_s']:.1f} | "
              f"{r['clips_s'] / off[workers]['clips_s']:.2f} | {100 * r['wait']:.0f} % | "
              f"{r['cpu_main']:.0f} / {r['cpu_workers']:.0f} | {r['other']:.1f} |")


if __name__ == "__main__":
    main()
