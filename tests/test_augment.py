"""spoofscan.augment: every effect's contract, what each effect really does, RawBoost's published
properties, SpecAugment, the config and the chain, and augmentation in the training data loader.

Signals are generated here (a second of syllables with onsets, tones, noise); a few ms to a
few tens of ms of work per effect call.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import soundfile as sf

import spoofscan.augment as A
from spoofscan.augment import codecs, rawboost, reverb, specaugment
from spoofscan.errors import SpoofscanError

R = 16_000


def syllables(seconds: float, rng: np.random.Generator, top_hz: float = 7000.0) -> np.ndarray:
    """Speech-like float32 (seconds * 16000,): voiced syllables with onsets, gliding pitch, harmonics
    up to ``top_hz``, a little breath noise; peak 0.5."""
    n = int(seconds * R)
    x = np.zeros(n)
    start = int(0.02 * R)
    while start < n:
        length = min(int(rng.uniform(0.1, 0.25) * R), n - start)
        t = np.arange(length) / R
        f0 = rng.uniform(100, 220) * (1 + 0.25 * t)
        phase = 2 * np.pi * np.cumsum(f0) / R
        seg = sum(np.sin(k * phase) / k for k in range(1, int(top_hz / f0.max()) + 1))
        ramp = np.minimum(1.0, np.minimum(np.arange(length), np.arange(length)[::-1]) / (0.005 * R))
        x[start:start + length] = seg * ramp
        start += length + int(rng.uniform(0.03, 0.08) * R)
    x = x + 0.02 * np.abs(x).max() * rng.standard_normal(n)
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return syllables(1.0, np.random.default_rng(11))


def band_db(y: np.ndarray, x: np.ndarray, lo: float, hi: float) -> float:
    """Energy of ``y`` in [lo, hi) Hz relative to that of ``x``, dB (Hann-windowed spectra)."""
    f = np.fft.rfftfreq(len(x), 1 / R)
    sel = (f >= lo) & (f < hi)
    w = np.hanning(len(x))
    return 10 * np.log10(np.sum(np.abs(np.fft.rfft(y * w)[sel]) ** 2) / np.sum(np.abs(np.fft.rfft(x * w)[sel]) ** 2))


def snr_db(y: np.ndarray, ref: np.ndarray) -> float:
    """SNR of ``y`` taken as ``ref`` plus an error, dB: power of ref over power of (y - ref)."""
    return power_db(ref, y.astype(np.float64) - ref)


def power_db(a: np.ndarray, b: np.ndarray) -> float:
    """Power of ``a`` over power of ``b``, dB."""
    return 10 * np.log10(np.sum(np.square(a, dtype=np.float64)) / np.sum(np.square(b, dtype=np.float64)))


def envelope_corr(y: np.ndarray, x: np.ndarray) -> float:
    """Correlation of the 10-ms frame energies (dB) of two signals of the same length."""
    def frames(a):
        a = a[: len(a) // 160 * 160].astype(np.float64).reshape(-1, 160)
        return 10 * np.log10(np.mean(a ** 2, axis=1) + 1e-8)
    return float(np.corrcoef(frames(y), frames(x))[0, 1])


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict:
    """A folder of two noise files (tones of 300 and 2000 Hz), one of two RIRs, one of speech."""
    root = tmp_path_factory.mktemp("aug")
    t = np.arange(int(0.7 * R)) / R
    for name, freq in (("hum.wav", 300.0), ("whine.flac", 2000.0)):
        (root / "noise").mkdir(exist_ok=True)
        sf.write(root / "noise" / name, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), R)
    rng = np.random.default_rng(4)
    (root / "rirs").mkdir()
    for i in range(2):
        rir = np.zeros(4000, np.float32)
        rir[100] = 1.0  # direct path after 100 samples of flight
        rir[101:] = 0.1 * rng.standard_normal(3899) * np.exp(-np.arange(3899) / 600.0)
        sf.write(root / "rirs" / f"room{i}.wav", rir, R, subtype="FLOAT")
    (root / "speech" / "spk").mkdir(parents=True)
    for i in range(3):
        sf.write(root / "speech" / "spk" / f"s{i}.wav", syllables(0.8, np.random.default_rng(i)), R)
    return {k: A.AudioFolder(root / k) for k in ("noise", "rirs", "speech")}


# ---------------------------------------------------------------------------- every effect's contract

CODEC_CONDITIONS = ("mp3:32", "mp3:128", "aac:64", "opus:12", "vorbis:0.5", "g722", "mulaw", "alaw", "gsm",
                    "amr_nb:12.2")


def _effects(folders) -> dict:
    """name -> effect(x, rng): every effect of the package, with drawn settings where it has any."""
    table = {f"codec {c}": (lambda c: lambda x, rng: A.codec_roundtrip(x, *A.parse_codec(c)))(c)
             for c in CODEC_CONDITIONS}
    table.update({
        "band_limit": lambda x, rng: A.band_limit(x),
        "equalize": lambda x, rng: A.equalize(x, A.random_eq_bands(rng)),
        "clip": lambda x, rng: A.clip(x, rng.uniform(1, 10)),
        "gain": lambda x, rng: A.gain(x, rng.uniform(-20, 12)),
        "set_level": lambda x, rng: A.set_level(x, rng.uniform(-40, -10)),
        "noise folder": lambda x, rng: A.add_noise(x, 5.0, "folder", rng, folders["noise"]),
        "babble from speech": lambda x, rng: A.add_noise(x, 5.0, "babble", rng, folders["speech"]),
        "reverb folder": lambda x, rng: A.reverberate(x, "folder", rng, folders["rirs"]),
    })
    for kind in ("white", "pink", "brown", "babble"):
        table[f"noise {kind}"] = (lambda k: lambda x, rng: A.add_noise(x, rng.uniform(0, 20), k, rng))(kind)
    for room in A.ROOMS:
        table[f"reverb {room}"] = (lambda r: lambda x, rng: A.reverberate(x, r, rng))(room)
    for algo in A.RAWBOOST_ALGOS:
        table[f"rawboost {algo}"] = (lambda a: lambda x, rng: A.apply_rawboost(x, a, rng))(algo)
    return table


EFFECT_NAMES = [f"codec {c}" for c in CODEC_CONDITIONS] + [
    "band_limit", "equalize", "clip", "gain", "set_level", "noise folder", "babble from speech", "reverb folder",
    "noise white", "noise pink", "noise brown", "noise babble", "reverb small", "reverb medium", "reverb large",
    *[f"rawboost {a}" for a in range(1, 9)]]
RANDOM = {"equalize", "clip", "gain", "set_level", "noise folder", "babble from speech", "noise white", "noise pink",
          "noise brown", "noise babble", *[f"rawboost {a}" for a in range(1, 9)]}


@pytest.mark.parametrize("name", EFFECT_NAMES)
def test_every_effect_keeps_the_contract_and_is_deterministic(name, speech, folders):
    effect = _effects(folders)[name]
    loud = np.clip(speech * 1.9, -1, 1)  # peaks at full scale: effects that add must not pass 1
    for x in (speech, loud, speech.astype(np.float64)[:5000]):
        y = effect(x, np.random.default_rng(7))
        assert y.shape == x.shape and y.dtype == x.dtype
        assert np.isfinite(y).all() and np.abs(y).max() <= 1.0
        np.testing.assert_array_equal(y, effect(x, np.random.default_rng(7)))  # same seed, same output
        assert not np.array_equal(y, x)  # it did something
    assert not np.shares_memory(effect(speech, np.random.default_rng(7)), speech)
    if name in RANDOM:  # the seed matters, and it is the only source of randomness
        assert not np.array_equal(effect(speech, np.random.default_rng(7)), effect(speech, np.random.default_rng(8)))


def test_effects_take_silence_and_empty_input(folders):
    for name, effect in _effects(folders).items():
        for n in (0, 1, 3000):
            y = effect(np.zeros(n, np.float32), np.random.default_rng(0))
            assert y.shape == (n,) and y.dtype == np.float32 and np.isfinite(y).all(), name


def test_bad_input_is_refused_by_name():
    with pytest.raises(SpoofscanError, match="mono"):
        A.mp3(np.zeros((100, 2), np.float32))
    with pytest.raises(SpoofscanError, match="float"):
        A.band_limit(np.zeros(100, np.int16))
    with pytest.raises(SpoofscanError, match="NaN"):
        A.add_noise(np.array([0.0, np.nan], np.float32), 10)


# ---------------------------------------------------------------------------- codecs


@pytest.mark.parametrize("condition", CODEC_CONDITIONS + ("aac:16", "opus:6", "amr_nb:4.75"))
def test_codecs_are_time_aligned_and_correlated(condition, speech):
    """After the delay is removed, the output lines up with the input (2-stage cross-correlation)
    on a signal unlike the probe the delay was measured on, and keeps its shape."""
    name, setting = A.parse_codec(condition)
    y = A.codec_roundtrip(speech, name, setting)
    ref = A.band_limit(speech) if A.CODECS[name].rate == 8000 else speech
    # AMR-NB (CELP) keeps the spectrum and pitch, not the waveform's phase: its best lag moves by
    # up to about 1 ms (16 samples) from signal to signal; every other codec is sample-exact
    assert abs(codecs.estimate_lag(y, ref, 2000)) <= (20 if name == "amr_nb" else 2)
    if name == "amr_nb":
        assert envelope_corr(y, ref) > 0.9
    else:
        assert np.corrcoef(y, ref)[0, 1] > 0.9
    late = np.concatenate([np.zeros(100, np.float32), speech[:-100]])  # the check can fail: a late copy is seen
    assert abs(codecs.estimate_lag(late, speech, 2000) - 100) <= 1


def test_codec_delays_measured_where_decoders_keep_them():
    assert codecs.codec_delay("aac", 64) == 1024  # FFmpeg's AAC priming samples
    assert codecs.codec_delay("g722") == 22  # the QMF filter bank
    assert codecs.codec_delay("mp3", 32) == 0  # FFmpeg passes LAME's delay to the decoder, which drops it


@pytest.mark.parametrize("name", ["mulaw", "alaw", "gsm", "amr_nb"])
def test_telephone_chains_remove_everything_above_4_khz(name, speech):
    y = A.codec_roundtrip(speech, name)
    assert band_db(y, speech, 4100, 8000) < -40
    assert abs(band_db(y, speech, 300, 3000)) < 3  # the telephone band itself is kept


def test_band_limit_through_8_khz(speech):
    y = A.band_limit(speech)
    assert band_db(y, speech, 4100, 8000) < -40 and abs(band_db(y, speech, 100, 3500)) < 0.5
    assert snr_db(A.band_limit(A.band_limit(speech)), y) > 40  # a band-limited signal passes unchanged


def test_g711_adds_quantisation_noise_at_its_level_whatever_the_signal_level(speech):
    """G.711 companding: about 38 dB SNR for speech over a wide range of levels (a uniform 8-bit
    quantiser would lose 20 dB between -10 and -30 dBFS)."""
    narrow = A.band_limit(speech)
    for level in (-10.0, -30.0):
        x = A.set_level(narrow, level)
        for name in ("mulaw", "alaw"):
            snr = snr_db(A.codec_roundtrip(x, name), A.band_limit(x))
            assert 33 < snr < 42, (name, level, snr)


def test_lossy_codecs_low_pass_and_distort_as_their_bit_rate_says(speech):
    mp3_16, mp3_32, mp3_128 = (A.mp3(speech, k) for k in (16, 32, 128))
    assert band_db(mp3_16, speech, 6000, 8000) < -30  # LAME's low-pass at 16 kbit/s (16 kHz)
    assert band_db(mp3_32, speech, 7700, 8000) < -6  # ... at 32 kbit/s only the top of the band goes
    assert abs(band_db(mp3_32, speech, 100, 7000)) < 2
    assert snr_db(mp3_128, speech) > snr_db(mp3_32, speech) + 3
    assert band_db(A.aac(speech, 16), speech, 5000, 8000) < -30 and abs(band_db(A.aac(speech, 64), speech, 5000, 7000)) < 2
    assert band_db(A.opus(speech, 6), speech, 5000, 8000) < -30  # libopus goes narrowband at 6 kbit/s
    assert snr_db(A.vorbis(speech, 1.0), speech) > snr_db(A.vorbis(speech, 0.0), speech) + 3
    assert snr_db(A.gsm(speech), A.band_limit(speech)) < snr_db(A.telephone_mulaw(speech), A.band_limit(speech)) - 10


def test_codec_settings_are_checked_and_missing_codecs_named(monkeypatch):
    assert A.parse_codec("mp3:32") == ("mp3", 32.0) and A.parse_codec("gsm") == ("gsm", None)
    assert A.parse_codec("aac") == ("aac", 64)  # the default
    with pytest.raises(SpoofscanError, match="choose from: 8, 16"):
        A.mp3(np.zeros(100, np.float32), 33)
    with pytest.raises(SpoofscanError, match="4.75"):
        A.amr_nb(np.zeros(100, np.float32), 13)
    with pytest.raises(SpoofscanError, match="fixed rate"):
        A.parse_codec("gsm:13")
    with pytest.raises(SpoofscanError, match="unknown codec 'wma'.*choose from: mp3"):
        A.parse_codec("wma:64")
    with pytest.raises(SpoofscanError, match="outside"):
        A.opus(np.zeros(100, np.float32), 1000)
    monkeypatch.setattr(codecs, "_missing", lambda name: "no 'libopencore_amrnb' encoder" if name == "amr_nb" else None)
    assert "amr_nb" not in A.available_codecs() and "mp3" in A.available_codecs()
    with pytest.raises(SpoofscanError, match="codec 'amr_nb' is not available here: no 'libopencore_amrnb' encoder"):
        A.amr_nb(np.zeros(100, np.float32))
    with pytest.raises(SpoofscanError, match="amr_nb"):
        A.Augmenter(A.AugmentConfig.from_dict({"codec": {"p": 0.5, "choices": ["mp3:32", "amr_nb"]}}))


def test_every_codec_is_available_in_this_build():
    assert set(A.available_codecs()) == set(A.CODECS)


# ---------------------------------------------------------------------------- channel


def test_channel_effects_do_what_they_say(speech):
    assert A.gain(speech, -6.0) == pytest.approx(speech * 10 ** (-6 / 20), abs=1e-7)
    assert np.abs(A.gain(speech, 12.0)).max() == 1.0  # pushed past full scale: clipped
    assert 20 * np.log10(np.sqrt(np.mean(A.set_level(speech, -26.0) ** 2))) == pytest.approx(-26.0, abs=0.01)
    assert np.abs(A.set_level(speech, 0.0, peak=0.9)).max() == pytest.approx(0.9, abs=1e-6)
    clipped = A.clip(speech, 5.0)
    assert 0.04 < np.mean(np.abs(clipped) >= np.abs(clipped).max() - 1e-7) < 0.06  # 5 % of the samples are flat tops
    boost = A.equalize(speech, [("peak", 1000.0, 12.0, 2.0)])
    assert band_db(boost, speech, 950, 1050) > 10 and abs(band_db(boost, speech, 3000, 4000)) < 1
    cut = A.equalize(speech, [("high_shelf", 3000.0, -20.0, 0.7)])
    assert band_db(cut, speech, 5000, 8000) < -15 and abs(band_db(cut, speech, 100, 1000)) < 1
    with pytest.raises(SpoofscanError, match="choose from: peak"):
        A.equalize(speech, [("notch", 1000.0, 0.0, 1.0)])


# ---------------------------------------------------------------------------- noise


@pytest.mark.parametrize("kind", ["white", "pink", "brown", "babble"])
def test_noise_is_added_at_the_snr_asked_for(kind, speech):
    x = 0.2 * speech  # quiet enough that the mix is not scaled down
    for snr in (20.0, 5.0):
        y = A.add_noise(x, snr, kind, np.random.default_rng(3))
        assert snr_db(y, x) == pytest.approx(snr, abs=0.01)  # y - x is the noise
    x = np.clip(1.9 * speech, -1, 1)
    loud = A.add_noise(x, 0.0, kind, np.random.default_rng(3))  # at 0 dB the sum passes 1 ...
    scale = np.dot(loud, x) / np.dot(x, x)
    assert np.abs(loud).max() == pytest.approx(1.0) and scale < 0.99  # ... so it is scaled down, not clipped
    assert snr_db(loud / scale, x) == pytest.approx(0.0, abs=0.5)  # and the SNR is kept


def test_noise_colours_and_babble_look_like_what_they_are_called():
    rng = np.random.default_rng(0)
    n = 4 * R

    def octave_slope(x):  # dB per octave of the power spectral density, fitted 125 Hz - 4 kHz
        f = np.fft.rfftfreq(n, 1 / R)
        p = np.abs(np.fft.rfft(x)) ** 2
        centres = 125 * 2.0 ** np.arange(6)
        density = [np.mean(p[(f >= c / np.sqrt(2)) & (f < c * np.sqrt(2))]) for c in centres]
        return np.polyfit(np.log2(centres), 10 * np.log10(density), 1)[0]

    assert abs(octave_slope(A.coloured_noise("white", n, rng))) < 0.5
    assert octave_slope(A.coloured_noise("pink", n, rng)) == pytest.approx(-3.0, abs=0.5)
    assert octave_slope(A.coloured_noise("brown", n, rng)) == pytest.approx(-6.0, abs=0.5)
    b = A.babble(n, rng).astype(np.float64)
    white = A.coloured_noise("white", n, rng)
    assert band_db(b, white, 4000, 8000) - band_db(b, white, 100, 1000) < -15  # speech-shaped
    frames = np.sqrt(np.mean(b[: n // 160 * 160].reshape(-1, 160) ** 2, axis=1))  # 10-ms envelope
    modulation = np.abs(np.fft.rfft(frames - frames.mean())) ** 2
    mf = np.fft.rfftfreq(len(frames), 0.01)
    syllabic = modulation[(mf >= 2) & (mf <= 8)].sum() / modulation[(mf > 0) & (mf <= 50)].sum()
    assert syllabic > 0.3  # the envelope moves at syllable rates, unlike stationary noise
    white_frames = np.sqrt(np.mean(A.coloured_noise("white", n, rng)[: n // 160 * 160].reshape(-1, 160) ** 2, axis=1))
    assert np.std(frames) / np.mean(frames) > 3 * np.std(white_frames) / np.mean(white_frames)


def test_noise_from_folders_comes_from_their_files(speech, folders):
    residual = A.add_noise(speech, 0.0, "folder", np.random.default_rng(1), folders["noise"]) - speech
    spectrum = np.abs(np.fft.rfft(residual))
    peak_hz = np.fft.rfftfreq(len(residual), 1 / R)[np.argmax(spectrum)]
    assert min(abs(peak_hz - 300), abs(peak_hz - 2000)) < 5  # one of the two tones
    seen = {round(np.fft.rfftfreq(len(speech), 1 / R)[np.argmax(np.abs(np.fft.rfft(
        A.add_noise(speech, 0.0, "folder", np.random.default_rng(s), folders["noise"]) - speech)))], -2)
        for s in range(8)}
    assert seen == {300.0, 2000.0}  # both files are drawn
    with pytest.raises(SpoofscanError, match="folder"):
        A.add_noise(speech, 5.0, "folder", np.random.default_rng(0))
    with pytest.raises(SpoofscanError, match="choose from: white"):
        A.add_noise(speech, 5.0, "purple")


# ---------------------------------------------------------------------------- reverb


def test_simulated_rooms_are_reproducible_and_reverberate_by_size(speech):
    assert np.array_equal(reverb.simulate_rir("small", 3), reverb.simulate_rir("small", 3))
    small, large = reverb.room_impulse_response("small", 0), reverb.room_impulse_response("large", 0)
    for rir in (small, large):
        assert np.argmax(np.abs(rir)) == 0 and np.sum(rir.astype(np.float64) ** 2) == pytest.approx(1.0, abs=1e-5)
        assert len(rir) <= reverb.MAX_RIR_SECONDS * R

    def tail(rir):  # share of the energy later than 50 ms
        return np.sum(rir[800:].astype(np.float64) ** 2) / np.sum(rir.astype(np.float64) ** 2)

    assert tail(large) > 2 * tail(small)
    click = np.zeros(8000, np.float32)
    click[3000] = 0.5
    for room in A.ROOMS:  # aligned on the direct path: a click comes out at its own time, nothing before it
        wet = A.reverberate(click, room, np.random.default_rng(0))
        assert np.argmax(np.abs(wet)) == 3000 and np.abs(wet[:3000]).max() < 1e-6 and np.abs(wet[3100:]).max() > 1e-3
    wet = A.reverberate(speech, "large", np.random.default_rng(0))
    assert np.corrcoef(wet, speech)[0, 1] < np.corrcoef(A.reverberate(speech, "small", np.random.default_rng(0)), speech)[0, 1]
    with pytest.raises(SpoofscanError, match="choose from: small, medium, large, folder"):
        A.reverberate(speech, "cathedral")


def test_reverb_with_the_users_rirs(folders):
    raw = [sf.read(f, dtype="float64")[0] for f in folders["rirs"].files]
    rir = reverb.prepare_rir(raw[0])
    assert rir[0] == pytest.approx(1.0 / np.sqrt(np.sum(raw[0][100:] ** 2)), rel=1e-5)  # cut at the direct path, unit energy
    click = np.zeros(8000, np.float32)
    click[3000] = 0.5
    responses = set()
    for seed in range(6):
        wet = A.reverberate(click, "folder", np.random.default_rng(seed), folders["rirs"])
        assert np.argmax(np.abs(wet)) == 3000 and np.abs(wet[:3000]).max() < 1e-6  # the 100 samples of flight are gone
        match = [i for i, r in enumerate(raw) if np.allclose(wet[3000:6900], 0.5 * reverb.prepare_rir(r)[:3900],
                                                               atol=1e-6)]
        assert len(match) == 1  # the response of one of the files, exactly
        responses.add(match[0])
    assert responses == {0, 1}


# ---------------------------------------------------------------------------- RawBoost


def test_rawboost_defaults_are_the_published_ones():
    p = A.RawBoostParams()
    assert (p.n_bands, p.min_f, p.max_f, p.min_bw, p.max_bw, p.min_coeff, p.max_coeff) == (5, 20, 8000, 100, 1000, 10, 100)
    assert (p.min_g, p.max_g, p.min_bias, p.max_bias, p.n_f) == (0, 0, 5, 20, 5)
    assert (p.isd_percent, p.g_sd, p.snr_min, p.snr_max) == (10, 2, 10, 40)
    assert A.RawBoostAugment().algo == 5


def test_notch_filter_is_a_normalised_multiband_band_stop():
    from scipy.signal import firwin, freqz

    rng = np.random.default_rng(2)
    for taps, low, high in ((11, 1e-3, 100.0), (101, 2500.0, 3400.0), (57, 7200.0, 8000 - 1e-3)):
        np.testing.assert_allclose(rawboost.band_stop(taps, low, high),
                                   firwin(taps, [low, high], window="hamming", fs=R), atol=1e-12)
    for gain in ((0.0, 0.0), (-20.0, -5.0)):
        b = rawboost.notch_filter(rng, gain_db=gain)
        assert len(b) % 2 == 1 and np.allclose(b, b[::-1])  # linear phase, odd length
        _, h = freqz(b, 1, worN=rawboost.FREQZ_POINTS, fs=R)
        peak_db = 20 * np.log10(np.max(np.abs(h)))
        assert gain[0] - 1e-6 <= peak_db <= gain[1] + 1e-6
        assert np.min(np.abs(h)) < 0.1 * np.max(np.abs(h))  # at least one deep notch


def test_isd_changes_at_most_p_percent_of_samples_by_at_most_g_sd_times_them(speech):
    x = (0.2 * speech).astype(np.float64)  # quiet enough that no rescaling follows
    for seed in range(5):
        y = rawboost.isd_additive_noise(x, np.random.default_rng(seed))
        changed = y != x
        assert 0 < changed.mean() <= 0.10
        assert np.all(np.abs(y - x) <= 2.0 * np.abs(x) + 1e-12)


def test_ssi_adds_coloured_noise_between_10_and_40_db(speech):
    x = speech.astype(np.float64)
    snrs = []
    for seed in range(8):
        noise_part = rawboost.ssi_additive_noise(x, np.random.default_rng(seed)) - x
        snrs.append(power_db(x, noise_part))
        spectrum = np.abs(np.fft.rfft(noise_part)) ** 2
        bands = spectrum[: len(spectrum) // 50 * 50].reshape(-1, 50).mean(axis=1)  # 16-Hz bands... averaged
        assert 10 * np.log10(bands.max() / bands.min()) > 20  # notched: not white
    assert 10 <= min(snrs) and max(snrs) <= 40 and max(snrs) - min(snrs) > 5


def test_lnl_is_linear_with_one_term_and_adds_harmonics_with_five():
    t = np.arange(R) / R
    tone = 0.5 * np.sin(2 * np.pi * 500 * t)
    linear = A.RawBoostParams(n_f=1)
    a = rawboost.lnl_convolutive_noise(tone, np.random.default_rng(0), linear)
    b = rawboost.lnl_convolutive_noise(0.5 * tone, np.random.default_rng(0), linear)
    np.testing.assert_allclose(b, 0.5 * a, atol=1e-9)  # a linear filter (mean removal is linear too)

    def harmonics_db(y):  # energy at 1000 and 1500 Hz relative to 500 Hz
        s = np.abs(np.fft.rfft(y * np.hanning(len(y))))
        return 20 * np.log10(max(s[1000], s[1500]) / s[500])

    assert harmonics_db(a) < -80
    assert harmonics_db(rawboost.lnl_convolutive_noise(tone, np.random.default_rng(0))) > -60  # x^2, x^3 terms


def test_rawboost_combinations_chain_the_three_algorithms(speech):
    x = speech.astype(np.float64)

    def run(*steps):
        rng = np.random.default_rng(5)
        y = x
        for step in steps:
            y = step(y, rng)
        return y

    lnl, isd, ssi = rawboost.lnl_convolutive_noise, rawboost.isd_additive_noise, rawboost.ssi_additive_noise
    for algo, steps in {1: (lnl,), 2: (isd,), 3: (ssi,), 4: (lnl, isd, ssi), 5: (lnl, isd), 6: (lnl, ssi),
                        7: (isd, ssi)}.items():
        np.testing.assert_allclose(A.apply_rawboost(x, algo, np.random.default_rng(5)), run(*steps), atol=1e-12)
    rng = np.random.default_rng(5)
    parallel = lnl(x, rng) + isd(x, rng)
    np.testing.assert_allclose(A.apply_rawboost(x, 8, np.random.default_rng(5)),
                               parallel / max(1.0, np.abs(parallel).max()), atol=1e-12)
    with pytest.raises(SpoofscanError, match="choose from: 1, 2"):
        A.apply_rawboost(x, 9, np.random.default_rng(0))


# ---------------------------------------------------------------------------- SpecAugment


def test_specaugment_masks_whole_bands_and_frames_reproducibly():
    import torch

    feats = torch.randn(6, 1, 40, 100)
    g = specaugment.step_generator(seed=1, epoch=2, step=3)
    out = A.spec_augment(feats, g, freq_masks=2, freq_width=(0.05, 0.2), time_masks=2, time_width=(0.05, 0.1))
    assert out.shape == feats.shape and out.dtype == feats.dtype and not torch.equal(out, feats)
    again = A.spec_augment(feats, specaugment.step_generator(1, 2, 3), freq_masks=2, freq_width=(0.05, 0.2),
                           time_masks=2, time_width=(0.05, 0.1))
    assert torch.equal(out, again)
    other = A.spec_augment(feats, specaugment.step_generator(1, 2, 4), freq_masks=2, freq_width=(0.05, 0.2),
                           time_masks=2, time_width=(0.05, 0.1))
    assert not torch.equal(out, other)
    masked = out != feats
    for i in range(6):
        fill = feats[i].mean()
        assert torch.allclose(out[i][masked[i]], fill.expand(int(masked[i].sum())))
        rows = masked[i, 0].all(dim=1)  # whole bands masked
        cols = masked[i, 0].all(dim=0)  # whole frames masked
        assert 2 <= rows.sum() <= 2 * 8 and 5 <= cols.sum() <= 2 * 10
        assert torch.equal(masked[i, 0], rows[:, None] | cols[None, :])  # nothing else
    assert not torch.equal(masked[0], masked[1])  # each example its own masks
    untouched = A.spec_augment(feats, torch.Generator().manual_seed(0), p=0.0)
    assert torch.equal(untouched, feats)
    assert torch.equal(A.spec_augment(feats[:, 0], specaugment.step_generator(1, 2, 3), freq_masks=2,
                                      freq_width=(0.05, 0.2), time_masks=2, time_width=(0.05, 0.1)), out[:, 0])


# ---------------------------------------------------------------------------- config and chain


def test_config_from_nested_mappings_strict_and_round_trips():
    import json

    cfg = A.AugmentConfig.from_dict({"codec": {"p": 0.3, "choices": ["mp3:32", "gsm"]},
                                     "noise": {"p": 0.5, "snr_db": [0, 20], "kinds": "babble"},
                                     "rawboost": {"p": 1, "algo": 3, "params": {"snr_min": 20}},
                                     "specaugment": {"p": 0.5}})
    assert cfg.codec.choices == ("mp3:32", "gsm") and cfg.noise.kinds == ("babble",) and cfg.noise.snr_db == (0.0, 20.0)
    assert cfg.rawboost.params.snr_min == 20 and cfg.reverb.p == 0 and cfg.active and cfg.waveform_active
    assert A.AugmentConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert not A.AugmentConfig().active
    assert A.augment_config("full").rawboost.p > 0 and A.augment_config(None) == A.AugmentConfig()
    standard = A.augment_config("standard")  # the measured chain leaves these out, for the robustness report
    assert "gsm" not in standard.codec.choices and "mulaw" not in standard.codec.choices
    assert "babble" not in standard.noise.kinds and "large" not in standard.reverb.rooms
    for bad, message in (({"noise": {"snr": [1, 2]}}, "unknown NoiseAugment field.*snr_db"),
                         ({"nose": {}}, "unknown AugmentConfig field"),
                         ({"codec": {"p": 1.5}}, r"codec.p must be a probability"),
                         ({"noise": {"snr_db": [30, 5]}}, "low <= high"),
                         ({"codec": {"choices": ["mp3:33"]}}, "choose from: 8, 16"),
                         ({"reverb": {"rooms": ["folder"]}}, "reverb.folder is not set"),
                         ({"noise": {"folder": "/x"}}, "'folder' is not among noise.kinds"),
                         ({"rawboost": {"algo": 0}}, "choose from: 1, 2"),
                         ({"rawboost": {"params": {"n_f": 0}}}, "n_f must be at least 1"),
                         ({"noise": 0.5}, "mapping")):
        with pytest.raises(SpoofscanError, match=message):
            A.AugmentConfig.from_dict(bad)
    with pytest.raises(SpoofscanError, match="choose from: off, standard, rawboost, channel, full"):
        A.augment_config("heavy")


def test_effects_are_registered_in_chain_order_as_the_config_fields():
    from dataclasses import fields

    assert A.EFFECT_ORDER == ("reverb", "noise", "rawboost", "eq", "gain", "clip", "narrowband", "codec")
    config_fields = {f.name: f.type for f in fields(A.AugmentConfig)}
    assert list(config_fields) == [*A.EFFECT_ORDER, "specaugment"]
    for key, cls in A.EFFECTS.items():
        assert cls.key == key and config_fields[key] == cls.__name__ and issubclass(cls, A.Effect)


def test_an_effect_draws_its_settings_then_applies_its_function(speech):
    noise = A.NoiseAugment.from_dict({"p": 1, "snr_db": [0, 20], "kinds": ["pink", "white"]})
    rng = np.random.default_rng(5)
    kind, snr = noise.draw(rng)
    expected = A.add_noise(speech, snr, kind, rng)
    np.testing.assert_array_equal(noise(speech, np.random.default_rng(5)), expected)
    gain = A.GainAugment.from_dict({"p": 1, "db": [-12, -12]})
    np.testing.assert_array_equal(gain(speech, np.random.default_rng(0)), A.gain(speech, -12.0))
    assert A.CodecAugment.from_dict({"choices": "gsm"}).fixed_settings() == ("gsm", None)
    assert A.NoiseAugment.from_dict({"snr_db": [5, 5], "kinds": "white"}).fixed_settings() == ("white", 5.0)
    with pytest.raises(SpoofscanError, match="augment noise has no fixed settings"):
        noise.fixed_settings()


def test_effect_constructors_check_and_from_dict_converts():
    assert A.GainAugment.from_dict({"p": 1, "db": [-6, 0]}) == A.GainAugment(p=1.0, db=(-6.0, 0.0))
    assert A.EqAugment.from_dict({"bands": [1.0, 2]}).bands == (1, 2)
    with pytest.raises(SpoofscanError, match=r"gain.db must be a \(low, high\) tuple.*GainAugment.from_dict"):
        A.GainAugment(db=[-6, 0])
    with pytest.raises(SpoofscanError, match="noise.kinds must be a tuple of names.*NoiseAugment.from_dict"):
        A.NoiseAugment(kinds=["white"])
    with pytest.raises(SpoofscanError, match="rawboost.params must be RawBoostParams"):
        A.RawBoostAugment(params={"n_f": 2})
    with pytest.raises(SpoofscanError, match="augment noise must be a mapping of its settings"):
        A.AugmentConfig(noise={"p": 0.5})


def test_augmenter_is_deterministic_uses_every_effect_and_survives_pickling(speech, folders, tmp_path):
    settings = {name: {"p": 1.0} for name in A.EFFECT_ORDER}
    settings["noise"].update(kinds=["folder", "babble"], folder=str(folders["noise"].folder),
                             speech_folder=str(folders["speech"].folder))
    settings["reverb"].update(rooms=["small", "folder"], folder=str(folders["rirs"].folder))
    aug = A.Augmenter(A.AugmentConfig.from_dict(settings)).prepare()
    y = aug(speech, np.random.default_rng([1, 2, 3]))
    assert y.shape == speech.shape and y.dtype == speech.dtype and np.abs(y).max() <= 1
    assert np.array_equal(y, aug(speech, np.random.default_rng([1, 2, 3])))
    assert not np.array_equal(y, aug(speech, np.random.default_rng([1, 2, 4])))
    clone = pickle.loads(pickle.dumps(aug))  # a DataLoader worker started by "spawn"
    assert np.array_equal(y, clone(speech, np.random.default_rng([1, 2, 3])))
    for name in A.EFFECT_ORDER:  # each effect on its own changes the signal
        assert not np.array_equal(aug.apply(name, speech, np.random.default_rng(0)), speech), name
    off = A.Augmenter(A.AugmentConfig())
    assert np.array_equal(off(speech, np.random.default_rng(0)), speech)
    with pytest.raises(SpoofscanError, match="no such folder"):
        A.Augmenter(A.AugmentConfig.from_dict({"noise": {"p": 1, "kinds": ["folder"], "folder": str(tmp_path / "x")}}))


def test_augmentation_in_the_loader_does_not_depend_on_the_number_of_workers(tmp_path):
    import torch

    from spoofscan.datasets import Record
    from spoofscan.frontend.config import FeatureConfig
    from spoofscan.training.data import CropDataset, EpochSampler

    rng = np.random.default_rng(0)
    records = []
    for i in range(8):
        path = tmp_path / f"c{i}.wav"
        sf.write(path, syllables(rng.uniform(0.6, 1.6), rng), R)
        records.append(Record(path=str(path), label=("bonafide", "spoof")[i % 2], trial=f"c{i}"))
    features = FeatureConfig(window_seconds=1.0, hop_seconds=0.5)
    cfg = A.AugmentConfig.from_dict({"noise": {"p": 0.5}, "rawboost": {"p": 0.5}, "codec": {"p": 0.5},
                                     "reverb": {"p": 0.5, "rooms": ["small"]}})
    dataset = CropDataset(records, features, seed=3, augment=cfg)
    plain = CropDataset(records, features, seed=3)

    def epoch(ds, workers, number=1):
        sampler = EpochSampler([r.label for r in records], seed=3)
        sampler.set_epoch(number)
        loader = torch.utils.data.DataLoader(ds, batch_size=4, sampler=sampler, num_workers=workers)
        return torch.cat([w for w, _ in loader])

    a, b = epoch(dataset, 0), epoch(dataset, 2)
    assert torch.equal(a, b)
    assert not torch.equal(a, epoch(plain, 0))  # augmentation happened
    assert not torch.equal(a, epoch(dataset, 0, number=2))  # and differs from epoch to epoch
