"""Evaluation (spoofscan.evaluation): score files, the report (overall and per group), its files,
the end-to-end run and the evaluate command; extreme scores are refused or reported finite."""

import json

import numpy as np
import pytest
import soundfile as sf
from helpers import BATCH_RTOL, one_line_error
from synth import riff_wav, synth_clip, write_manifest, write_speech

from spoofscan.calibration import Calibration
from spoofscan.datasets import Record
from spoofscan.errors import SpoofscanError
from spoofscan.evaluation.evaluate import (MAX_GROUP_VALUES, WORST_SHOWN, build_report, evaluate, evaluate_scores,
                                           write_report)
from spoofscan.evaluation.metrics import (asv_error_rates, compute_act_dcf, compute_cllr, compute_eer, compute_min_dcf,
                                          compute_tdcf)
from spoofscan.evaluation.scores import read_asv_scores, read_scores, write_scores


def _records_and_scores(seed=0, n=300):
    """Records with attack (bona fide '-'), codec (both classes) and speaker columns, and scores.

    Attack ``A1`` is easy (spoof far below bona fide), ``A2`` hard (overlapping).
    """
    rng = np.random.default_rng(seed)
    records, scores = [], {}
    for i in range(n):
        label = "bonafide" if i % 3 == 0 else "spoof"
        attack = "-" if label == "bonafide" else ("A1" if i % 2 else "A2")
        codec = ("none", "mp3")[i % 2]
        groups = {"attack": attack, "codec": codec, "speaker": f"s{i % 4}"}
        records.append(Record(f"T{i:04d}", f"/nowhere/T{i:04d}.flac", label, groups))
        mean = {"-": 2.0, "A1": -3.0, "A2": 1.0}[attack]
        scores[f"T{i:04d}"] = float(np.round(rng.normal(mean, 1.0), 2))
    return records, scores


def _split(records, scores):
    bona = np.array([scores[r.trial] for r in records if r.label == "bonafide"])
    spoof = np.array([scores[r.trial] for r in records if r.label == "spoof"])
    return bona, spoof


# ---------------------------------------------------------------------------- score files

def test_scores_round_trip_exactly(tmp_path):
    trials = ["LA_E_1", "LA_E_2", "LA_E_3"]
    values = [0.1 + 0.2, -1e-9, 12345.678901234567]
    write_scores(tmp_path / "s.txt", trials, values)
    assert read_scores(tmp_path / "s.txt") == dict(zip(trials, values))
    assert (tmp_path / "s.txt").read_text().splitlines()[0].split()[0] == "LA_E_1"


def test_read_2019_four_column_format(tmp_path):
    path = tmp_path / "cm.txt"
    path.write_text("LA_E_1 - bonafide 1.5\nLA_E_2 A07 spoof -2.25\n\nLA_E_3 A19 spoof 0\n")
    assert read_scores(path) == {"LA_E_1": 1.5, "LA_E_2": -2.25, "LA_E_3": 0.0}


@pytest.mark.parametrize("text, message", [
    ("a 1.0\nb\n", ":2: expected"),
    ("a 1.0\nb x y\n", ":2: expected"),
    ("a 1.0\nb high\n", ":2: score 'high'"),
    ("a nan\n", ":1: score of trial 'a' is nan"),
    ("a 1.0\nb 2.0\na 3.0\n", ":3: trial 'a' is listed twice (first on line 1)"),
    ("\n\n", "holds no scores"),
])
def test_read_scores_bad_lines_name_file_and_line(tmp_path, text, message):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(SpoofscanError) as e:
        read_scores(path)
    assert message in str(e.value)
    assert "bad.txt" in str(e.value)


def test_write_scores_refuses_what_the_format_cannot_hold(tmp_path):
    with pytest.raises(SpoofscanError, match="whitespace"):
        write_scores(tmp_path / "s.txt", ["a b"], [1.0])
    with pytest.raises(SpoofscanError, match="inf"):
        write_scores(tmp_path / "s.txt", ["a"], [float("inf")])


def test_score_files_with_a_byte_order_mark_are_read(tmp_path):
    (tmp_path / "s.txt").write_bytes("\ufefft1 0.5\nt2 -0.5\n".encode())
    assert read_scores(tmp_path / "s.txt") == {"t1": 0.5, "t2": -0.5}
    (tmp_path / "asv.txt").write_bytes("\ufeffa target 1.0\nb nontarget -1\nc spoof -2\n".encode())
    assert read_asv_scores(tmp_path / "asv.txt")["target"].tolist() == [1.0]


ASV_2019_LINES = "bonafide target 3.1\nbonafide target 2.2\nbonafide nontarget -1.5\nbonafide nontarget 0.4\n" \
                 "A07 spoof 1.9\nA08 spoof -0.3\n"


def test_read_asv_scores(tmp_path):
    path = tmp_path / "asv.txt"
    path.write_text(ASV_2019_LINES)
    asv = read_asv_scores(path)
    assert asv["target"].tolist() == [3.1, 2.2] and asv["nontarget"].tolist() == [-1.5, 0.4]
    assert asv["spoof"].tolist() == [1.9, -0.3]
    path.write_text("bonafide target 1.0\nbonafide nontarget 0.0\n")
    with pytest.raises(SpoofscanError, match="no spoof trials"):
        read_asv_scores(path)
    path.write_text("bonafide target 1.0\nbonafide impostor 0.0\n")
    with pytest.raises(SpoofscanError, match=":2: expected"):
        read_asv_scores(path)


# ---------------------------------------------------------------------------- report

def test_report_overall_metrics_match_the_metric_functions():
    records, scores = _records_and_scores()
    scores["not_in_protocol"] = 5.0
    bona, spoof = _split(records, scores)
    report = build_report(records, scores)
    m = report["metrics"]
    assert (m["eer"], m["eer_threshold"]) == compute_eer(bona, spoof)
    assert m["eer_percent"] == pytest.approx(100 * m["eer"])
    assert (m["min_dcf"], m["min_dcf_threshold"]) == compute_min_dcf(bona, spoof)
    assert m["act_dcf"] == compute_act_dcf(bona, spoof)[0]
    assert m["cllr"] == compute_cllr(bona, spoof)
    assert report["llr"] == "raw" and report["accuracy"] is None and report["calibration"] is None
    assert report["counts"] == {"trials": 300, "bonafide": 100, "spoof": 200, "extra_scores": 1, "failures": 0,
                                "no_speech": 0}
    json.dumps(report)  # JSON-ready


def test_report_with_calibration_uses_llrs_and_reports_accuracy():
    records, scores = _records_and_scores()
    bona, spoof = _split(records, scores)
    cal = Calibration(a=2.0, b=-1.0)
    report = build_report(records, scores, cal, threshold=0.5)
    assert report["llr"] == "calibrated" and report["calibration"] == {"a": 2.0, "b": -1.0}
    assert report["metrics"]["cllr"] == compute_cllr(2 * bona - 1, 2 * spoof - 1)
    assert report["metrics"]["act_dcf"] == compute_act_dcf(2 * bona - 1, 2 * spoof - 1)[0]
    assert report["metrics"]["eer"] == compute_eer(bona, spoof)[0]  # EER is calibration-free
    # fake when p_fake >= 0.5  <=>  llr <= 0  <=>  score <= 0.5
    acc = report["accuracy"]
    assert acc["bonafide_correct"] == np.mean(bona > 0.5)
    assert acc["spoof_correct"] == np.mean(spoof <= 0.5)
    assert acc["accuracy"] == pytest.approx((np.sum(bona > 0.5) + np.sum(spoof <= 0.5)) / 300)


def test_report_with_asv_scores_adds_min_tdcf(tmp_path):
    records, scores = _records_and_scores()
    (tmp_path / "asv.txt").write_text(ASV_2019_LINES)
    asv_scores = read_asv_scores(tmp_path / "asv.txt")
    report = build_report(records, scores, asv_scores=asv_scores)
    asv = asv_error_rates(asv_scores["target"], asv_scores["nontarget"], asv_scores["spoof"])
    assert report["asv"] == asv
    metrics = report["metrics"]
    assert (metrics["min_tdcf"], metrics["min_tdcf_threshold"]) == compute_tdcf(*_split(records, scores), asv)
    assert "min_tdcf" not in build_report(records, scores)["metrics"]


def test_per_group_eer_conventions():
    records, scores = _records_and_scores()
    bona, spoof = _split(records, scores)
    groups = build_report(records, scores)["groups"]
    assert list(groups) == ["attack", "codec", "speaker"]

    # attack: bona fide all say '-' -> all bona fide vs each attack's spoof; '-' is not a row
    attack = groups["attack"]
    assert attack["mode"] == "all_bonafide"
    assert [row["value"] for row in attack["values"]] == ["A1", "A2"]
    for row in attack["values"]:
        att_spoof = np.array([scores[r.trial] for r in records if r.groups["attack"] == row["value"]])
        assert (row["eer"], row["eer_threshold"]) == compute_eer(bona, att_spoof)
        assert row["min_dcf"] == compute_min_dcf(bona, att_spoof)[0]
        assert (row["bonafide"], row["spoof"]) == (100, len(att_spoof))
    a1, a2 = attack["values"]
    assert a1["eer"] < a2["eer"]  # the easy attack is easier

    # codec splits bona fide too -> both classes filtered
    codec = groups["codec"]
    assert codec["mode"] == "filtered"
    for row in codec["values"]:
        sel = [r for r in records if r.groups["codec"] == row["value"]]
        assert (row["eer"], row["eer_threshold"]) == compute_eer(*_split(sel, scores))
        assert row["min_dcf"] == compute_min_dcf(*_split(sel, scores))[0]
        assert row["bonafide"] + row["spoof"] == len(sel)


def test_group_values_missing_a_class_are_skipped():
    records = [Record("b1", "b1.wav", "bonafide", {"codec": "none"}),
               Record("b2", "b2.wav", "bonafide", {"codec": "mp3"}),
               Record("s1", "s1.wav", "spoof", {"codec": "none"}), Record("s2", "s2.wav", "spoof", {"codec": "ogg"})]
    scores = {"b1": 1.0, "b2": 2.0, "s1": 0.0, "s2": -1.0}
    codec = build_report(records, scores)["groups"]["codec"]
    assert [row["value"] for row in codec["values"]] == ["none"]
    assert codec["skipped"] == [{"value": "mp3", "bonafide": 1, "spoof": 0},
                                {"value": "ogg", "bonafide": 0, "spoof": 1}]


def test_high_cardinality_column_is_summarised():
    rng = np.random.default_rng(3)
    n_speakers = MAX_GROUP_VALUES + 20
    records, scores = [], {}
    for i in range(n_speakers * 4):
        label = "bonafide" if (i // n_speakers) % 2 else "spoof"  # each speaker: 2 of each class
        records.append(Record(f"t{i}", f"t{i}.wav", label, {"speaker": f"spk{i % n_speakers:03d}"}))
        scores[f"t{i}"] = float(rng.normal(1.0 if label == "bonafide" else 0.0))
    speaker = build_report(records, scores)["groups"]["speaker"]
    assert speaker["summarised"] and speaker["summary"]["values"] == n_speakers
    shown = [row["eer"] for row in speaker["values"]]
    assert len(shown) == WORST_SHOWN and shown == sorted(shown, reverse=True)
    assert shown[0] == speaker["summary"]["eer_max"]


def test_missing_scores_are_an_error_naming_count_and_trials():
    records, scores = _records_and_scores()
    for t in ("T0003", "T0010"):
        del scores[t]
    with pytest.raises(SpoofscanError) as e:
        build_report(records, scores, source="sys.txt")
    assert "2 of 300 trials have no score in sys.txt" in str(e.value)
    assert "T0003" in str(e.value) and "T0010" in str(e.value)


def test_one_class_only_is_an_error():
    records = [Record("a", "a.wav", "spoof", {}), Record("b", "b.wav", "spoof", {})]
    with pytest.raises(SpoofscanError, match="both classes"):
        build_report(records, {"a": 0.0, "b": 1.0})


def test_write_report_files(tmp_path):
    records, scores = _records_and_scores()
    report = build_report(records, scores, Calibration(1.0, 0.0))
    paths = write_report(report, tmp_path / "out", *_split(records, scores))
    assert set(paths) == {"json", "markdown", "det", "hist"}
    assert json.loads(paths["json"].read_text()) == report
    md = paths["markdown"].read_text()
    assert f"| EER | {report['metrics']['eer_percent']:.4f} % |" in md
    assert "## EER and minDCF by attack" in md and "## EER and minDCF by codec" in md
    a1 = report["groups"]["attack"]["values"][0]
    assert f"| A1 | {a1['bonafide']} | {a1['spoof']} | {100 * a1['eer']:.2f} | {a1['min_dcf']:.4f} |" in md
    for key in ("det", "hist"):
        data = paths[key].read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_a_report_never_holds_a_non_finite_number(tmp_path):
    with pytest.raises(SpoofscanError, match=r"non-finite number at report\['metrics'\]\['cllr'\]"):
        write_report({"metrics": {"eer": 0.1, "cllr": float("inf")}}, tmp_path)
    assert not (tmp_path / "report.json").exists()


# ---------------------------------------------------------------------------- end to end

def _write_clips(folder, n=3, seconds=1.5):
    """A few generated clips per class, and records for them (one file unreadable if asked)."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    records = []
    for label in ("bonafide", "spoof"):
        for i in range(n):
            name = f"{label}_{i}"
            x = synth_clip(label, seconds, rng)  # speech to the voice-activity detector, unlike plain noise
            sf.write(folder / f"{name}.wav", x, 16000)
            attack = "-" if label == "bonafide" else f"S{i % 2}"
            records.append(Record(name, str(folder / f"{name}.wav"), label, {"attack": attack}))
    return records


def test_evaluate_end_to_end_with_a_tiny_detector(tmp_path, tiny_detector):
    records = _write_clips(tmp_path / "audio")
    broken = tmp_path / "audio" / "broken.wav"
    broken.write_text("not audio")
    records.append(Record("broken", str(broken), "spoof", {"attack": "S0"}))
    out = tmp_path / "eval"
    report = evaluate(tiny_detector, records, out, progress=False)

    # the same scores as predicting each file alone
    written = read_scores(out / "scores.txt")
    assert set(written) == {r.trial for r in records[:-1]}
    for r in records[:-1]:
        assert written[r.trial] == pytest.approx(tiny_detector.predict(r.path).score, rel=BATCH_RTOL, abs=1e-5)
    assert "broken\t" in (out / "failures.txt").read_text()
    assert report["counts"]["failures"] == 1 and report["counts"]["trials"] == 6
    assert report["llr"] == "calibrated" and report["accuracy"] is not None
    assert report["calibration"] == tiny_detector.calibration.to_dict()
    for name in ("report.json", "report.md", "det.png", "hist.png"):
        assert (out / name).stat().st_size > 0
    # the score file alone gives the same report
    again = evaluate_scores(out / "scores.txt", records[:-1], tmp_path / "again", tiny_detector.calibration)
    assert again["metrics"] == report["metrics"] and again["groups"] == report["groups"]


def test_evaluate_refuses_trial_names_with_spaces_before_scoring(tmp_path):
    class NeverCalled:
        def predict_many(self, sources):
            raise AssertionError("scored before the trial names were checked")

    records = [Record("my clip", "my clip.wav", "bonafide", {}), Record("b", "b.wav", "spoof", {})]
    with pytest.raises(SpoofscanError, match="cannot hold: my clip"):
        evaluate(NeverCalled(), records, tmp_path, progress=False)


def _write_manifest(tmp_path, records):
    return write_manifest(tmp_path / "manifest.csv", [
        {"path": r.path, "label": r.label, "trial": r.trial, "split": "eval", "attack": r.groups["attack"]}
        for r in records])


def test_cli_evaluate_scores(tmp_path, capsys):
    from spoofscan.cli import main

    records, scores = _records_and_scores(n=60)
    manifest = _write_manifest(tmp_path, records)  # audio paths do not exist: --scores needs none
    write_scores(tmp_path / "sys.txt", list(scores), list(scores.values()))
    rc = main(["evaluate", "--scores", str(tmp_path / "sys.txt"), "--protocol", f"csv:{manifest}:eval",
               "--out", str(tmp_path / "rep")])
    assert rc == 0
    printed = capsys.readouterr().out
    eer = compute_eer(*_split(records, scores))[0]
    assert f"EER {100 * eer:.4f} %" in printed and "raw scores read as LLRs" in printed
    report = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert report["metrics"]["eer"] == eer
    assert report["groups"]["attack"]["mode"] == "all_bonafide"
    # with the organisers' ASV scores: min t-DCF too
    (tmp_path / "asv.txt").write_text(ASV_2019_LINES)
    assert main(["evaluate", "--scores", str(tmp_path / "sys.txt"), "--protocol", f"csv:{manifest}:eval",
                 "--out", str(tmp_path / "rep_asv"), "--asv-scores", str(tmp_path / "asv.txt")]) == 0
    assert "min t-DCF" in capsys.readouterr().out
    assert "min_tdcf" in json.loads((tmp_path / "rep_asv" / "report.json").read_text())["metrics"]


def test_cli_evaluate_model_and_errors(tmp_path, capsys, tiny_checkpoint):
    from spoofscan.cli import main

    records = _write_clips(tmp_path / "audio", n=2, seconds=1.0)
    manifest = _write_manifest(tmp_path, records)
    rc = main(["evaluate", "--model", str(tiny_checkpoint), "--protocol", f"csv:{manifest}",
               "--out", str(tmp_path / "rep"), "--device", "cpu", "--quiet"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "calibrated LLRs" in out and "accuracy" in out
    assert len(read_scores(tmp_path / "rep" / "scores.txt")) == 4
    # a score file that misses trials: one-line error, exit 2
    (tmp_path / "short.txt").write_text(f"{records[0].trial} 1.0\n")
    rc = main(["evaluate", "--scores", str(tmp_path / "short.txt"), "--protocol", f"csv:{manifest}",
               "--out", str(tmp_path / "rep2")])
    assert rc == 2
    assert "3 of 4 trials have no score" in capsys.readouterr().err
    # --model and --scores together are refused by the parser
    with pytest.raises(SystemExit):
        main(["evaluate", "--model", "m", "--scores", "s", "--protocol", "csv:x", "--out", "o"])


def test_evaluate_counts_an_undecodable_file_as_a_failure(tiny_detector, tmp_path):
    good = [write_speech(tmp_path / f"good{i}.wav", seconds=1.2, seed=i) for i in range(3)]
    bad = tmp_path / "tag1234.wav"
    bad.write_bytes(riff_wav(0x1234))
    records = [Record(f"g{i}", p, ("bonafide", "spoof")[i % 2]) for i, p in enumerate(good)]
    records.append(Record("bad", str(bad), "spoof"))
    report = evaluate(tiny_detector, records, tmp_path / "eval", progress=False)
    assert report["counts"]["failures"] == 1 and report["counts"]["trials"] == 3
    assert (tmp_path / "eval" / "failures.txt").read_text().startswith("bad\t")


def test_extreme_scores_are_refused_when_read_and_large_ones_reported(tmp_path, capsys):
    from spoofscan.cli import main

    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label,trial\n"
                        + "".join(f"x{i}.wav,{('bonafide', 'spoof')[i % 2]},t{i}\n" for i in range(20)))
    extreme = tmp_path / "extreme.txt"
    extreme.write_text("".join(f"t{i} {('1e308', '-1e308')[i % 2]}\n" for i in range(20)))
    protocol = ["--protocol", f"csv:{manifest}", "--out", str(tmp_path / "r")]
    err = one_line_error(capsys, ["evaluate", "--scores", extreme, *protocol])
    assert "extreme.txt:1: score 1e308 of trial 't0' is beyond" in err
    large = tmp_path / "large.txt"
    large.write_text("".join(f"t{i} {(i + 1) * (4e98 if i % 2 == 0 else -4e98)}\n" for i in range(20)))
    assert main(["evaluate", "--scores", str(large), *protocol]) == 0
    text = (tmp_path / "r" / "report.json").read_text()
    assert "Infinity" not in text and "NaN" not in text
    assert (tmp_path / "r" / "hist.png").stat().st_size > 1000 and (tmp_path / "r" / "det.png").stat().st_size > 1000
