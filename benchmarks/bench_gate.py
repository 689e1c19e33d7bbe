"""Speech-gate benchmark: how often the gate lets non-speech through, and how often it refuses speech.

The gate is the decision ``Detector`` makes before any verdict: a clip is ``no speech`` when
none of its windows (4 s every 2 s, the default ``FeatureConfig``) holds at least
``MIN_SPEECH_SECONDS`` of speech as :class:`spoofscan.vad.SpeechActivity` finds it. This
script makes that decision without a model, on:

- every kind of generated non-speech in ``tests/nonspeech.py`` (``--clips`` clips of each,
  1-8 s, each from its own seed): the share wrongly passed as speech;
- the real (bonafide) clips of a corpus manifest (``--corpus``, default runs/quickstart/corpus, what ``spoofscan quickstart`` builds),
  whole, as excerpts of 0.3, 0.5 and 1 s (the loudest stretch of that length: a stretch with
  speech), and with steady white, pink or brown noise (one per clip, in turn) added at 10, 5
  and 0 dB SNR (the clip's mean power against the noise's): the share called ``no speech``.

Prints one Markdown table. ``--save FILE`` writes the figures as JSON; ``--before FILE`` adds
the figures of an earlier run as a first column (run it once with ``PYTHONPATH`` pointing at
the old code and ``--save``, then with the new code and ``--before``).

    python benchmarks/bench_gate.py [--clips 100] [--limit 0] [--save after.json] [--before before.json]
"""

from __future__ import annotations

import csv
import json
import sys
import time
import zlib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import nonspeech  # noqa: E402

from spoofscan.audio import SAMPLE_RATE, load_audio  # noqa: E402
from spoofscan.frontend import FeatureConfig, window_starts  # noqa: E402
from spoofscan.vad import MIN_SPEECH_SECONDS, SpeechActivity  # noqa: E402

EXCERPTS = (0.3, 0.5, 1.0)  # seconds
SNRS = (10.0, 5.0, 0.0)  # dB
NOISES = ("white", "pink", "brown")
CLIP_SECONDS = (1.0, 8.0)  # range of the generated non-speech lengths


def has_speech(x: np.ndarray, cfg: FeatureConfig = FeatureConfig()) -> bool:
    """The detector's gate: does any window hold at least MIN_SPEECH_SECONDS of speech?"""
    activity = SpeechActivity()
    activity.feed(x)
    activity.finish()
    starts = window_starts(len(x), cfg.window_samples, cfg.hop_samples)
    return any(activity.seconds(s, min(s + cfg.window_samples, len(x))) >= MIN_SPEECH_SECONDS for s in starts)


def loudest(x: np.ndarray, seconds: float) -> np.ndarray:
    """The stretch of ``seconds`` with the most energy (the whole clip when shorter)."""
    n = int(seconds * SAMPLE_RATE)
    if len(x) <= n:
        return x
    energy = np.concatenate([[0.0], np.cumsum(np.square(x, dtype=np.float64))])
    start = int(np.argmax(energy[n:] - energy[:-n]))
    return x[start:start + n]


def with_noise(x: np.ndarray, snr_db: float, kind: str, seed: int) -> np.ndarray:
    """``x`` plus steady ``kind`` noise at ``snr_db`` below the clip's mean power, clipped to [-1, 1]."""
    noise = nonspeech.coloured(kind, len(x), np.random.default_rng(seed))
    power = float(np.mean(np.square(x, dtype=np.float64)))
    return np.clip(x + noise * np.sqrt(power * 10 ** (-snr_db / 10)), -1, 1).astype(np.float32)


def real_clips(corpus: Path, limit: int) -> list:
    """The bonafide clips of ``corpus``/manifest.csv (every ``len // limit``-th when ``limit``)."""
    with open(corpus / "manifest.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["label"] == "bonafide"]
    if limit and limit < len(rows):
        rows = rows[::len(rows) // limit][:limit]
    return [(r["trial"], r["source"], load_audio(corpus / r["path"])) for r in rows]


def measure_nonspeech(clips: int) -> dict:
    """Per non-speech kind: the share of its clips passed as speech."""
    out = {}
    for kind in nonspeech.KINDS:
        passed = 0
        for i in range(clips):
            seed = zlib.crc32(f"{kind}/{i}".encode())
            seconds = np.random.default_rng(seed).uniform(*CLIP_SECONDS)
            passed += has_speech(nonspeech.make(kind, seed, seconds))
        out[f"not speech: {kind}"] = passed / clips
    return out


def measure_speech(clips: list) -> tuple[dict, dict]:
    """Per condition of the real clips: the share called no speech, and the trials refused."""
    conditions = {"real speech, whole clip": lambda x, i: x}
    conditions.update({f"real speech, loudest {s:g} s": (lambda s: lambda x, i: loudest(x, s))(s) for s in EXCERPTS})
    conditions.update({f"real speech, {snr:g} dB SNR noise": (lambda snr: lambda x, i: with_noise(
        x, snr, NOISES[i % len(NOISES)], i))(snr) for snr in SNRS})
    out, refused = {}, {}
    for name, make in conditions.items():
        missed = [trial for i, (trial, _, x) in enumerate(clips) if not has_speech(make(x, i))]
        out[name] = len(missed) / len(clips)
        refused[name] = missed
    return out, refused


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=100, help="generated clips per non-speech kind")
    ap.add_argument("--corpus", type=Path, default=Path("runs/quickstart/corpus"),
                    help="a built corpus folder (its manifest.csv gives the real clips)")
    ap.add_argument("--limit", type=int, default=0, help="real clips to use (0: all)")
    ap.add_argument("--save", type=Path, help="write the figures to this JSON file")
    ap.add_argument("--before", type=Path, help="figures of an earlier run (--save) for a first column")
    args = ap.parse_args()
    t = time.perf_counter()
    clips = real_clips(args.corpus, args.limit)
    figures = measure_nonspeech(args.clips)
    speech, refused = measure_speech(clips)
    figures.update(speech)
    sources = sorted({s for _, s, _ in clips})
    print(f"{len(clips)} real clips ({len(sources)} sources), {args.clips} clips per non-speech kind, "
          f"{time.perf_counter() - t:.0f} s\n")
    before = json.loads(args.before.read_text())["figures"] if args.before else None
    head = "| input | wrong share |" if before is None else "| input | wrong share before | after |"
    print(head + "\n|---|---:|" + ("---:|" if before else ""))
    for name, value in figures.items():
        cells = ([f"{before[name]:.1%}"] if before and name in before else ["-"] if before else []) + [f"{value:.1%}"]
        print(f"| {name} | " + " | ".join(cells) + " |")
    whole = refused["real speech, whole clip"]
    if whole:
        print(f"\nreal clips called no speech: {', '.join(whole)}")
    if args.save:
        args.save.write_text(json.dumps({"figures": figures, "refused": refused}, indent=1))


if __name__ == "__main__":
    main()
