"""The copy-synthesis generators (MLSA, LPC, HNM, phase vocoder, neural vocoders) and the vocoder trainer.

Each generator runs on a short voiced-like clip (tests/synth.py) and must give finite audio of
the right length that differs from its input but keeps its timing, bit-identical for the same
seed. The vocoder trains a few steps on tiny data, resumes exactly, and saves/loads strictly.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from synth import synth_clip

from spoofscan.corpus.generators import Request, builtin_generators, describe_generators
from spoofscan.corpus.generators.hnm import HNM_CONFIGS, HnmGenerator
from spoofscan.corpus.generators.lpc import LPC_CONFIGS, LpcGenerator
from spoofscan.corpus.generators.mlsa import MLSA_CONFIGS, MlsaGenerator
from spoofscan.corpus.generators.neural_vocoder import NeuralVocoderGenerator
from spoofscan.corpus.generators.pvoc import PVOC_CONFIGS, PvocGenerator
from spoofscan.errors import SpoofscanError

RATE = 16_000
DSP = ([MlsaGenerator(c) for c in MLSA_CONFIGS] + [LpcGenerator(c) for c in LPC_CONFIGS]
       + [HnmGenerator(c) for c in HNM_CONFIGS] + [PvocGenerator(c) for c in PVOC_CONFIGS])


def _clip(seconds: float = 1.2, seed: int = 0) -> np.ndarray:
    """A voiced-like clip with a syllable rhythm (so the energy contour has something to follow)."""
    rng = np.random.default_rng(seed)
    x = synth_clip("bonafide", seconds, rng)
    t = np.arange(len(x)) / RATE
    return (x * (0.55 + 0.45 * np.sin(2 * np.pi * 3.0 * t))).astype(np.float32)


def _energy(x: np.ndarray, n: int = 40) -> np.ndarray:
    """Frame RMS over ``n`` equal frames (the clip's energy contour)."""
    return np.array([np.sqrt(np.mean(f.astype(np.float64) ** 2)) for f in np.array_split(x, n)])


@pytest.mark.parametrize("gen", DSP, ids=lambda g: g.name)
def test_dsp_generator_copies_the_clip_deterministically(gen):
    if not gen.is_available():
        pytest.skip(gen.missing_hint())
    src = _clip()
    y, rate = gen.synthesize(Request(audio=src, rate=RATE, seed=7))
    again, _ = gen.synthesize(Request(audio=src, rate=RATE, seed=7))
    assert rate == RATE and y.dtype == np.float32 and np.isfinite(y).all()
    assert np.array_equal(y, again)  # bit-identical for the same seed
    stretch = gen.engine == "pvoc" and PVOC_CONFIGS[gen.config].stretch
    lo, hi = (0.8, 1.25) if stretch else (0.99, 1.01)
    assert lo * len(src) <= len(y) <= hi * len(src)
    assert 0.5 < np.abs(y).max() <= 0.9 + 1e-6
    n = min(len(y), len(src))
    assert np.corrcoef(y[:n], src[:n])[0, 1] < 0.95  # a resynthesis, not a copy of the samples
    if not stretch:  # copy-synthesis keeps the timing: the energy contours go together
        assert np.corrcoef(_energy(y), _energy(src))[0, 1] > 0.6


@pytest.mark.parametrize("gen", [g for g in DSP if g.engine in ("pvoc", "mlsa", "lpc")], ids=lambda g: g.name)
def test_dsp_generator_seed_matters_where_it_draws(gen):
    if not gen.is_available():
        pytest.skip(gen.missing_hint())
    src = _clip(seed=1)
    a, _ = gen.synthesize(Request(audio=src, rate=RATE, seed=1))
    b, _ = gen.synthesize(Request(audio=src, rate=RATE, seed=2))
    assert not np.array_equal(a, b)  # the noise source, the stretch or the shift is drawn per clip


def test_dsp_generators_refuse_a_missing_or_silent_source():
    for gen in (MlsaGenerator("m24"), LpcGenerator("o16"), HnmGenerator("mvf4k"), PvocGenerator("shift")):
        if not gen.is_available():
            continue
        with pytest.raises(SpoofscanError, match=gen.name):
            gen.synthesize(Request(text="hello"))
        if gen.engine != "pvoc":
            with pytest.raises(SpoofscanError, match=gen.name):
                gen.synthesize(Request(audio=np.zeros(8000, np.float32), rate=RATE))


def test_unknown_configuration_names_the_choices():
    with pytest.raises(SpoofscanError, match="m24, smooth, smooth-dio"):
        MlsaGenerator("m99")
    with pytest.raises(SpoofscanError, match="vocos, hifigan"):
        NeuralVocoderGenerator("wavenet", "copy")


def test_every_family_has_train_and_eval_configurations_in_the_default_corpus():
    from spoofscan.corpus import SIZES

    table = builtin_generators()
    for size in ("small", "full"):
        preset = SIZES[size]
        train = {table[n].family for n in preset.train_generators}
        evals = {table[n].family for n in preset.eval_generators}
        assert train == evals  # each family: one or more configurations in train, another in eval
        assert {"mlsa", "lpc", "hnm", "pvoc", "vocos", "hifigan"} <= train
    for name, g in table.items():
        assert name.split("/")[0] == g.family == g.engine and g.licence


DEFAULT_TRAIN = ("espeak-ng/m1", "espeak-ng/m3", "espeak-ng/f2", "espeak-ng/klatt", "flite/kal16", "flite/rms",
                 "world/dio", "world/harvest-shift", "mlsa/m24", "mlsa/smooth", "lpc/o16", "hnm/mvf4k", "pvoc/stretch",
                 "pvoc/shift", "vocos/copy", "hifigan/copy")
DEFAULT_EVAL = ("espeak-ng/m7", "espeak-ng/f4", "espeak-ng/klatt4", "flite/slt", "flite/awb", "flite/kal",
                "world/harvest", "world/dio-shift", "mlsa/smooth-dio", "lpc/o10", "hnm/mvf6k-zerophase",
                "pvoc/stretch-shift-smeared", "vocos/smooth", "hifigan/smooth")


def test_default_generator_lists_keep_their_order_whatever_is_imported_first():
    """The default lists' order decides which configuration each pair draws, so a corpus depends on it:
    it is pinned here, and it must not follow the order in which the engine modules happen to be imported."""
    import subprocess
    import sys

    from spoofscan.corpus import SIZES
    from spoofscan.corpus.generators import default_generators

    for size in ("small", "full"):
        assert default_generators("train") == SIZES[size].train_generators == DEFAULT_TRAIN
        assert default_generators("eval") == SIZES[size].eval_generators == DEFAULT_EVAL
    with pytest.raises(SpoofscanError, match="train, eval"):
        default_generators("dev")
    script = ("import sys; import spoofscan.corpus.generators.neural_vocoder, spoofscan.corpus.generators.hnm; "
              "from spoofscan.corpus.generators import default_generators, builtin_generators; "
              "print(default_generators('train') + default_generators('eval')); builtin_generators(); "
              "print(sorted(m for m in ('torch', 'pyworld', 'pysptk', 'pedalboard') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == [repr(DEFAULT_TRAIN + DEFAULT_EVAL), "[]"]  # and listing the engines imports none of their packages


def test_a_generator_says_whether_the_build_trains_a_vocoder_for_it():
    table = builtin_generators()
    trained = {name: g.trained_vocoder for name, g in table.items() if g.trained_vocoder}
    assert trained == {"vocos/copy": "vocos", "vocos/smooth": "vocos", "hifigan/copy": "hifigan",
                       "hifigan/smooth": "hifigan"}
    bound = table["vocos/smooth"].bound("/x/vocoder.safetensors", key="k")
    assert (bound.name, bound.checkpoint, bound.fingerprint()) == ("vocos/smooth", "/x/vocoder.safetensors", "k")
    with pytest.raises(SpoofscanError, match="lpc/o16 runs on no trained vocoder"):
        table["lpc/o16"].bound("/x", key="k")


def test_corpus_generators_lists_everything(capsys):
    from spoofscan.cli import main

    assert main(["corpus", "generators", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == sorted(builtin_generators())
    by_name = {r["name"]: r for r in rows}
    assert by_name["mlsa/smooth"]["family"] == "mlsa" and by_name["vocos/smooth"]["split"] == "eval"
    assert by_name["hifigan/copy"]["split"] == "train" and "vocoder" in by_name["hifigan/copy"]["needs"]
    assert all(r["licence"] and (r["available"] or r["install"]) for r in rows)
    assert main(["corpus", "generators"]) == 0
    text = capsys.readouterr().out
    assert "pvoc/stretch-shift-smeared" in text and "families" in text
    assert describe_generators() == [{k: r[k] for k in r if k != "split"} for r in rows]


# ---------------------------------------------------------------------------- neural vocoders

torch = pytest.importorskip("torch")
from spoofscan.vocoder import (VocoderConfig, VocoderTrainConfig, build_vocoder, load_vocoder,  # noqa: E402
                               read_vocoder_card, train_vocoder)

TINY = {"istft": VocoderConfig(arch="istft", n_mels=32, n_fft=256, hop_length=64, channels=32, blocks=1),
        "upsample": VocoderConfig(arch="upsample", n_mels=32, n_fft=256, hop_length=64, channels=32,
                                  upsample_rates=(4, 4, 4), kernels=(3,), dilations=(1,))}


def _waves(n: int = 4, seed: int = 0) -> list:
    return [_clip(0.6, seed + i) for i in range(n)]


def _train(out, arch="istft", steps=8, **kw):
    cfg = VocoderTrainConfig(steps=steps, batch_size=4, segment_seconds=0.25, threads=1, save_every=3, log_every=1,
                             lr=3e-3, **kw)
    return train_vocoder(_waves(), TINY[arch], cfg, out, check_waves=_waves(2, seed=10))


@pytest.mark.parametrize("arch", ["istft", "upsample"])
def test_vocoder_shapes(arch):
    torch.manual_seed(0)
    model = build_vocoder(TINY[arch])
    mel = model.mel(torch.zeros(2, 1000))
    assert mel.shape == (2, 32, 1000 // 64 + 1)
    y = model(mel)
    assert y.shape[0] == 2 and 1000 - 64 <= y.shape[1] <= 1000 + 64 and torch.isfinite(y).all()


@pytest.mark.parametrize("arch", ["istft", "upsample"])
def test_vocoder_learns_and_beats_an_untrained_one(tmp_path, arch):
    result = _train(tmp_path / arch, arch=arch, steps=40)
    losses = [h["loss"] for h in result.history]
    assert len(losses) == 40 and np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])
    assert result.metrics["mel_l1"] < 0.8 * result.metrics["mel_l1_untrained"]  # the listen-free check
    card = read_vocoder_card(tmp_path / arch)
    assert card["format"] == "spoofscan-vocoder" and card["step"] == 40 and card["model"]["arch"] == arch
    assert (tmp_path / arch / "metrics.csv").read_text().count("\n") == 41


def test_vocoder_training_is_reproducible_and_resumes_exactly(tmp_path):
    straight = _train(tmp_path / "a")
    again = _train(tmp_path / "b")
    weights = lambda p: load_vocoder(p)[0].state_dict()  # noqa: E731
    a, b = weights(straight.path), weights(again.path)
    assert all(torch.equal(a[k], b[k]) for k in a)

    cfg = VocoderTrainConfig(steps=8, batch_size=4, segment_seconds=0.25, threads=1, save_every=3, log_every=1, lr=3e-3)

    def stop_at_step_5(line):
        if "step 5/" in line:
            raise KeyboardInterrupt  # a run killed after the checkpoint of step 3

    with pytest.raises(KeyboardInterrupt):
        train_vocoder(_waves(), TINY["istft"], cfg, tmp_path / "c", log=stop_at_step_5)
    lines = []
    resumed = train_vocoder(_waves(), TINY["istft"], cfg, tmp_path / "c", resume=True, log=lines.append,
                            check_waves=_waves(2, seed=10))
    assert lines[0].startswith("vocoder: resuming at step 3")
    c = weights(resumed.path)
    assert all(torch.equal(a[k], c[k]) for k in a)
    assert resumed.history == straight.history and resumed.metrics == straight.metrics


def test_vocoder_checkpoint_loads_strictly(tmp_path):
    from safetensors.torch import load_file, save_file

    from spoofscan.checkpoint import CARD_KEY

    result = _train(tmp_path / "v", steps=2)
    model, card = load_vocoder(result.path)
    assert card["train"]["steps"] == 2
    tensors = load_file(str(result.path))
    meta = {CARD_KEY: json.dumps(card)}
    tensors.pop(next(iter(tensors)))
    save_file(tensors, str(tmp_path / "missing.safetensors"), metadata=meta)
    with pytest.raises(RuntimeError, match="Missing key"):
        load_vocoder(tmp_path / "missing.safetensors")
    detector_card = {**card, "format": "spoofscan-checkpoint"}
    save_file(load_file(str(result.path)), str(tmp_path / "other.safetensors"),
              metadata={CARD_KEY: json.dumps(detector_card)})
    with pytest.raises(SpoofscanError, match="expected spoofscan-vocoder"):
        load_vocoder(tmp_path / "other.safetensors")


def test_neural_generator_vocodes_with_a_trained_vocoder(tmp_path):
    result = _train(tmp_path / "v", steps=3)
    with pytest.raises(SpoofscanError, match="no trained vocoder"):
        NeuralVocoderGenerator("vocos", "copy").synthesize(Request(audio=_clip(), rate=RATE))
    src = _clip(0.9, seed=3)
    outs = {}
    for config in ("copy", "smooth"):
        g = NeuralVocoderGenerator("vocos", config).bound(result.path, key="k")
        assert g.fingerprint() == "k" and g.name == f"vocos/{config}" and g.family == "vocos"
        y, rate = g.synthesize(Request(audio=src, rate=RATE, seed=1))
        again, _ = g.synthesize(Request(audio=src, rate=RATE, seed=1))
        assert rate == RATE and len(y) == len(src) and np.isfinite(y).all() and np.array_equal(y, again)
        outs[config] = y
    assert not np.array_equal(outs["copy"], outs["smooth"])


def test_cli_vocoder_train(tmp_path, capsys):
    import soundfile as sf

    from spoofscan.cli import main

    for name, seed in (("train", 0), ("check", 20)):
        (tmp_path / name).mkdir()
        for i, w in enumerate(_waves(3, seed=seed)):
            sf.write(tmp_path / name / f"{i}.wav", w, RATE)
    out = tmp_path / "voc"
    args = ["vocoder", "train", str(out), "--data", str(tmp_path / "train"), "--check", str(tmp_path / "check"),
            "--family", "hifigan", "--steps", "2", "--batch-size", "2", "--threads", "1", "--device", "cpu", "--quiet"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "listen-free check on 3 held-out clips" in printed and str(out / "vocoder.safetensors") in printed
    card = read_vocoder_card(out)
    assert card["model"]["arch"] == "upsample" and card["step"] == 2 and card["data"]["clips"] == 3
    assert main(["vocoder", "train", str(out), "--data", str(tmp_path / "train"), "--family", "wavenet"]) == 2
