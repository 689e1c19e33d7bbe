"""Front ends (log-mel, linear log-spectrogram, LFCC): the torch module and its numpy twin
agree, shapes, filterbanks, deltas, config validation and round trips, analysis windows and
repeat-padding."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from synth import make_tone

from spoofscan.errors import SpoofscanError
from spoofscan.frontend.config import (FRONTENDS, NORMALIZATIONS, FeatureConfig, dct_matrix, hz_to_mel,
                                       linear_filterbank, mel_filterbank, mel_to_hz)
from spoofscan.frontend.numpy import deltas, frontend
from spoofscan.frontend.torch import Frontend
from spoofscan.frontend.windows import repeat_pad, window_starts

log_mel = frontend  # the default FeatureConfig is log-mel


def _waves(seconds: float = 2.0) -> np.ndarray:
    """(4, samples): noise, a tone, noise after silence, digital silence."""
    rng = np.random.default_rng(0)
    n = int(seconds * 16_000)
    w = np.stack([0.1 * rng.standard_normal(n), make_tone(700, seconds), 0.3 * rng.standard_normal(n),
                  np.zeros(n)]).astype(np.float32)
    w[2, : n // 2] = 0.0
    return w


@pytest.mark.parametrize("kind", FRONTENDS)
@pytest.mark.parametrize("normalize", NORMALIZATIONS)
def test_torch_module_matches_numpy_twin(kind, normalize):
    cfg = FeatureConfig(frontend=kind, normalize=normalize)
    w = _waves()
    ours = Frontend(cfg)(torch.from_numpy(w)).numpy()
    twin = frontend(w, cfg)
    assert ours.shape == twin.shape == (4, 1, cfg.rows, cfg.num_frames(w.shape[1]))
    assert ours.dtype == twin.dtype == np.float32
    np.testing.assert_allclose(ours, twin, atol=2e-3, rtol=1e-4)
    assert np.isfinite(ours).all()


@pytest.mark.parametrize("kind", FRONTENDS)
@pytest.mark.parametrize("kw", [dict(n_fft=513, win_length=400, n_mels=40), dict(n_fft=401, win_length=401, n_mels=40),
                                dict(n_fft=1024, win_length=401, hop_length=100)])
@pytest.mark.parametrize("samples", [16_000, 16_001, 3_000])
def test_numpy_twin_matches_on_odd_sizes_and_in_parallel_parts(kind, kw, samples):
    """Odd FFT and window lengths place the window off-centre; the frame count must follow torch.stft.
    LFCC deltas span part boundaries: they are taken after the parts are joined."""
    cfg = FeatureConfig(frontend=kind, **kw)
    w = np.random.default_rng(1).standard_normal((2, samples)).astype(np.float32)
    ours = Frontend(cfg)(torch.from_numpy(w)).numpy()
    with ThreadPoolExecutor(3) as pool:
        parts = frontend(w, cfg, pool=pool, parts=3)
    assert ours.shape == parts.shape == (2, 1, cfg.rows, cfg.num_frames(samples))
    np.testing.assert_allclose(frontend(w, cfg), ours, atol=2e-3, rtol=1e-4)
    np.testing.assert_allclose(parts, frontend(w, cfg), atol=1e-4)


def test_normalisations_do_what_they_say():
    w = _waves()
    mean = log_mel(w, FeatureConfig(normalize="mean"))
    np.testing.assert_allclose(mean.mean(axis=-1), 0, atol=1e-4)
    meanvar = log_mel(w[:1], FeatureConfig(normalize="meanvar"))  # noise: every band varies
    np.testing.assert_allclose(meanvar.std(axis=-1), 1, atol=0.05)
    silence = log_mel(w[3:], FeatureConfig(normalize="meanvar"))
    assert np.abs(silence).max() < 1e-3  # a constant band stays ~0, not amplified rounding noise
    raw = log_mel(w[3:], FeatureConfig(normalize="none"))
    np.testing.assert_allclose(raw, np.log(FeatureConfig().log_floor), rtol=1e-6)


@pytest.mark.parametrize("samples", [600, 16_000, 16_001, 16_159, 64_000])
def test_output_shape_and_num_frames(samples):
    cfg = FeatureConfig(n_mels=64, hop_length=256, n_fft=1024)
    out = Frontend(cfg)(torch.zeros(2, samples))
    assert out.shape == (2, 1, 64, samples // 256 + 1) == (2, 1, 64, cfg.num_frames(samples))


def test_four_seconds_give_401_frames_of_128_bands():
    cfg = FeatureConfig()
    assert Frontend(cfg)(torch.zeros(1, cfg.window_samples)).shape == (1, 1, 128, 401)


def test_a_tone_lights_the_mel_band_around_its_frequency():
    cfg = FeatureConfig(normalize="none")
    fb = mel_filterbank(cfg)
    centres = np.fft.rfftfreq(cfg.n_fft, 1 / cfg.sample_rate) @ fb.T / fb.sum(axis=1)
    for freq in (150, 1000, 3500, 7000):
        spec = log_mel(make_tone(freq, 0.5)[None], cfg)[0, 0].mean(axis=-1)
        assert abs(centres[np.argmax(spec)] - freq) < 0.05 * freq + 20


def test_module_stores_no_tensors():
    m = Frontend(FeatureConfig(frontend="lfcc"))
    assert m.state_dict() == {}  # filterbank, DCT and window are rebuilt from the config
    assert {n for n, _ in m.named_buffers()} == {"filterbank", "dct", "window"}


def test_linear_bands_are_equally_spaced_and_lfcc_stacks_deltas():
    cfg = FeatureConfig(frontend="linear", n_mels=64, fmin=0.0)
    fb = linear_filterbank(cfg)
    freqs = np.fft.rfftfreq(cfg.n_fft, 1 / cfg.sample_rate)
    centres = freqs @ fb.T / fb.sum(axis=1)
    assert np.ptp(np.diff(centres[1:-1])) < 1.0  # equal spacing in Hz (the mel bands widen)
    assert np.ptp(np.diff(freqs @ mel_filterbank(cfg).T / mel_filterbank(cfg).sum(axis=1))) > 50
    lf = FeatureConfig(frontend="lfcc", n_mels=60, n_lfcc=20)
    assert lf.rows == 60 and frontend(_waves()[:1], lf).shape[2] == 60


def test_a_tone_lights_the_linear_band_around_its_frequency():
    cfg = FeatureConfig(frontend="linear", normalize="none")
    fb = linear_filterbank(cfg)
    centres = np.fft.rfftfreq(cfg.n_fft, 1 / cfg.sample_rate) @ fb.T / fb.sum(axis=1)
    for freq in (150, 1000, 3500, 7000):
        spec = frontend(make_tone(freq, 0.5)[None], cfg)[0, 0].mean(axis=-1)
        assert abs(centres[np.argmax(spec)] - freq) < 70


def test_dct_is_orthonormal_and_deltas_follow_a_ramp():
    d = dct_matrix(40, 40)
    np.testing.assert_allclose(d @ d.T, np.eye(40), atol=1e-5)
    ramp = np.arange(10, dtype=np.float32)[None] * 3.0  # slope 3 per frame
    got = deltas(ramp)
    np.testing.assert_allclose(got[0, 2:-2], 3.0, rtol=1e-6)  # exact inside, damped at the repeated edges
    assert 0 < got[0, 0] < 3.0 and 0 < got[0, -1] < 3.0
    torch_deltas = Frontend(FeatureConfig(frontend="lfcc", normalize="none"))
    w = _waves()[:2]
    out = torch_deltas(torch.from_numpy(w)).numpy()[:, 0]
    n = 20
    np.testing.assert_allclose(out[:, n:2 * n], deltas(out[:, :n]), atol=1e-4)  # rows 20-39 are deltas of 0-19


# ------------------------------------------------------------------ mel filterbank


@pytest.mark.parametrize("cfg", [FeatureConfig(), FeatureConfig(n_mels=80, n_fft=512, win_length=400),
                                 FeatureConfig(n_mels=40, fmin=0.0, fmax=4000.0)])
def test_mel_filterbank_shape_nonempty_and_bounded(cfg):
    fb = mel_filterbank(cfg)
    assert fb.shape == (cfg.n_mels, cfg.n_fft // 2 + 1) and fb.dtype == np.float32
    assert (fb >= 0).all()
    assert (fb.sum(axis=1) > 0).all()  # every filter sees at least one FFT bin
    freqs = np.fft.rfftfreq(cfg.n_fft, 1 / cfg.sample_rate)
    assert fb[:, (freqs < cfg.fmin) | (freqs > cfg.fmax)].sum() == 0
    peaks = np.argmax(fb, axis=1)
    assert (np.diff(peaks) >= 0).all()  # filters ordered by frequency
    # area normalisation: each wide filter integrates to about 1 over Hz
    wide = fb.sum(axis=1) * (freqs[1] - freqs[0])
    np.testing.assert_allclose(wide[-10:], 1.0, rtol=0.1)


def test_mel_scale_round_trip():
    f = np.array([0.0, 20.0, 700.0, 1000.0, 8000.0])
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(f)), f, atol=1e-9)
    assert hz_to_mel(1000.0) == pytest.approx(1000.0, abs=0.5)  # HTK: 1000 Hz ~ 1000 mel


# ------------------------------------------------------------------ config


@pytest.mark.parametrize("kwargs, bad", [
    ({"normalize": "zscore"}, "'zscore'"),
    ({"win_length": 2048}, "2048"),
    ({"win_length": 0}, "win_length must be a positive integer, got 0"),
    ({"fmax": 9000.0}, "fmax=9000"),
    ({"fmin": 500.0, "fmax": 400.0}, "fmin=500"),
    ({"hop_seconds": 5.0}, "hop_seconds 5.0"),
    ({"hop_seconds": 0.0}, "hop_seconds 0.0"),
    ({"hop_length": 0}, "hop_length must be a positive integer, got 0"),
    ({"n_mels": 0}, "n_mels must be a positive integer, got 0"),
    ({"n_fft": 400.5}, "n_fft must be a positive integer, got 400.5"),
    ({"sample_rate": -16000}, "sample_rate must be a positive integer, got -16000"),
    ({"log_floor": 0.0}, "log_floor must be in (0, 1), got 0.0"),
    ({"n_fft": 512}, "n_mels=128 is too many for n_fft=512"),
    ({"frontend": "mfcc"}, "unknown frontend 'mfcc' (choose from: logmel, linear, lfcc, whisper)"),
    ({"frontend": "lfcc", "n_mels": 10}, "n_lfcc=20 coefficients need at least as many bands, got n_mels=10"),
    # the sample rate has one source of truth, and every size has a limit (a card is built through these)
    ({"sample_rate": 8000, "fmax": 4000.0}, "sample_rate must be 16000 Hz"),
    ({"hop_seconds": 1e-6}, "hop_seconds 1e-06 must be in [window_seconds / 32"),
    ({"window_seconds": 3600.0, "hop_seconds": 1800.0}, "window_seconds 3600.0 must be in [n_fft / sample_rate"),
    ({"window_seconds": 0.01, "hop_seconds": 0.01}, "window_seconds 0.01 must be in [n_fft / sample_rate = 0.064"),
    ({"n_fft": 1 << 20}, "n_fft 1048576 must be in 2..16384"),
    ({"n_mels": 100_000}, "n_mels 100000 must be at most 512"),
    ({"fmin": "20"}, "fmin must be a finite number, got '20'"),
    ({"window_seconds": float("nan")}, "window_seconds must be a finite number, got nan"),
    ({"n_mels": True}, "n_mels must be a positive integer, got True"),
])
def test_config_validation_names_the_bad_value(kwargs, bad):
    with pytest.raises(SpoofscanError) as info:
        FeatureConfig(**kwargs)
    assert bad in str(info.value)


def test_normalize_error_lists_the_choices():
    with pytest.raises(SpoofscanError, match="none, mean, meanvar"):
        FeatureConfig(normalize="zscore")


def test_config_dict_and_json_round_trip():
    cfg = FeatureConfig(n_mels=64, normalize="meanvar", window_seconds=3.0, hop_seconds=1.5)
    assert FeatureConfig.from_dict(cfg.to_dict()) == cfg
    assert FeatureConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(SpoofscanError, match=r"unknown FeatureConfig field\(s\) \['nmels'\].*n_mels"):
        FeatureConfig.from_dict({**cfg.to_dict(), "nmels": 64})
    with pytest.raises(Exception):
        cfg.n_mels = 32  # frozen


def test_window_and_hop_samples():
    cfg = FeatureConfig(window_seconds=4.0, hop_seconds=2.0)
    assert (cfg.window_samples, cfg.hop_samples) == (64_000, 32_000)


# ------------------------------------------------------------------ windows and padding


def test_window_starts_cover_every_sample():
    rng = np.random.default_rng(0)
    cases = [(s, w, h) for s in (1, 5, 99, 100, 101, 150, 199, 200, 201, 1000)
             for w, h in ((100, 50), (100, 100), (100, 30))]
    cases += [(int(rng.integers(1, 5000)), int(w), int(rng.integers(1, w + 1)))
              for w in rng.integers(1, 800, size=300)]
    for samples, window, hop in cases:
        starts = window_starts(samples, window, hop)
        assert starts[0] == 0 and starts.dtype == np.int64
        assert (np.diff(starts) > 0).all() and (np.diff(starts) <= hop).all()
        if samples <= window:
            assert len(starts) == 1
            continue
        assert starts[-1] + window == samples  # the tail window is aligned to the end
        assert (starts[:-1] == np.arange(len(starts) - 1) * hop).all()
        covered = np.zeros(samples, bool)
        for s in starts:
            covered[s:s + window] = True
        assert covered.all(), (samples, window, hop)


def test_window_starts_at_half_overlap():
    assert window_starts(10 * 16_000, 4 * 16_000, 2 * 16_000).tolist() == [0, 32_000, 64_000, 96_000]
    assert window_starts(9 * 16_000, 4 * 16_000, 2 * 16_000).tolist() == [0, 32_000, 64_000, 80_000]


def test_repeat_pad():
    x = np.arange(5, dtype=np.float32)
    assert repeat_pad(x, 12).tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1]
    assert repeat_pad(x, 5).tolist() == x.tolist()
    assert repeat_pad(x, 3).tolist() == [0, 1, 2]
    assert repeat_pad(x[:1], 4).tolist() == [0, 0, 0, 0]
