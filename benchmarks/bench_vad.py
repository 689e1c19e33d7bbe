"""Voice-activity benchmark: what the speech gate calls speech, and what it costs.

Prints two Markdown tables measured in this run:

- the speech fraction :class:`spoofscan.vad.SpeechActivity` finds in signals that are not
  speech (silence, DC, a click, tones, noise) and in speech (generated test speech, espeak-ng
  in four languages, quiet, in noise, with a DC offset; real telephone prompts from the Debian
  package asterisk-core-sounds-en-g722 when the corpus cache holds it);
- its time on one hour of 16 kHz audio against the numpy log-mel of the same hour (4-s
  windows every 2 s, one thread), as a ratio measured in the same run.

    python benchmarks/bench_vad.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from spoofscan.audio import SAMPLE_RATE, load_audio  # noqa: E402
from spoofscan.dsp import FeatureConfig, log_mel, window_starts  # noqa: E402
from spoofscan.vad import SpeechActivity  # noqa: E402
from synth import speechlike  # noqa: E402
from test_vad import not_speech  # noqa: E402

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

    from spoofscan.corpus.sources import default_cache_dir

    root = default_cache_dir() / "packages" / "asterisk-core-sounds-en-g722"
    clips = []
    for path in sorted(root.rglob("*.g722"))[:limit]:
        with av.open(str(path), format="g722") as container:
            clips.append((path.name, np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])))
    return clips


def main() -> None:
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
    t = time.perf_counter()
    activity = SpeechActivity()
    for start in range(0, len(hour), 30 * SAMPLE_RATE):  # the decoder's 30-s blocks
        activity.feed(hour[start:start + 30 * SAMPLE_RATE])
    activity.finish()
    vad_seconds = time.perf_counter() - t
    cfg = FeatureConfig()
    starts = window_starts(len(hour), cfg.window_samples, cfg.hop_samples)
    t = time.perf_counter()
    for s in starts:
        log_mel(hour[None, s:s + cfg.window_samples], cfg)
    mel_seconds = time.perf_counter() - t
    print(f"\n| one hour of 16 kHz audio | seconds |\n|---|---:|\n| voice activity | {vad_seconds:.2f} |"
          f"\n| numpy log-mel, 4-s windows every 2 s | {mel_seconds:.2f} |\n| ratio | {vad_seconds / mel_seconds:.2f} |")


if __name__ == "__main__":
    main()
