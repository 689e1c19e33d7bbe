"""Generated two-class audio that a tiny model learns in seconds (for training tests).

"bonafide": harmonic tones with vibrato plus broadband noise, as voiced speech with breath.
"spoof": the same kind of tone, but its noise is low-passed at 3 kHz (a crude stand-in for a
vocoder that loses the high band). Levels are random for both classes, so loudness is no cue.
Both come in syllables (a 3-6 Hz envelope with short pauses), so the voice-activity detector
takes them for speech, as it takes neither a steady tone nor steady noise.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 16_000


def synth_clip(label: str, seconds: float, rng: np.random.Generator, rate: int = RATE,
               syllables: bool = True) -> np.ndarray:
    """One clip, float32 (seconds * rate,); ``syllables=False``: one steady sound, no speech to the VAD."""
    n = int(seconds * rate)
    t = np.arange(n) / rate
    f0 = rng.uniform(90, 220) * (1 + 0.03 * np.sin(2 * np.pi * rng.uniform(3, 6) * t))
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 12))
    noise = rng.standard_normal(n)
    if label == "spoof":
        spec = np.fft.rfft(noise)
        spec[int(3000 / (rate / 2) * len(spec)):] = 0
        noise = np.fft.irfft(spec, n) * 2.0
    x = 0.3 * voice / np.abs(voice).max() + 0.05 * noise
    if syllables:
        x *= np.clip(np.sin(2 * np.pi * rng.uniform(3, 6) * t + rng.uniform(0, 2 * np.pi)), 0.05, None) ** 0.5
    x *= 10 ** (rng.uniform(-20, 0) / 20) / max(np.abs(x).max(), 1e-9)
    return x.astype(np.float32)


def speechlike(seconds: float, seed: int = 0, rate: int = RATE) -> np.ndarray:
    """A generated clip the voice-activity detector takes for speech (a bona fide ``synth_clip``)."""
    return synth_clip("bonafide", seconds, np.random.default_rng(seed), rate)


def make_corpus(root: Path, n_per_class: dict[str, int] | None = None, seconds=(1.0, 3.0), seed: int = 0) -> Path:
    """Write wavs and ``manifest.csv`` (path,label,split,speaker,attack) under ``root``; return the manifest."""
    n_per_class = n_per_class or {"train": 24, "dev": 10, "eval": 10}
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for split, n in n_per_class.items():
        for label in ("bonafide", "spoof"):
            for i in range(n):
                name = f"{split}_{label}_{i:03d}.wav"
                sf.write(root / name, synth_clip(label, rng.uniform(*seconds), rng), RATE, subtype="PCM_16")
                attack = "-" if label == "bonafide" else f"S{i % 2 + 1}"
                rows.append({"path": name, "label": label, "split": split, "speaker": f"spk{i % 3}", "attack": attack})
    manifest = root / "manifest.csv"
    with open(manifest, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return manifest
