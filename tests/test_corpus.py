"""The offline corpus: generator interface, neutralisation, splits, idempotent rebuilds.

Most tests build from generated "real" recordings (--real-dir) with user command generators
(small Python scripts), so they need neither apt nor any speech engine. The tests of the
built-in engines and of the Debian-package corpus skip, with the reason, where those are absent.
"""

from __future__ import annotations

import csv
import os
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from spoofscan.corpus import (ATTRIBUTION, CODECS, MANIFEST, MANIFEST_COLUMNS, NO_CODEC, NO_GENERATOR, SIZES,
                              CorpusConfig, build_corpus, build_corpus_summary, fetch_package, neutralise, plan_corpus,
                              read_state)
from spoofscan.corpus.audit import measure_clip
from spoofscan.corpus.generators import CommandGenerator, Request, get_generator
from spoofscan.corpus.generators.espeak import EspeakGenerator
from spoofscan.corpus.generators.flite import FliteGenerator
from spoofscan.corpus.generators.lpc import LpcGenerator
from spoofscan.corpus.generators.world import WorldGenerator
from spoofscan.datasets import load_records
from spoofscan.errors import SpoofscanError

# A stand-in TTS engine: writes a harmonic tone whose length follows the text and --speed,
# and echoes the text it received (to check quoting).
TTS_SCRIPT = r'''
import argparse, numpy as np, soundfile as sf
p = argparse.ArgumentParser()
p.add_argument("--text"); p.add_argument("--out"); p.add_argument("--speed", type=float, default=1.0)
p.add_argument("--lang", default=""); p.add_argument("--f0", type=float, default=150.0); p.add_argument("--echo")
a = p.parse_args()
if a.echo:
    open(a.echo, "w", encoding="utf-8").write(a.text)
rate = 22050
n = int(rate * (0.2 + 0.06 * len(a.text)) / a.speed)
t = np.arange(n) / rate
x = sum(np.sin(2 * np.pi * k * a.f0 * t) / k for k in range(1, 8)) * np.hanning(n)
sf.write(a.out, (0.3 * x / np.abs(x).max()).astype(np.float32), rate)
'''

# A stand-in voice converter: reads {source}, writes it back with its spectrum tilted.
VC_SCRIPT = r'''
import sys, numpy as np, soundfile as sf
x, rate = sf.read(sys.argv[1], dtype="float32")
y = np.convolve(x, [0.5, 0.5])[: len(x)]
sf.write(sys.argv[2], y, rate)
'''


def _voice(seconds: float, rate: int, rng: np.random.Generator) -> np.ndarray:
    """A voiced-like signal: harmonics with vibrato, an envelope and some noise; float32 (samples,)."""
    n = int(seconds * rate)
    t = np.arange(n) / rate
    f0 = rng.uniform(100, 220) * (1 + 0.03 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / rate
    x = sum(np.sin(k * phase) / k for k in range(1, 10)) * np.hanning(n) + 0.01 * rng.standard_normal(n)
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def make_real_dir(root: Path, speakers=("ann", "bob", "cem", "dia"), clips_per_speaker: int = 4,
                  seed: int = 0) -> Path:
    """Folder of "real" recordings: one sub-folder per speaker, 44.1 kHz wavs with .txt transcripts."""
    rng = np.random.default_rng(seed)
    for s in speakers:
        (root / s).mkdir(parents=True, exist_ok=True)
        for i in range(clips_per_speaker):
            pad = np.zeros(int(rng.uniform(0.0, 0.5) * 44100), np.float32)
            x = np.concatenate([pad, _voice(rng.uniform(0.6, 1.5), 44100, rng)])
            sf.write(root / s / f"{s}_{i}.wav", x, 44100)
            (root / s / f"{s}_{i}.txt").write_text(f"Sentence {i} said by {s}.")
    return root


@pytest.fixture
def scripts(tmp_path):
    tts = tmp_path / "tts.py"
    tts.write_text(TTS_SCRIPT)
    vc = tmp_path / "vc.py"
    vc.write_text(VC_SCRIPT)
    return {"tts": f"{sys.executable} {tts}", "vc": f"{sys.executable} {vc}"}


def _config(tmp_path, scripts, **kw) -> CorpusConfig:
    """A corpus from --real-dir with two command generators for train/dev and two others for eval."""
    real = make_real_dir(tmp_path / "real") if not (tmp_path / "real").exists() else tmp_path / "real"
    commands = [
        {"name": "tts-low", "command": scripts["tts"] + " --text {text} --speed {speed} --f0 120 --out {out}",
         "languages": ["en"], "split": "train"},
        {"name": "vc-tilt", "command": scripts["vc"] + " {source} {out}", "needs": "audio", "split": "train"},
        {"name": "tts-high", "command": scripts["tts"] + " --text {text} --speed {speed} --f0 240 --out {out}",
         "languages": ["en"], "split": "eval"},
        {"name": "vc-eval", "command": scripts["vc"] + " {source} {out}", "needs": "audio", "split": "eval"},
    ]
    settings = dict(out=str(tmp_path / "corpus"), size="tiny", sources=(), real_dirs=(str(real),), real_language="en",
                    train_generators=(), eval_generators=(), commands=commands, max_real=None, jobs=2,
                    eval_fraction=0.25, dev_fraction=0.2, progress=False, cache_dir=str(tmp_path / "cache"))
    settings.update(kw)
    return CorpusConfig.from_dict(settings)


def _manifest_rows(manifest: Path) -> list[dict]:
    with open(manifest, newline="") as f:
        return list(csv.DictReader(f))


# ---------------------------------------------------------------------------- generators


def test_command_generator_passes_text_verbatim_and_returns_audio(tmp_path, scripts):
    echo = tmp_path / "echo.txt"
    g = CommandGenerator(name="mytts", command=scripts["tts"] + f" --text {{text}} --out {{out}} --echo {echo}",
                         languages=("en",))
    assert g.is_available()
    assert g.supports("en") and g.supports("en_GB") and not g.supports("fr")
    text = "It's a \"quoted\" $HOME text; rm -rf / `echo no`"
    x, rate = g.synthesize(Request(text=text, language="en"))
    assert echo.read_text(encoding="utf-8") == text  # no shell expansion, no lost quotes
    assert rate == 22050 and x.dtype == np.float32 and x.ndim == 1
    same, _ = g.synthesize(Request(text=text, language="en", speed=0.5))
    assert len(same) == len(x)  # the template does not pass {speed}
    fast = CommandGenerator(name="fast", command=scripts["tts"] + " --text {text} --speed {speed} --out {out}")
    assert len(fast.synthesize(Request(text=text, speed=2.0))[0]) < 0.6 * len(x)


def test_command_generator_with_source_clip(scripts):
    g = CommandGenerator(name="myvc", command=scripts["vc"] + " {source} {out}", needs="audio")
    src = _voice(1.0, 16000, np.random.default_rng(1))
    y, rate = g.synthesize(Request(audio=src, rate=16000))
    assert rate == 16000 and len(y) == len(src)
    assert not np.allclose(y, src, atol=1e-3)


def test_command_generator_errors_name_the_generator(tmp_path):
    with pytest.raises(SpoofscanError, match=r"\{out\}"):
        CommandGenerator(name="x", command="mytts --text {text}")
    with pytest.raises(SpoofscanError, match="name"):
        CommandGenerator(name="has space", command="t {out}")
    with pytest.raises(SpoofscanError, match="source"):
        CommandGenerator(name="vc", command="t {out}", needs="audio")
    missing = CommandGenerator(name="ghost", command="no-such-program-xyz {text} {out}")
    assert not missing.is_available() and "no-such-program-xyz" in missing.missing_hint()
    failing = CommandGenerator(name="failing", command=f"{sys.executable} -c 'import sys; sys.exit(3)' {{out}}")
    with pytest.raises(SpoofscanError, match="failing.*exit status 3"):
        failing.synthesize(Request(text="hi"))
    silent = CommandGenerator(name="silent", command=f"{sys.executable} -c 'pass' {{out}}")
    with pytest.raises(SpoofscanError, match="silent.*no audio"):
        silent.synthesize(Request(text="hi"))


def test_get_generator_names_the_choices():
    assert get_generator("world/harvest-shift").name == "world/harvest-shift"
    with pytest.raises(SpoofscanError, match="espeak-ng/m3"):
        get_generator("nope")


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed (apt-get install espeak-ng)")
def test_espeak_speaks_languages_and_follows_speed():
    g = EspeakGenerator("f4")
    assert g.is_available() and g.supports("fr") and g.supports("pt_BR") and not g.supports("xx")
    x, rate = g.synthesize(Request(text="Une pièce de monnaie américaine.", language="fr"))
    fast, _ = g.synthesize(Request(text="Une pièce de monnaie américaine.", language="fr", speed=1.6))
    assert rate == 22050 and len(x) > rate * 0.5
    assert len(fast) < 0.8 * len(x)


@pytest.mark.skipif(shutil.which("flite") is None, reason="flite not installed (apt-get install flite)")
def test_flite_voices_and_rates():
    assert FliteGenerator("slt").supports("en") and not FliteGenerator("slt").supports("fr")
    _, rate8 = FliteGenerator("kal").synthesize(Request(text="A penny.", language="en"))
    x, rate16 = FliteGenerator("slt").synthesize(Request(text="A penny.", language="en"))
    assert (rate8, rate16) == (8000, 16000) and np.abs(x).max() > 0.01


@pytest.mark.skipif(not WorldGenerator().is_available(), reason="pyworld not installed (pip install pyworld)")
def test_world_copy_synthesis_keeps_length_and_shifts_pitch():
    src = _voice(1.0, 16000, np.random.default_rng(2))
    plain, rate = WorldGenerator("harvest").synthesize(Request(audio=src, rate=16000, seed=1))
    shifted, _ = WorldGenerator("harvest", shift=True).synthesize(Request(audio=src, rate=16000, seed=1))
    assert rate == 16000 and abs(len(plain) - len(src)) < 200
    assert not np.allclose(plain[: len(shifted)], shifted[: len(plain)], atol=1e-2)


# ---------------------------------------------------------------------------- processing


def test_neutralise_gives_same_ranges_for_any_input():
    cfg = CorpusConfig.from_dict({"sources": (), "real_dirs": ("x",), "level_dbfs": (-30.0, -20.0),
                                  "edge_pad_seconds": (0.1, 0.3)})
    rng = np.random.default_rng(0)
    breathy = _voice(1.0, 16000, rng) + 0.03 * rng.standard_normal(16000).astype(np.float32)  # energy up to 8 kHz
    loud = np.concatenate([np.zeros(16000), 0.9 * breathy, np.zeros(8000)])  # 1 s of leading silence
    quiet = 0.001 * breathy
    for x in (loud, quiet):
        for narrowband in (False, True):
            for codec in (NO_CODEC, *CODECS):
                y = neutralise(x.astype(np.float32), np.random.default_rng(1), cfg, narrowband, (codec, 0.5))
                m = measure_clip(y)
                assert -30.5 <= m["rms_dbfs"] <= -19.5
                assert 0.05 <= m["leading_silence_s"] <= 0.35  # the 1 s of silence is gone, new padding in range
                assert 1.2 <= m["duration_s"] <= 1.65  # 1 s of sound plus 0.2-0.6 s of padding
                if codec == NO_CODEC:  # (a codec may cut the top band itself)
                    assert m["bandwidth_hz"] <= 4100 if narrowband else m["bandwidth_hz"] > 7000
                assert np.abs(y).max() <= 0.99 + 1e-6


# ---------------------------------------------------------------------------- building


@pytest.mark.slow
def test_build_idempotent_and_splits_disjoint(tmp_path, scripts):
    cfg = _config(tmp_path, scripts)
    first = build_corpus_summary(cfg)
    manifest = first.manifest
    assert first.built == first.pairs > 0 and first.failed == 0
    before = manifest.read_bytes()
    mtimes = {p: p.stat().st_mtime_ns for p in (tmp_path / "corpus" / "audio").rglob("*.flac")}

    second = build_corpus_summary(cfg)
    assert second.built == 0 and second.reused == first.pairs
    assert manifest.read_bytes() == before
    assert {p.job for p in plan_corpus(cfg).pairs} == set(read_state(manifest.parent))  # what the build made
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "corpus" / "audio").rglob("*.flac")} == mtimes

    rows = _manifest_rows(manifest)
    assert tuple(rows[0]) == MANIFEST_COLUMNS
    by_split = {s: [r for r in rows if r["split"] == s] for s in ("train", "dev", "eval")}
    assert all(by_split.values())
    speakers = {s: {r["speaker"] for r in v} for s, v in by_split.items()}
    generators = {s: {r["generator"] for r in v} - {NO_GENERATOR} for s, v in by_split.items()}
    assert not speakers["eval"] & (speakers["train"] | speakers["dev"])
    assert not generators["eval"] & (generators["train"] | generators["dev"])
    assert generators["dev"] <= generators["train"]
    assert generators["eval"] <= {"tts-high", "vc-eval"} and generators["train"] <= {"tts-low", "vc-tilt"}
    for split, members in by_split.items():  # balanced classes, each fake beside its real clip
        labels = [r["label"] for r in members]
        assert labels.count("bonafide") == labels.count("spoof")
    for r in rows:
        assert (r["generator"] == NO_GENERATOR) == (r["label"] == "bonafide")
        info = sf.info(str(manifest.parent / r["path"]))
        assert info.samplerate == 16000 and info.channels == 1

    records = load_records(f"csv:{manifest}:eval")  # the core's loader reads it, groups included
    assert len(records) == len(by_split["eval"])
    assert set(records[0].groups) >= {"source", "speaker", "language", "generator", "channel", "codec"}
    for entry in read_state(manifest.parent).values():  # a real clip and its fake: same channel, codec, split
        real, fake = entry["rows"]
        assert (real["label"], fake["label"]) == ("bonafide", "spoof") and fake["pair"] == real["trial"]
        assert (real["channel"], real["codec"], real["split"]) == (fake["channel"], fake["codec"], fake["split"])
    assert (manifest.parent / ATTRIBUTION).is_file() and (manifest.parent / "corpus.json").is_file()


@pytest.mark.slow
def test_heldout_family_manifest_leaves_one_family_out_of_training(tmp_path, scripts):
    """--heldout-family writes a second manifest: that family's train/dev pairs (both clips) are
    gone, eval is whole, nothing is synthesised again; an unknown family names the valid ones."""
    full = build_corpus_summary(_config(tmp_path, scripts, jobs=1))
    again = build_corpus_summary(_config(tmp_path, scripts, jobs=1, heldout_families=("vc-tilt",)))
    assert again.built == 0
    path = full.manifest.parent / "manifest-heldout-vc-tilt.csv"
    rows, held = _manifest_rows(full.manifest), _manifest_rows(path)
    assert full.manifest.read_bytes() == again.manifest.read_bytes()  # the main manifest is untouched
    families = {r["family"] for r in rows}  # which eval engines a tiny build draws depends on the kind drawn first
    assert {"-", "tts-low", "vc-tilt"} <= families <= {"-", "tts-low", "vc-tilt", "tts-high", "vc-eval"}
    for split in ("train", "dev"):
        kept = [r for r in held if r["split"] == split]
        assert "vc-tilt" not in {r["family"] for r in kept} and (kept or split == "dev")
        assert sum(r["label"] == "bonafide" for r in kept) == sum(r["label"] == "spoof" for r in kept)
        dropped = [r for r in rows if r["split"] == split and r["family"] == "vc-tilt"]
        assert len([r for r in rows if r["split"] == split]) - len(kept) == 2 * len(dropped) > 0 or split == "dev"
    assert [r for r in held if r["split"] == "eval"] == [r for r in rows if r["split"] == "eval"]
    with pytest.raises(SpoofscanError, match=r"unknown family to hold out 'flite' \(choose from: tts-high, tts-low, "
                                             r"(vc-eval, )?vc-tilt\)"):
        build_corpus_summary(_config(tmp_path, scripts, jobs=1, heldout_families=("flite",)))


@pytest.mark.slow
def test_rebuild_redoes_only_what_is_missing_or_changed(tmp_path, scripts):
    cfg = _config(tmp_path, scripts, jobs=1)
    first = build_corpus_summary(cfg)
    rows = _manifest_rows(first.manifest)
    victim = first.manifest.parent / rows[3]["path"]
    victim.unlink()
    again = build_corpus_summary(cfg)
    assert again.built == 1 and victim.is_file()
    changed = build_corpus_summary(_config(tmp_path, scripts, jobs=1, level_dbfs=(-40.0, -35.0)))
    assert changed.built == first.pairs  # a processing setting changed: every pair is remade
    levels = [measure_clip(sf.read(str(first.manifest.parent / r["path"]), dtype="float32")[0])["rms_dbfs"]
              for r in _manifest_rows(changed.manifest)]
    assert max(levels) < -34.5
    assert len(read_state(first.manifest.parent)) == 2 * first.pairs


@pytest.mark.slow
def test_build_reports_failed_pairs_once(tmp_path, scripts):
    bad = {"name": "broken", "command": f"{sys.executable} -c 'import sys; sys.exit(1)' {{out}} {{source}}",
           "needs": "audio", "split": "eval"}
    good = {"name": "tts-low", "command": scripts["tts"] + " --text {text} --out {out}", "split": "train"}
    cfg = _config(tmp_path, scripts, commands=[good, bad])
    summary = build_corpus_summary(cfg)
    assert summary.failed > 0 and (Path(cfg.out) / "failures.txt").is_file()
    assert "broken" in (Path(cfg.out) / "failures.txt").read_text()
    assert build_corpus_summary(cfg).built == 0  # failures are recorded, not retried forever


def test_a_worker_that_dies_ends_the_build_with_an_error(tmp_path, scripts):
    """A worker process killed mid-pair (as the system does for lack of memory) must not leave the
    build waiting forever: it stops with an error, and a later run in the same folder builds."""
    import threading

    script = tmp_path / "kill_worker.py"  # kills its ancestor whose parent is this test's process: the worker
    script.write_text("import os, sys\n"
                      "pid = os.getppid()\n"
                      "while (parent := int(open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()[1])) "
                      f"!= {os.getpid()}:\n"
                      "    pid = parent\n"
                      "os.kill(pid, 9)\n")
    killer = {"name": "killer", "command": f"{sys.executable} {script} {{out}} {{source}}", "needs": "audio",
              "split": "eval"}
    good = {"name": "tts-low", "command": scripts["tts"] + " --text {text} --out {out}", "split": "train"}
    cfg = _config(tmp_path, scripts, commands=[good, killer], jobs=2)
    outcome: list = []

    def build():
        try:
            outcome.append(build_corpus_summary(cfg))
        except SpoofscanError as e:
            outcome.append(e)

    thread = threading.Thread(target=build, daemon=True)
    thread.start()
    thread.join(timeout=120)
    assert not thread.is_alive(), "the build hung after a worker process died"
    assert isinstance(outcome[0], SpoofscanError) and "worker process died" in str(outcome[0])
    again = build_corpus_summary(_config(tmp_path, scripts, jobs=2))  # the same folder, without the killer
    assert again.failed == 0 and again.built > 0


def test_config_errors_are_clear(tmp_path, scripts):
    with pytest.raises(SpoofscanError, match="tiny, small, full"):
        CorpusConfig.from_dict({"size": "huge"})
    with pytest.raises(SpoofscanError, match="unseen"):
        CorpusConfig.from_dict({"train_generators": ("espeak-ng/m3",), "eval_generators": ("espeak-ng/m3",)})
    with pytest.raises(SpoofscanError, match="real-dir"):
        CorpusConfig.from_dict({"sources": ()})
    one = tmp_path / "one"
    make_real_dir(one, speakers=("solo",), clips_per_speaker=3)
    with pytest.raises(SpoofscanError, match="one speaker"):
        build_corpus(_config(tmp_path, scripts, real_dirs=(str(one / "solo"),)))


def test_from_dict_fills_the_size_and_the_constructor_only_checks():
    command = {"name": "e", "command": "x {out}", "languages": ["en"], "split": "eval"}
    cfg = CorpusConfig.from_dict({"size": "tiny", "max_real": None, "real_dirs": [Path("x")], "level_dbfs": [-30, -20],
                                  "heldout_families": "world", "commands": [command]})
    preset = SIZES["tiny"]
    assert (cfg.sources, cfg.max_real, cfg.vocoder_recipe) == (preset.sources, 40, "draft")  # None: the size's
    assert cfg.real_dirs == ("x",) and cfg.level_dbfs == (-30.0, -20.0) and cfg.heldout_families == ("world",)
    assert cfg.train_generators == preset.train_generators and cfg.eval_generators == preset.eval_generators + ("e",)
    assert cfg.commands == (CommandGenerator(name="e", command="x {out}", languages=("en",)),)
    assert replace(cfg, seed=1).seed == 1  # field values pass the constructor's checks
    with pytest.raises(SpoofscanError, match="sources, train_generators, eval_generators, vocoder_recipe.*from_dict"):
        CorpusConfig(size="tiny")  # the constructor fills nothing
    with pytest.raises(SpoofscanError, match="level_dbfs.*from_dict"):
        replace(cfg, level_dbfs=(-30, -20))  # ints would change the job keys: refused, not converted
    with pytest.raises(SpoofscanError, match="real_dirs.*from_dict"):
        replace(cfg, real_dirs=[Path("x")])
    with pytest.raises(SpoofscanError, match="CommandGenerators.*from_dict"):
        replace(cfg, commands=(command,))
    with pytest.raises(SpoofscanError, match="languages must be a tuple"):
        CommandGenerator(name="e", command="x {out}", languages=["en"])
    with pytest.raises(SpoofscanError, match=r"unknown CommandGenerator field\(s\) \['lang'\]"):
        CorpusConfig.from_dict({"commands": [{"name": "e", "command": "x {out}", "lang": "en"}]})


def test_without_apt_the_error_says_what_to_do(tmp_path, monkeypatch):
    import spoofscan.corpus.sources.packages as packages

    monkeypatch.setattr(packages.shutil, "which", lambda name: None)
    with pytest.raises(SpoofscanError, match="apt-get is not available.*--real-dir"):
        fetch_package("ktuberling-data", tmp_path)


@pytest.mark.slow
def test_cli_build_with_config_file(tmp_path, scripts):
    import yaml

    from spoofscan.cli import main

    make_real_dir(tmp_path / "real", clips_per_speaker=2)
    config = tmp_path / "corpus.yaml"
    config.write_text(yaml.safe_dump({
        "size": "tiny", "real_language": "en", "train_generators": [], "eval_generators": [],
        "commands": [{"name": "tts-a", "command": scripts["tts"] + " --text {text} --out {out}", "split": "train"},
                     {"name": "vc-b", "command": scripts["vc"] + " {source} {out}", "needs": "audio", "split": "eval"}],
    }))
    out = tmp_path / "c"
    code = main(["corpus", "build", str(out), "--config", str(config), "--sources", "none",
                 "--real-dir", str(tmp_path / "real"), "--jobs", "1", "--quiet", "--cache", str(tmp_path / "cache")])
    assert code == 0 and (out / MANIFEST).is_file()
    assert {r["generator"] for r in _manifest_rows(out / MANIFEST)} == {"-", "tts-a", "vc-b"}


# ---------------------------------------------------------------------------- Debian packages

NEEDS_DEBIAN = [shutil.which(p) is None for p in ("apt-get", "dpkg-deb", "espeak-ng")] + [
    not WorldGenerator().is_available(), not LpcGenerator().is_available()]


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.skipif(any(NEEDS_DEBIAN),
                    reason="needs apt-get, dpkg-deb, espeak-ng, pyworld and pysptk (CI installs them)")
def test_tiny_corpus_from_debian_packages(tmp_path):
    cache = os.environ.get("SPOOFSCAN_CACHE", "")  # share downloads with other runs when set
    summary = build_corpus_summary(CorpusConfig.from_dict({"out": str(tmp_path / "tiny"), "size": "tiny", "jobs": 2,
                                                           "progress": False, "cache_dir": cache}))
    rows = _manifest_rows(summary.manifest)
    pairs = [r for r in rows if r["kind"] != "partial"]
    spliced = [r for r in rows if r["kind"] == "partial"]
    assert 60 <= len(pairs) <= 80 and summary.failed == 0
    assert spliced and all(r["segments"] and r["label"] == "spoof" for r in spliced)  # partly fake clips too
    splits = {s: [r for r in pairs if r["split"] == s] for s in ("train", "dev", "eval")}
    assert not {r["speaker"] for r in splits["eval"]} & {r["speaker"] for r in splits["train"]}
    assert {r["generator"] for r in splits["eval"]} - {"-"} <= set(SIZES["tiny"].eval_generators)
    assert {r["generator"] for r in splits["train"]} - {"-"} <= set(SIZES["tiny"].train_generators)
    text = (summary.manifest.parent / ATTRIBUTION).read_text()
    assert "Allison Smith" in text and "CC-BY-SA-3.0" in text
    assert (summary.manifest.parent / "licenses" / "asterisk-core-sounds-en-g722.copyright").is_file()


# ---------------------------------------------------------------------------- copy-synthesis families

COPY_TRAIN = ("mlsa/m24", "lpc/o16", "hnm/mvf4k", "pvoc/stretch", "vocos/copy", "hifigan/copy")
COPY_EVAL = ("mlsa/smooth-dio", "lpc/o10", "hnm/mvf6k-zerophase", "pvoc/stretch-shift-smeared", "vocos/smooth",
             "hifigan/smooth")
NEEDS_COPY = [not get_generator(n).is_available() for n in COPY_TRAIN + COPY_EVAL]


def _copy_config(tmp_path, out: str, cache: str, **kw) -> CorpusConfig:
    real = tmp_path / "real"
    if not real.exists():
        make_real_dir(real, clips_per_speaker=5)
    settings = dict(out=str(tmp_path / out), size="small", sources=(), real_dirs=(str(real),), real_language="en",
                    train_generators=COPY_TRAIN, eval_generators=COPY_EVAL, max_real=None, jobs=2,
                    eval_fraction=0.25, dev_fraction=0.2, progress=False, cache_dir=str(tmp_path / cache),
                    vocoder_steps=3)
    settings.update(kw)
    return CorpusConfig.from_dict(settings)


@pytest.mark.slow
@pytest.mark.skipif(any(NEEDS_COPY), reason="needs pysptk, pedalboard and torch (the corpus and torch extras)")
def test_rebuild_from_scratch_gives_identical_audio_and_reuses_the_vocoders(tmp_path):
    from spoofscan.corpus.plan import available_generators, plan_pairs, select_clips
    from spoofscan.corpus.sources import find_real_dir

    logs = []
    first = build_corpus_summary(_copy_config(tmp_path, "a", "cache-a"), log=logs.append)  # vocoders in 2 processes
    assert first.failed == 0 and first.built == first.pairs == 20
    assert set(first.vocoders) == {"vocos", "hifigan"} and all(v["trained"] for v in first.vocoders.values())
    assert sum(line.startswith("training the") for line in logs) == 2
    assert sum("log-mel L1 of copy-synthesis" in line for line in logs) == 2
    rows = _manifest_rows(first.manifest)
    generators = {r["generator"] for r in rows} - {NO_GENERATOR}
    assert len({g.split("/")[0] for g in generators}) >= 4  # several families drawn even from 20 clips

    # from scratch again, with a fresh cache (both vocoders retrained) and one process for everything
    second = build_corpus_summary(_copy_config(tmp_path, "b", "cache-b", jobs=1))
    assert first.manifest.read_bytes() == second.manifest.read_bytes()
    for r in rows:  # every clip, real and fake, bit for bit
        assert (tmp_path / "a" / r["path"]).read_bytes() == (tmp_path / "b" / r["path"]).read_bytes(), r["generator"]
    assert first.vocoders == second.vocoders

    logs.clear()
    again = build_corpus_summary(_copy_config(tmp_path, "a", "cache-a"), log=logs.append)
    assert again.built == 0 and again.reused == first.pairs and not any("training" in line for line in logs)
    assert again.manifest.read_bytes() == first.manifest.read_bytes()

    cfg = _copy_config(tmp_path, "a", "cache-a")
    clips = select_clips(find_real_dir(cfg.real_dirs[0], "en"), cfg)
    plan = plan_pairs(clips, cfg, available_generators(cfg), tmp_path / "cache-a")
    neural = [p for p in plan.pairs if p.generator.split("/")[0] in ("vocos", "hifigan")]
    assert neural and plan.held and all(p.clip.key not in plan.held for p in neural)  # never vocode a training clip
    assert all({c.key for c in job.clips} == plan.held for job in plan.vocoders.values())
    longer = plan_pairs(clips, replace(cfg, vocoder_steps=4), available_generators(cfg), tmp_path / "cache-a")
    changed = {p.job for p in plan.pairs} - {p.job for p in longer.pairs}
    assert changed == {p.job for p in neural}  # another vocoder budget remakes the neural fakes only


@pytest.mark.slow
@pytest.mark.skipif(any(NEEDS_COPY), reason="needs pysptk, pedalboard and torch (the corpus and torch extras)")
def test_pairs_that_need_no_vocoder_are_made_while_the_vocoders_train(tmp_path, monkeypatch):
    """Each vocoder trains in one of the build's processes; the other processes make the pairs that need
    no vocoder meanwhile (a quality vocoder trains for hours). Here each training waits until a pair is
    recorded: a build that trained first and made pairs after would fail with this test's error."""
    import time

    from spoofscan.corpus import workers
    from spoofscan.corpus.state import STATE

    cfg = _copy_config(tmp_path, "a", "cache", jobs=3)  # two trainings and one process for pairs
    state, train = Path(cfg.out) / STATE, workers.train_job

    def train_once_a_pair_is_made(job, log=None):  # runs in a forked worker, which has this patch
        deadline = time.monotonic() + 120
        while not (state.is_file() and state.stat().st_size):
            if time.monotonic() > deadline:
                raise RuntimeError("no pair was made while the vocoders trained")
            time.sleep(0.05)
        return train(job, log)

    monkeypatch.setattr(workers, "train_job", train_once_a_pair_is_made)
    summary = build_corpus_summary(cfg)
    assert summary.failed == 0 and summary.built == summary.pairs == 20
    assert all(v["trained"] for v in summary.vocoders.values())


@pytest.mark.slow
@pytest.mark.skipif(any(NEEDS_COPY), reason="needs pysptk, pedalboard and torch (the corpus and torch extras)")
def test_a_vocoder_that_cannot_train_ends_the_build_after_the_other_pairs(tmp_path, monkeypatch):
    from spoofscan.corpus import workers

    def cannot_train(job, log=None):
        raise SpoofscanError(f"cannot train the {job.family} vocoder")

    cfg = _copy_config(tmp_path, "a", "cache")
    monkeypatch.setattr(workers, "train_job", cannot_train)
    with pytest.raises(SpoofscanError, match="cannot train the (vocos|hifigan) vocoder"):
        build_corpus_summary(cfg)
    made = read_state(Path(cfg.out))
    assert made and all(not r["error"] for r in made.values())
    assert not {row["generator"].split("/")[0] for r in made.values() for row in r["rows"]} & {"vocos", "hifigan"}
    monkeypatch.undo()
    summary = build_corpus_summary(cfg)  # the rerun trains the vocoders and makes only their pairs
    assert summary.failed == 0 and summary.pairs == 20 and summary.reused == len(made) and summary.built == 20 - len(made)


@pytest.mark.slow
def test_heldout_source_manifest_keeps_every_clip_speaker_and_recording_of_the_source_out_of_training(
        tmp_path, scripts):
    """--heldout-source: two real folders are two sources (dir-NAME); with one held out, none of its
    clips, speakers or recordings (nor a fake paired with one) is in train or dev, and every one of
    its real clips is in eval; an unknown source names the valid ones."""
    make_real_dir(tmp_path / "studio")
    make_real_dir(tmp_path / "phone", speakers=("eve", "fay", "gus", "hal"), seed=1)  # other recordings
    cfg = _config(tmp_path, scripts, jobs=1, real_dirs=(str(tmp_path / "studio"), str(tmp_path / "phone")),
                  heldout_sources=("dir-phone",))
    summary = build_corpus_summary(cfg)
    rows = _manifest_rows(summary.manifest)
    held = _manifest_rows(summary.manifest.parent / "manifest-heldout-dir-phone.csv")
    assert {r["source"] for r in rows if r["label"] == "bonafide"} == {"dir-studio", "dir-phone"}
    phone = [r for r in rows if r["label"] == "bonafide" and r["source"] == "dir-phone"]
    assert any(r["split"] != "eval" for r in phone)  # the plain manifest trains on the source
    phone_trials = {r["trial"] for r in phone}
    phone_speakers = {r["speaker"] for r in phone}
    state = {row["trial"]: row for entry in read_state(summary.manifest.parent).values() for row in entry["rows"]}
    phone_recordings = {state[t]["origin"] for t in phone_trials}
    training = [r for r in held if r["split"] in ("train", "dev")]
    assert training and {r["source"] for r in training if r["label"] == "bonafide"} == {"dir-studio"}
    assert not {r["trial"] for r in training} & phone_trials
    assert not {r["speaker"] for r in training} & phone_speakers
    assert not {state[r["trial"]]["origin"] for r in training} & phone_recordings  # no fake made from one either
    assert not {state[r["trial"]]["pair"] for r in training} & phone_trials
    assert {r["trial"] for r in held if r["split"] == "eval" and r["label"] == "bonafide"} >= phone_trials
    with pytest.raises(SpoofscanError, match=r"unknown source to hold out 'dir-radio' \(choose from: dir-phone, "
                                             r"dir-studio\)"):
        build_corpus_summary(replace(cfg, heldout_sources=("dir-radio",)))


def test_asterisk_prompts_described_in_brackets_or_parentheses_are_not_speech(tmp_path):
    """The transcripts describe tones and silence prompts as '[...]' or '(...)': those files hold no speech."""
    import gzip

    from spoofscan.corpus.sources.asterisk import _asterisk_transcripts

    doc = tmp_path / "usr/share/doc/asterisk-core-sounds-ru"
    doc.mkdir(parents=True)
    with gzip.open(doc / "core-sounds-ru.txt.gz", "wt", encoding="utf-8") as f:
        f.write("; comment\ndigits/1: один\nsilence/3: (3 seconds of silence)\nbeep: [beep]\n"
                "confbridge-join: (beep)\nvm-intro: Пожалуйста, оставьте сообщение\n")
    assert _asterisk_transcripts(tmp_path, "ru") == {"digits/1": "один", "vm-intro": "Пожалуйста, оставьте сообщение"}
