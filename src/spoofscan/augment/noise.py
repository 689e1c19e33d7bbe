"""Additive noise at a chosen SNR: coloured noise, babble-like noise, or the user's noise files.

Kinds (:data:`NOISE_KINDS`):

- ``white``, ``pink`` (power ~ 1/f), ``brown`` (power ~ 1/f^2): Gaussian noise shaped in the
  frequency domain (below :data:`COLOUR_FLOOR_HZ` the slope stops, so there is no DC drift);
- ``babble``: several simultaneous talkers. By default each talker is made here: a glottal
  pulse train on a wandering pitch plus breath noise, shaped by a long-term speech spectrum
  and random formants, switched on and off at a syllable rate with pauses. With a folder of
  speech recordings (:class:`AudioFolder`), the talkers are real clips at random offsets;
- ``folder``: a random stretch of a random file of the user's noise (MUSAN's ``noise/``
  folder, say), decoded with :func:`spoofscan.audio.load_audio` and looped when short.

The SNR is the ratio of the whole clip's power to the noise's power (silences included), in
dB. The mix is scaled down if a peak passes 1 (the SNR is kept; no clipping is added).
"""

from __future__ import annotations

import numpy as np

from ..errors import SpoofscanError, choice_error
from .base import MIN_RMS, SAMPLE_RATE, AudioFolder, check_wave, finish, peak_normalise, rms

NOISE_KINDS = ("white", "pink", "brown", "babble", "folder")
COLOUR_FLOOR_HZ = 20.0  # pink and brown noise are flat below this frequency
BABBLE_TALKERS = 6  # simultaneous talkers in babble
SYLLABLE_RATE_HZ = (3.0, 6.0)  # syllables per second of a generated talker
TALKER_F0_HZ = (85.0, 255.0)  # mean pitch of a generated talker


def coloured_noise(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """``white``, ``pink`` or ``brown`` Gaussian noise, float32 (n,), RMS 1."""
    white = rng.standard_normal(n)
    if kind == "white" or n < 2:
        noise = white
    elif kind in ("pink", "brown"):
        freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
        slope = 0.5 if kind == "pink" else 1.0  # amplitude ~ f^-slope, power ~ f^-2*slope
        noise = np.fft.irfft(np.fft.rfft(white) * np.maximum(freqs, COLOUR_FLOOR_HZ) ** -slope, n)
    else:
        raise choice_error("coloured noise kind", kind, ("white", "pink", "brown"))
    return (noise / (rms(noise) or 1.0)).astype(np.float32)


def _talkers(count: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` generated talkers mixed, float64 (n,), each talker at the same power.

    A talker: glottal pulses on a wandering pitch plus breath noise, switched on and off at a
    syllable rate with pauses (the source), then shaped by a long-term speech spectrum and
    three random formants (the vocal tract). The talkers are filtered in one batched FFT.
    """
    t = np.arange(n) / SAMPLE_RATE
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    ltass = 1.0 / (1.0 + (freqs / 500.0) ** 1.5)  # flat to 500 Hz, then about -9 dB per octave
    segment = int(0.6 * SAMPLE_RATE)  # talk or pause in 0.6-s stretches, talking 80 % of the time
    sources = np.empty((count, n))
    envelopes = np.empty((count, len(freqs)))
    for k in range(count):
        f0 = rng.uniform(*TALKER_F0_HZ) * (1 + 0.12 * np.sin(2 * np.pi * rng.uniform(0.2, 0.8) * t + rng.uniform(0, 6))
                                           + 0.04 * np.sin(2 * np.pi * rng.uniform(3, 7) * t))
        cycles = np.floor(np.cumsum(f0) / SAMPLE_RATE)
        pulses = np.diff(cycles, prepend=cycles[0])  # 1 at each glottal pulse
        syllables = np.clip(np.sin(2 * np.pi * rng.uniform(*SYLLABLE_RATE_HZ) * t + rng.uniform(0, 2 * np.pi)), 0, None)
        talking = np.repeat(rng.random(n // segment + 1) < 0.8, segment)[:n]
        sources[k] = (pulses + 0.05 * rng.standard_normal(n)) * syllables * talking
        envelope = ltass.copy()
        for lo, hi in ((300, 900), (900, 2300), (2300, 3500)):
            fc, bw = rng.uniform(lo, hi), rng.uniform(80, 250)
            envelope *= 1.0 + 4.0 * np.exp(-0.5 * ((freqs - fc) / bw) ** 2)
        envelopes[k] = envelope
    spectra = np.fft.rfft(sources, axis=1) * envelopes
    power = np.sum(np.abs(spectra) ** 2, axis=1)  # proportional to each talker's energy (Parseval)
    spectra /= np.sqrt(np.where(power > 0, power, 1.0))[:, None]
    return np.fft.irfft(spectra.sum(axis=0), n)


def babble(n: int, rng: np.random.Generator, talkers: int = BABBLE_TALKERS,
           speech: AudioFolder | None = None) -> np.ndarray:
    """Babble of ``talkers`` simultaneous voices, float32 (n,), RMS 1.

    Generated talkers (see the module docstring), or, with ``speech``, random stretches of
    that folder's recordings, each at unit RMS before mixing.
    """
    if speech is None:
        mix = _talkers(talkers, n, rng)
    else:
        mix = np.zeros(n)
        for _ in range(talkers):
            voice = speech.segment(n, rng).astype(np.float64)
            mix += voice / (rms(voice) or 1.0)
    return (mix / (rms(mix) or 1.0)).astype(np.float32)


def mix_at_snr(x: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``x`` plus ``noise`` scaled to ``snr_db`` dB below the power of ``x``; same length and dtype as ``x``.

    A silent ``x`` counts as :data:`~spoofscan.augment.base.MIN_RMS`. The sum is scaled
    down if a peak passes 1.
    """
    x = check_wave(x)
    noise = np.asarray(noise, dtype=np.float32)
    if len(noise) != len(x):
        raise SpoofscanError(f"noise has {len(noise)} samples, the signal {len(x)}")
    if len(x) == 0:
        return x.copy()
    scale = (rms(x) or MIN_RMS) * 10 ** (-snr_db / 20) / (rms(noise) or 1.0)
    return finish(peak_normalise(x + noise * np.float32(scale)), x)


def add_noise(x: np.ndarray, snr_db: float, kind: str = "white", rng: np.random.Generator | None = None,
              folder: AudioFolder | None = None) -> np.ndarray:
    """Add ``kind`` noise (a :data:`NOISE_KINDS` name) at ``snr_db`` dB SNR.

    Parameters
    ----------
    x : float array (samples,), 16 kHz, in [-1, 1]
    snr_db : signal-to-noise ratio in dB (whole-clip power over noise power)
    kind : ``white``, ``pink``, ``brown``, ``babble`` or ``folder``
    rng : the only source of randomness (the noise samples, the talkers, the file and offset);
        None means ``np.random.default_rng(0)``
    folder : for ``folder``: the noise files; for ``babble``: speech recordings to make the
        talkers from (optional)

    Returns
    -------
    np.ndarray (samples,), the input's dtype, within [-1, 1]
    """
    x = check_wave(x)
    rng = np.random.default_rng(0) if rng is None else rng
    if kind not in NOISE_KINDS:
        raise choice_error("noise kind", kind, NOISE_KINDS)
    if len(x) == 0:
        return x.copy()
    if kind == "folder":
        if folder is None:
            raise SpoofscanError("noise kind 'folder' needs a folder of noise files (AudioFolder)")
        noise = folder.segment(len(x), rng)
    elif kind == "babble":
        noise = babble(len(x), rng, speech=folder)
    else:
        noise = coloured_noise(kind, len(x), rng)
    return mix_at_snr(x, noise, snr_db)
