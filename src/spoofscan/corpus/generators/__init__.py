"""Fake-speech generators for the offline corpus: one small interface, built-in engines and user commands.

A generator turns a :class:`Request` (a text in a language, or a real source clip) into a
waveform at the engine's own sample rate. The corpus builder (:mod:`spoofscan.corpus`)
does everything else (resampling, trimming, level, band limit), identically for real and
fake clips, so a generator never has to care about shortcuts.

Built in (each *configuration* is one generator with its own name, which is what the
manifest's ``generator`` column holds and what the train/eval split keeps apart):

- ``espeak-ng/VARIANT``: eSpeak NG formant synthesis in 100+ languages, voice variants
  ``m1``-``m7``, ``f1``-``f5``, ``klatt``-``klatt4``, ``croak``...;
- ``flite/VOICE``: CMU Flite (English): ``kal`` (8 kHz diphone), ``kal16``, ``awb``,
  ``rms``, ``slt``;
- ``world/dio``, ``world/harvest``, ``world/dio-shift``, ``world/harvest-shift``: WORLD
  vocoder copy-synthesis of a real clip (pyworld): F0 by DIO + StoneMask or by Harvest,
  CheapTrick envelope, D4C aperiodicity, optionally with the F0 shifted 2-5 semitones;
- ``mlsa/m24``, ``mlsa/smooth``, ``mlsa/smooth-dio``: mel-cepstral analysis and MLSA-filter
  synthesis (pysptk), the statistical-parametric vocoder; ``smooth*`` over-smooth the
  parameters as HMM-based TTS does;
- ``lpc/o16``, ``lpc/o10``: linear-prediction vocoder (all-pole envelope, pulse/noise source);
- ``hnm/mvf4k``, ``hnm/mvf6k-zerophase``: harmonic-plus-noise model resynthesis;
- ``pvoc/stretch``, ``pvoc/shift``, ``pvoc/stretch-shift-smeared``: phase-vocoder time stretch
  and pitch shift of the clip (Rubber Band via pedalboard);
- ``vocos/copy``, ``vocos/smooth``, ``hifigan/copy``, ``hifigan/smooth``: copy-synthesis through
  small neural vocoders (Vocos-like, HiFi-GAN-like) that the corpus builder trains on
  held-back real clips (:mod:`spoofscan.vocoder`); ``smooth`` vocodes an over-smoothed mel;
- :class:`CommandGenerator`: any engine a user can run from a shell, through a command
  template such as ``mytts --text {text} --lang {language} --out {out}``.

    >>> g = get_generator("espeak-ng/m3")
    >>> g.is_available(), g.supports("fr")
    (True, True)
    >>> wave, rate = g.synthesize(Request(text="Bonjour.", language="fr"))
"""

from __future__ import annotations

from ...errors import choice_error
from .base import NEEDS, Generator, Request
from .command import CommandGenerator
from .espeak import ESPEAK_VARIANTS, EspeakGenerator, espeak_languages, espeak_voice
from .flite import FLITE_VOICES, FliteGenerator
from .hnm import HNM_CONFIGS, HnmGenerator
from .lpc import LPC_CONFIGS, LpcGenerator
from .mlsa import MLSA_CONFIGS, MlsaGenerator
from .neural_vocoder import NEURAL_CONFIGS, NEURAL_FAMILIES, NeuralVocoderGenerator
from .pvoc import PVOC_CONFIGS, PvocGenerator
from .world import WorldGenerator, load_pyworld


def builtin_generators() -> dict:
    """Every built-in generator configuration, by name."""
    gens = [EspeakGenerator(v) for v in ESPEAK_VARIANTS]
    gens += [FliteGenerator(v) for v in FLITE_VOICES]
    gens += [WorldGenerator(m, s) for m in ("dio", "harvest") for s in (False, True)]
    gens += [MlsaGenerator(c) for c in MLSA_CONFIGS]
    gens += [LpcGenerator(c) for c in LPC_CONFIGS]
    gens += [HnmGenerator(c) for c in HNM_CONFIGS]
    gens += [PvocGenerator(c) for c in PVOC_CONFIGS]
    gens += [NeuralVocoderGenerator(f, c) for f in NEURAL_FAMILIES for c in NEURAL_CONFIGS]
    return {g.name: g for g in gens}


def describe_generators(extra: dict | None = None) -> list:
    """One dict per generator configuration (built-in and ``extra``), sorted by name: ``name``,
    ``family``, ``needs``, ``available``, ``install`` (what to install when not available, else
    ``""``), ``licence``. What ``spoofscan corpus generators`` prints."""
    table = {**builtin_generators(), **(extra or {})}
    rows = []
    for name in sorted(table):
        g = table[name]
        ok = g.is_available()
        needs = g.needs
        if isinstance(g, NeuralVocoderGenerator):
            needs = "audio + a vocoder the corpus build trains"
        rows.append({"name": name, "family": g.family, "needs": needs, "available": ok,
                     "install": "" if ok else g.missing_hint(), "licence": g.licence})
    return rows


def get_generator(name: str, extra: dict | None = None) -> Generator:
    """The generator called ``name``: a built-in or one of ``extra`` (name -> Generator)."""
    table = {**builtin_generators(), **(extra or {})}
    if name not in table:
        raise choice_error("generator", name, sorted(table))
    return table[name]


__all__ = ["NEEDS", "CommandGenerator", "EspeakGenerator", "FliteGenerator", "Generator", "HnmGenerator",
           "LpcGenerator", "MlsaGenerator", "NeuralVocoderGenerator", "PvocGenerator", "Request", "WorldGenerator", "builtin_generators",
           "espeak_languages", "espeak_voice", "get_generator", "load_pyworld", "ESPEAK_VARIANTS", "FLITE_VOICES",
           "HNM_CONFIGS", "LPC_CONFIGS", "MLSA_CONFIGS", "NEURAL_CONFIGS", "NEURAL_FAMILIES", "PVOC_CONFIGS",
           "describe_generators"]
