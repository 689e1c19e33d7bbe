"""Deployment benchmark: PyTorch FP32 against ONNX Runtime FP32 and static INT8.

Prints one Markdown table, every row measured in this run on this machine, each row in a
fresh subprocess (so one backend's thread pool or allocator state cannot slow another):

- per clip (one window: 4 s with the default features) at batch 1: log-mel time, network
  time, and the whole waveform -> score path (median and p95); throughput at batch 32
  (clips/s, waveform -> score); threads 1 and 2;
- a one-hour 16 kHz file scored with the torch-free runtime (INT8 and FP32; all windows,
  batches of 32): wall time and peak RSS (VmHWM) of a fresh process that never imports torch;
- with ``--manifest SPEC``: the EER of each backend on that labelled data.

With ``--predict`` it measures the public path instead, ``Detector.predict()``, per model preset
(``--presets``, default ``resnet18-half,resnet18,resnet18-half-hybrid``, random weights, the
quick recipe's 2-s windows every second unless ``--window-seconds``/``--hop-seconds`` say
otherwise, and the quick recipe's input channels unless ``--channels`` names others, e.g.
``logmag`` for log-mel alone): for PyTorch FP32, ONNX Runtime FP32 and INT8 (and INT8 with the features computed
per window, the plain ``window_scores`` seam, to show what computing shared frames once
gains), at 1 and 2 threads, each in a fresh subprocess: a 4-s clip as an array and as a file
and a one-minute file (median and p95), the 4-s clip's parts (front end, network, speech gate),
a one-hour file (and one a sixth as long) with INT8 at 2 threads (wall time, peak RSS), and
each graph kind's time per window at batch 1 and 32 as ``spoofscan export --graph auto``
measures it (:mod:`spoofscan.graphs`), with the kind it chooses.

Without ``--checkpoint`` the model is the full ResNet-18 preset with random (seeded) weights:
timing does not depend on the weights, but EER then means nothing. INT8 is calibrated on
``--calibration SPEC`` if given, else on generated speech-like audio (harmonic voice with a
moving pitch, syllable envelope, formant-like bands, pauses and noise).

    python benchmarks/bench_deploy.py                         # full run, ~4 minutes on 2 cores
    python benchmarks/bench_deploy.py --quick                 # fewer repeats, 6-minute file
    python benchmarks/bench_deploy.py --checkpoint runs/quickstart/best.safetensors \\
        --calibration csv:data/quickstart/manifest.csv:dev --manifest csv:data/quickstart/manifest.csv:eval
    python benchmarks/bench_deploy.py --predict               # predict() per preset, ~30 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import OtherLoad, cpu_model, peak_rss_mib, print_table, speech_like, write_long_file

THROUGHPUT_BATCH = 32
THREADS = (1, 2)
BACKENDS = ("pytorch-fp32", "onnx-fp32", "onnx-int8")
LABELS = {"pytorch-fp32": "PyTorch FP32", "onnx-fp32": "ONNX Runtime FP32", "onnx-int8": "ONNX Runtime INT8"}
CALIBRATION_CLIPS = 64  # generated clips of 4-8 s when no --calibration is given
SEED = 0
PREDICT_PRESETS = ("resnet18-half", "resnet18", "resnet18-half-hybrid")
PREDICT_BACKENDS = ("pytorch-fp32", "onnx-fp32", "onnx-int8", "onnx-int8-per-window")
LABELS["onnx-int8-per-window"] = "ONNX Runtime INT8, features per window"
CLIP_SECONDS = 4.0  # the clip predict() is timed on
MINUTE_SECONDS = 60


# ---------------------------------------------------------------------------- measurements

def timed(fn, repeats: int, warmup: int = 3, cpu: list | None = None) -> np.ndarray:
    """Seconds per call of ``fn()`` over ``repeats`` calls, after ``warmup`` calls; with a
    list ``cpu``, each call's CPU time of this process (all its threads) is appended to it."""
    for _ in range(warmup):
        fn()
    out = np.empty(repeats)
    for i in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        out[i] = time.perf_counter() - t
        if cpu is not None:
            cpu.append(time.process_time() - c)
    return out


def child_row(backend: str, threads: int, model: str, waves: str, repeats: int, batch_repeats: int) -> dict:
    """Time one backend at one thread count (runs in its own process)."""
    import contextlib

    w = np.load(waves)
    one, batch = w[:1], w[:THROUGHPUT_BATCH]
    if backend == "pytorch-fp32":
        import torch

        from spoofscan.backends.torch import TorchDetector

        torch.set_num_threads(threads)
        det = TorchDetector.from_checkpoint(model, device="cpu", batch_size=THROUGHPUT_BATCH)
        x = torch.from_numpy(one)
        mode = torch.inference_mode()
        features = lambda: det.model.frontend(x)  # noqa: E731
    else:
        from spoofscan.backends.onnx import OnnxDetector

        det = OnnxDetector.from_file(model, threads=threads, batch_size=THROUGHPUT_BATCH)
        mode = contextlib.nullcontext()
        features = lambda: det.front_end(one)  # noqa: E731
    det.window_scores(batch)  # the same warm-up for every backend (the ONNX one also warms up at load)
    loads = []

    def measured(fn, n, warmup=3):
        with OtherLoad() as load:  # per part: a short burst elsewhere shows, not averaged away
            t = timed(fn, n, warmup)
        loads.append(load.cores)
        return t

    with mode:
        feats = features()
        if backend == "pytorch-fp32":
            inputs = [feats if name == "features" else x for name in det.model.inputs]
            network = lambda: det.model.forward_inputs(*inputs)  # noqa: E731
        else:
            feeds = {name: feats if name != "wave" else one for name in det.input_names}
            network = lambda: det.logits(feeds)  # noqa: E731
        t_feat = measured(features, repeats)
        t_net = measured(network, repeats)
        t_one = measured(lambda: det.window_scores(one), repeats)
        t_batch = measured(lambda: det.window_scores(batch), batch_repeats, warmup=1)
    ms = lambda a, q=50: float(np.percentile(a, q) * 1000)  # noqa: E731
    return {"backend": backend, "threads": threads, "features_ms": ms(t_feat), "network_ms": ms(t_net),
            "network_p95_ms": ms(t_net, 95), "clip_ms": ms(t_one), "clip_p95_ms": ms(t_one, 95),
            "batch32_clips_per_s": THROUGHPUT_BATCH / float(np.median(t_batch)), "other_load_cores": max(loads)}


def child_long(model: str, path: str, threads: int) -> dict:
    """Score one long file with the torch-free runtime (runs in its own process)."""
    t0 = time.perf_counter()
    import spoofscan

    det = spoofscan.load_detector(model, threads=threads, batch_size=THROUGHPUT_BATCH)
    t1 = time.perf_counter()
    with OtherLoad() as load:
        r = det.predict(path)
    t2 = time.perf_counter()
    return {"load_s": t1 - t0, "predict_s": t2 - t1, "windows": len(r.timeline), "duration_s": r.duration,
            "peak_rss_mib": peak_rss_mib(), "torch_imported": "torch" in sys.modules, "other_load_cores": load.cores}


# ---------------------------------------------------------------------------- predict()

def load_backend(backend: str, model: str, threads: int):
    """A detector of ``backend`` at ``threads`` threads (batches of 32); ``onnx-int8-per-window``
    scores through the plain seam: the features of every window computed on their own."""
    if backend == "pytorch-fp32":
        from spoofscan.backends.torch import TorchDetector

        return TorchDetector.from_checkpoint(model, device="cpu", threads=threads, batch_size=THROUGHPUT_BATCH)
    from spoofscan.backends.onnx import OnnxDetector
    from spoofscan.detector import Detector

    det = OnnxDetector.from_file(model, threads=threads, batch_size=THROUGHPUT_BATCH)
    if backend.endswith("per-window"):
        det.span_scores = Detector.span_scores.__get__(det)  # the default: cut the windows, window_scores
    return det


def clip_parts(det, clip: np.ndarray, per_window: bool) -> dict:
    """Callables timing the parts of ``det.predict(clip)``: front end and network on the clip's
    windows (as predict() computes them: ``per_window``, or shared frames once), and the speech gate."""
    from spoofscan.frontend.spans import iter_spans
    from spoofscan.vad import SpeechActivity

    spans = list(iter_spans([clip], det.features.window_samples, det.features.hop_samples))

    def gate():
        activity = SpeechActivity()
        activity.feed(clip)
        activity.finish()
        return activity.fraction(0, len(clip))

    if hasattr(det, "model"):  # PyTorch
        import torch

        def features():
            with torch.inference_mode():
                return torch.cat([det.model.frontend.span_features(span) for span in spans])

        feats = features()
        waves = torch.from_numpy(np.concatenate([span.windows() for span in spans]))
        inputs = [feats if name == "features" else waves for name in det.model.inputs]

        def network():
            with torch.inference_mode():
                return det.model.forward_inputs(*inputs)
    else:
        windows = np.concatenate([span.windows() for span in spans])
        features = (lambda: det.front_end(windows)) if per_window else (lambda: det.span_front_end(spans))
        feats = features()
        feeds = {name: windows if name == "wave" else feats for name in det.input_names}
        network = lambda: det.logits(feeds)  # noqa: E731
    return {"features": features, "network": network, "gate": gate}


def child_predict(backend: str, threads: int, model: str, clip_path: str, minute_path: str, repeats: int,
                  minute_repeats: int) -> dict:
    """Time ``predict()`` of one backend at one thread count (runs in its own process)."""
    from spoofscan.audio import load_audio

    if backend == "pytorch-fp32":
        import torch

        torch.set_num_threads(threads)
    det = load_backend(backend, model, threads)
    clip = load_audio(clip_path)
    loads = []

    def measured(fn, n, warmup=3, cpu=None):
        with OtherLoad() as load:
            t = timed(fn, n, warmup, cpu)
        loads.append(load.cores)
        return t

    ms = lambda a, q=50: float(np.percentile(a, q) * 1000)  # noqa: E731
    row = {"backend": backend, "threads": threads}
    for name, fn, n, warmup in (("array", lambda: det.predict(clip, 16_000), repeats, 3),
                                ("file", lambda: det.predict(clip_path), repeats, 3),
                                ("minute", lambda: det.predict(minute_path), minute_repeats, 1)):
        cpu: list = []
        t = measured(fn, n, warmup, cpu)
        row[f"{name}_ms"], row[f"{name}_p95_ms"], row[f"{name}_cpu_ms"] = ms(t), ms(t, 95), ms(cpu)
    for name, fn in clip_parts(det, clip, backend.endswith("per-window")).items():
        cpu = []
        row[f"{name}_ms"] = ms(measured(fn, repeats, cpu=cpu))
        row[f"{name}_cpu_ms"] = ms(cpu)
    row["windows"] = len(det.predict(clip, 16_000).timeline)
    row["other_load_cores"] = max(loads)
    return row


def run_quiet(args, max_other_load: float, tries: int, wait_s: float = 20.0) -> dict:
    """Run a timing child until other processes kept fewer than ``max_other_load`` cores busy
    during it, at most ``tries`` times; return the attempt with the least other load."""
    best = None
    for attempt in range(tries):
        result = run_child(*args)
        result["attempts"] = attempt + 1
        if best is None or result["other_load_cores"] < best["other_load_cores"]:
            best = result
        if result["other_load_cores"] <= max_other_load or attempt == tries - 1:
            break
        print(f"  other processes used {result['other_load_cores']:.2f} cores; again in {wait_s:g} s", file=sys.stderr)
        time.sleep(wait_s)
    return best


def run_child(*args) -> dict:
    out = subprocess.run([sys.executable, __file__, *map(str, args)], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"benchmark subprocess {args[:2]} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def eer_of(model: str, records: list, threads: int) -> tuple[float, int, np.ndarray]:
    """EER (percent) of a model on labelled records, how many files failed, and the clip scores
    (NaN where a file failed)."""
    import spoofscan
    from spoofscan.evaluation.metrics import compute_eer

    extra = {"threads": threads} if model.endswith(".onnx") else {"device": "cpu"}
    if not model.endswith(".onnx"):
        import torch

        torch.set_num_threads(threads)
    det = spoofscan.load_detector(model, batch_size=THROUGHPUT_BATCH, **extra)
    scores = np.array([r.score if r.ok else np.nan for r in det.predict_many([r.path for r in records])])
    labels = np.array([r.label for r in records])
    ok = ~np.isnan(scores)
    eer = compute_eer(scores[ok & (labels == "bonafide")], scores[ok & (labels == "spoof")])[0]
    return 100 * eer, int((~ok).sum()), scores


# ---------------------------------------------------------------------------- main

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", help="a trained checkpoint (default: --preset with random weights)")
    ap.add_argument("--preset", default="resnet18", help="model preset timed when no --checkpoint is given "
                                                         "(resnet18, resnet18-hybrid...)")
    ap.add_argument("--calibration", help="data spec of INT8 calibration audio (default: generated speech-like audio)")
    ap.add_argument("--manifest", help="labelled data spec for the EER column, e.g. csv:manifest.csv:eval")
    ap.add_argument("--quick", action="store_true", help="fewer repeats and a 6-minute long file")
    ap.add_argument("--long-seconds", type=int, default=None, help="length of the long file (default 3600, quick 360)")
    ap.add_argument("--json", help="also write all numbers to this JSON file")
    ap.add_argument("--max-other-load", type=float, default=0.2,
                    help="rerun a timing row when other processes kept more cores than this busy during it")
    ap.add_argument("--tries", type=int, default=4, help="attempts per timing row (the least disturbed one is kept)")
    ap.add_argument("--predict", action="store_true", help="time predict() per preset instead (see the docstring)")
    ap.add_argument("--presets", default=",".join(PREDICT_PRESETS), help="model presets --predict times, comma-separated")
    ap.add_argument("--window-seconds", type=float, default=2.0, help="--predict: analysis windows (the quick recipe's)")
    ap.add_argument("--hop-seconds", type=float, default=1.0, help="--predict: step between windows")
    ap.add_argument("--channels", help="--predict: input channels, comma-separated (default: the quick recipe's, "
                    "logmag,mgd,ifd; logmag for log-mel alone)")
    args = ap.parse_args()
    if args.predict:
        main_predict(args)
        return

    from spoofscan.checkpoint import read_card
    from spoofscan.export import export_onnx
    from spoofscan.frontend.config import FeatureConfig

    repeats, batch_repeats = (15, 2) if args.quick else (60, 6)
    long_seconds = args.long_seconds or (360 if args.quick else 3600)
    rng = np.random.default_rng(SEED)
    report: dict = {"cpu": cpu_model(), "cores": os.cpu_count(), "load_before": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="bench-deploy-") as tmp:
        tmp = Path(tmp)
        ckpt = args.checkpoint or random_checkpoint(tmp / f"{args.preset}-random.safetensors", args.preset,
                                                    FeatureConfig())
        calibration = args.calibration or [speech_like(rng.uniform(4, 8), rng) for _ in range(CALIBRATION_CLIPS)]
        features = FeatureConfig.from_dict(read_card(ckpt)["features"])
        report["window"] = {"seconds": features.window_seconds, "hop_seconds": features.hop_seconds,
                            "frames": features.num_frames(features.window_samples), "n_mels": features.n_mels}
        models = {"pytorch-fp32": ckpt, "onnx-fp32": str(tmp / "model.onnx"), "onnx-int8": str(tmp / "model-int8.onnx")}
        exports = {"fp32": export_onnx(ckpt, models["onnx-fp32"]),
                   "int8": export_onnx(ckpt, models["onnx-int8"], int8=True, calibration=calibration)}
        for r in exports.values():
            print(r.summary(), file=sys.stderr)
        report["export"] = {k: {"max_abs_diff_vs_torch": r.max_abs_diff, "seconds": r.seconds, "size_mb": r.size_bytes / 1e6,
                                "int8_correlation": r.int8_correlation, "calibration_windows": r.calibration_windows}
                            for k, r in exports.items()}
        waves = tmp / "waves.npy"
        np.save(waves, np.stack([speech_like(features.window_seconds, rng) for _ in range(THROUGHPUT_BATCH)]))

        rows = []
        for threads in THREADS:
            for backend in BACKENDS:
                print(f"timing {backend} at {threads} thread(s)...", file=sys.stderr)
                rows.append(run_quiet(("--child-row", backend, threads, models[backend], waves, repeats, batch_repeats),
                                      args.max_other_load, args.tries))
        report["rows"] = rows

        # INT8 on a file a sixth as long too: equal peak RSS shows memory does not grow with length
        report["long"] = []
        for seconds, backend in ((long_seconds // 6, "onnx-int8"), (long_seconds, "onnx-int8"), (long_seconds, "onnx-fp32")):
            path = tmp / f"long-{seconds}.wav"
            if not path.exists():
                write_long_file(path, seconds, rng)
            print(f"scoring a {seconds}-s file with {backend}...", file=sys.stderr)
            row = run_quiet(("--child-long", models[backend], path, 2), args.max_other_load, args.tries)
            report["long"].append(dict(row, backend=backend, seconds=seconds))

        if args.manifest:
            from spoofscan.datasets import load_records

            records = load_records(args.manifest)
            report["eer"], scores = {}, {}
            for backend in BACKENDS:
                print(f"EER of {backend} on {args.manifest}...", file=sys.stderr)
                eer, failed, scores[backend] = eer_of(models[backend], records, threads=2)
                report["eer"][backend] = {"eer_percent": eer, "failed": failed, "trials": len(records)}
            ok = ~np.isnan(scores["onnx-fp32"]) & ~np.isnan(scores["onnx-int8"])
            diff = np.abs(scores["onnx-int8"][ok] - scores["onnx-fp32"][ok])
            report["int8_vs_fp32_scores"] = {
                "mean_abs_diff": float(diff.mean()), "max_abs_diff": float(diff.max()),
                "fp32_score_std": float(np.std(scores["onnx-fp32"][ok])),
                "correlation": float(np.corrcoef(scores["onnx-fp32"][ok], scores["onnx-int8"][ok])[0, 1])}
    report["load_after"] = os.getloadavg()
    print_report(report, args, long_seconds)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


def random_checkpoint(path: Path, preset: str, features) -> str:
    """Save a checkpoint of ``preset`` with seeded random weights (timing does not depend on them)."""
    import torch

    from spoofscan.calibration import Calibration
    from spoofscan.checkpoint import make_card, save_checkpoint
    from spoofscan.models import create_model, match_in_chans, model_preset

    torch.manual_seed(SEED)
    net = create_model(match_in_chans(model_preset(preset), features), features)
    card = make_card(features.to_dict(), net.cfg.to_dict(), Calibration().to_dict(),
                     train={"note": "random weights, for timing only"})
    save_checkpoint(path, net.state_dict(), card)
    return str(path)


def main_predict(args) -> None:
    """``--predict``: predict() per preset, backend and thread count, long files, graph kinds."""
    from spoofscan.export import export_onnx
    from spoofscan.frontend.config import FeatureConfig

    repeats, minute_repeats = (15, 2) if args.quick else (60, 5)
    long_seconds = args.long_seconds or (360 if args.quick else 3600)
    rng = np.random.default_rng(SEED)
    report: dict = {"cpu": cpu_model(), "cores": os.cpu_count(), "load_before": os.getloadavg(), "presets": {}}
    from spoofscan.recipes import load_recipe

    channels = args.channels.split(",") if args.channels else load_recipe("quick")["features"]["channels"]
    features = FeatureConfig(window_seconds=args.window_seconds, hop_seconds=args.hop_seconds,
                             channels=tuple(channels))
    report["window"] = {"seconds": features.window_seconds, "hop_seconds": features.hop_seconds,
                        "channels": list(features.channels)}
    with tempfile.TemporaryDirectory(prefix="bench-predict-") as tmp:
        tmp = Path(tmp)
        import soundfile as sf

        clip_path, minute_path = tmp / "clip.wav", tmp / "minute.wav"
        sf.write(clip_path, speech_like(CLIP_SECONDS, rng), 16_000, subtype="PCM_16")
        write_long_file(minute_path, MINUTE_SECONDS, rng)
        calibration = args.calibration or [speech_like(rng.uniform(4, 8), rng) for _ in range(CALIBRATION_CLIPS)]
        for preset in args.presets.split(","):
            print(f"{preset}: exporting (fp32, int8, auto)...", file=sys.stderr)
            ckpt = random_checkpoint(tmp / f"{preset}.safetensors", preset, features)
            models = {"pytorch-fp32": ckpt, "onnx-fp32": str(tmp / f"{preset}.onnx"),
                      "onnx-int8": str(tmp / f"{preset}-int8.onnx")}
            models["onnx-int8-per-window"] = models["onnx-int8"]
            export_onnx(ckpt, models["onnx-fp32"])
            export_onnx(ckpt, models["onnx-int8"], int8=True, calibration=calibration)
            auto = export_onnx(ckpt, tmp / f"{preset}-auto.onnx", graph="auto", calibration=calibration)
            entry = {"graph_kinds": list(auto.candidates), "auto_choice": auto.graph, "rows": [], "long": []}
            for threads in THREADS:
                for backend in PREDICT_BACKENDS:
                    print(f"  predict() with {backend} at {threads} thread(s)...", file=sys.stderr)
                    entry["rows"].append(run_quiet(("--child-predict", backend, threads, models[backend], clip_path,
                                                    minute_path, repeats, minute_repeats),
                                                   args.max_other_load, args.tries))
            for seconds in (long_seconds // 6, long_seconds):
                path = tmp / f"long-{seconds}.wav"
                if not path.exists():
                    write_long_file(path, seconds, rng)
                print(f"  scoring a {seconds}-s file with INT8...", file=sys.stderr)
                row = run_quiet(("--child-long", models["onnx-int8"], path, 2), args.max_other_load, args.tries)
                entry["long"].append(dict(row, seconds=seconds))
            report["presets"][preset] = entry
    report["load_after"] = os.getloadavg()
    print_predict_report(report)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


def print_predict_report(report: dict) -> None:
    import onnxruntime
    import torch

    w = report["window"]
    print(f"CPU: {report['cpu']}, {report['cores']} cores; torch {torch.__version__}, onnxruntime "
          f"{onnxruntime.__version__}; load average before/after {report['load_before'][0]:.2f}/"
          f"{report['load_after'][0]:.2f}")
    print(f"random weights (timing only); {w['seconds']:g}-s windows every {w['hop_seconds']:g} s; input channels "
          f"{'+'.join(w.get('channels', ['logmag']))}; generated "
          f"speech-like audio; predict() of a {CLIP_SECONDS:g}-s clip as an array and as a 16 kHz wav, and of a "
          f"{MINUTE_SECONDS}-s wav; medians (p95)\n")
    head = ("preset", "backend", "threads", "4-s array ms", "CPU ms", "4-s file ms", "1-min file ms",
            "parts CPU ms: features / network / gate", "vs PyTorch, 4-s array: wall / CPU", "other load")
    rows = []
    for preset, entry in report["presets"].items():
        base = {r["threads"]: r for r in entry["rows"] if r["backend"] == "pytorch-fp32"}
        for r in entry["rows"]:
            b = base[r["threads"]]
            rows.append((preset, LABELS[r["backend"]], r["threads"], f"{r['array_ms']:.2f} ({r['array_p95_ms']:.2f})",
                         f"{r['array_cpu_ms']:.2f}", f"{r['file_ms']:.2f} ({r['file_p95_ms']:.2f})",
                         f"{r['minute_ms']:.0f} ({r['minute_p95_ms']:.0f})",
                         f"{r['features_cpu_ms']:.2f} / {r['network_cpu_ms']:.2f} / {r['gate_cpu_ms']:.2f}",
                         f"{b['array_ms'] / r['array_ms']:.1f}x / {b['array_cpu_ms'] / r['array_cpu_ms']:.1f}x",
                         f"{r['other_load_cores']:.2f}"))
    print_table(head, rows)
    print("\nwall: medians (p95) of wall time; CPU: median CPU time of the process per call (all its threads), "
          "which waiting for other processes does not inflate; other load: the most cores other processes kept "
          "busy during any part of the row")
    print("\nlong files, INT8, 2 threads, fresh process (torch never imported):")
    for preset, entry in report["presets"].items():
        for r in entry["long"]:
            print(f"- {preset}, {r['seconds'] / 60:.3g} min: {r['windows']} windows in {r['predict_s']:.1f} s "
                  f"(+{r['load_s']:.1f} s import and load), peak RSS {r['peak_rss_mib']:.0f} MiB, "
                  f"other load {r['other_load_cores']:.2f}" + (" (torch was imported!)" if r["torch_imported"] else ""))
    print("\ngraph kinds per window, 1 thread, CPU time (spoofscan export --graph auto):")
    rows = []
    for preset, entry in report["presets"].items():
        for c in entry["graph_kinds"]:
            rows.append((preset, c["kind"], f"{c['batch1_ms']:.2f}", f"{c['batch32_ms_per_window']:.2f}",
                         f"{c['correlation']:.4f}", "chosen" if c["kind"] == entry["auto_choice"] else ""))
    print_table(("preset", "graph", "batch 1 ms", "batch 32 ms per window", "correlation with fp32", "auto"), rows)


def print_report(report: dict, args, long_seconds: int) -> None:
    import onnxruntime
    import torch

    eer, w = report.get("eer", {}), report["window"]
    print(f"CPU: {report['cpu']}, {report['cores']} cores; torch {torch.__version__}, onnxruntime "
          f"{onnxruntime.__version__}; load average before/after {report['load_before'][0]:.2f}/{report['load_after'][0]:.2f}")
    print(f"model: {'checkpoint ' + args.checkpoint if args.checkpoint else args.preset + ' preset, random weights (timing only)'}; "
          f"input: {w['seconds']:g}-s clips of generated speech-like audio, log-mel {w['n_mels']} x {w['frames']}\n")
    base = {r["threads"]: r for r in report["rows"] if r["backend"] == "pytorch-fp32"}
    head = ("| backend | threads | log-mel ms | network ms (p95) | clip ms, batch 1 (p95) | clips/s, batch 32 "
            "| speed-up vs PyTorch, network / clip | other load |" + (" EER % |" if eer else ""))
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in report["rows"]:
        b = base[r["threads"]]
        cells = [LABELS[r["backend"]], str(r["threads"]), f"{r['features_ms']:.2f}",
                 f"{r['network_ms']:.2f} ({r['network_p95_ms']:.2f})", f"{r['clip_ms']:.2f} ({r['clip_p95_ms']:.2f})",
                 f"{r['batch32_clips_per_s']:.0f}",
                 f"{b['network_ms'] / r['network_ms']:.1f}x / {b['clip_ms'] / r['clip_ms']:.1f}x",
                 f"{r['other_load_cores']:.2f}"]
        if eer:
            e = eer[r["backend"]]
            cells.append(f"{e['eer_percent']:.2f}" + (f" ({e['failed']} failed)" if e["failed"] else ""))
        print("| " + " | ".join(cells) + " |")
    print("\nlog-mel: torch Frontend for PyTorch, numpy dsp.frontend for ONNX Runtime; clip = waveform -> score; "
          "other load = most cores that other processes kept busy during any part of the row (0 = the machine was ours)")
    print(f"\nlong 16 kHz wav files of generated speech-like audio ({w['seconds']:g}-s windows every {w['hop_seconds']:g} s, "
          f"batches of 32, 2 threads, fresh process, torch never imported):")
    for r in report["long"]:
        print(f"- {LABELS[r['backend']]}, {r['seconds'] / 60:.3g} min: {r['windows']} windows scored in {r['predict_s']:.1f} s "
              f"(+{r['load_s']:.1f} s import and load), peak RSS {r['peak_rss_mib']:.0f} MiB, other load {r['other_load_cores']:.2f}"
              + (" (torch was imported!)" if r["torch_imported"] else ""))
    if "int8_vs_fp32_scores" in report:
        d = report["int8_vs_fp32_scores"]
        print(f"- INT8 vs FP32 clip scores on {args.manifest}: mean |diff| {d['mean_abs_diff']:.3g}, max {d['max_abs_diff']:.3g} "
              f"(FP32 score std {d['fp32_score_std']:.3g}), correlation {d['correlation']:.5f}")
    for k, r in report["export"].items():
        extra = (f", INT8/FP32 logit correlation {r['int8_correlation']:.4f} on {r['calibration_windows']} calibration windows"
                 if k == "int8" else "")
        print(f"- export {k}: {r['size_mb']:.1f} MB in {r['seconds']:.1f} s, max |logit diff| vs PyTorch "
              f"{r['max_abs_diff_vs_torch']:.2g}{extra}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child-row":
        b, th, m, w, rep, brep = sys.argv[2:8]
        print(json.dumps(child_row(b, int(th), m, w, int(rep), int(brep))))
    elif len(sys.argv) > 1 and sys.argv[1] == "--child-predict":
        b, th, m, c, mi, rep, mrep = sys.argv[2:9]
        print(json.dumps(child_predict(b, int(th), m, c, mi, int(rep), int(mrep))))
    elif len(sys.argv) > 1 and sys.argv[1] == "--child-long":
        m, p, th = sys.argv[2:5]
        print(json.dumps(child_long(m, p, int(th))))
    else:
        main()
