"""The copy-synthesis generators of the offline corpus (spoofscan.corpus.generators: MLSA, LPC,
HNM, phase vocoder) and the tables that list every engine.

Each generator runs on a short voiced-like clip (tests/synth.py) and must give finite audio of
the right length that differs from its input but keeps its timing, bit-identical for the same
seed. The neural-vocoder generators are tested with their networks in test_vocoder.py.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from synth import voiced_clip

from spoofscan.corpus.generators import Request, builtin_generators, describe_generators, get_generator
from spoofscan.corpus.generators.hnm import HNM_CONFIGS, HnmGenerator
from spoofscan.corpus.generators.lpc import LPC_CONFIGS, LpcGenerator
from spoofscan.corpus.generators.mlsa import MLSA_CONFIGS, MlsaGenerator
from spoofscan.corpus.generators.neural_vocoder import NeuralVocoderGenerator
from spoofscan.corpus.generators.pvoc import PVOC_CONFIGS, PvocGenerator
from spoofscan.errors import SpoofscanError

RATE = 16_000
DSP = ([MlsaGenerator(c) for c in MLSA_CONFIGS] + [LpcGenerator(c) for c in LPC_CONFIGS]
       + [HnmGenerator(c) for c in HNM_CONFIGS] + [PvocGenerator(c) for c in PVOC_CONFIGS])


def _energy(x: np.ndarray, n: int = 40) -> np.ndarray:
    """Frame RMS over ``n`` equal frames (the clip's energy contour)."""
    return np.array([np.sqrt(np.mean(f.astype(np.float64) ** 2)) for f in np.array_split(x, n)])


@pytest.mark.parametrize("gen", DSP, ids=lambda g: g.name)
def test_dsp_generator_copies_the_clip_deterministically(gen):
    if not gen.is_available():
        pytest.skip(gen.missing_hint())
    src = voiced_clip()
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
    src = voiced_clip(seed=1)
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
                 "pvoc/shift", "vocos/copy", "hifigan/copy", "pico/plain", "hifigan-v1/universal", "lpcnet/copy",
                 "tts-hifigan/espeak")
DEFAULT_EVAL = ("espeak-ng/m7", "espeak-ng/f4", "espeak-ng/klatt4", "flite/slt", "flite/awb", "flite/kal",
                "world/harvest", "world/dio-shift", "mlsa/smooth-dio", "lpc/o10", "hnm/mvf6k-zerophase",
                "pvoc/stretch-shift-smeared", "vocos/smooth", "hifigan/smooth", "pico/varied", "hifigan-v1/lj",
                "lpcnet/codec", "tts-hifigan/pico")


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


def test_a_native_call_that_crashes_costs_only_the_call():
    """call_in_child: bytes come back; a crash (here SIGSEGV, as SVOX Pico's library on some texts) or a
    Python error in the child is an error of the call, and the calling process lives on."""
    import os
    import signal

    from spoofscan.child import call_in_child

    assert call_in_child(lambda n: b"pcm" * n, 3) == b"pcmpcmpcm"
    with pytest.raises(SpoofscanError, match=r"the engine crashed \(SIGSEGV\)"):
        call_in_child(lambda: os.kill(os.getpid(), signal.SIGSEGV))
    with pytest.raises(SpoofscanError, match="exit status 3"):
        call_in_child(lambda: 1 / 0)
    assert call_in_child(lambda: b"") == b""


@pytest.mark.skipif(not get_generator("pico/plain").is_available(), reason="needs py-nanotts (the corpus extra)")
def test_pico_speaks_in_a_child_process_and_its_crash_is_the_pairs_error(monkeypatch):
    import spoofscan.corpus.generators.pico as pico

    x, rate = get_generator("pico/plain").synthesize(Request(text="Hello there.", language="en", seed=1))
    assert rate == 16_000 and x.size > 8000 and np.abs(x).max() > 0.01

    def crash(fn, *args):
        raise SpoofscanError("the engine crashed (SIGSEGV)")

    monkeypatch.setattr(pico, "call_in_child", crash)
    with pytest.raises(SpoofscanError, match=r"generator pico/plain on 'Hello there.': the engine crashed"):
        get_generator("pico/plain").synthesize(Request(text="Hello there.", language="en", seed=1))


def _dirty_the_heap(byte: int) -> None:
    """Free a big block (glibc then serves later big allocations from the heap, not from fresh zeroed
    pages) and leave ``byte`` in the freed heap memory, as a corpus worker's earlier pairs do."""
    big = np.ones(20_000_000 // 8)
    del big
    junk = bytearray(bytes([byte]) * 3_000_000)
    del junk


@pytest.mark.skipif(not get_generator("pico/plain").is_available(), reason="needs py-nanotts (the corpus extra)")
def test_pico_gives_the_same_audio_whatever_the_process_did_before():
    """SVOX Pico reads memory it never wrote: without zero-filled allocations in its child, the same text
    came out different after the process had freed memory (287 files differed between two builds)."""
    pico = get_generator("pico/plain")
    request = Request(text="Please leave a message after the tone.", language="en", seed=1)
    outputs = []
    for byte in (0x00, 0x5A, 0xC3):
        _dirty_the_heap(byte)
        outputs.append(pico.synthesize(request)[0])
    assert all(np.array_equal(outputs[0], x) for x in outputs[1:])


@pytest.mark.skipif(not get_generator("lpcnet/copy").is_available(), reason="needs libcodec2-1.0 (LPCNet)")
def test_lpcnet_gives_the_same_audio_every_call():
    """LPCNet draws from a random generator that lives in the library and from libc's ``rand``: each
    call runs in a child that starts from the library's initial state with ``rand`` reseeded, so one
    clip vocoded twice gives the same samples, whoever seeded ``rand`` in between (pedalboard's import
    changed LPCNet's output in every run before)."""
    import ctypes

    from spoofscan.vocoder import lpcnet

    rng = np.random.default_rng(0)
    x = (0.1 * np.sin(np.arange(16_000) * 0.05) + 0.01 * rng.standard_normal(16_000)).astype(np.float32)
    for fn in (lpcnet.copy_synthesis, lpcnet.codec_roundtrip):
        first = fn(x)
        ctypes.CDLL(None).srand(12345)
        second = fn(x)
        assert first.shape == x.shape and first.dtype == np.float32 and np.abs(first).max() > 0.01
        assert np.array_equal(first, second)
