"""Voice activity: no verdict without speech.

Silence, a DC offset, one click, a square wave and noise are "no speech"; speech (espeak-ng,
real telephone prompts, the generated test speech) is speech, quiet or noisy; the gate works
per window, the result does not depend on how the stream was cut, and every way out (API,
CLI table/CSV/JSON, evaluate) renders "no speech" the documented way.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess

import nonspeech
import numpy as np
import pytest
import soundfile as sf
from synth import speechlike, synth_clip

from spoofscan.audio import SAMPLE_RATE, load_audio
from spoofscan.labels import NO_SPEECH
from spoofscan.vad import FRAME, SpeechActivity

RATE = SAMPLE_RATE


def speech_fraction(x: np.ndarray, block: int | None = None) -> float:
    activity = SpeechActivity()
    for start in range(0, len(x), block or len(x)):
        activity.feed(x[start:start + (block or len(x))])
    activity.finish()
    return activity.fraction(0, len(x))


def not_speech() -> dict:
    rng = np.random.default_rng(0)
    t = np.arange(3 * RATE) / RATE
    white = rng.standard_normal(3 * RATE)
    spectrum = np.fft.rfft(white)
    spectrum /= np.sqrt(np.maximum(np.arange(len(spectrum)), 1))
    pink = np.fft.irfft(spectrum, 3 * RATE)
    click = np.zeros(3 * RATE)
    click[RATE] = 0.9
    return {name: x.astype(np.float32) for name, x in {
        "digital silence": np.zeros(3 * RATE),
        "DC offset": np.full(3 * RATE, 0.5),
        "one click": click,
        "a click in faint noise": click + 0.003 * rng.standard_normal(3 * RATE),
        "square wave": 0.5 * np.sign(np.sin(2 * np.pi * 200 * t)),
        "quiet square wave": 0.05 * np.sign(np.sin(2 * np.pi * 150 * t)),
        "sine": 0.5 * np.sin(2 * np.pi * 440 * t),
        "white noise": 0.1 * white,
        "loud white noise": np.clip(0.5 * white, -1, 1),
        "pink noise": 0.3 * pink / np.abs(pink).max(),
        "a tone burst in silence": np.r_[np.zeros(RATE), 0.5 * np.sin(2 * np.pi * 300 * t[:RATE]), np.zeros(RATE)],
        "a chirp": 0.5 * np.sin(2 * np.pi * (100 * t + 300 * t ** 2)),
    }.items()}


@pytest.mark.parametrize("name", list(not_speech()))
def test_silence_tones_clicks_and_noise_are_not_speech(name, tiny_detector):
    x = not_speech()[name]
    assert speech_fraction(x) == 0.0
    p = tiny_detector.predict(x, RATE)
    assert (p.label, p.score, p.p_fake, p.speech) == (NO_SPEECH, None, None, 0.0)
    assert all(w.score is None and w.p_fake is None and w.speech == 0.0 for w in p.timeline)


@pytest.mark.parametrize("kind", ["brown noise", "white noise, modulated 2-8 Hz", "pink noise, modulated 2-8 Hz",
                                  "speech-shaped modulated noise", "melody", "chords"])
def test_noise_with_syllable_rhythm_and_music_are_not_speech(kind):
    """Steady brown noise varies in level as speech does (its power sits at the lowest
    frequencies): the spread is measured in 100-4000 Hz. Noise modulated like syllables has
    no voiced frames; harmonic notes hold their spectrum from frame to frame."""
    assert speech_fraction(nonspeech.make(kind, seed=0)) == 0.0



@pytest.mark.parametrize("kind, seed, seconds", [
    ("DTMF key sequence", 0, 4.0), ("DTMF key sequence", 7, 4.0), ("beeps at 2-8 Hz", 0, 4.0),
    ("beeps at 2-8 Hz", 3, 4.0), ("busy tone", 3961696911, 3.44), ("busy tone", 2116367183, 6.97)])
def test_telephone_tones_and_beeps_are_not_speech(kind, seed, seconds):
    """Keys of 50-250 ms and beeps at 2-8 Hz are too short to be steady and are periodic like a
    voice; one or two narrow peaks above a voice's pitch hold nearly all their power (tonal)."""
    assert speech_fraction(nonspeech.make(kind, seed, seconds)) == 0.0


def test_a_weakly_periodic_piece_is_speech_only_with_a_shaped_spectrum():
    """Processed voices have few frames above VOICED_CORRELATION; such a piece still counts
    when its periodicity is high on average and its smoothed spectrum keeps a shape (noise
    modulated like syllables: a flat or smooth spectrum, shape correlation under 0.65)."""
    from spoofscan import vad

    frames = np.zeros((30, 5))
    frames[:, vad.LEVEL_COLUMN] = np.linspace(-40, -10, 30)  # a 24-dB spread
    frames[:, vad.PERIODICITY_COLUMN] = 0.45  # no frame voiced
    frames[:, vad.SHAPE_COLUMN] = 0.8
    assert vad._is_speech(frames[:, vad.LEVEL_COLUMN], frames)
    frames[:, vad.SHAPE_COLUMN] = 0.5
    assert not vad._is_speech(frames[:, vad.LEVEL_COLUMN], frames)
    frames[:, vad.SHAPE_COLUMN], frames[:, vad.PERIODICITY_COLUMN] = 0.8, 0.3
    assert not vad._is_speech(frames[:, vad.LEVEL_COLUMN], frames)

def test_a_short_vowel_is_speech_and_a_long_steady_one_is_not():
    """0.3 s of one voiced sound is too short for a level spread; held for 3 s it is a hum."""
    vowel = synth_clip("bonafide", 0.3, np.random.default_rng(0), syllables=False)
    assert speech_fraction(vowel) > 0.7
    assert speech_fraction(synth_clip("bonafide", 3.0, np.random.default_rng(0), syllables=False)) == 0.0


@pytest.mark.parametrize("snr_db", [0, 5])
def test_generated_speech_in_white_noise_is_speech(snr_db):
    x = speechlike(3.0, seed=1)
    noise = np.random.default_rng(2).standard_normal(len(x))
    noisy = x + noise * np.sqrt(np.mean(np.square(x, dtype=np.float64)) * 10 ** (-snr_db / 10))
    assert speech_fraction(noisy.astype(np.float32)) > 0.5


@pytest.mark.parametrize("level_db", [0, -20, -35])
def test_generated_speech_is_speech_loud_or_quiet(level_db):
    x = speechlike(3.0, seed=4)
    x = x / np.abs(x).max() * 10 ** (level_db / 20)
    assert speech_fraction(x) > 0.8


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed (apt-get install espeak-ng)")
@pytest.mark.parametrize("voice, text", [
    ("en", "Hello, this is a test of the speech detector."), ("fr", "Bonjour, je suis une voix de synthèse."),
    ("de", "Guten Tag, wie geht es Ihnen heute?"), ("en", "Yes")])
def test_espeak_speech_is_speech_also_in_noise_and_with_dc(tmp_path, voice, text):
    path = tmp_path / "espeak.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True, capture_output=True)
    x = load_audio(path)
    noise = np.random.default_rng(1).standard_normal(len(x)).astype(np.float32)
    noisy = x + noise * np.sqrt(np.mean(x ** 2)) * 10 ** (-10 / 20)  # 10 dB SNR
    for variant in (x, 0.03 * x, noisy, np.clip(0.5 * x + 0.4, -1, 1)):
        assert speech_fraction(variant) > 0.4, voice


@pytest.mark.network
def test_real_speech_is_speech():
    """Real telephone prompts (Asterisk, Debian package asterisk-core-sounds-en-g722, CC-BY-SA)."""
    import av

    from spoofscan.corpus.sources import fetch_package
    from spoofscan.fileio import default_cache_dir

    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        pytest.skip("needs apt-get and dpkg-deb to fetch the recordings")
    root = fetch_package("asterisk-core-sounds-en-g722", default_cache_dir(), log=lambda *_: None)
    paths = sorted(root.rglob("*.g722"))[:60:3]
    assert len(paths) == 20
    fractions = []
    for path in paths:
        with av.open(str(path), format="g722") as container:
            x = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)]).astype(np.float32)
        fractions.append(speech_fraction(x))
    assert min(fractions) > 0.3 and np.median(fractions) > 0.8, dict(zip([p.name for p in paths], fractions))


def test_the_result_does_not_depend_on_how_the_stream_is_cut():
    x = np.r_[np.zeros(RATE), speechlike(12.0, seed=2), 0.1 * np.random.default_rng(3).standard_normal(RATE)]
    x = x.astype(np.float32)
    whole = SpeechActivity()
    whole.feed(x)
    reference = whole.finish()
    for block in (1, 479, 480, 4801, 160_000):
        cut = SpeechActivity()
        for start in range(0, len(x), block):
            cut.feed(x[start:start + block])
        np.testing.assert_array_equal(cut.finish(), reference)
    assert len(reference) == len(x) // FRAME and 0.6 < reference.mean() < 0.95


def test_only_windows_with_speech_make_the_verdict(tiny_detector):
    x = np.r_[np.zeros(2 * RATE), speechlike(2.0, seed=5), np.zeros(2 * RATE)].astype(np.float32)
    p = tiny_detector.predict(x, RATE)  # 1-s windows every 0.5 s
    voiced = [w for w in p.timeline if w.score is not None]
    assert p.label in ("real", "fake") and 0.3 < p.speech < 0.4
    assert [w.start for w in voiced] == [1.5, 2.0, 2.5, 3.0, 3.5]  # windows holding >= 0.2 s of speech
    assert p.score == pytest.approx(np.mean([w.score for w in voiced]))
    assert all(w.p_fake is None for w in p.timeline if w.score is None)
    assert [w.speech for w in p.timeline][:2] == [0.0, 0.0]
    # the same clip, scored on every window (as evaluate does for clips without speech), differs
    every = tiny_detector.predict(x, RATE, score_no_speech=True)
    assert every == p  # a clip with speech is gated either way
    silent = tiny_detector.predict(np.zeros(3 * RATE, np.float32), RATE, score_no_speech=True)
    assert silent.label == NO_SPEECH and silent.score == pytest.approx(np.mean([w.score for w in silent.timeline]))


@pytest.mark.parametrize("seconds, padded", [(0.3, True), (0.49, True), (0.5, False), (0.8, False), (2.0, False)])
def test_padded_means_shorter_than_half_a_window(tiny_detector, seconds, padded):
    assert tiny_detector.predict(speechlike(seconds), RATE).padded is padded  # 1-s windows


def test_no_speech_in_the_cli_table_csv_and_json(tiny_checkpoint, tmp_path, capsys):
    from spoofscan.cli import main

    silence = tmp_path / "silence.wav"
    sf.write(silence, np.zeros(2 * RATE, np.float32), RATE)
    speech = tmp_path / "speech.wav"
    sf.write(speech, speechlike(2.0), RATE)
    model = ["--model", str(tiny_checkpoint)]
    assert main(["predict", str(silence), str(speech), *model]) == 0  # no speech is a result, not an error
    table = capsys.readouterr().out.splitlines()
    assert table[1].split()[:6] == ["no", "speech", "-", "-", "2.00", "0.00"]
    assert main(["predict", str(silence), *model, "--format", "csv", "--timeline"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert (rows[0]["label"], rows[0]["p_fake"], rows[0]["score"], rows[0]["speech"]) == (NO_SPEECH, "", "", "0.000")
    assert rows[1]["label"] == "window" and rows[1]["p_fake"] == ""
    assert main(["predict", str(silence), *model, "--format", "jsonl"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert (row["label"], row["score"], row["p_fake"], row["speech"], row["padded"]) == \
        (NO_SPEECH, None, None, 0.0, False)


def test_evaluate_scores_clips_without_speech_and_lists_them(tiny_detector, tmp_path):
    from spoofscan.datasets import Record
    from spoofscan.evaluation.evaluate import evaluate
    from spoofscan.evaluation.scores import read_scores

    records = []
    for i in range(4):
        x = speechlike(1.5, seed=i) if i else np.zeros(int(1.5 * RATE), np.float32)
        sf.write(tmp_path / f"{i}.wav", x, RATE)
        records.append(Record(f"t{i}", str(tmp_path / f"{i}.wav"), ("bonafide", "spoof")[i % 2]))
    report = evaluate(tiny_detector, records, tmp_path / "out", progress=False)
    assert set(read_scores(tmp_path / "out" / "scores.txt")) == {"t0", "t1", "t2", "t3"}  # every trial has a score
    assert report["counts"]["no_speech"] == 1 and report["no_speech"] == ["t0"]
    assert (tmp_path / "out" / "no_speech.txt").read_text().startswith("t0\t")
    assert "1 clip(s) without speech" in (tmp_path / "out" / "report.md").read_text()
