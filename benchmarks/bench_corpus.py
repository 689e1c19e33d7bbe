"""Corpus-build benchmark: what each engine costs per pair, what the vocoders cost per step, and what
a build of a size will take on a number of cores.

Plans the build of ``--size`` (the Debian packages are fetched into the cache as a build would),
then, one thread, on a seeded sample of ``--per-generator`` planned pairs of every generator:
CPU seconds of :func:`spoofscan.corpus.process.build_pair` (this process and the child processes
it waits for: the engines run in some), and seconds of audio made. The neural families the build
trains (``vocos``, ``hifigan``) are timed on ``--steps`` training steps of their recipe's
architecture and budget (crops per step), and their pairs are made with that briefly trained
vocoder (the cost of synthesis does not depend on how well it is trained).

The estimate assumes what the builder does (:mod:`spoofscan.corpus.workers`): each vocoder trains on
one core beside the pairs, so the build lasts about max(the longest training, all CPU seconds /
cores). Prints one Markdown table per part; nothing is written outside a temporary folder.

    python benchmarks/bench_corpus.py [--size full] [--per-generator 5] [--steps 3] [--cores 2]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import cpu_model, print_table  # noqa: E402

from spoofscan.corpus import CorpusConfig, plan_corpus  # noqa: E402
from spoofscan.corpus.process import build_pair  # noqa: E402
from spoofscan.corpus.sources import read_real  # noqa: E402


def cpu_seconds() -> float:
    """CPU seconds of this process and of the children it has waited for."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def time_vocoder(job, steps: int, folder: Path) -> tuple[float, Path]:
    """CPU seconds per training step of ``job``'s vocoder (its architecture, crops, one thread), and the
    briefly trained vocoder's weights."""
    from dataclasses import replace

    from spoofscan.audio import SAMPLE_RATE, resample
    from spoofscan.vocoder import train_vocoder

    waves = []
    for clip in job.clips[:64]:
        x, rate = read_real(clip)
        waves.append(resample(x, rate, SAMPLE_RATE))
    start = cpu_seconds()
    train_vocoder(waves, job.model, replace(job.train, steps=steps, save_every=10 ** 6, log_every=1), folder)
    return (cpu_seconds() - start) / steps, folder / "vocoder.safetensors"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="full", help="corpus size to plan (default full)")
    ap.add_argument("--per-generator", type=int, default=5, help="pairs timed per generator (default 5)")
    ap.add_argument("--steps", type=int, default=3, help="vocoder training steps timed per family (default 3)")
    ap.add_argument("--cores", type=int, default=2, help="cores of the build the estimate is for (default 2)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    cfg = CorpusConfig.from_dict({"out": "/nonexistent", "size": args.size, "progress": False})
    plan = plan_corpus(cfg, log=lambda msg: None)
    table = plan.generator_table()
    planned = defaultdict(list)
    for pair in plan.pairs:
        planned[pair.generator].append(pair)
    rng = np.random.default_rng(args.seed)
    print(f"{cpu_model()}; corpus {args.size}: {len(plan.pairs)} pairs planned; one thread\n")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        trainings = []
        for family, job in sorted(plan.vocoders.items()):
            per_step, weights = time_vocoder(job, args.steps, tmp / f"vocoder-{family}")
            trainings.append((family, job.train.steps, per_step))
            for name, generator in list(table.items()):
                if generator.trained_vocoder == family:
                    table[name] = generator.bound(weights, "benchmark")
        rows, cpu_total = [], 0.0
        for name, pairs in sorted(planned.items()):
            chosen = [pairs[i] for i in rng.permutation(len(pairs))[:args.per_generator]]
            spent, audio, made = 0.0, 0.0, 0
            for pair in chosen:
                start = cpu_seconds()
                try:
                    with threadpool_limits(1):
                        built = build_pair(pair, cfg, table[name], tmp / "pairs")
                except Exception:  # a clip the build would report as failed: not timed
                    continue
                spent += cpu_seconds() - start
                audio += sum(_duration(tmp / "pairs" / row["path"]) for row in built) / 2
                made += 1
            if not made:
                continue
            cpu_total += spent / made * len(pairs)
            rows.append((name, len(pairs), f"{spent / made:.2f}", f"{audio / made:.1f}",
                         f"{spent / made * len(pairs) / 60:.1f}"))
    rows.sort(key=lambda r: -float(r[4]))
    print_table(("generator", "pairs planned", "CPU s per pair", "s of audio per clip", "CPU min, all its pairs"), rows)
    print()
    print_table(("vocoder", "steps", "CPU s per step", "min on one core"),
                [(f, s, f"{t:.2f}", f"{s * t / 60:.0f}") for f, s, t in trainings])
    longest = max((s * t for _, s, t in trainings), default=0.0)
    training = sum(s * t for _, s, t in trainings)
    wall = max(longest, (cpu_total + training) / args.cores)
    print(f"\npairs {cpu_total / 3600:.2f} CPU h + vocoders {training / 3600:.2f} CPU h: about {wall / 3600:.1f} h "
          f"on {args.cores} cores (each vocoder on one core beside the pairs), splicing and manifests aside")


def _duration(path: Path) -> float:
    import soundfile as sf

    return sf.info(str(path)).duration


if __name__ == "__main__":
    main()
