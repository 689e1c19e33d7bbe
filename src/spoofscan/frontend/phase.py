"""Phase channels of the front end: what they are, and the matrices both implementations share.

A magnitude spectrogram throws the STFT's phase away; vocoders that rebuild or propagate phase
(phase vocoders, iterative phase reconstruction, many neural vocoders) leave artefacts there. Two phase channels,
each computed per STFT frame (the same frames, hop and centring as the magnitude channel, so
they stack) and pooled into the magnitude channel's filterbank bands:

``mgd``: modified group delay (Hegde, Murthy and Gadde, "Significance of the modified group
    delay feature in speech recognition", IEEE TASLP 2007; MODGDF in the ASVspoof literature).
    With X the STFT of the frame and Y the STFT of the frame multiplied by the time from the
    frame's centre, in samples,
    ``tau(k) = (X_re Y_re + X_im Y_im) / S(k) ** (2 gamma)`` and
    ``mgd(k) = sign(tau) ((1 + |tau|) ** alpha - 1)``,
    where S is the cepstrally smoothed magnitude: ``log S^2`` keeps the first ``mgd_lifter``
    quefrency samples of the real cepstrum of ``log(|X|^2 + floor)``. Without the smoothing and
    the exponents tau is the group delay ``-d(phase)/d(omega)`` in samples (a click 20 samples
    after the frame's centre gives +20 at every bin); they keep the spikes at near-zeros of the
    spectrum from dominating. One departure from the paper's ``sign(tau) |tau| ** alpha``: that
    has an infinite slope at tau = 0, where float32 rounding of X and Y (about 1e-3 in tau, from
    the cancellation in ``X_re Y_re + X_im Y_im``) would move it by up to 0.1 between two FFT
    implementations; ``(1 + |tau|) ** alpha - 1`` has slope alpha there and grows as
    ``|tau| ** alpha`` for large tau. Bins are pooled with the filterbank's weights, each band's
    weights summing to 1 (a weighted mean).

``ifd``: instantaneous-frequency deviation, the time derivative of the unwrapped phase minus
    the bin's centre frequency, in FFT bins. It is computed in closed form with a second STFT
    whose window is the derivative of the analysis window (the frequency reassignment operator
    of Auger and Flandrin, IEEE TSP 1995): ``-Im(D(k) conj(X(k))) / |X(k)|^2`` rad per sample,
    D being the STFT with window ``dw/dn``; a tone 0.3 bins above bin k gives +0.3 bins at k.
    This equals the frame-to-frame phase difference as the hop goes to zero, with no 2 pi
    ambiguity whatever the hop. Bins are pooled weighted by their power, so a band holds its
    energy's mean deviation, ``-sum_k w_k Im(D X*) / (sum_k w_k |X|^2 + floor * sum_k w_k)`` with
    w the band's filterbank weights: bounded, where a per-bin value explodes near the zeros of
    noise. A tone at a band's centre gives 0 there and a value of the sign of its offset as it
    moves off (about 0.4 times the offset in a ``linear`` band); the band below a tone is
    positive (the energy lies above its centre), the band above negative.

Near-zero bins: phase is undefined where the magnitude vanishes, and in float32 the STFT's
rounding (about 1e-7 of the frame's largest amplitude) decides the phase of bins far below the
frame's peak. Both channels therefore treat a bin's power against a floor
``PHASE_FLOOR * (the frame's largest bin power) + log_floor``: ``mgd`` is weighted by
``|X|^2 / (|X|^2 + floor)`` and smoothed from ``log(|X|^2 + floor)``, and ``ifd`` adds the floor
to each band's power. Bins more than 60 dB below the frame's peak fade to 0, digital silence
gives exactly 0, and every value is finite. The floor is relative, so the level hardly matters
(above ``log_floor``): ``ifd`` does not depend on it, and tau of ``mgd`` grows as
level ** (2 (1 - gamma)), level ** 0.2 by default.

Both channels are then normalised per band over time as ``normalize`` says, like the magnitude.
"""

from __future__ import annotations

import numpy as np

from .config import FeatureConfig, filterbank, stft_window

PHASE_FLOOR = 1e-6  # power relative to the frame's strongest bin below which phase fades out: 60 dB


def ramp_window(cfg: FeatureConfig) -> np.ndarray:
    """The STFT window times the time from the frame's centre (``n - n_fft // 2`` samples),
    (n_fft,) float32: its STFT is ``Y`` of the group delay."""
    return (stft_window(cfg).astype(np.float64) * (np.arange(cfg.n_fft) - cfg.n_fft // 2)).astype(np.float32)


def derivative_window(cfg: FeatureConfig) -> np.ndarray:
    """The derivative of the periodic Hann window of :func:`~spoofscan.frontend.config.stft_window`,
    per sample, zero-padded the same way, (n_fft,) float32: its STFT is ``D`` of ``ifd``."""
    n = np.arange(cfg.win_length)
    dw = np.pi / cfg.win_length * np.sin(2.0 * np.pi * n / cfg.win_length)
    left = (cfg.n_fft - cfg.win_length) // 2
    return np.pad(dw, (left, cfg.n_fft - cfg.win_length - left)).astype(np.float32)


def cepstral_lifter(cfg: FeatureConfig) -> tuple[np.ndarray, np.ndarray]:
    """The two halves of cepstral smoothing of a one-sided log spectrum (``n_fft // 2 + 1`` bins).

    Returns ``to_cepstrum`` (mgd_lifter, bins) and ``from_cepstrum`` (bins, mgd_lifter), float32:
    ``from_cepstrum @ (to_cepstrum @ log_spectrum)`` keeps quefrencies ``0 .. mgd_lifter - 1`` (and
    their mirror images) of the real cepstrum, the inverse FFT of the even log spectrum.
    """
    bins, quefrencies = cfg.n_fft // 2 + 1, np.arange(cfg.mgd_lifter)
    k = np.arange(bins)
    angle = 2.0 * np.pi * np.outer(quefrencies, k) / cfg.n_fft
    counted = np.full(bins, 2.0)  # each bin of the one-sided spectrum stands for two of the full circle
    counted[0] = 1.0
    if cfg.n_fft % 2 == 0:
        counted[-1] = 1.0  # Nyquist
    to_cepstrum = counted * np.cos(angle) / cfg.n_fft
    mirrored = np.full(cfg.mgd_lifter, 2.0)  # quefrency q and n_fft - q
    mirrored[0] = 1.0
    from_cepstrum = (mirrored * np.cos(angle.T))
    return to_cepstrum.astype(np.float32), from_cepstrum.astype(np.float32)


def pooling_filterbank(cfg: FeatureConfig) -> np.ndarray:
    """The front end's filterbank with each band's weights summing to 1, (n_mels, bins) float32:
    a band's weighted mean of a per-bin quantity."""
    fb = filterbank(cfg).astype(np.float64)
    return (fb / fb.sum(axis=1, keepdims=True)).astype(np.float32)
