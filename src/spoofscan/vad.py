"""Voice activity: which parts of a clip hold speech, so that no verdict is given without it.

A detector of fake speech has nothing to say about silence, a hum or a burst of noise; the
network still outputs a number for them (a square wave came out "real", p_fake 0.01). So the
detector asks this module where the speech is, scores only windows with speech, and labels a
clip without any ``no speech`` instead of giving a verdict.

Speech is found in 30-ms frames of the 16 kHz signal by the WebRTC voice-activity detector
(``webrtcvad-wheels``, torch-free C), with guards against what it takes for speech:

1. **level**: the frame's mean is removed (a DC offset is not sound) and a frame quieter than
   :data:`FLOOR_DB` dBFS is silence. WebRTC's decision depends on the level, so it sees each
   :data:`CHUNK_FRAMES` chunk scaled to put its loud frames near :data:`TARGET_DB` (quiet
   recordings are not missed; only the decision is scaled, never the audio that is scored);
2. **duration**: speech comes in runs of at least :data:`MIN_SPEECH_SECONDS` (gaps of up to
   :data:`BRIDGE_FRAMES` frames inside a run are bridged): one click is not speech;
3. **modulation**: speech rises and falls with its syllables. A run, in pieces of about a
   second, counts only where its frame levels spread over at least :data:`MIN_SPREAD_DB`
   between the 10th and 90th percentiles: a steady tone, a square wave or steady noise (white,
   pink) spreads over 0-3 dB, speech over 10-30 dB.

Measured (``benchmarks/bench_vad.py``, figures in docs/BENCHMARKS.md): digital silence, DC,
one click, a square wave, a sine, white and pink noise, a tone burst, a chirp: no speech;
espeak-ng in four languages: 76-82 % speech, 62-79 % at -30 dB, 70-82 % in 10 dB SNR noise,
unchanged with a DC offset; 150 real telephone prompts (Asterisk, 16 kHz): 147 with speech,
median 100 %, the three without are a beep and two two-tone signals. Limits: speech quieter
than about -70 dBFS counts as silence, a lone word shorter than 0.2 s is not found, and
anything with speech-like modulation (music, a warbling tone) passes: this is a guard against
verdicts on silence, tones and noise, not a classifier of speech.

The frame grid starts at the clip's first sample and each chunk is decided on its own
samples only, so the result does not depend on how the decoder cut the stream into blocks.
"""

from __future__ import annotations

import math

import numpy as np
import webrtcvad

from .audio import SAMPLE_RATE

FRAME = 480  # samples: 30 ms at 16 kHz, the longest frame WebRTC's detector takes
FRAME_SECONDS = FRAME / SAMPLE_RATE
MODE = 3  # WebRTC aggressiveness 0-3: 3 calls the fewest non-speech frames speech
FLOOR_DB = -70.0  # dBFS RMS of a frame (mean removed) below which it is silence
TARGET_DB = -20.0  # the loud (95th-percentile) frames of a chunk are scaled to this level for WebRTC
GAIN_RANGE_DB = (-40.0, 40.0)  # the most that scaling may attenuate or amplify
CHUNK_FRAMES = 333  # frames scaled together: about 10 s
MIN_SPEECH_SECONDS = 0.2  # the shortest run of speech, and the least speech a window needs to count
MIN_RUN_FRAMES = math.ceil(MIN_SPEECH_SECONDS / FRAME_SECONDS)  # 7 frames, 0.21 s
BRIDGE_FRAMES = 3  # gaps of up to 90 ms inside speech (stop closures) are bridged
PIECE_FRAMES = 33  # a run is judged in pieces of about a second
MIN_SPREAD_DB = 6.0  # 10th-to-90th percentile spread of frame levels that speech reaches
_SILENT_DB = -200.0  # level given to a frame of digital silence


class SpeechActivity:
    """Streaming voice-activity detection over one clip (16 kHz float32).

    ``feed()`` the clip's samples in blocks of any size, in order, then call ``finish()``
    once: it returns one boolean per 30-ms frame (True: speech). :meth:`fraction` then gives
    the share of speech between two sample positions.
    """

    def __init__(self):
        self._vad = webrtcvad.Vad(MODE)
        self._pending: list[np.ndarray] = []
        self._pending_samples = 0
        self._levels: list[np.ndarray] = []  # dBFS per frame, chunk by chunk
        self._votes: list[np.ndarray] = []  # WebRTC's decision per frame, chunk by chunk
        self.speech: np.ndarray | None = None  # per frame, after finish()
        self._cumulative: np.ndarray | None = None

    def feed(self, block: np.ndarray) -> None:
        """Add the next samples of the clip (any length)."""
        self._pending.append(np.asarray(block, dtype=np.float32))
        self._pending_samples += len(block)
        chunk = CHUNK_FRAMES * FRAME
        if self._pending_samples >= chunk:
            samples = np.concatenate(self._pending)
            whole = len(samples) // chunk * chunk
            for start in range(0, whole, chunk):
                self._decide(samples[start:start + chunk])
            self._pending = [samples[whole:]]
            self._pending_samples = len(samples) - whole

    def finish(self) -> np.ndarray:
        """Decide the last frames and apply the duration and modulation guards.

        Returns (frames,) bool; a last partial frame (under 30 ms) is not counted.
        """
        if self.speech is not None:
            return self.speech
        rest = np.concatenate(self._pending) if self._pending else np.zeros(0, np.float32)
        if len(rest) >= FRAME:
            self._decide(rest[: len(rest) // FRAME * FRAME])
        self._pending = []
        levels = np.concatenate(self._levels) if self._levels else np.zeros(0)
        votes = np.concatenate(self._votes) if self._votes else np.zeros(0, bool)
        self.speech = _guard(votes & (levels >= FLOOR_DB), levels)
        self._cumulative = np.concatenate([[0], np.cumsum(self.speech)])
        return self.speech

    def fraction(self, start: int, end: int) -> float:
        """Share of speech frames among the frames whose centre lies in samples [start, end)
        (after :meth:`finish`); 0.0 when no frame does."""
        first = max(0, math.ceil((start - FRAME / 2) / FRAME))
        last = min(len(self.speech), math.ceil((end - FRAME / 2) / FRAME))
        if last <= first:
            return 0.0
        return float(self._cumulative[last] - self._cumulative[first]) / (last - first)

    def seconds(self, start: int, end: int) -> float:
        """Seconds of speech among the frames whose centre lies in samples [start, end)."""
        first = max(0, math.ceil((start - FRAME / 2) / FRAME))
        last = min(len(self.speech), math.ceil((end - FRAME / 2) / FRAME))
        return max(0, int(self._cumulative[max(last, first)] - self._cumulative[first])) * FRAME_SECONDS

    def _decide(self, samples: np.ndarray) -> None:
        """WebRTC's vote and the level of each whole frame of ``samples`` (a multiple of FRAME)."""
        frames = samples.reshape(-1, FRAME)
        frames = frames - frames.mean(axis=1, keepdims=True, dtype=np.float64).astype(np.float32)
        rms = np.sqrt(np.einsum("ij,ij->i", frames, frames, dtype=np.float64) / FRAME)
        levels = np.where(rms > 0, 20 * np.log10(np.maximum(rms, 1e-300)), _SILENT_DB)
        gain_db = np.clip(TARGET_DB - np.percentile(levels, 95), *GAIN_RANGE_DB)
        pcm = np.clip(frames * np.float32(10 ** (gain_db / 20) * 32767), -32768, 32767).astype("<i2")
        data = memoryview(pcm.tobytes())
        step = 2 * FRAME
        is_speech = self._vad.is_speech
        votes = np.zeros(len(frames), bool)
        loud = np.flatnonzero(levels >= FLOOR_DB).tolist()  # silent frames cannot be speech: skip WebRTC
        votes[loud] = [is_speech(data[i * step:(i + 1) * step], SAMPLE_RATE) for i in loud]
        self._levels.append(levels)
        self._votes.append(votes)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of the runs of True in a 1-D bool array."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def _guard(candidate: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Frames of speech: candidate runs (short gaps bridged) long and modulated enough."""
    joined = candidate.copy()
    for start, end in _runs(~candidate):
        if 0 < start and end < len(candidate) and end - start <= BRIDGE_FRAMES:
            joined[start:end] = True
    speech = np.zeros(len(candidate), bool)
    for start, end in _runs(joined):
        if end - start < MIN_RUN_FRAMES:
            continue
        pieces = max(1, round((end - start) / PIECE_FRAMES))
        bounds = np.linspace(start, end, pieces + 1).round().astype(int)
        for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
            ranked = np.sort(levels[a:b])  # 10th and 90th percentiles by rank (np.percentile is slow on short runs)
            if ranked[(len(ranked) - 1) * 9 // 10] - ranked[(len(ranked) - 1) // 10] >= MIN_SPREAD_DB:
                speech[a:b] = True
    return speech & (levels >= FLOOR_DB)
