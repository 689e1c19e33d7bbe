"""The robustness report: the fixed condition list, what each condition does to audio, seeded
repeatability (also across worker processes), the table/JSON/plot, per-generator and per-family
rows, unreadable clips, clips without a score, the stratified subset and the command."""

from __future__ import annotations

import copy
import csv
import json
from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf
from synth import RATE, synth_clip

from spoofscan.augment import add_noise
from spoofscan.datasets import Record, load_records
from spoofscan.detector import Failure
from spoofscan.errors import SpoofscanError
from spoofscan.evaluation.conditions import CONDITION_NAMES, CONDITIONS, degrade, select_conditions
from spoofscan.evaluation.robustness import (ROBUSTNESS_JSON, ROBUSTNESS_MD, ROBUSTNESS_PNG, robustness,
                                             stratified_subset)
from spoofscan.evaluation.scores import read_scores

EXPECTED = ("clean", "mp3-32", "mp3-128", "aac-64", "opus-12", "phone-mulaw", "gsm", "white-20dB", "white-5dB",
            "babble-20dB", "babble-5dB", "room-small", "room-large")
GENERATORS = {"espeak/en": "espeak", "flite/kal": "flite", "world/dio": "world"}


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One thread: the tiny model is fast, and two threads on a busy 2-core machine spin-wait."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _clip(seconds: float = 2.0, seed: int = 0, peak: float = 0.3) -> np.ndarray:
    x = synth_clip("bonafide", seconds, np.random.default_rng(seed))
    return (x * (peak / np.abs(x).max())).astype(np.float32)


def _band_energy(x: np.ndarray, lo: float, hi: float) -> float:
    spectrum = np.abs(np.fft.rfft(x.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / RATE)
    return float(spectrum[(freqs >= lo) & (freqs < hi)].sum())


def _snr_db(x: np.ndarray, y: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(x.astype(np.float64) ** 2) / np.sum((y - x).astype(np.float64) ** 2)))


def _corpus(tmp_path, per_class: int = 4, seconds=(1.0, 1.6)) -> list:
    """Clips on disk and a CSV manifest with generator and family columns; returns its records."""
    rng = np.random.default_rng(1)
    rows = []
    generators = list(GENERATORS)
    for label in ("bonafide", "spoof"):
        for i in range(per_class):
            name = f"{label}_{i}.wav"
            sf.write(tmp_path / name, synth_clip(label, rng.uniform(*seconds), rng), RATE, subtype="PCM_16")
            generator = "-" if label == "bonafide" else generators[i % len(generators)]
            rows.append({"path": name, "label": label, "split": "eval", "speaker": f"spk{i % 2}",
                         "generator": generator, "family": GENERATORS.get(generator, "-")})
    manifest = tmp_path / "manifest.csv"
    with open(manifest, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return load_records(f"csv:{manifest}:eval")


def _without_timing(report: dict) -> dict:
    report = copy.deepcopy(report)
    report.pop("timing")
    return report


# ---------------------------------------------------------------------------- the conditions


def test_the_condition_list_is_fixed():
    assert CONDITION_NAMES == EXPECTED
    assert [c.name for c in select_conditions("white-5dB,clean, gsm")] == ["clean", "gsm", "white-5dB"]  # list order
    with pytest.raises(SpoofscanError, match="unknown condition 'mp3-64'.*choose from: clean, mp3-32"):
        select_conditions(["clean", "mp3-64"])
    with pytest.raises(SpoofscanError, match="no condition"):
        select_conditions(" , ")


def test_conditions_are_augmentation_effects_with_fixed_settings():
    from spoofscan.augment import CodecAugment, NoiseAugment, ReverbAugment

    by_name = {c.name: c for c in CONDITIONS}
    assert by_name["clean"].effect is None
    assert by_name["mp3-32"].effect == CodecAugment(p=1.0, choices=("mp3:32",))
    assert by_name["babble-5dB"].effect == NoiseAugment(p=1.0, kinds=("babble",), snr_db=(5.0, 5.0))
    assert by_name["room-large"].effect == ReverbAugment(p=1.0, rooms=("large",))
    assert by_name["mp3-32"].describe() == {"description": "MP3 at 32 kbit/s (LAME, 16 kHz)", "effect": "codec",
                                            "setting": "mp3", "value": 32}
    assert by_name["phone-mulaw"].describe()["value"] is None and by_name["room-small"].describe()["setting"] == "small"
    x = _clip()
    rng = np.random.default_rng(0)
    expected = add_noise(x, 5.0, "white", np.random.default_rng(0))
    np.testing.assert_array_equal(by_name["white-5dB"].apply(x, rng), expected)


def test_every_condition_keeps_length_and_dtype_and_changes_the_audio_as_expected():
    x = _clip()
    out = {c.name: degrade(x, c, seed=0, trial="t") for c in CONDITIONS}
    for name, y in out.items():
        assert y.shape == x.shape and y.dtype == np.float32 and np.isfinite(y).all(), name
        assert np.abs(y).max() <= 1.0, name
    assert np.array_equal(out["clean"], x)
    for name in EXPECTED[1:]:
        assert not np.allclose(out[name], x, atol=1e-3), f"{name} left the audio as it was"
    # the 8 kHz chains remove the band above 4 kHz, which the clip has (its breath noise is broadband)
    high = _band_energy(x, 4200, 8000)
    assert high > 1e-3 * _band_energy(x, 0, 8000)
    for name in ("phone-mulaw", "gsm"):
        assert _band_energy(out[name], 4200, 8000) < 1e-3 * high, name
    # MP3 at 32 kbit/s changes the waveform more than at 128
    assert _snr_db(x, out["mp3-32"]) < _snr_db(x, out["mp3-128"])
    # noise at the stated SNR (peaks stay below 1 here, so the mix is not rescaled)
    for kind in ("white", "babble"):
        assert _snr_db(x, out[f"{kind}-20dB"]) == pytest.approx(20.0, abs=0.5)
        assert _snr_db(x, out[f"{kind}-5dB"]) == pytest.approx(5.0, abs=0.5)
    # a large room rings longer than a small one: energy left 300 ms after a burst
    burst = np.zeros(2 * RATE, np.float32)
    burst[: RATE // 20] = _clip(0.05, peak=0.5)[: RATE // 20]
    tails = {}
    for room in ("room-small", "room-large"):
        y = degrade(burst, room, seed=0, trial="burst").astype(np.float64)
        tails[room] = np.sum(y[int(0.35 * RATE):] ** 2) / np.sum(y ** 2)
    assert tails["room-large"] > 3 * tails["room-small"] > 0


def test_degrading_is_seeded_by_seed_condition_and_trial():
    x = _clip()
    for name in ("white-5dB", "babble-20dB", "room-small"):
        assert np.array_equal(degrade(x, name, seed=3, trial="a"), degrade(x, name, seed=3, trial="a")), name
    for name in ("white-5dB", "babble-20dB"):
        a = degrade(x, name, seed=3, trial="a")
        assert not np.array_equal(a, degrade(x, name, seed=4, trial="a")), name
        assert not np.array_equal(a, degrade(x, name, seed=3, trial="b")), name
    # different trials get different rooms (16 RIRs per kind): not all the same over 8 trials
    rooms = {degrade(x, "room-large", seed=0, trial=f"t{i}").tobytes() for i in range(8)}
    assert len(rooms) > 1


# ---------------------------------------------------------------------------- the report


def test_report_is_identical_twice_and_complete(tiny_detector, tmp_path):
    records = _corpus(tmp_path)
    first = robustness(tiny_detector, records, tmp_path / "a", jobs=0, progress=False, data="synthetic")
    second = robustness(tiny_detector, records, tmp_path / "b", jobs=1, progress=False, data="synthetic")  # workers
    assert _without_timing(first) == _without_timing(second)
    assert (tmp_path / "a" / ROBUSTNESS_MD).read_text() == (tmp_path / "b" / ROBUSTNESS_MD).read_text()
    for name in EXPECTED:
        assert (tmp_path / "a" / "scores" / f"{name}.txt").read_bytes() == \
               (tmp_path / "b" / "scores" / f"{name}.txt").read_bytes()
    # degrading changes the scores (else the report would measure nothing)
    clean = read_scores(tmp_path / "a" / "scores" / "clean.txt")
    noisy = read_scores(tmp_path / "a" / "scores" / "white-5dB.txt")
    assert set(clean) == set(noisy) == {r.trial for r in records}
    assert max(abs(clean[t] - noisy[t]) for t in clean) > 1e-3

    on_disk = json.loads((tmp_path / "a" / ROBUSTNESS_JSON).read_text())
    assert on_disk == json.loads(json.dumps(first))
    assert on_disk["condition_order"] == list(EXPECTED) == list(on_disk["conditions"])
    assert on_disk["counts"] == {"trials": 8, "readable": 8, "bonafide": 4, "spoof": 4, "unreadable": 0}
    assert on_disk["group_columns"] == ["generator", "family"]
    for name, entry in on_disk["conditions"].items():
        assert entry["counts"]["scored"] == 8 and entry["counts"]["no_score"] == entry["counts"]["failed"] == 0
        assert 0.0 <= entry["metrics"]["eer"] <= 1.0 and np.isfinite(entry["metrics"]["min_dcf"]), name
        generators = {row["value"]: row for row in entry["groups"]["generator"]["values"]}
        assert set(generators) == set(GENERATORS), name
        assert all(row["bonafide"] == 4 for row in generators.values())  # all bona fide against each generator
        families = {row["value"] for row in entry["groups"]["family"]["values"]}
        assert families == set(GENERATORS.values()), name
    summary = on_disk["summary"]
    eers = [summary["eer"][name] for name in EXPECTED]
    assert summary["degraded_conditions"] == list(EXPECTED[1:])
    assert summary["mean_degraded_eer"] == pytest.approx(np.mean(eers[1:]))
    assert summary["clean_eer"] == eers[0]
    assert set(summary["groups"]["family"]) == set(GENERATORS.values())
    assert set(on_disk["timing"]["conditions"]) == set(EXPECTED)

    md = (tmp_path / "a" / ROBUSTNESS_MD).read_text()
    for name in EXPECTED:
        row = next(line for line in md.splitlines() if line.startswith(f"| {name} |"))
        assert f"{100 * summary['eer'][name]:.2f}" in row
    assert "mean of the 12 degraded" in md and "## EER % by generator" in md and "## EER % by family" in md
    for generator in GENERATORS:
        assert f"| {generator} |" in md
    assert (tmp_path / "a" / ROBUSTNESS_PNG).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_unreadable_clip_is_counted_and_left_out_of_every_condition(tiny_detector, tmp_path):
    records = _corpus(tmp_path, per_class=3)
    (tmp_path / "broken.wav").write_bytes(b"RIFF....WAVEfmt not really")
    records.append(Record("broken.wav", str(tmp_path / "broken.wav"), "spoof", {"generator": "espeak/en",
                                                                                "family": "espeak"}))
    conditions = ["clean", "white-5dB"]
    report = robustness(tiny_detector, records, tmp_path / "out", conditions=conditions, jobs=0, progress=False)
    assert report["counts"]["unreadable"] == 1 and report["counts"]["readable"] == 6
    assert [u["trial"] for u in report["unreadable"]] == ["broken.wav"] and report["unreadable"][0]["error"]
    for name in conditions:
        assert report["conditions"][name]["counts"]["scored"] == 6
        assert "broken.wav" not in read_scores(tmp_path / "out" / "scores" / f"{name}.txt")
    assert "could not be decoded" in (tmp_path / "out" / ROBUSTNESS_MD).read_text()


def test_clips_without_a_score_or_that_fail_are_counted_per_condition(tiny_detector, tmp_path):
    """A clip given no score and a failure are counted and left out of that condition only."""
    records = _corpus(tmp_path, per_class=4)
    silent, broken = records[0].trial, records[5].trial

    conditions = ["clean", "white-5dB"]

    class Picky(type(tiny_detector)):
        calls = 0  # predict_arrays is called once per condition, in the list's order

        def predict_arrays(self, arrays, sample_rate, **kwargs):
            condition = conditions[self.calls]
            self.calls += 1
            for p in super().predict_arrays(arrays, sample_rate, **kwargs):
                if condition == "white-5dB" and p.source == silent:
                    p = replace(p, score=None, p_fake=None, label="no speech")
                elif condition == "white-5dB" and p.source == broken:
                    p = Failure(p.source, "the model choked")
                yield p

    det = Picky(tiny_detector.model, tiny_detector.calibration, batch_size=4)
    report = robustness(det, records, tmp_path / "out", conditions=conditions, jobs=0, progress=False)
    clean, noisy = report["conditions"]["clean"], report["conditions"]["white-5dB"]
    assert clean["counts"] == {"trials": 8, "scored": 8, "bonafide": 4, "spoof": 4, "no_score": 0, "failed": 0}
    assert noisy["counts"] == {"trials": 8, "scored": 6, "bonafide": 3, "spoof": 3, "no_score": 1, "failed": 1}
    assert noisy["no_score"] == [silent] and noisy["failed"] == [{"trial": broken, "error": "the model choked"}]
    assert set(read_scores(tmp_path / "out" / "scores" / "white-5dB.txt")) == {r.trial for r in records} - {silent, broken}
    assert np.isfinite(noisy["metrics"]["eer"])
    row = next(line for line in (tmp_path / "out" / ROBUSTNESS_MD).read_text().splitlines()
               if line.startswith("| white-5dB |"))
    assert "| 6 | 1 | 1 |" in row


def test_stratified_subset_keeps_labels_and_generators_in_proportion():
    gens = ["a"] * 40 + ["b"] * 20 + ["c"] * 4
    records = [Record(f"b{i}", "", "bonafide", {"generator": "-"}) for i in range(64)]
    records += [Record(f"s{i}", "", "spoof", {"generator": g}) for i, g in enumerate(gens)]
    sub = stratified_subset(records, 32, seed=0)
    assert len(sub) == 32
    count = {key: sum((r.label, r.groups["generator"]) == key for r in sub)
             for key in [("bonafide", "-"), ("spoof", "a"), ("spoof", "b"), ("spoof", "c")]}
    assert count == {("bonafide", "-"): 16, ("spoof", "a"): 10, ("spoof", "b"): 5, ("spoof", "c"): 1}
    assert [r.trial for r in sub] == [r.trial for r in records if r in sub]  # input order kept
    assert {r.trial for r in stratified_subset(records[::-1], 32, seed=0)} == {r.trial for r in sub}  # order-free
    assert {r.trial for r in stratified_subset(records, 32, seed=1)} != {r.trial for r in sub}
    assert stratified_subset(records, 1000) == records
    tiny = stratified_subset(records, 5, seed=0)  # a stratum of 4 still gets a trial
    assert len(tiny) == 5 and {r.groups["generator"] for r in tiny} == {"-", "a", "b", "c"}
    with pytest.raises(SpoofscanError, match="fewer than the 4 strata"):
        stratified_subset(records, 3)


def test_cli_writes_the_three_files_and_prints_a_summary(tiny_checkpoint, tmp_path, capsys):
    from spoofscan.cli import main

    _corpus(tmp_path, per_class=3)
    out = tmp_path / "rep"
    rc = main(["robustness", "--model", str(tiny_checkpoint), "--data", f"csv:{tmp_path / 'manifest.csv'}:eval",
               "--out", str(out), "--conditions", "gsm,clean", "--max-trials", "5", "--jobs", "0", "--threads", "1",
               "--quiet"])
    printed = capsys.readouterr().out
    assert rc == 0
    for name in (ROBUSTNESS_MD, ROBUSTNESS_JSON, ROBUSTNESS_PNG, "scores/clean.txt", "scores/gsm.txt"):
        assert (out / name).stat().st_size > 0, name
    report = json.loads((out / ROBUSTNESS_JSON).read_text())
    assert report["condition_order"] == ["clean", "gsm"] and report["counts"]["trials"] == 5
    assert report["model"]["path"] == str(tiny_checkpoint) and report["max_trials"] == 5
    lines = printed.splitlines()
    assert lines[0].split() == ["condition", "EER", "%", "minDCF", "scored", "seconds"]
    assert lines[1].startswith("clean ") and lines[2].startswith("gsm ")
    assert f"{100 * report['summary']['eer']['gsm']:.2f}" in lines[2]
    assert "mean EER of the 1 degraded conditions" in printed and str(out / ROBUSTNESS_MD) in printed
    assert main(["robustness", "--model", str(tiny_checkpoint), "--data", f"csv:{tmp_path / 'manifest.csv'}:eval",
                 "--out", str(out), "--conditions", "mp3-64", "--quiet"]) == 2
    assert "unknown condition 'mp3-64'" in capsys.readouterr().err
    assert main(["robustness", "--model", str(tiny_checkpoint), "--data", f"csv:{tmp_path / 'manifest.csv'}:eval",
                 "--out", str(out), "--by", "codec", "--quiet"]) == 2  # refused before any scoring
    assert "unknown grouping column 'codec' (choose from: speaker, generator, family)" in capsys.readouterr().err
