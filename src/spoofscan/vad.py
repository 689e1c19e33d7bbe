"""Voice activity: which parts of a clip hold speech, so that no verdict is given without it.

A detector of fake speech has nothing to say about silence, a hum or a burst of noise; the
network still outputs a number for them (a square wave came out "real", p_fake 0.01). So the
detector asks this module where the speech is, scores only windows with speech, and labels a
clip without any ``no speech`` instead of giving a verdict.

Speech is found in 30-ms frames of the 16 kHz signal by the WebRTC voice-activity detector
(``webrtcvad-wheels``, torch-free C) and a periodicity test (numpy: FFTs of each frame, windowed and not,
and an inverse FFT), with guards against what they take for speech:

1. **level**: the frame's mean is removed (a DC offset is not sound) and a frame quieter than
   :data:`FLOOR_DB` dBFS is silence. WebRTC's decision depends on the level, so it sees each
   :data:`CHUNK_FRAMES` chunk scaled to put its loud frames near :data:`TARGET_DB` (quiet
   recordings are not missed; only the decision is scaled, never the audio that is scored);
2. **duration**: speech comes in runs of at least :data:`MIN_SPEECH_SECONDS` (gaps of up to
   :data:`BRIDGE_FRAMES` frames inside a run are bridged): one click is not speech;
3. **modulation**: speech rises and falls with its syllables. A run, in pieces of about a
   second, counts only where its frame levels in 100-4000 Hz spread over at least
   :data:`MIN_SPREAD_DB` between the 10th and 90th percentiles: a steady tone or steady noise
   (white, pink, and brown, whose wideband level wanders with its lowest frequencies) spreads
   over 0-5 dB, speech over 10-30 dB. A piece under :data:`MIN_SPREAD_FRAMES` (a short clip,
   one word) is too short to spread and skips this test;
4. **voicing**: at least :data:`MIN_VOICED_SHARE` of a piece's frames are periodic in
   100-1000 Hz (a voice's low harmonics): noise modulated like syllables, speech-shaped noise
   and clicks have almost none. Voiced frames are also candidates of their own, so speech that
   WebRTC misses in heavy noise is found. A weakly voiced piece (processed, robotic voices of
   games: their frames are periodic at 0.4, not 0.6) still counts when its mean periodicity
   reaches :data:`WEAK_PERIODICITY` and its spectrum keeps a *shape*: the log spectra,
   smoothed over :data:`SHAPE_SMOOTH_BINS` bins to their envelope (tilt, formants), of frames
   90 ms apart correlate at :data:`MIN_SHAPE_CORRELATION` or more (median). Smoothed, the
   spectrum of white noise is flat and that of pink or speech-shaped noise gently sloped, so
   what is left is the random fine structure of noise: they correlate at 0.6 at most;
5. **steadiness**: at most :data:`MAX_STEADY_SHARE` of a piece's frames keep their log
   spectrum from one frame to the next: tones and held musical notes keep it, a voice moves;
6. **tonality**: at most :data:`MAX_TONAL_SHARE` of a piece's frames are tonal: one or two
   narrow peaks (a sine's main lobe) hold more than :data:`TONAL_SHARE` of the frame's
   100-4000 Hz power, the strongest at :data:`MIN_TONE_HZ` or above. DTMF keys, beeps and
   busy tones are too short to be steady and periodic like a voice, but tonal in every frame.
   A voice has many harmonics; only its fundamental (at most 400 Hz, in a low vowel of a
   high voice) can hold a frame alone, hence the lowest peak frequency.

Measured (``benchmarks/bench_gate.py``, table in docs/RELIABILITY.md, 1,543 real clips of 11
sources and 100 generated clips of each non-speech kind): real clips called no speech 0.4 %
whole (6 of 1,542 clips of speech, 7 with a prompt of silence), 2.5 % for their loudest
0.3 s, 3.9 % in 0 dB SNR noise; DTMF key sequences 7 %, beeps at 2-8 Hz 16 %, busy tones,
brown noise, noise modulated at 2-8 Hz, speech-shaped modulated noise, melodies and chords
0-2 % passed. Limits: drums, brown noise modulated at 2-8 Hz, arpeggios and melodies with
vibrato (harmonic notes, not tonal) and mixes with drums still pass; a beep below 400 Hz
looks like a voice's fundamental; whispered speech has no voiced frames and is not found;
the thresholds were chosen on the same generated kinds and corpus they are measured on (the
weak-voicing rule's margin: modulated noise reaches a shape of 0.6, the rule asks 0.65).
This is a guard against verdicts on silence, tones, noise and music, not a classifier of
speech. Its cost: about 2.5 CPU seconds per hour of audio on one thread (WebRTC alone: 0.6).

The frame grid starts at the clip's first sample and each chunk is decided on its own
samples only, so the result does not depend on how the decoder cut the stream into blocks.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.fft
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
MIN_SPREAD_DB = 6.0  # 10th-to-90th percentile spread of frame levels (100-4000 Hz) that speech reaches
MIN_SPREAD_FRAMES = 20  # a piece shorter than this (0.6 s) is too short for a spread
N_FFT = 1024  # one spectrum per frame (zero-padded: the autocorrelation up to a frame's length, 15.6-Hz bins)
BAND_HZ = (100.0, 4000.0)  # the band of the level spread and the spectral steadiness: speech, narrowband too
PITCH_BAND_HZ = (100.0, 1000.0)  # the band of the periodicity test: a voice's low harmonics
PITCH_LAGS = (40, 225)  # autocorrelation lags searched for a period: 2.5-14 ms, 71-400 Hz
VOICED_CORRELATION = 0.6  # normalised autocorrelation at the period above which a frame is voiced
MIN_VOICED_SHARE = 0.1  # least share of voiced frames in a piece of speech (white, pink noise: under 0.05)
WEAK_PERIODICITY = 0.36  # least mean periodicity of a weakly voiced piece (processed voices 0.37-0.45, clicks 0.25)
MIN_SHAPE_CORRELATION = 0.65  # least median shape of a weakly voiced piece (processed voices 0.7-0.9, noise <= 0.6)
SHAPE_LAG_FRAMES = 3  # 90 ms: frames compared for the shape of the spectrum
SHAPE_SMOOTH_BINS = 9  # 140 Hz: the moving average that leaves a spectrum's envelope (tilt, formants)
TONAL_SHARE = 0.98  # share of a frame's BAND_HZ power in its two strongest peaks above which it is tonal
PEAK_HALF_BINS = 4  # a peak: its bin and 4 on each side (+-62 Hz, the Hann main lobe of a 30-ms frame)
MIN_TONE_HZ = 400.0  # a tonal frame's strongest peak is this high: a voice's fundamental (<= 400 Hz) may hold a frame
MAX_TONAL_SHARE = 0.5  # most share of tonal frames in a piece of speech (DTMF keys, beeps, busy tones: most frames)
STEADY_CORRELATION = 0.9  # correlation of a frame's log spectrum with the previous one's above which it is steady
MAX_STEADY_SHARE = 0.8  # most share of steady frames in a piece of speech (tones, held notes: most frames)
SPECTRUM_RANGE_DB = 50.0  # a log spectrum is floored this far below its peak, so empty bands compare equal
_SILENT_DB = -200.0  # level given to a frame of digital silence
_TINY = 1e-30  # power floor before a logarithm

_FREQS = np.fft.rfftfreq(N_FFT, 1 / SAMPLE_RATE)
_BAND = (_FREQS >= BAND_HZ[0]) & (_FREQS < BAND_HZ[1])
_BAND_FREQS = _FREQS[_BAND]
_PITCH_BAND = (_FREQS >= PITCH_BAND_HZ[0]) & (_FREQS < PITCH_BAND_HZ[1])
_HANN = np.hanning(FRAME).astype(np.float32)
_UNBIAS = FRAME / (FRAME - np.arange(*PITCH_LAGS))  # a lag-l autocorrelation sums FRAME - l products


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
        self._spectral: list[np.ndarray] = []  # (frames, 5) per chunk: see _spectral
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
        spectral = np.concatenate(self._spectral) if self._spectral else np.zeros((0, 5))
        voiced = spectral[:, PERIODICITY_COLUMN] > VOICED_CORRELATION
        self.speech = _guard((votes | voiced) & (levels >= FLOOR_DB), levels, spectral)
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
        self._spectral.append(_spectral(frames))


def _spectral(frames: np.ndarray) -> np.ndarray:
    """Per frame of ``frames`` (frames, FRAME) float32, mean removed: (frames, 5) float64, the
    columns named by the ``_COLUMN`` constants:

    - level: its level in :data:`BAND_HZ` (dB, for the spread);
    - periodicity: the normalised autocorrelation of its :data:`PITCH_BAND_HZ` band at its best
      lag of :data:`PITCH_LAGS` (0 for a silent band); voiced above :data:`VOICED_CORRELATION`;
    - steady (1.0 or 0.0): its log power spectrum in :data:`BAND_HZ` (Hann window, floored
      :data:`SPECTRUM_RANGE_DB` under its peak) correlates with the previous or the next frame's
      above :data:`STEADY_CORRELATION` (the neighbours in its chunk: a key tone of 60 ms is steady
      in its first frame as in its last; the first frame of a chunk has no previous one);
    - tonal (1.0 or 0.0): its two strongest peaks (each :data:`PEAK_HALF_BINS` bins on either
      side of its bin) hold more than :data:`TONAL_SHARE` of its :data:`BAND_HZ` power, the
      strongest at :data:`MIN_TONE_HZ` or above;
    - shape: the correlation of its log spectrum smoothed over :data:`SHAPE_SMOOTH_BINS` bins
      with that of the frame :data:`SHAPE_LAG_FRAMES` before (after, for the first frames of a
      chunk; 0 when the chunk has no such frame).
    """
    band = scipy.fft.rfft(frames * _HANN, N_FFT)[:, _BAND]
    power = np.square(band.real) + np.square(band.imag)
    total = power.sum(axis=1)
    band_db = 10 * np.log10(np.maximum(total, _TINY))
    log = 10 * np.log10(np.maximum(power, _TINY))
    log = np.maximum(log, log.max(axis=1, keepdims=True) - SPECTRUM_RANGE_DB)
    log -= log.mean(axis=1, keepdims=True)
    steady = np.maximum(*_neighbours(log, 1)) > STEADY_CORRELATION
    envelope = _moving_sum(log, SHAPE_SMOOTH_BINS)
    before, after = _neighbours(envelope, SHAPE_LAG_FRAMES)
    shape = np.where(np.arange(len(log)) < SHAPE_LAG_FRAMES, after, before)  # a chunk's first frames: the one after
    pitch = scipy.fft.rfft(frames, N_FFT)[:, _PITCH_BAND]
    band_power = np.zeros((len(frames), N_FFT // 2 + 1), np.complex64)  # complex64: a single-precision inverse FFT
    band_power[:, _PITCH_BAND] = np.square(pitch.real) + np.square(pitch.imag)
    acf = scipy.fft.irfft(band_power, N_FFT)[:, :PITCH_LAGS[1]]
    periodic = (acf[:, PITCH_LAGS[0]:] * _UNBIAS).max(axis=1)
    periodicity = np.where(acf[:, 0] > 0, periodic / np.maximum(acf[:, 0], _TINY), 0.0)
    return np.stack([band_db, periodicity, steady, _tonal(power, total), shape], axis=1).astype(np.float64)


LEVEL_COLUMN, PERIODICITY_COLUMN, STEADY_COLUMN, TONAL_COLUMN, SHAPE_COLUMN = range(5)  # of _spectral's result


def _moving_sum(x: np.ndarray, width: int) -> np.ndarray:
    """Sums of ``width`` neighbouring bins of each row of ``x`` (frames, bins), whole windows
    only: (frames, bins - width + 1)."""
    cumulative = np.concatenate([np.zeros((len(x), 1), x.dtype), np.cumsum(x, axis=1)], axis=1)
    return cumulative[:, width:] - cumulative[:, :-width]


def _correlation(x: np.ndarray, lag: int) -> np.ndarray:
    """Correlation of each row of ``x`` (frames, bins), its mean removed, with the row ``lag``
    before: (max(frames - lag, 0),)."""
    x = x - x.mean(axis=1, keepdims=True)
    norm = np.sqrt(np.einsum("ij,ij->i", x, x))
    return np.einsum("ij,ij->i", x[lag:], x[:-lag]) / np.maximum(norm[lag:] * norm[:-lag], _TINY)


def _neighbours(x: np.ndarray, lag: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``x``: its :func:`_correlation` with the row ``lag`` before and the row
    ``lag`` after (0.0 where there is none)."""
    corr = _correlation(x, lag) if len(x) > lag else np.zeros(0)
    pad = np.zeros(min(lag, len(x)))
    return np.concatenate([pad, corr]), np.concatenate([corr, pad])


def _tonal(power: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Whether each frame's power spectrum (frames, bins of BAND_HZ) is held by one or two
    narrow peaks: see :func:`_spectral`; (frames,) bool."""
    rows, bins = np.arange(len(power)), power.shape[1]
    cumulative = np.concatenate([np.zeros((len(power), 1), power.dtype), np.cumsum(power, axis=1)], axis=1)

    def peak(at: np.ndarray) -> np.ndarray:  # the power within PEAK_HALF_BINS of bin ``at`` of each frame
        end, start = np.minimum(at + PEAK_HALF_BINS + 1, bins), np.maximum(at - PEAK_HALF_BINS, 0)
        return cumulative[rows, end] - cumulative[rows, start]

    first = power.argmax(axis=1)
    overlapping = np.clip(first[:, None] + np.arange(-2 * PEAK_HALF_BINS, 2 * PEAK_HALF_BINS + 1), 0, bins - 1)
    others = power.copy()
    np.put_along_axis(others, overlapping, -1.0, axis=1)  # the second peak must not overlap the first
    peaks = peak(first) + peak(others.argmax(axis=1))
    return (peaks > TONAL_SHARE * total) & (_BAND_FREQS[first] >= MIN_TONE_HZ) & (total > 0)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of the runs of True in a 1-D bool array."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def _guard(candidate: np.ndarray, levels: np.ndarray, spectral: np.ndarray) -> np.ndarray:
    """Frames of speech: candidate runs (short gaps bridged) long enough, whose pieces pass
    :func:`_is_speech` (``candidate``, ``levels`` (frames,); ``spectral`` (frames, 5) of
    :func:`_spectral`)."""
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
            heard = spectral[a:b][candidate[a:b]]  # shares among the frames found, not the gaps bridged
            speech[a:b] = _is_speech(spectral[a:b, LEVEL_COLUMN], heard)
    return speech & (levels >= FLOOR_DB)


def _is_speech(band_db: np.ndarray, heard: np.ndarray) -> bool:
    """Whether a piece is speech: its level spread (``band_db`` of all its frames), and the
    voicing, steadiness and tonality of its frames found (``heard``, rows of :func:`_spectral`)."""
    ranked = np.sort(band_db)  # 10th and 90th percentiles by rank (np.percentile is slow on short runs)
    spread = ranked[(len(ranked) - 1) * 9 // 10] - ranked[(len(ranked) - 1) // 10]
    if spread < MIN_SPREAD_DB and len(band_db) >= MIN_SPREAD_FRAMES:
        return False
    if heard[:, STEADY_COLUMN].mean() > MAX_STEADY_SHARE or heard[:, TONAL_COLUMN].mean() > MAX_TONAL_SHARE:
        return False
    periodicity = heard[:, PERIODICITY_COLUMN]
    if (periodicity > VOICED_CORRELATION).mean() >= MIN_VOICED_SHARE:
        return True
    return bool(periodicity.mean() >= WEAK_PERIODICITY and np.median(heard[:, SHAPE_COLUMN]) >= MIN_SHAPE_CORRELATION)
