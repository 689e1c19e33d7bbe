"""Channel effects: band-limiting through 8 kHz, equalisation, clipping, gain and level.

Every function takes a float waveform ``(samples,)`` at 16 kHz in [-1, 1] and returns one
of the same length and dtype, within [-1, 1]. Resampling is soxr (:func:`spoofscan.audio.resample`);
the equaliser's filters are pedalboard's biquads.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..audio import resample
from ..errors import SpoofscanError, choice_error
from .base import MIN_RMS, SAMPLE_RATE, check_wave, finish, peak_normalise, rms

NARROWBAND_RATE = 8_000  # Hz: "band-limited through 8 kHz" = down to 8 kHz and back (4 kHz bandwidth)
EQ_KINDS = ("peak", "low_shelf", "high_shelf", "highpass", "lowpass")
DEFAULT_PEAK_LIMIT = 0.99  # set_level keeps peaks below this


def band_limit(x: np.ndarray, rate: int = NARROWBAND_RATE) -> np.ndarray:
    """Band-limit through ``rate`` Hz: soxr down to ``rate`` and back up to 16 kHz.

    Removes everything above ``rate / 2`` (4 kHz for the default telephone band), keeps the
    rest time-aligned (soxr's filters are linear-phase and delay-compensated).
    """
    x = check_wave(x)
    if not 0 < rate < SAMPLE_RATE:
        raise SpoofscanError(f"band-limit rate must be in (0, {SAMPLE_RATE}) Hz, got {rate}")
    if len(x) == 0:
        return x.copy()
    y = resample(resample(x.astype(np.float32), SAMPLE_RATE, rate), rate, SAMPLE_RATE)
    return finish(y, x)


def equalize(x: np.ndarray, bands: Sequence[tuple]) -> np.ndarray:
    """Filter ``x`` through a series of biquads (pedalboard), then scale down if a peak passes 1.

    Parameters
    ----------
    x : float array (samples,), 16 kHz
    bands : ``(kind, frequency_hz, gain_db, q)`` tuples; kind one of :data:`EQ_KINDS`.
        ``peak``, ``low_shelf`` and ``high_shelf`` boost or cut by ``gain_db`` around
        ``frequency_hz``; ``highpass`` and ``lowpass`` are pedalboard's first-order
        (6 dB/octave) filters at ``frequency_hz`` and ignore gain and q.
    """
    import pedalboard

    x = check_wave(x)
    makers = {"peak": pedalboard.PeakFilter, "low_shelf": pedalboard.LowShelfFilter,
              "high_shelf": pedalboard.HighShelfFilter}
    plugins = []
    for kind, freq, gain_db, q in bands:
        if kind not in EQ_KINDS:
            raise choice_error("EQ filter kind", kind, EQ_KINDS)
        if not 0 < freq < SAMPLE_RATE / 2:
            raise SpoofscanError(f"EQ frequency must be in (0, {SAMPLE_RATE // 2}) Hz, got {freq}")
        if kind in makers:
            plugins.append(makers[kind](cutoff_frequency_hz=float(freq), gain_db=float(gain_db), q=float(q)))
        else:
            plugin = pedalboard.HighpassFilter if kind == "highpass" else pedalboard.LowpassFilter
            plugins.append(plugin(cutoff_frequency_hz=float(freq)))
    if len(x) == 0 or not plugins:
        return x.copy()
    y = pedalboard.Pedalboard(plugins)(x.astype(np.float32)[None, :], SAMPLE_RATE, reset=True)[0]
    return finish(peak_normalise(y), x)


def random_eq_bands(rng: np.random.Generator, count: tuple = (1, 3), freq_hz: tuple = (100.0, 7000.0),
                    gain_db: tuple = (-9.0, 9.0), q: tuple = (0.5, 4.0)) -> list[tuple]:
    """Draw ``count`` (low, high, inclusive) peak/shelf bands for :func:`equalize`.

    Frequencies are drawn log-uniformly in ``freq_hz``, gains uniformly in ``gain_db`` (dB),
    q log-uniformly; the kind is a peak (half the time) or a low or high shelf.
    """
    bands = []
    for _ in range(int(rng.integers(int(count[0]), int(count[1]) + 1))):
        kind = ("peak", "peak", "low_shelf", "high_shelf")[int(rng.integers(4))]
        freq = float(np.exp(rng.uniform(np.log(freq_hz[0]), np.log(freq_hz[1]))))
        bands.append((kind, freq, float(rng.uniform(*gain_db)), float(np.exp(rng.uniform(np.log(q[0]), np.log(q[1]))))))
    return bands


def clip(x: np.ndarray, percent: float) -> np.ndarray:
    """Hard-clip ``x`` at the level that ``percent`` % of its samples exceed (0-100).

    The threshold is the (100 - percent)-th percentile of |x|: ``clip(x, 5)`` flattens the
    loudest 5 % of samples, as an overdriven input stage does. No make-up gain.
    (numpy, not pedalboard's ``Clipping``: the threshold depends on the signal.)
    """
    x = check_wave(x)
    if not 0 <= percent <= 100:
        raise SpoofscanError(f"clip percent must be in [0, 100], got {percent}")
    if len(x) == 0 or percent == 0:
        return x.copy()
    threshold = float(np.quantile(np.abs(x), 1.0 - percent / 100.0))
    return finish(np.clip(x, -threshold, threshold), x)


def gain(x: np.ndarray, db: float) -> np.ndarray:
    """Multiply by ``db`` decibels; samples pushed beyond full scale are clipped, as a converter would."""
    x = check_wave(x)
    return finish(x * np.float32(10 ** (db / 20)), x)


def set_level(x: np.ndarray, dbfs: float, peak: float = DEFAULT_PEAK_LIMIT) -> np.ndarray:
    """Scale ``x`` to an RMS level of ``dbfs`` (dB re full scale), then down again if a peak passes ``peak``.

    A silent clip counts as :data:`~spoofscan.augment.base.MIN_RMS`. Returns the input's dtype.
    """
    x = check_wave(x)
    y = x * np.float32(10 ** (dbfs / 20) / (rms(x) or MIN_RMS))
    return finish(peak_normalise(y, peak), x)
