"""What both benchmark scripts share: machine facts, load and memory readings, generated audio."""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path

import numpy as np

RATE = 16_000


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or what platform knows)."""
    from spoofscan.graphs import cpu_name

    return cpu_name()


def print_table(head: tuple, rows: list) -> None:
    """Print a Markdown table: the ``head`` cells, then one line per row of cells."""
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join(["---"] * len(head)) + "|")
    for row in rows:
        print("| " + " | ".join(str(c) for c in row) + " |")


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (VmHWM), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class OtherLoad:
    """CPU that other processes used while the block ran, in cores (0 = the machine was ours).

    The machine's busy time from /proc/stat minus the CPU time of this process and its
    children, over the wall time: on a shared machine it tells which rows were measured under
    contention. Read ``.cores`` after the ``with`` block.
    """

    def __enter__(self):
        self.start = (self._busy(), self._own(), time.perf_counter())
        return self

    def __exit__(self, *exc):
        busy, own, wall = self._busy(), self._own(), time.perf_counter()
        self.cores = max(0.0, ((busy - self.start[0]) - (own - self.start[1])) / (wall - self.start[2]))

    @staticmethod
    def _busy() -> float:
        user, nice, system, idle, iowait, irq, softirq = map(int, Path("/proc/stat").read_text().split()[1:8])
        return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _own() -> float:
        return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                     resource.getrusage(resource.RUSAGE_CHILDREN)))


def speech_like(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Speech-like float32 audio at 16 kHz: voiced syllables on a moving pitch with formant-like
    band emphasis, unvoiced noise bursts, pauses. Shape (seconds * 16000,)."""
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    f0 = rng.uniform(90, 220) * (1 + 0.08 * np.sin(2 * np.pi * rng.uniform(0.2, 0.6) * t)
                                 + 0.02 * np.sin(2 * np.pi * rng.uniform(4, 7) * t))
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    formants = rng.uniform([300, 900, 2200], [900, 2200, 3400])
    voice = np.zeros(n)
    for k in range(1, 40):
        freq = k * f0.mean()
        if freq > RATE / 2 - 500:
            break
        gain = sum(np.exp(-0.5 * ((freq - f) / 150.0) ** 2) for f in formants) + 0.05
        voice += gain * np.sin(k * phase) / k
    syllable = np.clip(np.sin(2 * np.pi * rng.uniform(3, 5) * t + rng.uniform(0, 6)), 0, None) ** 0.7
    pauses = np.repeat(rng.random(int(np.ceil(seconds / 0.5))) > 0.15, int(0.5 * RATE))[:n]
    noise = rng.standard_normal(n) * (syllable < 0.2) * 0.3
    x = (voice / np.abs(voice).max() * syllable + noise) * pauses + 0.003 * rng.standard_normal(n)
    return (x * 10 ** (rng.uniform(-18, -3) / 20) / max(np.abs(x).max(), 1e-9)).astype(np.float32)


def write_long_file(path: Path, seconds: int, rng: np.random.Generator) -> None:
    """A 16 kHz mono 16-bit wav of ``seconds`` speech-like audio, written one minute at a time."""
    import soundfile as sf

    with sf.SoundFile(str(path), "w", RATE, 1, subtype="PCM_16") as f:
        for start in range(0, seconds, 60):
            f.write(speech_like(min(60, seconds - start), rng))
