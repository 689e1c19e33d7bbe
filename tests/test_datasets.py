"""The public corpora's loaders (spoofscan.datasets) on tiny protocol files written in each corpus's
exact format; CSV manifests and data specs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from spoofscan.datasets import (CORPORA, Record, load_asvspoof5, load_asvspoof2019_la, load_asvspoof2021,
                                load_csv_manifest, load_folder, load_in_the_wild, load_records, missing_audio,
                                parse_spec, spec_help, summarize)
from spoofscan.datasets.records import MAX_LISTED_VALUES
from spoofscan.errors import SpoofscanError


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- ASVspoof 2019 LA

LA2019_TRAIN = """\
LA_0079 LA_T_1138215 - - bonafide
LA_0079 LA_T_1271820 - A01 spoof
LA_0080 LA_T_1000137 - A04 spoof
"""


def make_la2019(tmp_path: Path, subset="train", text=LA2019_TRAIN, audio=True) -> Path:
    root = tmp_path / "LA"
    name = {"train": "train.trn", "dev": "dev.trl", "eval": "eval.trl"}[subset]
    write(root / "ASVspoof2019_LA_cm_protocols" / f"ASVspoof2019.LA.cm.{name}.txt", text)
    if audio:
        for line in text.splitlines():
            touch(root / f"ASVspoof2019_LA_{subset}" / "flac" / f"{line.split()[1]}.flac")
    return root


def test_asvspoof2019_la_records_labels_groups(tmp_path):
    root = make_la2019(tmp_path)
    records = load_records(f"asvspoof2019la:{root}:train")
    assert [r.trial for r in records] == ["LA_T_1138215", "LA_T_1271820", "LA_T_1000137"]
    assert [r.label for r in records] == ["bonafide", "spoof", "spoof"]
    assert records[0].groups == {"speaker": "LA_0079", "attack": "-"}
    assert records[2].groups == {"speaker": "LA_0080", "attack": "A04"}
    assert records[1].path == str(root / "ASVspoof2019_LA_train" / "flac" / "LA_T_1271820.flac")
    # the folder holding LA/ works too, and the library function gives the same records
    assert load_records(f"asvspoof2019la:{tmp_path}:train") == records
    assert load_asvspoof2019_la(root, "train") == records


def test_asvspoof2019_la_eval_subset_and_missing_protocol(tmp_path):
    root = make_la2019(tmp_path, "eval", "LA_0039 LA_E_2834763 - A11 spoof\n"
                                         "LA_0014 LA_E_8877452 - - bonafide\n")
    records = load_records(f"asvspoof2019la:{root}:eval")
    assert [(r.trial, r.groups["attack"]) for r in records] == [("LA_E_2834763", "A11"),
                                                                ("LA_E_8877452", "-")]
    with pytest.raises(SpoofscanError, match=r"ASVspoof2019\.LA\.cm\.dev\.trl\.txt"):
        load_records(f"asvspoof2019la:{root}:dev")


def test_missing_audio_error_names_count_total_and_first_files(tmp_path):
    lines = "".join(f"LA_0079 LA_T_{1000000 + i} - A01 spoof\n" for i in range(8))
    root = make_la2019(tmp_path, text=lines, audio=False)
    touch(root / "ASVspoof2019_LA_train" / "flac" / "LA_T_1000000.flac")
    with pytest.raises(SpoofscanError) as info:
        load_records(f"asvspoof2019la:{root}:train")
    message = str(info.value)
    assert "7 of 8 audio files" in message
    for i in range(1, 6):
        assert f"LA_T_{1000000 + i}.flac" in message
    assert "LA_T_1000006" not in message and "LA_T_1000000.flac" not in message
    assert "Hint" in message
    records = load_records(f"asvspoof2019la:{root}:train", check_files=False)
    assert len(records) == 8
    assert [r.trial for r in missing_audio(records)] == [f"LA_T_{1000000 + i}" for i in range(1, 8)]


def test_duplicate_trials_empty_and_malformed_protocols(tmp_path):
    root = make_la2019(tmp_path, text=LA2019_TRAIN + "LA_0079 LA_T_1271820 - A01 spoof\n")
    with pytest.raises(SpoofscanError, match=r"1 trial id\(s\) occur more than once .*LA_T_1271820"):
        load_records(f"asvspoof2019la:{root}:train")
    write(root / "ASVspoof2019_LA_cm_protocols" / "ASVspoof2019.LA.cm.train.trn.txt", "\n")
    with pytest.raises(SpoofscanError, match="no trials"):
        load_records(f"asvspoof2019la:{root}:train")
    write(root / "ASVspoof2019_LA_cm_protocols" / "ASVspoof2019.LA.cm.train.trn.txt",
          "LA_0079 LA_T_1138215 - - bonafide\nLA_0079 LA_T_1 bonafide\n")
    with pytest.raises(SpoofscanError, match=r"train\.trn\.txt:2: expected 5 .*found 3"):
        load_records(f"asvspoof2019la:{root}:train")
    write(root / "ASVspoof2019_LA_cm_protocols" / "ASVspoof2019.LA.cm.train.trn.txt",
          "LA_0079 LA_T_1138215 - - maybe\n")
    with pytest.raises(SpoofscanError, match=r"unknown label 'maybe' in .*train\.trn\.txt:1"):
        load_records(f"asvspoof2019la:{root}:train")


# --------------------------------------------------------------------------- ASVspoof 2021

DF_KEYS = """\
LA_0023 DF_E_2000011 nocodec asvspoof A14 spoof notrim progress traditional_vocoder - - - -
TEF2 DF_E_2000013 low_m4a vcc2020 Task1-team20 spoof notrim eval neural_vocoder_nonautoregressive Task1 team20 FF -
LA_0043 DF_E_2000024 high_mp3 asvspoof - bonafide notrim eval bonafide - - - -
TGM1 DF_E_2000026 mp3m4a vcc2018 SPO-N17 spoof notrim hidden_track unknown HUB N17 FM -
LA_0013 DF_E_2000027 low_ogg asvspoof A07 spoof notrim eval neural_vocoder_autoregressive - - - -
"""

LA2021_KEYS = """\
LA_0009 LA_E_9332881 alaw ita_tx A07 spoof notrim eval
LA_0020 LA_E_6866159 none ita_tx - bonafide notrim progress
LA_0013 LA_E_5464494 pstn sin_tx - bonafide notrim eval
LA_0024 LA_E_6494700 g722 loc_tx A18 spoof trim hidden_track
"""


def test_asvspoof2021_df_subsets_and_groups(tmp_path):
    write(tmp_path / "keys" / "DF" / "CM" / "trial_metadata.txt", DF_KEYS)
    for line in DF_KEYS.splitlines():
        touch(tmp_path / "ASVspoof2021_DF_eval" / "flac" / f"{line.split()[1]}.flac")
    records = load_records(f"asvspoof2021df:{tmp_path}")          # default subset: eval
    assert [r.trial for r in records] == ["DF_E_2000013", "DF_E_2000024", "DF_E_2000027"]
    assert [r.label for r in records] == ["spoof", "bonafide", "spoof"]
    assert records[0].groups == {
        "speaker": "TEF2", "codec": "low_m4a", "source": "vcc2020", "attack": "Task1-team20",
        "trim": "notrim", "subset": "eval", "vocoder": "neural_vocoder_nonautoregressive",
        "task": "Task1", "team": "team20", "gender_pair": "FF", "language": "-"}
    assert records[1].path == str(tmp_path / "ASVspoof2021_DF_eval" / "flac" / "DF_E_2000024.flac")
    assert load_records(f"asvspoof2021df:{tmp_path}:eval") == records
    assert [r.trial for r in load_records(f"asvspoof2021df:{tmp_path}:progress")] == ["DF_E_2000011"]
    assert [r.trial for r in load_records(f"asvspoof2021df:{tmp_path}:hidden_track")] == ["DF_E_2000026"]
    assert len(load_records(f"asvspoof2021df:{tmp_path}:all")) == 5
    with pytest.raises(SpoofscanError, match=r"unknown asvspoof2021df subset 'test' "
                                             r"\(choose from: eval, progress, hidden_track, all\)"):
        load_records(f"asvspoof2021df:{tmp_path}:test")


def test_asvspoof2021_df_parts_extracted_separately_and_keys_folder(tmp_path):
    write(tmp_path / "DF-keys-full" / "keys" / "DF" / "CM" / "trial_metadata.txt", DF_KEYS)
    trials = [line.split()[1] for line in DF_KEYS.splitlines()]
    for i, trial in enumerate(trials):    # two archives, each extracted into its own folder
        part = tmp_path / f"ASVspoof2021_DF_eval_part0{i % 2}" / "ASVspoof2021_DF_eval" / "flac"
        touch(part / f"{trial}.flac")
    records = load_records(f"asvspoof2021df:{tmp_path}:all")
    assert [Path(r.path).parent.parent.parent.name for r in records] == [
        "ASVspoof2021_DF_eval_part00", "ASVspoof2021_DF_eval_part01", "ASVspoof2021_DF_eval_part00",
        "ASVspoof2021_DF_eval_part01", "ASVspoof2021_DF_eval_part00"]
    assert all(Path(r.path).exists() for r in records)


def test_asvspoof2021_la_and_missing_key(tmp_path):
    with pytest.raises(SpoofscanError, match=r"ASVspoof 2021 LA key file not found.*trial_metadata"):
        load_asvspoof2021(tmp_path, "LA")
    write(tmp_path / "keys" / "LA" / "CM" / "trial_metadata.txt", LA2021_KEYS)
    records = load_asvspoof2021(tmp_path, "LA")
    assert [(r.trial, r.label) for r in records] == [("LA_E_9332881", "spoof"),
                                                      ("LA_E_5464494", "bonafide")]
    assert records[0].groups == {"speaker": "LA_0009", "codec": "alaw", "transmission": "ita_tx",
                                 "attack": "A07", "trim": "notrim", "subset": "eval"}
    assert records[0].path.endswith("ASVspoof2021_LA_eval/flac/LA_E_9332881.flac")
    with pytest.raises(SpoofscanError, match="2 of 2 audio files"):
        load_records(f"asvspoof2021la:{tmp_path}")
    # root may be the eval folder itself, with the keys beside it
    eval_dir = tmp_path / "ASVspoof2021_LA_eval"
    for record in records:
        touch(eval_dir / "flac" / f"{record.trial}.flac")
    assert load_records(f"asvspoof2021la:{eval_dir}") == records
    # an 8-column LA key is not a DF key
    write(tmp_path / "keys" / "DF" / "CM" / "trial_metadata.txt", LA2021_KEYS)
    with pytest.raises(SpoofscanError, match=r"expected 13 space-separated columns"):
        load_asvspoof2021(tmp_path, "DF", "all")


# --------------------------------------------------------------------------- ASVspoof 5

AS5_DEV = """\
D_0062 D_0000000001 F - - - AC1 A11 spoof -
D_0755 D_0000000005 M - - - bonafide bonafide bonafide -
D_0062 D_0000000009 F C05 3 D_0000000001 AC1 A11 spoof -
"""


def test_asvspoof5_dev_protocol_folder_and_groups(tmp_path):
    write(tmp_path / "ASVspoof5_protocols" / "ASVspoof5.dev.track_1.tsv", AS5_DEV)
    for line in AS5_DEV.splitlines():
        touch(tmp_path / "flac_D" / f"{line.split()[1]}.flac")
    records = load_records(f"asvspoof5:{tmp_path}:dev")
    assert [(r.trial, r.label) for r in records] == [
        ("D_0000000001", "spoof"), ("D_0000000005", "bonafide"), ("D_0000000009", "spoof")]
    assert records[2].groups == {"speaker": "D_0062", "gender": "F", "codec": "C05", "codec_q": "3",
                                 "attack_tag": "AC1", "attack": "A11"}
    assert records[0].groups["codec"] == "-"
    assert records[1].path == str(tmp_path / "flac_D" / "D_0000000005.flac")


def test_asvspoof5_protocol_in_root_and_audio_found_one_level_down(tmp_path):
    text = "E_0001 E_0000000001 M C01 1 E_0000000002 AC2 A20 spoof -\n" \
           "E_0002 E_0000000002 M - - - bonafide bonafide bonafide -\n"
    write(tmp_path / "ASVspoof5.eval.track_1.tsv", text)
    touch(tmp_path / "my_eval_audio" / "E_0000000001.flac")
    touch(tmp_path / "my_eval_audio" / "E_0000000002.flac")
    records = load_asvspoof5(tmp_path, "eval")
    assert all(Path(r.path).parent.name == "my_eval_audio" for r in records)
    assert load_records(f"asvspoof5:{tmp_path}:eval") == records
    write(tmp_path / "ASVspoof5.train.tsv", "T_4850 T_0000000000 F - - - AC3 A05 spoof\n")
    with pytest.raises(SpoofscanError, match=r"ASVspoof5\.train\.tsv:1: expected 10 .*found 9"):
        load_asvspoof5(tmp_path, "train")
    with pytest.raises(SpoofscanError, match=r"needs a subset: asvspoof5:PATH:SUBSET .*train, dev, eval"):
        load_records(f"asvspoof5:{tmp_path}")


# --------------------------------------------------------------------------- In-the-Wild


def test_in_the_wild_meta_csv(tmp_path):
    root = tmp_path / "release_in_the_wild"
    write(root / "meta.csv", 'file,speaker,label\n0.wav,Alec Guinness,spoof\n'
                             '1.wav,Alec Guinness,bona-fide\n2.wav,"Doe, Jane",bona-fide\n')
    for i in range(3):
        touch(root / f"{i}.wav")
    records = load_records(f"itw:{root}")
    assert [(r.trial, r.label, r.groups) for r in records] == [
        ("0.wav", "spoof", {"speaker": "Alec Guinness"}),
        ("1.wav", "bonafide", {"speaker": "Alec Guinness"}),
        ("2.wav", "bonafide", {"speaker": "Doe, Jane"})]
    assert records[0].path == str(root / "0.wav")
    assert load_in_the_wild(root / "meta.csv") == records
    assert load_records(f"in-the-wild:{root}") == records
    with pytest.raises(SpoofscanError, match="itw takes no subset"):
        load_records(f"itw:{root}:eval")
    write(root / "meta.csv", "file,label\n0.wav,spoof\n")
    with pytest.raises(SpoofscanError, match=r"missing column\(s\) speaker"):
        load_in_the_wild(root)


# --------------------------------------------------------------------------- folder


def test_folder_real_fake_with_sources(tmp_path):
    sf.write(tmp_path / "tone.wav", np.zeros(1600, dtype=np.float32), 16000)
    (tmp_path / "Real").mkdir()
    (tmp_path / "tone.wav").rename(tmp_path / "Real" / "a.wav")
    touch(tmp_path / "Real" / "b.FLAC")
    touch(tmp_path / "Real" / "notes.txt")                   # not audio: ignored
    touch(tmp_path / "Real" / "._a.wav")                     # macOS resource fork: ignored
    touch(tmp_path / "fake" / "elevenlabs" / "x.mp3")
    touch(tmp_path / "fake" / "elevenlabs" / "v2" / "y.wav")
    touch(tmp_path / "fake" / "z.wav")
    touch(tmp_path / "other" / "w.wav")                      # not a class folder: ignored
    records = load_records(f"folder:{tmp_path}")
    got = {r.trial: (r.label, r.groups["source"]) for r in records}
    assert got == {
        "Real/a.wav": ("bonafide", "-"), "Real/b.FLAC": ("bonafide", "-"),
        "fake/elevenlabs/x.mp3": ("spoof", "elevenlabs"),
        "fake/elevenlabs/v2/y.wav": ("spoof", "elevenlabs"), "fake/z.wav": ("spoof", "-")}
    assert all(Path(r.path).exists() for r in records)
    assert load_folder(tmp_path) == records


def test_folder_bonafide_spoof_without_sources_and_errors(tmp_path):
    touch(tmp_path / "bonafide" / "a.wav")
    touch(tmp_path / "SPOOF" / "b.ogg")
    records = load_folder(tmp_path)
    assert [(r.trial, r.label, r.groups) for r in records] == [
        ("SPOOF/b.ogg", "spoof", {}), ("bonafide/a.wav", "bonafide", {})]
    empty = tmp_path / "empty"
    touch(empty / "clips" / "a.wav")
    with pytest.raises(SpoofscanError, match=r"no class sub-folders .*found: clips"):
        load_folder(empty)
    with pytest.raises(SpoofscanError, match="does not exist"):
        load_folder(tmp_path / "nowhere")


# --------------------------------------------------------------------------- CSV manifest


def test_csv_manifest_paths_groups_and_split(tmp_path):
    data = tmp_path / "data"
    absolute = touch(tmp_path / "elsewhere" / "abs.wav")
    for name in ("clips/a.wav", "clips/b.wav", "clips/c.wav"):
        touch(data / name)
    manifest = write(data / "manifest.csv",
                     "path,label,split,generator,trial\n"
                     "clips/a.wav,real,train,,\n"
                     "clips/b.wav,fake,test,xtts,b-id\n"
                     f"{absolute},Fake,test,elevenlabs,\n"
                     "clips/c.wav,bona-fide,test,,\n")
    records = load_records(f"csv:{manifest}")
    assert [(r.trial, r.label) for r in records] == [
        ("clips/a.wav", "bonafide"), ("b-id", "spoof"), (str(absolute), "spoof"),
        ("clips/c.wav", "bonafide")]
    assert records[0].path == str(data / "clips" / "a.wav")
    assert records[2].path == str(absolute)
    assert records[1].groups == {"generator": "xtts"}
    assert records[0].groups == {"generator": "-"}
    test = load_records(f"csv:{manifest}:test")
    assert [r.trial for r in test] == ["b-id", str(absolute), "clips/c.wav"]
    assert load_csv_manifest(manifest, split="test") == test
    with pytest.raises(SpoofscanError, match=r"no row has split 'dev' .*values in the split column: "
                                             r"test, train"):
        load_records(f"csv:{manifest}:dev")


def test_csv_manifest_errors_and_colon_in_path(tmp_path):
    folder = tmp_path / "a:b"
    touch(folder / "x.wav")
    manifest = write(folder / "m.csv", "path,label\nx.wav,spoof\nx.wav,real\n")
    with pytest.raises(SpoofscanError, match=r"occur more than once .*x\.wav"):
        load_records(f"csv:{manifest}")
    write(manifest, "path,label\nx.wav,spoof\n")
    assert [r.path for r in load_records(f"csv:{manifest}")] == [str(folder / "x.wav")]
    with pytest.raises(SpoofscanError, match=r"split 'train' asked for but the CSV has no 'split' column"):
        load_records(f"csv:{manifest}:train")
    write(manifest, "file,label\nx.wav,spoof\n")
    with pytest.raises(SpoofscanError, match=r"missing column\(s\) path \(header has: file, label"):
        load_csv_manifest(manifest)
    write(manifest, "path,label\n")
    with pytest.raises(SpoofscanError, match="no trials"):
        load_csv_manifest(manifest)


def test_a_bom_is_read_and_a_short_csv_row_says_what_it_lacks(tmp_path):
    la = tmp_path / "LA" / "ASVspoof2019_LA_cm_protocols"
    la.mkdir(parents=True)
    protocol = "\ufeffLA_0079 LA_D_1 - - bonafide\nLA_0079 LA_D_2 - A01 spoof\n"
    (la / "ASVspoof2019.LA.cm.dev.trl.txt").write_bytes(protocol.encode())
    records = load_records(f"asvspoof2019la:{tmp_path / 'LA'}:dev", check_files=False)
    assert [r.groups["speaker"] for r in records] == ["LA_0079", "LA_0079"]
    (tmp_path / "m.csv").write_text("path,label,split\na.wav,bonafide,train\nb.wav,spoof\n")
    with pytest.raises(SpoofscanError, match=r"m.csv:3: 2 cells for the header's 3 columns .* it lacks 'split'"):
        load_csv_manifest(tmp_path / "m.csv")


# --------------------------------------------------------------------------- specs, registry, summary


def test_spec_parsing_and_errors(tmp_path):
    assert parse_spec("asvspoof5:/mnt/a:b/asvspoof5:dev") == ("asvspoof5", "/mnt/a:b/asvspoof5", "dev")
    assert parse_spec("ASVspoof2021DF:/data/2021") == ("asvspoof2021df", "/data/2021", "eval")
    assert parse_spec("asvspoof2021la:/data/2021:progress") == ("asvspoof2021la", "/data/2021", "progress")
    assert parse_spec("folder:/data/x:y/clips") == ("folder", "/data/x:y/clips", None)
    assert parse_spec("csv:/nowhere/m.csv:dev") == ("csv", "/nowhere/m.csv", "dev")
    with pytest.raises(SpoofscanError) as info:
        load_records(f"timit:{tmp_path}")
    assert "unknown corpus 'timit'" in str(info.value)
    for name in CORPORA:
        assert name in str(info.value)
    with pytest.raises(SpoofscanError, match=r"unknown asvspoof2019la subset 'test' "
                                             r"\(choose from: train, dev, eval\)"):
        load_records(f"asvspoof2019la:{tmp_path}:test")
    with pytest.raises(SpoofscanError, match=r"needs a subset: .*train, dev, eval"):
        load_records(f"asvspoof2019la:{tmp_path}")
    with pytest.raises(SpoofscanError, match=r"expected CORPUS:PATH\[:SUBSET\]"):
        load_records(str(tmp_path))
    with pytest.raises(SpoofscanError, match="does not exist"):
        load_records(f"asvspoof2019la:{tmp_path / 'none'}:train")
    help_text = spec_help()
    for corpus in CORPORA.values():
        assert corpus.name in help_text and corpus.example in help_text


def test_summarize_counts_and_caps_long_columns():
    records = [Record(f"t{i}", f"/x/t{i}.wav", "spoof" if i % 4 else "bonafide",
                      {"attack": f"A{i % 3}" if i % 4 else "-", "speaker": f"s{i}"})
               for i in range(MAX_LISTED_VALUES + 8)]
    summary = summarize(records)
    n = len(records)
    assert summary["trials"] == n
    assert summary["labels"] == {"bonafide": 12, "spoof": n - 12}
    attack = summary["groups"]["attack"]
    assert attack["distinct"] == 4 and sum(attack["counts"].values()) == n
    assert attack["counts"]["-"] == 12
    assert summary["groups"]["speaker"] == {"distinct": n}
