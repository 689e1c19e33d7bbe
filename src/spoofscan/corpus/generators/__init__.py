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
from .world import WorldGenerator, load_pyworld


def builtin_generators() -> dict:
    """Every built-in generator configuration, by name."""
    gens = [EspeakGenerator(v) for v in ESPEAK_VARIANTS]
    gens += [FliteGenerator(v) for v in FLITE_VOICES]
    gens += [WorldGenerator(m, s) for m in ("dio", "harvest") for s in (False, True)]
    return {g.name: g for g in gens}


def get_generator(name: str, extra: dict | None = None) -> Generator:
    """The generator called ``name``: a built-in or one of ``extra`` (name -> Generator)."""
    table = {**builtin_generators(), **(extra or {})}
    if name not in table:
        raise choice_error("generator", name, sorted(table))
    return table[name]


__all__ = ["NEEDS", "CommandGenerator", "EspeakGenerator", "FliteGenerator", "Generator", "Request",
           "WorldGenerator", "builtin_generators", "espeak_languages", "espeak_voice", "get_generator", "load_pyworld",
           "ESPEAK_VARIANTS", "FLITE_VOICES"]
