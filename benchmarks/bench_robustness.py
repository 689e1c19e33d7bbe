"""What the robustness report costs: seconds per condition, and whether degrading in worker processes pays.

The real path (:func:`spoofscan.evaluation.robustness.robustness`): every clip decoded, degraded under
each of the 13 conditions and scored by a ResNet-18 with the quickstart's features (2-s
windows, 1-s hop), once with the audio degraded in the model's process (``--jobs 0``) and once
per number of worker processes asked for. Clips are generated speech-like audio of 1-3 s (the
offline corpus's eval split holds about 900 of those), or the labelled data of ``--data``.
Random weights unless ``--model``: timing does not depend on them.

Prints, for each run: seconds per condition (wall), seconds spent decoding and degrading
(summed over processes), and the cores other processes used meanwhile (the machine is shared).

    python benchmarks/bench_robustness.py                    # 900 clips, --jobs 0 and 1
    python benchmarks/bench_robustness.py --clips 120 --jobs 0,1,2
    python benchmarks/bench_robustness.py --data csv:corpus/manifest.csv:eval --model best.safetensors
"""

from __future__ import annotations

import argparse
import csv
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import RATE, OtherLoad, cpu_model, speech_like

GENERATORS = {"espeak/en": "espeak", "flite/kal": "flite", "world/dio": "world", "world/harvest": "world"}


def make_data(root: Path, clips: int, seconds: tuple, seed: int = 0) -> str:
    """``clips`` speech-like wav files (half bona fide) and a manifest with generator and family; returns the spec."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    rows = []
    generators = list(GENERATORS)
    for i in range(clips):
        label = "bonafide" if i % 2 == 0 else "spoof"
        name = f"c{i:05d}.wav"
        sf.write(root / name, speech_like(rng.uniform(*seconds), rng), RATE, subtype="PCM_16")
        generator = "-" if label == "bonafide" else generators[(i // 2) % len(generators)]
        rows.append({"path": name, "label": label, "generator": generator, "family": GENERATORS.get(generator, "-")})
    with open(root / "manifest.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return f"csv:{root / 'manifest.csv'}"


def random_checkpoint(path: Path) -> Path:
    """A ResNet-18 with random weights and the quickstart's features, saved as a checkpoint."""
    import torch

    from spoofscan.calibration import Calibration
    from spoofscan.checkpoint import make_card, save_checkpoint
    from spoofscan.frontend.config import FeatureConfig
    from spoofscan.models import create_model, model_preset
    from spoofscan.recipes import load_recipe

    torch.manual_seed(0)
    features = FeatureConfig.from_dict(load_recipe("quick")["features"])
    model = create_model(model_preset("resnet18"), features)
    card = make_card(features.to_dict(), model.cfg.to_dict(), Calibration().to_dict(), threshold=0.5,
                     train={"corpus": "none (random weights, for timing)"}, metrics={})
    save_checkpoint(path, model.state_dict(), card)
    return path


def count_windows(records, features, max_trials: int | None) -> int:
    """Windows the detector scores per condition: those of every readable clip the report keeps."""
    from spoofscan.audio import load_audio
    from spoofscan.errors import SpoofscanError
    from spoofscan.evaluation.robustness import DEFAULT_SEED, stratified_subset
    from spoofscan.frontend.windows import window_starts

    if max_trials is not None:
        records = stratified_subset(records, max_trials, DEFAULT_SEED)
    total = 0
    for r in records:
        try:
            total += len(window_starts(len(load_audio(r.path)), features.window_samples, features.hop_samples))
        except SpoofscanError:
            pass
    return total


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the pool's workers once joined)."""
    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                 resource.getrusage(resource.RUSAGE_CHILDREN)))


def reference_forward(detector, repeats: int = 3) -> tuple[float, float]:
    """Wall and CPU milliseconds per window of the detector's network on a batch of 32 windows
    (the median of ``repeats``): the yardstick that makes runs on a busy machine comparable with
    the idle figures of the core benchmark."""
    rng = np.random.default_rng(0)
    batch = (0.1 * rng.standard_normal((32, detector.features.window_samples))).astype(np.float32)
    detector.window_scores(batch)
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        detector.window_scores(batch)
        wall.append((time.perf_counter() - w0) / 32 * 1000)
        cpu.append((time.process_time() - c0) / 32 * 1000)
    return float(np.median(wall)), float(np.median(cpu))


def strip(report: dict) -> dict:
    return {k: v for k, v in report.items() if k != "timing"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=900, help="generated clips (without --data)")
    ap.add_argument("--seconds", type=float, nargs=2, default=(1.0, 3.0), help="generated clip length range")
    ap.add_argument("--data", help="a labelled data spec to use instead of generated clips")
    ap.add_argument("--model", help="a checkpoint to use instead of a random ResNet-18")
    ap.add_argument("--jobs", default="0,1", help="comma-separated --jobs values to compare")
    ap.add_argument("--threads", type=int, default=2, help="torch threads of the model")
    ap.add_argument("--conditions", help="comma-separated subset (default: all)")
    ap.add_argument("--max-trials", type=int)
    args = ap.parse_args()

    import torch

    import spoofscan
    from spoofscan.augment.reverb import ROOMS, rir_bank
    from spoofscan.datasets import load_records
    from spoofscan.evaluation.robustness import robustness

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        spec = args.data or make_data(tmp, args.clips, tuple(args.seconds))
        model = args.model or str(random_checkpoint(tmp / "resnet18.safetensors"))
        records = load_records(spec)
        detector = spoofscan.load_detector(model, device="cpu")
        windows = count_windows(records, detector.features, args.max_trials)
        rooms_start = time.perf_counter()
        rir_bank(ROOMS)  # simulated once per process: not charged to whichever run comes first
        rooms_seconds = time.perf_counter() - rooms_start
        runs = {}
        for jobs in [int(j) for j in args.jobs.split(",")]:
            before = reference_forward(detector)
            cpu0 = cpu_seconds()
            with OtherLoad() as load:
                t0 = time.perf_counter()
                report = robustness(detector, records, tmp / f"out-{jobs}", conditions=args.conditions,
                                    max_trials=args.max_trials, jobs=jobs, progress=False)
                wall = time.perf_counter() - t0
            cpu = cpu_seconds() - cpu0
            after = reference_forward(detector)
            runs[jobs] = {"report": report, "wall": wall, "cpu": cpu, "other": load.cores,
                          "reference": (before[0] + after[0]) / 2, "reference_cpu": (before[1] + after[1]) / 2}
            print(f"--jobs {jobs}: {wall:.0f} s, other processes used {load.cores:.1f} cores", file=sys.stderr)

    base_jobs = next(iter(runs))
    base = runs[base_jobs]["report"]
    t = base["timing"]
    n_conditions = len(base["condition_order"])
    print(f"# Robustness report cost: {base['counts']['readable']} clips, {t['audio_seconds']:.0f} s of audio, "
          f"{n_conditions} conditions")
    print(f"\n{cpu_model()}, torch {torch.__version__}, {args.threads} model thread(s), "
          f"Python {platform.python_version()}; model {'random ResNet-18' if not args.model else args.model}, "
          f"windows {detector.features.window_seconds:g} s every {detector.features.hop_seconds:g} s; "
          f"simulating the 32 room impulse responses once: {rooms_seconds:.1f} s\n")
    print(f"Per condition: CPU seconds decoding and degrading, CPU seconds of the model (its process's CPU time "
          f"less the degrading done there, --jobs {base_jobs}), and wall seconds for each --jobs value.\n")
    print("| condition | degrade CPU s | model CPU s |" + "".join(f" wall s, jobs {j} |" for j in runs))
    print("|---|---:|---:|" + "---:|" * len(runs))
    for name in base["condition_order"]:
        c = t["conditions"][name]
        model_cpu = c["cpu_seconds"] - (c["degrade_seconds"] if base_jobs == 0 else 0.0)
        print(f"| {name} | {c['degrade_seconds']:.1f} | {model_cpu:.1f} |"
              + "".join(f" {r['report']['timing']['conditions'][name]['seconds']:.1f} |" for r in runs.values()))
    print("| **total** | | |" + "".join(f" **{r['wall']:.0f}** |" for r in runs.values()))
    print("| CPU seconds, all processes | | |" + "".join(f" {r['cpu']:.0f} |" for r in runs.values()))
    print("| other processes' load (cores) | | |" + "".join(f" {r['other']:.1f} |" for r in runs.values()))
    print("| reference: network, ms per window (wall) | | |" + "".join(f" {r['reference']:.1f} |" for r in runs.values()))
    print("| reference: network, ms per window (CPU) | | |"
          + "".join(f" {r['reference_cpu']:.1f} |" for r in runs.values()))
    print(f"\nWindows scored per condition: {windows}. The reference rows time the network alone on a batch of "
          f"32 windows, before and after each run: divide a run's times by it to compare with another machine "
          f"or a quieter hour.")
    for jobs, r in list(runs.items())[1:]:
        print(f"\n--jobs {jobs} took {r['wall'] / runs[base_jobs]['wall']:.2f}x the wall time of --jobs {base_jobs}.")
    same = all(strip(r["report"]) == strip(base) for r in runs.values())
    print(f"Reports identical across --jobs values (timing aside): {same}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
