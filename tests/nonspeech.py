"""Generated sounds that are not speech, for the speech gate's tests and measurements.

:data:`KINDS` maps a name to a maker ``f(rng, seconds) -> float32 (seconds * 16000,)``: each
draws its own frequencies, rates, levels and timing from ``rng``, so one kind gives many
different clips. The groups: silence and steady signals, tones (sines, chirps, square waves,
telephone tones: DTMF keys, dial, busy and ringing tones), noise (white, pink, brown; steady,
amplitude-modulated at 2-8 Hz, and speech-shaped noise modulated by a speech-like envelope),
and music-like signals (melodies, chords, arpeggios, drums, vibrato tones, a mix of them).
"""

from __future__ import annotations

import numpy as np

RATE = 16_000
DTMF_ROWS = (697.0, 770.0, 852.0, 941.0)
DTMF_COLUMNS = (1209.0, 1336.0, 1477.0, 1633.0)


def _t(seconds: float) -> np.ndarray:
    return np.arange(int(seconds * RATE)) / RATE


def _level(x: np.ndarray, rng: np.random.Generator, low: float = -35.0, high: float = -10.0) -> np.ndarray:
    """``x`` at a random RMS level between ``low`` and ``high`` dBFS, peaks kept below 0.99."""
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    if rms == 0:
        return x.astype(np.float32)
    y = x * (10 ** (rng.uniform(low, high) / 20) / rms)
    peak = float(np.abs(y).max())
    return (y * min(1.0, 0.99 / peak)).astype(np.float32)


def coloured(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """White, pink or brown Gaussian noise, RMS 1, float64 (n,)."""
    white = rng.standard_normal(n)
    if kind != "white":
        f = np.maximum(np.fft.rfftfreq(n, 1 / RATE), 10.0)
        white = np.fft.irfft(np.fft.rfft(white) * f ** (-0.5 if kind == "pink" else -1.0), n)
    return white / np.sqrt(np.mean(white ** 2))


def syllable_envelope(n: int, rng: np.random.Generator) -> np.ndarray:
    """A speech-like loudness envelope (n,) in [0, 1]: syllables of 0.1-0.35 s in words, with pauses."""
    env = np.zeros(n)
    pos = int(rng.uniform(0, 0.2) * RATE)
    while pos < n:
        for _ in range(rng.integers(1, 5)):  # a word of 1-4 syllables
            length = int(rng.uniform(0.1, 0.35) * RATE)
            seg = np.sin(np.pi * np.arange(length) / length) ** rng.uniform(0.5, 2.0) * rng.uniform(0.3, 1.0)
            env[pos:pos + length] = seg[:max(0, min(length, n - pos))]
            pos += length + int(rng.uniform(0.0, 0.06) * RATE)
        pos += int(rng.uniform(0.08, 0.5) * RATE)
    return env


def speech_shaped(n: int, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise with the long-term average speech spectrum (flat to 500 Hz, then falling), RMS 1."""
    f = np.fft.rfftfreq(n, 1 / RATE)
    shape = (f / (f + 100.0)) / (1.0 + (f / 500.0) ** 1.5) ** 0.5
    x = np.fft.irfft(np.fft.rfft(rng.standard_normal(n)) * shape, n)
    return x / np.sqrt(np.mean(x ** 2))


def _sines(freqs, t: np.ndarray) -> np.ndarray:
    return sum(np.sin(2 * np.pi * f * t) for f in freqs)


def _cadence(t: np.ndarray, on: float, off: float, rng: np.random.Generator) -> np.ndarray:
    phase = (t + rng.uniform(0, on + off)) % (on + off)
    return (phase < on).astype(float)


def dtmf_keys(rng, seconds):
    """Key presses of 50-250 ms with 40-300 ms between, a random number dialled."""
    n = int(seconds * RATE)
    x = np.zeros(n)
    pos = int(rng.uniform(0, 0.3) * RATE)
    while pos < n:
        length = min(int(rng.uniform(0.05, 0.25) * RATE), n - pos)
        t = np.arange(length) / RATE
        x[pos:pos + length] = _sines((rng.choice(DTMF_ROWS), rng.choice(DTMF_COLUMNS)), t)
        pos += length + int(rng.uniform(0.04, 0.3) * RATE)
    return _level(x, rng)


def dtmf_key(rng, seconds):
    """One key held, in silence before and after."""
    t = _t(seconds)
    x = _sines((rng.choice(DTMF_ROWS), rng.choice(DTMF_COLUMNS)), t)
    start, length = rng.uniform(0, seconds / 3), rng.uniform(0.1, seconds / 2)
    return _level(x * ((t >= start) & (t < start + length)), rng)


def dial_tone(rng, seconds):
    t = _t(seconds)
    freqs = ((350.0, 440.0), (425.0,), (400.0, 450.0))[rng.integers(3)]
    return _level(_sines(freqs, t), rng)


def busy_tone(rng, seconds):
    t = _t(seconds)
    on = rng.choice([0.25, 0.375, 0.5])
    freqs = ((480.0, 620.0), (425.0,), (400.0,))[rng.integers(3)]
    return _level(_sines(freqs, t) * _cadence(t, on, on, rng), rng)


def ringing_tone(rng, seconds):
    t = _t(seconds)
    freqs = ((440.0, 480.0), (425.0,), (400.0, 450.0))[rng.integers(3)]
    on = rng.choice([0.4, 1.0, 2.0])
    return _level(_sines(freqs, t) * _cadence(t, on, rng.choice([0.2, 1.0, 2.0]), rng), rng)


def sine(rng, seconds):
    return _level(np.sin(2 * np.pi * np.exp(rng.uniform(np.log(60), np.log(6000))) * _t(seconds)), rng)


def beeps(rng, seconds):
    """A tone switched on and off at 2-8 Hz (a warning beep, a tone modulated at a syllable rate)."""
    t = _t(seconds)
    rate = rng.uniform(2, 8)
    return _level(np.sin(2 * np.pi * rng.uniform(300, 3000) * t) * _cadence(t, 0.5 / rate, 0.5 / rate, rng), rng)


def chirp(rng, seconds):
    t = _t(seconds)
    f0, f1 = np.exp(rng.uniform(np.log(80), np.log(5000), 2))
    period = rng.uniform(0.2, seconds)  # sweeps repeated every period
    tt = t % period
    phase = 2 * np.pi * np.cumsum(f0 * (f1 / f0) ** (tt / period)) / RATE
    return _level(np.sin(phase), rng)


def square_wave(rng, seconds):
    return _level(np.sign(np.sin(2 * np.pi * rng.uniform(50, 2000) * _t(seconds))), rng)


def hum(rng, seconds):
    """Mains hum: 50 or 60 Hz with harmonics."""
    t = _t(seconds)
    f = rng.choice([50.0, 60.0])
    return _level(sum(rng.uniform(0.1, 1) / k * np.sin(2 * np.pi * k * f * t + rng.uniform(0, 6)) for k in range(1, 8)),
                  rng)


def clicks(rng, seconds):
    """Clicks at random times (0.5-10 per second) in faint noise."""
    n = int(seconds * RATE)
    x = rng.standard_normal(n) * 10 ** rng.uniform(-4, -2.5)
    count = max(1, int(rng.uniform(0.5, 10) * seconds))
    x[rng.integers(0, n, count)] += rng.choice([-1, 1], count) * rng.uniform(0.2, 0.9, count)
    return x.astype(np.float32)


def steady_noise(kind):
    def make(rng, seconds):
        return _level(coloured(kind, int(seconds * RATE), rng), rng)
    make.__doc__ = f"Steady {kind} noise."
    return make


def modulated_noise(kind):
    def make(rng, seconds):
        n = int(seconds * RATE)
        t = np.arange(n) / RATE
        depth = rng.uniform(0.5, 1.0)
        env = 1 - depth * (0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(2, 8) * t + rng.uniform(0, 6)))
        return _level(coloured(kind, n, rng) * env, rng)
    make.__doc__ = f"{kind.capitalize()} noise, amplitude-modulated at 2-8 Hz."
    return make


def speech_shaped_noise(rng, seconds):
    """Noise with the long-term speech spectrum, modulated by a speech-like envelope of syllables and pauses."""
    n = int(seconds * RATE)
    return _level(speech_shaped(n, rng) * syllable_envelope(n, rng), rng)


def _note(f0: float, t: np.ndarray, rng: np.random.Generator, vibrato: float = 0.0, decay: float = 6.0) -> np.ndarray:
    """A harmonic tone of f0 Hz over the times ``t`` (from 0), with an attack and a decay of up to ``decay``/s."""
    harmonics = rng.integers(1, 10)
    tilt = rng.uniform(0.5, 2.0)
    f = f0 * (1 + vibrato * np.sin(2 * np.pi * rng.uniform(4.5, 6.5) * t))
    phase = 2 * np.pi * np.cumsum(f) / RATE
    tone = sum(np.sin(k * phase) / k ** tilt for k in range(1, harmonics + 1) if k * f0 < 7000)
    attack = np.minimum(1, t / rng.uniform(0.005, 0.05))
    return tone * attack * np.exp(-t * rng.uniform(0, decay))


def _melody_line(rng, n: int, note_seconds: tuple, low: int = 48, high: int = 84, vibrato: float = 0.0):
    x = np.zeros(n)
    pos, midi = 0, rng.integers(low, high)
    while pos < n:
        length = min(int(rng.uniform(*note_seconds) * RATE), n - pos)
        midi = int(np.clip(midi + rng.integers(-5, 6), low, high))
        x[pos:pos + length] = _note(440 * 2 ** ((midi - 69) / 12), np.arange(length) / RATE, rng, vibrato)
        pos += length
    return x


def melody(rng, seconds):
    """A melody of harmonic notes of 0.15-0.6 s."""
    return _level(_melody_line(rng, int(seconds * RATE), (0.15, 0.6)), rng)


def melody_4hz(rng, seconds):
    """A melody at a 4-Hz note rate (notes of 0.22-0.28 s)."""
    return _level(_melody_line(rng, int(seconds * RATE), (0.22, 0.28)), rng)


def chords(rng, seconds):
    """Three- and four-note chords changing every 0.3-1.2 s."""
    n = int(seconds * RATE)
    x = np.zeros(n)
    pos = 0
    while pos < n:
        length = min(int(rng.uniform(0.3, 1.2) * RATE), n - pos)
        root = rng.integers(40, 70)
        t = np.arange(length) / RATE
        for step in (0, 4, 7, 12)[:rng.integers(3, 5)]:
            x[pos:pos + length] += _note(440 * 2 ** ((root + step - 69) / 12), t, rng)
        pos += length
    return _level(x, rng)


def arpeggio(rng, seconds):
    """Chord notes played one after another, 6-12 notes per second."""
    n = int(seconds * RATE)
    x = np.zeros(n)
    pos, i = 0, 0
    root = rng.integers(48, 72)
    length = int(RATE / rng.uniform(6, 12))
    while pos < n:
        step = (0, 4, 7, 12, 7, 4)[i % 6]
        m = min(length, n - pos)
        x[pos:pos + m] = _note(440 * 2 ** ((root + step - 69) / 12), np.arange(m) / RATE, rng)
        pos, i = pos + m, i + 1
        if i % 12 == 0:
            root = rng.integers(48, 72)
    return _level(x, rng)


def drums(rng, seconds):
    """Kick drums (a falling low tone) and snares and hi-hats (noise bursts) on a beat of 80-160 per minute."""
    n = int(seconds * RATE)
    x = np.zeros(n)
    beat = 60 / rng.uniform(80, 160) / 2  # eighth notes
    pattern = rng.integers(0, 3, 8)  # 0 kick, 1 snare, 2 hi-hat
    for i, start in enumerate(np.arange(rng.uniform(0, beat), seconds, beat)):
        pos = int(start * RATE)
        m = min(int(0.25 * RATE), n - pos)
        t = np.arange(m) / RATE
        kind = pattern[i % 8]
        if kind == 0:
            hit = np.sin(2 * np.pi * np.cumsum(50 + 100 * np.exp(-t * 30)) / RATE) * np.exp(-t * 15)
        else:
            noise = rng.standard_normal(m)
            if kind == 2:
                noise = np.diff(noise, prepend=0)
            hit = noise * np.exp(-t * (25 if kind == 1 else 60)) * (0.6 if kind == 1 else 0.3)
        x[pos:pos + m] += hit
    return _level(x, rng)


def vibrato_tone(rng, seconds):
    """A held harmonic tone with 4.5-6.5 Hz vibrato of 1-3 %, as a violin or a flute plays it."""
    t = _t(seconds)
    f0 = np.exp(rng.uniform(np.log(100), np.log(1000)))
    return _level(_note(f0, t, rng, vibrato=rng.uniform(0.01, 0.03), decay=0.3), rng)


def vibrato_melody(rng, seconds):
    """A melody of long notes (0.4-1.2 s) with vibrato."""
    return _level(_melody_line(rng, int(seconds * RATE), (0.4, 1.2), vibrato=rng.uniform(0.01, 0.03)), rng)


def band(rng, seconds):
    """A melody over chords and drums, as a small band plays."""
    n = int(seconds * RATE)
    parts = [_melody_line(rng, n, (0.15, 0.6)), chords(rng, seconds), drums(rng, seconds)]
    gains = rng.uniform(0.3, 1.0, 3)
    return _level(sum(g * p / np.sqrt(np.mean(p ** 2) + 1e-12) for g, p in zip(gains, parts)), rng)


KINDS = {
    "silence": lambda rng, seconds: np.zeros(int(seconds * RATE), np.float32),
    "DC offset": lambda rng, seconds: np.full(int(seconds * RATE), rng.uniform(-0.5, 0.5), np.float32),
    "clicks in faint noise": clicks,
    "sine": sine,
    "beeps at 2-8 Hz": beeps,
    "chirps": chirp,
    "square wave": square_wave,
    "mains hum": hum,
    "DTMF key sequence": dtmf_keys,
    "DTMF single key": dtmf_key,
    "dial tone": dial_tone,
    "busy tone": busy_tone,
    "ringing tone": ringing_tone,
    "white noise": steady_noise("white"),
    "pink noise": steady_noise("pink"),
    "brown noise": steady_noise("brown"),
    "white noise, modulated 2-8 Hz": modulated_noise("white"),
    "pink noise, modulated 2-8 Hz": modulated_noise("pink"),
    "brown noise, modulated 2-8 Hz": modulated_noise("brown"),
    "speech-shaped modulated noise": speech_shaped_noise,
    "melody": melody,
    "melody at 4 notes/s": melody_4hz,
    "chords": chords,
    "arpeggio": arpeggio,
    "drums": drums,
    "vibrato tone": vibrato_tone,
    "vibrato melody": vibrato_melody,
    "band (melody, chords, drums)": band,
}


def make(kind: str, seed: int, seconds: float = 4.0) -> np.ndarray:
    """One clip of ``kind`` (a :data:`KINDS` key), float32 (seconds * 16000,), from ``seed``."""
    return KINDS[kind](np.random.default_rng(seed), seconds).astype(np.float32)
