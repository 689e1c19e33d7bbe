"""Front-end cost: each front end and channel stack against the default log-mel, per 4-s window.

Prints one Markdown table measured in this run: milliseconds per 4-s window of the numpy front
end (``spoofscan.frontend.numpy.frontend``, the torch-free runtime's) and of the torch module
(``spoofscan.frontend.torch.Frontend``, training and the PyTorch backend), at batch 1 and
batch 32, and each relative to ``logmel``. Every front end is timed once per round, the rounds
interleaved, and the table keeps each one's fastest call: on a shared machine the other
processes slow some calls down, never speed one up, so the fastest is the closest to the cost
itself, and a slow spell hits every front end alike. With one thread on the CPU the clock is
this process's CPU time (``time.process_time``), which other processes hardly disturb (they
still share the caches); otherwise it is the wall clock. The phase channels (``mgd``, ``ifd``) each
take one more STFT of the frames; ``mgd`` also a cepstral smoothing and a power per bin.

    python benchmarks/bench_frontends.py                 # CPU, 1 thread
    python benchmarks/bench_frontends.py --threads 2 --quick
    python benchmarks/bench_frontends.py --device cuda   # the torch module on a GPU too
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import time

import numpy as np
from bench_core import CLIP_SECONDS
from common import OtherLoad, cpu_model

# (name, FeatureConfig fields): the default first, as every row's reference
STACKS = [
    ("logmel", {}),
    ("linear", {"frontend": "linear"}),
    ("lfcc", {"frontend": "lfcc"}),
    ("logmel + mgd", {"channels": ("logmag", "mgd")}),
    ("logmel + ifd", {"channels": ("logmag", "ifd")}),
    ("logmel + mgd + ifd", {"channels": ("logmag", "mgd", "ifd")}),
    ("linear + mgd + ifd", {"frontend": "linear", "channels": ("logmag", "mgd", "ifd")}),
]
BIG_BATCH = 32


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="5 rounds instead of 20")
    ap.add_argument("--threads", type=int, default=1, help="torch and BLAS threads (default 1)")
    ap.add_argument("--device", default="cpu", help="device of the torch module: cpu (default) or cuda")
    args = ap.parse_args()

    import torch
    from threadpoolctl import threadpool_limits

    from spoofscan.frontend.config import FeatureConfig
    from spoofscan.frontend.numpy import frontend
    from spoofscan.frontend.torch import Frontend
    from spoofscan.models import create_model, match_in_chans, model_preset

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rounds = 5 if args.quick else 20
    samples = int(CLIP_SECONDS * FeatureConfig().sample_rate)
    rng = np.random.default_rng(0)
    waves = {batch: (0.1 * rng.standard_normal((batch, samples))).astype(np.float32) for batch in (1, BIG_BATCH)}
    on_device = {batch: torch.from_numpy(w).to(device) for batch, w in waves.items()}

    def torch_call(module, x):
        def call():
            module(x)
            if device.type == "cuda":
                torch.cuda.synchronize()
        return call

    calls = {}  # (name, implementation, batch) -> a call that computes the features once
    for name, fields in STACKS:
        cfg = FeatureConfig(**fields)
        module = Frontend(cfg).to(device)
        for batch in (1, BIG_BATCH):
            calls[name, "numpy", batch] = functools.partial(frontend, waves[batch], cfg)
            calls[name, "torch", batch] = torch_call(module, on_device[batch])
    for chans, fields in ((1, {}), (3, STACKS[-2][1])):  # for scale: the network the features feed
        cfg = FeatureConfig(**fields)
        net = create_model(match_in_chans(model_preset("resnet18"), cfg), cfg).eval().to(device)
        feats = torch.zeros(1, chans, cfg.rows, cfg.num_frames(samples), device=device)
        calls[f"ResNet-18 forward, {chans} channel(s)", "torch", 1] = torch_call(net.forward_inputs, feats)
    clock = time.process_time if args.threads == 1 and device.type == "cpu" else time.perf_counter
    times = {key: [] for key in calls}
    with threadpool_limits(limits=args.threads), torch.inference_mode(), OtherLoad() as load:
        for key, call in calls.items():  # warm-up: caches, allocator, FFT plans
            call()
        for _ in range(rounds):
            for key, call in calls.items():
                t0 = clock()
                call()
                times[key].append(clock() - t0)
    fastest = {key: min(t) / key[2] for key, t in times.items()}  # seconds per window

    print(f"CPU: {cpu_model()} ({os.cpu_count()} logical cores); torch {torch.__version__} on {device}"
          f"{' (' + torch.cuda.get_device_name(device) + ')' if device.type == 'cuda' else ''}; numpy {np.__version__}; "
          f"python {platform.python_version()}; {args.threads} thread(s); cores other processes kept busy meanwhile: "
          f"{load.cores:.1f}")
    print(f"4-s window = {samples} samples; fastest of {rounds} interleaved calls, per window, by the "
          f"{'CPU time of this process' if clock is time.process_time else 'wall clock'}; "
          f"command: python benchmarks/bench_frontends.py"
          f"{' --quick' if args.quick else ''}{f' --threads {args.threads}' if args.threads != 1 else ''}"
          f"{f' --device {args.device}' if args.device != 'cpu' else ''}\n")
    head = ["front end", "channels"]
    for impl in ("numpy", f"torch ({device.type})"):
        head += [f"{impl}, batch 1", f"{impl}, batch {BIG_BATCH}"]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join(["---"] * len(head)) + "|")
    for name, fields in STACKS:
        cells = [name, str(FeatureConfig(**fields).num_channels)]
        for impl in ("numpy", "torch"):
            for batch in (1, BIG_BATCH):
                ms, ref = 1000 * fastest[name, impl, batch], 1000 * fastest[STACKS[0][0], impl, batch]
                cells.append(f"{ms:.2f} ms ({ms / ref:.1f}x)")
        print("| " + " | ".join(cells) + " |")
    print("\nFor scale, the network these features feed, per window at batch 1 on the same clock: "
          + "; ".join(f"{key[0]}: {1000 * t:.1f} ms" for key, t in fastest.items() if key[0].startswith("ResNet")))


if __name__ == "__main__":
    main()
