"""Voice-activity benchmark: what the speech gate calls speech, and what it costs.

Prints two Markdown tables measured in this run:

- the speech fraction :class:`spoofscan.vad.SpeechActivity` finds in signals that are not
  speech (silence, DC, a click, tones, noise) and in speech (generated test speech, espeak-ng
  in four languages, quiet, in noise, with a DC offset; real telephone prompts from the Debian
  package asterisk-core-sounds-en-g722 when the corpus cache holds it);
- its time on one hour of 16 kHz audio against the numpy log-mel of the same hour (4-s
  windows every 2 s, one thread, BLAS limited to one thread as in the runtime), as a ratio
  measured in the same run;
- with ``--model`` (an exported ``.onnx``; ``--export`` makes a random-weight ResNet-18 one),
  ``predict`` on a 10-minute file at 2 threads with the speech gate and with it replaced by
  a no-op, alternately, best of three each: what the gate adds end to end.

    python benchmarks/bench_vad.py [--model model-int8.onnx | --export]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from synth import speechlike  # noqa: E402
from test_vad import not_speech  # noqa: E402

from spoofscan.audio import SAMPLE_RATE, load_audio  # noqa: E402
from spoofscan.frontend import FeatureConfig, frontend, window_starts  # noqa: E402
from spoofscan.vad import SpeechActivity  # noqa: E402

ESPEAK = [("en", "Hello, this is a test of the speech detector."), ("fr", "Bonjour, je suis une voix de synthèse."),
          ("de", "Guten Tag, wie geht es Ihnen heute?"), ("es", "Buenos días, ¿cómo está usted?")]


def fraction(x: np.ndarray) -> float:
    activity = SpeechActivity()
    activity.feed(x)
    activity.finish()
    return activity.fraction(0, len(x))


def espeak(voice: str, text: str, folder: Path) -> np.ndarray:
    path = folder / f"{voice}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True, capture_output=True)
    return load_audio(path)


def real_prompts(limit: int = 150) -> list:
    import av

    from spoofscan.fileio import default_cache_dir

    root = default_cache_dir() / "packages" / "asterisk-core-sounds-en-g722"
    clips = []
    for path in sorted(root.rglob("*.g722"))[:limit]:
        with av.open(str(path), format="g722") as container:
            clips.append((path.name, np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])))
    return clips


class _NoGate:
    """Stands in for SpeechActivity: every frame is speech, nothing is computed."""

    def feed(self, block):
        pass

    def finish(self):
        pass

    def fraction(self, start, end):
        return 1.0

    def seconds(self, start, end):
        return (end - start) / SAMPLE_RATE


def end_to_end(model: str, minutes: float = 10.0) -> None:
    """predict() on one long file, with the gate and without, alternately; best of three."""
    import soundfile as sf

    import spoofscan
    import spoofscan.detector as detector

    det = spoofscan.load_detector(model, threads=2)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.wav"
        sf.write(path, np.tile(speechlike(60.0, seed=3), int(minutes)), SAMPLE_RATE, subtype="PCM_16")
        names = ("with the speech gate", "gate replaced by a no-op")
        wall, cpu = dict.fromkeys(names, np.inf), dict.fromkeys(names, np.inf)
        for _ in range(3):
            for name in names:
                detector.SpeechActivity = SpeechActivity if name == names[0] else _NoGate
                t, c = time.perf_counter(), time.process_time()
                det.predict(str(path))
                wall[name] = min(wall[name], time.perf_counter() - t)
                cpu[name] = min(cpu[name], time.process_time() - c)
        detector.SpeechActivity = SpeechActivity
    print(f"\n| predict, {minutes:g}-minute file, {Path(model).name}, 2 threads | wall s | CPU s (all threads) |"
          f"\n|---|---:|---:|")
    for name in names:
        print(f"| {name} | {wall[name]:.2f} | {cpu[name]:.2f} |")
    print(f"| ratio | {wall[names[0]] / wall[names[1]]:.3f} | {cpu[names[0]] / cpu[names[1]]:.3f} |")


def export_random_resnet18(folder: Path) -> str:
    import torch

    from spoofscan.calibration import Calibration
    from spoofscan.checkpoint import make_card, save_checkpoint
    from spoofscan.export import export_onnx
    from spoofscan.models import create_model, model_preset

    torch.manual_seed(0)
    net = create_model(model_preset("resnet18"))
    card = make_card(FeatureConfig().to_dict(), net.cfg.to_dict(), Calibration().to_dict())
    save_checkpoint(folder / "resnet18.safetensors", net.state_dict(), card)
    export_onnx(folder / "resnet18.safetensors", folder / "resnet18.onnx")
    return str(folder / "resnet18.onnx")


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="an exported .onnx model for the end-to-end row")
    ap.add_argument("--export", action="store_true", help="export a random-weight ResNet-18 for it (needs torch)")
    args = ap.parse_args()
    rows = [(f"not speech: {name}", fraction(x)) for name, x in not_speech().items()]
    rng = np.random.default_rng(0)
    rows.append(("generated test speech (tests/synth.py)", fraction(speechlike(5.0))))
    if shutil.which("espeak-ng"):
        with tempfile.TemporaryDirectory() as tmp:
            for voice, text in ESPEAK:
                x = espeak(voice, text, Path(tmp))
                noisy = x + rng.standard_normal(len(x)).astype(np.float32) * np.sqrt(np.mean(x ** 2)) * 10 ** (-0.5)
                rows += [(f"espeak-ng {voice}", fraction(x)), (f"espeak-ng {voice}, -30 dB", fraction(0.03 * x)),
                         (f"espeak-ng {voice}, 10 dB SNR white noise", fraction(noisy)),
                         (f"espeak-ng {voice}, DC offset 0.4", fraction(np.clip(0.5 * x + 0.4, -1, 1)))]
    print("| signal | speech fraction |\n|---|---:|")
    for name, value in rows:
        print(f"| {name} | {value:.2f} |")
    clips = real_prompts()
    if clips:
        fractions = np.array([fraction(x) for _, x in clips])
        silent = [name for (name, _), f in zip(clips, fractions) if f == 0]
        print(f"| real prompts (Asterisk en, {len(clips)} files): with speech | {np.mean(fractions > 0):.2f} "
              f"(none in: {', '.join(silent) or '-'}) |")
        print(f"| real prompts: median fraction | {np.median(fractions):.2f} |")

    hour = np.tile(speechlike(60.0, seed=1), 60)
    t = time.process_time()
    activity = SpeechActivity()
    for start in range(0, len(hour), 30 * SAMPLE_RATE):  # the decoder's 30-s blocks
        activity.feed(hour[start:start + 30 * SAMPLE_RATE])
    activity.finish()
    vad_seconds = time.process_time() - t
    cfg = FeatureConfig()
    starts = window_starts(len(hour), cfg.window_samples, cfg.hop_samples)
    with threadpool_limits(limits=1, user_api="blas"):  # as the runtime computes it (spoofscan.backends.onnx)
        t = time.process_time()
        for s in starts:
            frontend(hour[None, s:s + cfg.window_samples], cfg)
        mel_seconds = time.process_time() - t
    print(f"\n| one hour of 16 kHz audio, one thread | CPU seconds |\n|---|---:|\n| voice activity | {vad_seconds:.2f} |"
          f"\n| numpy log-mel, 4-s windows every 2 s | {mel_seconds:.2f} |\n| ratio | {vad_seconds / mel_seconds:.2f} |")
    if args.model:
        end_to_end(args.model)
    elif args.export:
        with tempfile.TemporaryDirectory() as tmp:
            end_to_end(export_random_resnet18(Path(tmp)))


if __name__ == "__main__":
    main()
