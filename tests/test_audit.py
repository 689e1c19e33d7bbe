"""The shortcut audit (spoofscan.corpus.audit): the measures on known signals, and pass/fail on
constructed corpora."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from synth import write_manifest

from spoofscan.corpus.audit import (AUDIT_JSON, AUDIT_MD, MEASURES, audit_corpus, audit_records, measure_clip,
                                    single_number_eer)
from spoofscan.errors import SpoofscanError

RATE = 16_000


def _burst(seconds: float, rng: np.random.Generator, lead: float = 0.1, lowpass_hz: float | None = None,
           level: float = 0.1) -> np.ndarray:
    """Leading silence, then noise-excited harmonics ``seconds`` long; float32 (samples,)."""
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    x = sum(np.sin(2 * np.pi * k * rng.uniform(100, 200) * t) / k for k in range(1, 6)) + 0.3 * rng.standard_normal(n)
    if lowpass_hz:
        spec = np.fft.rfft(x)
        spec[int(lowpass_hz / (RATE / 2) * len(spec)):] = 0
        x = np.fft.irfft(spec, n)
    x = level * x / np.sqrt(np.mean(x ** 2))
    return np.concatenate([np.zeros(int(lead * RATE)), x]).astype(np.float32)


def make_corpus(root: Path, fake_seconds=(0.4, 0.8), n: int = 60, seed: int = 0) -> Path:
    """A manifest with train and eval splits of n real + n fake clips, 0.4-0.8 s real; returns it."""
    rng = np.random.default_rng(seed)
    rows = []
    for split in ("train", "eval"):
        for label, seconds in (("bonafide", (0.4, 0.8)), ("spoof", fake_seconds)):
            for i in range(n):
                x = _burst(rng.uniform(*seconds), rng, lead=rng.uniform(0.05, 0.3), level=10 ** rng.uniform(-2, -0.7))
                path = root / split / f"{label}_{i}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                sf.write(path, x, RATE)
                rows.append({"path": path.relative_to(root).as_posix(), "label": label, "split": split,
                             "trial": f"{split}_{label}_{i}"})
    return write_manifest(root / "manifest.csv", rows, ["trial", "path", "label", "split"])


def test_measures_of_known_signals():
    rng = np.random.default_rng(0)
    sine = np.sin(2 * np.pi * 440 * np.arange(RATE) / RATE).astype(np.float32)
    m = measure_clip(sine)
    assert m["duration_s"] == 1.0
    assert m["rms_dbfs"] == pytest.approx(-3.01, abs=0.02)
    assert m["rolloff_hz"] == pytest.approx(440, abs=40)
    assert m["leading_silence_s"] < 0.02 and m["trailing_silence_s"] < 0.02
    clip = np.concatenate([np.zeros(8000, np.float32), sine, np.zeros(4000, np.float32)])
    m = measure_clip(clip)
    assert m["leading_silence_s"] == pytest.approx(0.5, abs=0.02)
    assert m["trailing_silence_s"] == pytest.approx(0.25, abs=0.02)
    wide = measure_clip(_burst(1.0, rng, lead=0))
    narrow = measure_clip(_burst(1.0, rng, lead=0, lowpass_hz=3000))
    assert wide["bandwidth_hz"] > 7000 and narrow["bandwidth_hz"] <= 3100
    assert narrow["rolloff_hz"] < wide["rolloff_hz"]


def test_single_number_eer_takes_the_better_direction():
    low, high = np.arange(10.0), np.arange(10.0) + 100
    assert single_number_eer(high, low) == (0.0, "higher")
    assert single_number_eer(low, high) == (0.0, "lower")
    same = np.random.default_rng(1).normal(size=(2, 2000))
    eer, _ = single_number_eer(same[0], same[1])
    assert 0.45 < eer <= 0.5


def test_duration_shortcut_fails_the_audit(tmp_path):
    manifest = make_corpus(tmp_path, fake_seconds=(0.9, 1.3))  # every fake longer than every real clip
    report = audit_corpus(tmp_path, progress=False)
    assert not report.passed
    failed = {(r["split"], r["measure"]) for r in report.failures}
    assert ("eval", "duration_s") in failed and ("train", "duration_s") in failed
    row = next(r for r in report.rows if r["split"] == "eval" and r["measure"] == "duration_s")
    assert row["eer"] < 0.1 and row["direction"] == "lower"  # shorter = real
    assert (manifest.parent / AUDIT_JSON).is_file() and "FAILED" in (manifest.parent / AUDIT_MD).read_text()


def test_neutral_corpus_passes_the_audit(tmp_path):
    make_corpus(tmp_path)
    report = audit_corpus(tmp_path / "manifest.csv", splits=("eval",), progress=False)
    assert report.passed, report.table()
    assert {r["split"] for r in report.rows} == {"eval"} and {r["measure"] for r in report.rows} == set(MEASURES)
    saved = json.loads((tmp_path / AUDIT_JSON).read_text())
    assert saved["passed"] and len(saved["rows"]) == len(MEASURES)


def test_too_few_clips_are_reported_not_judged(tmp_path):
    manifest = make_corpus(tmp_path, fake_seconds=(0.9, 1.3), n=8)
    report = audit_corpus(manifest, progress=False)
    assert report.passed and set(report.unjudged) == {"train", "eval"}
    assert " ?" in report.table()


def test_audit_needs_both_classes(tmp_path):
    from spoofscan.datasets import Record

    x = _burst(0.5, np.random.default_rng(0))
    with pytest.raises(SpoofscanError, match="needs real and fake"):
        audit_records([Record("a", "a.wav", "bonafide")], measures=[measure_clip(x)])
    with pytest.raises(SpoofscanError, match="no corpus manifest"):
        audit_corpus(tmp_path / "nothing")


def test_cli_check_exit_codes(tmp_path, capsys):
    from spoofscan.cli import main

    make_corpus(tmp_path / "bad", fake_seconds=(0.9, 1.3))
    make_corpus(tmp_path / "good")
    assert main(["corpus", "check", str(tmp_path / "bad"), "--quiet"]) == 1
    assert "FAILED" in capsys.readouterr().err
    assert main(["corpus", "check", str(tmp_path / "good"), "--quiet"]) == 0
    assert "passed" in capsys.readouterr().out
