"""The audio every test builds: generated two-class clips that a tiny model learns in seconds,
tones, encoded bytes (libsndfile, FFmpeg, hand-made RIFF headers), files and a small corpus.

The two classes: "bonafide": harmonic tones with vibrato plus broadband noise, as voiced speech with breath.
"spoof": the same kind of tone, but its noise is low-passed at 3 kHz (a crude stand-in for a
vocoder that loses the high band). Levels are random for both classes, so loudness is no cue.
Both come in syllables (a 3-6 Hz envelope with short pauses), so the voice-activity detector
takes them for speech, as it takes neither a steady tone nor steady noise.
"""

from __future__ import annotations

import csv
import io
import struct
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


def voiced_clip(seconds: float = 1.2, seed: int = 0) -> np.ndarray:
    """A bona fide :func:`synth_clip` whose level follows a 3 Hz syllable rhythm, so its energy
    contour has something for a copy-synthesis to follow; float32 (samples,)."""
    x = synth_clip("bonafide", seconds, np.random.default_rng(seed))
    t = np.arange(len(x)) / RATE
    return (x * (0.55 + 0.45 * np.sin(2 * np.pi * 3.0 * t))).astype(np.float32)


def make_tone(freq: float = 440.0, seconds: float = 1.0, rate: int = RATE, amp: float = 0.5,
              channels: int = 1) -> np.ndarray:
    """A sine, float32, shape (samples,) or (samples, channels) (every channel the same tone)."""
    t = np.arange(int(round(seconds * rate))) / rate
    x = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return x if channels == 1 else np.repeat(x[:, None], channels, axis=1)


def encode(x: np.ndarray, rate: int = RATE, fmt: str = "WAV", subtype: str | None = None) -> bytes:
    """A waveform (samples,) or (samples, channels) encoded by libsndfile in memory (WAV: 16-bit
    unless ``subtype`` says otherwise)."""
    buf = io.BytesIO()
    sf.write(buf, x, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def encode_ffmpeg(x: np.ndarray, rate: int, codec: str = "aac", fmt: str = "mp4") -> bytes:
    """A waveform encoded by FFmpeg (PyAV) in memory: AAC in an MP4/M4A container by default."""
    import av

    planes = np.ascontiguousarray(np.atleast_2d(x.T), dtype=np.float32)  # (channels, samples)
    layout = {1: "mono", 2: "stereo"}[planes.shape[0]]
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate, layout=layout)
        frame = av.AudioFrame.from_ndarray(planes, format="fltp", layout=layout)
        frame.rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buf.getvalue()


def riff_wav(tag: int = 1, bits: int = 16, channels: int = 1, rate: int = RATE, frames: int = RATE,
             payload: bytes | None = None) -> bytes:
    """A RIFF/WAVE file written by hand, with any format tag and header values (libsndfile refuses
    to write most of them); its data: ``payload``, else ``frames`` of 16-bit noise per channel."""
    data = payload if payload is not None else np.random.default_rng(0).integers(
        -2000, 2000, frames * channels).astype("<i2").tobytes()
    width = max(bits, 8) // 8
    fmt = struct.pack("<HHIIHH", tag, channels, rate, (rate * channels * width) & 0xFFFFFFFF, channels * width, bits)
    return (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
            + b"data" + struct.pack("<I", len(data)) + data)


def write_audio(path, x: np.ndarray, rate: int = RATE) -> str:
    """Write ``x`` to ``path`` (a .wav as 32-bit float, so the samples come back exactly; other
    suffixes in libsndfile's default for them); return the path as a string."""
    sf.write(path, x, rate, subtype="FLOAT" if str(path).endswith(".wav") else None)
    return str(path)


def write_speech(path, seconds: float = 1.5, seed: int = 0, rate: int = RATE) -> str:
    """A :func:`speechlike` clip written to ``path`` (see :func:`write_audio`); the path as a string."""
    return write_audio(path, speechlike(seconds, seed=seed, rate=rate), rate)


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
    return write_manifest(root / "manifest.csv", rows)


def write_manifest(path: Path, rows: list[dict], columns: list[str] | None = None) -> Path:
    """A CSV manifest of ``rows`` (columns: ``columns``, else the first row's keys); return its path."""
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns or list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path
