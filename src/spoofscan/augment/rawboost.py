"""RawBoost: waveform boosting and augmentation for anti-spoofing (Tak et al., ICASSP 2022).

Hand-written here: no packaged library implements RawBoost. This is our own implementation
of the published algorithms, written from the paper (H. Tak, M. Kamble, J. Patino,
M. Todisco, N. Evans, "RawBoost: A Raw Data Boosting and Augmentation Method applied to
Automatic Speaker Verification Anti-Spoofing", ICASSP 2022, pp. 6382-6386) and checked
against the authors' public reference code (``RawBoost.py`` of the SSL_Anti-spoofing
repository) for the settings; randomness comes only from the numpy Generator passed in
(the reference draws from numpy's global state). Filters are designed as
``scipy.signal.firwin`` designs them (:func:`band_stop`) and applied with FFT convolution.

The three algorithms:

1. **LnL, linear and non-linear convolutive noise** (:func:`lnl_convolutive_noise`): the sum
   over j = 1..N_f of ``x**j`` filtered by its own random multi-band notch filter; the
   higher-order terms (j >= 2) get a gain ``bias`` dB lower (5-20 dB), as in a non-linear
   channel (a memoryless polynomial followed by filters). Mean removed, scaled down if a peak
   passes 1.
2. **ISD, impulsive signal-dependent additive noise** (:func:`isd_additive_noise`): up to
   ``P`` % of the samples (the share drawn uniformly in [0, P]), at random positions, get
   ``x[i] * g_sd * (2u - 1)(2v - 1)`` added (u, v uniform in [0, 1]).
3. **SSI, stationary signal-independent additive noise** (:func:`ssi_additive_noise`):
   white Gaussian noise coloured by a random multi-band notch filter, added at an SNR drawn
   in [SNR_min, SNR_max] dB.

A **multi-band notch filter** is the cascade of ``n_bands`` band-stop FIR filters (Hamming
window, odd length drawn in [min_coeff, max_coeff] taps), each around a centre frequency
drawn in [min_f, max_f] Hz with a bandwidth in [min_bw, max_bw] Hz, normalised to a peak
magnitude response of ``gain`` dB, drawn in [min_g, max_g].

The published combinations (:data:`RAWBOOST_ALGOS`, numbered as in the paper and the
reference code): 1 LnL, 2 ISD, 3 SSI, 4 LnL->ISD->SSI in series, 5 LnL->ISD, 6 LnL->SSI,
7 ISD->SSI, 8 LnL and ISD in parallel (the two outputs summed, then scaled down if a peak
passes 1). The authors' ASVspoof 2021 systems used 5 for LA and 3 for DF; the defaults of
:class:`RawBoostParams` are the reference code's.

Differences from the reference code, none of which changes the distribution of outputs:
filtering is exactly zero-phase ('same' convolution; the reference is one sample late), and
the output of every algorithm is kept within [-1, 1] (the reference's SSI output can pass 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import Config
from ..errors import SpoofscanError, choice_error
from .base import SAMPLE_RATE, check_wave, finish, peak_normalise

RAWBOOST_ALGOS = {
    1: ("lnl",), 2: ("isd",), 3: ("ssi",), 4: ("lnl", "isd", "ssi"), 5: ("lnl", "isd"), 6: ("lnl", "ssi"),
    7: ("isd", "ssi"), 8: ("lnl||isd",),
}
FREQZ_POINTS = 512  # points of the frequency response used to normalise a notch filter (scipy's default)


@dataclass(frozen=True)
class RawBoostParams(Config):
    """RawBoost's settings; the defaults are the reference code's (its command-line names in brackets).

    n_bands : bands of a multi-band notch filter [nBands]
    min_f, max_f : range of a band's centre frequency, Hz [minF, maxF]
    min_bw, max_bw : range of a band's width, Hz [minBW, maxBW]
    min_coeff, max_coeff : range of a band filter's length, taps (made odd) [minCoeff, maxCoeff]
    min_g, max_g : range of a filter's gain, dB [minG, maxG]
    min_bias, max_bias : how much lower (dB) the gain of LnL's non-linear terms is drawn
        [minBiasLinNonLin, maxBiasLinNonLin]
    n_f : order of LnL's non-linearity (terms x, x^2, ..., x^N_f) [N_f]
    isd_percent : ISD changes up to this share of the samples, % [P]
    g_sd : ISD's gain [g_sd]
    snr_min, snr_max : range of SSI's SNR, dB [SNRmin, SNRmax]
    """

    n_bands: int = 5
    min_f: float = 20.0
    max_f: float = 8000.0
    min_bw: float = 100.0
    max_bw: float = 1000.0
    min_coeff: int = 10
    max_coeff: int = 100
    min_g: float = 0.0
    max_g: float = 0.0
    min_bias: float = 5.0
    max_bias: float = 20.0
    n_f: int = 5
    isd_percent: float = 10.0
    g_sd: float = 2.0
    snr_min: float = 10.0
    snr_max: float = 40.0

    def __post_init__(self):
        for name in ("n_bands", "min_coeff", "n_f"):
            if int(getattr(self, name)) < 1:
                raise SpoofscanError(f"RawBoost {name} must be at least 1, got {getattr(self, name)}")
        for lo, hi in (("min_f", "max_f"), ("min_bw", "max_bw"), ("min_coeff", "max_coeff"), ("min_g", "max_g"),
                       ("min_bias", "max_bias"), ("snr_min", "snr_max")):
            if getattr(self, lo) > getattr(self, hi):
                raise SpoofscanError(f"RawBoost {lo} ({getattr(self, lo)}) is above {hi} ({getattr(self, hi)})")
        if not 0 <= self.isd_percent <= 100:
            raise SpoofscanError(f"RawBoost isd_percent must be in [0, 100], got {self.isd_percent}")


DEFAULT_PARAMS = RawBoostParams()


def band_stop(taps: int, low_hz: float, high_hz: float) -> np.ndarray:
    """A linear-phase band-stop FIR stopping [low_hz, high_hz]: float64 (taps,), ``taps`` odd.

    The same design as ``scipy.signal.firwin(taps, [low_hz, high_hz], window="hamming",
    fs=16000)`` (windowed ideal response, scaled to unit gain at 0 Hz), equal to it to float
    precision (tested). Written out because firwin's per-call overhead (about 2 ms) is most of
    LnL's cost: it designs 25 of these per clip.
    """
    nyquist = SAMPLE_RATE / 2
    m = np.arange(taps) - (taps - 1) / 2
    ideal = np.sinc(m) - high_hz / nyquist * np.sinc(high_hz / nyquist * m) + low_hz / nyquist * np.sinc(low_hz / nyquist * m)
    h = ideal * np.hamming(taps)
    return h / np.sum(h)


def notch_filter(rng: np.random.Generator, params: RawBoostParams = DEFAULT_PARAMS,
                 gain_db: tuple | None = None) -> np.ndarray:
    """A random multi-band notch filter: FIR taps, float64 (taps,), odd length, peak gain in ``gain_db``.

    ``gain_db`` is the (low, high) range of the peak magnitude response in dB (default
    ``(min_g, max_g)``); the peak is read on :data:`FREQZ_POINTS` frequencies from 0 to just
    below 8 kHz, as ``scipy.signal.freqz`` does by default.
    """
    nyquist = SAMPLE_RATE / 2
    b = np.ones(1)
    for _ in range(int(params.n_bands)):
        centre = rng.uniform(params.min_f, params.max_f)
        width = rng.uniform(params.min_bw, params.max_bw)
        taps = int(rng.uniform(params.min_coeff, params.max_coeff))
        taps += 1 - taps % 2  # odd: a band-stop FIR needs a type I filter
        low = max(centre - width / 2, 1e-3)
        high = min(centre + width / 2, nyquist - 1e-3)
        b = np.convolve(band_stop(taps, low, high), b)
    low_g, high_g = gain_db if gain_db is not None else (params.min_g, params.max_g)
    gain = rng.uniform(min(low_g, high_g), max(low_g, high_g))  # LnL's shifted range can come reversed
    k = -(-len(b) // (2 * FREQZ_POINTS))  # FFT long enough for b, its bins a multiple of freqz's grid
    response = np.fft.rfft(b, 2 * FREQZ_POINTS * k)[: FREQZ_POINTS * k: k]  # at pi * i / FREQZ_POINTS, i < FREQZ_POINTS
    return 10 ** (gain / 20) * b / np.max(np.abs(response))


def _filter(signals: list, filters: list) -> np.ndarray:
    """Sum over i of ``signals[i]`` (each (n,)) filtered zero-phase by the linear-phase odd-length FIR
    ``filters[i]``: float64 (n,). One batched FFT: the filters are centred in a common length."""
    from scipy.fft import irfft, next_fast_len, rfft

    n, longest = len(signals[0]), max(len(b) for b in filters)
    size = next_fast_len(n + longest - 1, real=True)
    centred = np.stack([np.pad(b, (longest - len(b)) // 2) for b in filters])
    spectrum = (rfft(np.stack(signals), size, axis=1) * rfft(centred, size, axis=1)).sum(axis=0)
    offset = (longest - 1) // 2
    return irfft(spectrum, size)[offset:offset + n]


def lnl_convolutive_noise(x: np.ndarray, rng: np.random.Generator,
                          params: RawBoostParams = DEFAULT_PARAMS) -> np.ndarray:
    """Algorithm 1, linear and non-linear convolutive noise; float (samples,), the input's dtype."""
    x = check_wave(x)
    return finish(_lnl(x.astype(np.float64), rng, params), x)


def isd_additive_noise(x: np.ndarray, rng: np.random.Generator,
                       params: RawBoostParams = DEFAULT_PARAMS) -> np.ndarray:
    """Algorithm 2, impulsive signal-dependent additive noise; float (samples,), the input's dtype."""
    x = check_wave(x)
    return finish(_isd(x.astype(np.float64), rng, params), x)


def ssi_additive_noise(x: np.ndarray, rng: np.random.Generator,
                       params: RawBoostParams = DEFAULT_PARAMS) -> np.ndarray:
    """Algorithm 3, stationary signal-independent (coloured) additive noise; the input's dtype."""
    x = check_wave(x)
    return finish(_ssi(x.astype(np.float64), rng, params), x)


def apply_rawboost(x: np.ndarray, algo: int, rng: np.random.Generator,
             params: RawBoostParams = DEFAULT_PARAMS) -> np.ndarray:
    """RawBoost algorithm or combination ``algo`` (1-8, :data:`RAWBOOST_ALGOS`) applied to ``x``.

    Parameters
    ----------
    x : float array (samples,), 16 kHz, in [-1, 1]
    algo : 1 LnL, 2 ISD, 3 SSI, 4 series 1+2+3, 5 series 1+2, 6 series 1+3, 7 series 2+3,
        8 parallel 1||2
    rng : the only source of randomness
    params : the settings (the reference code's defaults)

    Returns
    -------
    np.ndarray (samples,), the input's dtype, within [-1, 1]
    """
    x = check_wave(x)
    if algo not in RAWBOOST_ALGOS:
        raise choice_error("RawBoost algo", algo, RAWBOOST_ALGOS)
    y = x.astype(np.float64)
    if len(y) == 0:
        return x.copy()
    for step in RAWBOOST_ALGOS[algo]:
        if step == "lnl||isd":
            y = peak_normalise(_lnl(y, rng, params) + _isd(y, rng, params))
        else:
            y = {"lnl": _lnl, "isd": _isd, "ssi": _ssi}[step](y, rng, params)
    return finish(y, x)


def _lnl(x: np.ndarray, rng: np.random.Generator, params: RawBoostParams) -> np.ndarray:
    orders = range(1, int(params.n_f) + 1)
    filters = [notch_filter(rng, params, (params.min_g, params.max_g) if order == 1 else
                            (params.min_g - params.min_bias, params.max_g - params.max_bias)) for order in orders]
    y = _filter([x ** order for order in orders], filters)
    return peak_normalise(y - np.mean(y))


def _isd(x: np.ndarray, rng: np.random.Generator, params: RawBoostParams) -> np.ndarray:
    beta = rng.uniform(0, params.isd_percent)
    count = int(len(x) * beta / 100)
    where = rng.permutation(len(x))[:count]
    shape = (2 * rng.random(count) - 1) * (2 * rng.random(count) - 1)
    y = x.copy()
    y[where] = x[where] + params.g_sd * x[where] * shape
    return peak_normalise(y)


def _ssi(x: np.ndarray, rng: np.random.Generator, params: RawBoostParams) -> np.ndarray:
    noise = _filter([rng.standard_normal(len(x))], [notch_filter(rng, params)])
    snr = rng.uniform(params.snr_min, params.snr_max)
    norm = np.linalg.norm(noise)
    if norm > 0:
        noise = noise / norm * np.linalg.norm(x) / 10 ** (snr / 20)
    return peak_normalise(x + noise)
