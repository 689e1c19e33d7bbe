"""Fake-speech generators for the offline corpus: one small interface, built-in engines and user commands.

A generator turns a :class:`Request` (a text in a language, or a real source clip) into a
waveform at the engine's own sample rate. The corpus builder (:mod:`spoofscan.corpus`)
does everything else (resampling, trimming, level, band limit), identically for real and
fake clips, so a generator never has to care about shortcuts.

Each *configuration* of an engine is one generator with its own name (``engine/config``),
which is what the manifest's ``generator`` column holds and what the train/eval split keeps
apart. ``spoofscan corpus generators`` lists them all (:func:`describe_generators`). The
built-in engines, one module each, register their configurations in :mod:`.registry`:

- text-to-speech (:class:`~.base.TextToSpeechGenerator`): :mod:`.espeak` (eSpeak NG, 100+
  languages), :mod:`.flite` (CMU Flite, English);
- copy-synthesis of a real clip (:class:`~.base.CopySynthesisGenerator`): :mod:`.world`
  (WORLD), and the signal-processing vocoders of :mod:`.parametric`: :mod:`.mlsa`
  (mel-cepstrum and MLSA filter), :mod:`.lpc` (linear prediction), :mod:`.hnm`
  (harmonic plus noise); :mod:`.pvoc` (phase-vocoder stretch and shift); :mod:`.neural_vocoder`
  (small neural vocoders the corpus builder trains on held-back real clips);
- :class:`CommandGenerator`: any engine a user can run from a shell, through a command
  template such as ``mytts --text {text} --lang {language} --out {out}``.

    >>> g = get_generator("espeak-ng/m3")
    >>> g.is_available(), g.supports("fr")
    (True, True)
    >>> wave, rate = g.synthesize(Request(text="Bonjour.", language="fr"))
"""

from __future__ import annotations

from .base import NEEDS, CopySynthesisGenerator, Generator, Request, TextToSpeechGenerator
from .command import CommandGenerator
from .registry import ROLES, builtin_generators, default_generators, describe_generators, get_generator, register

__all__ = ["NEEDS", "ROLES", "CommandGenerator", "CopySynthesisGenerator", "Generator", "Request",
           "TextToSpeechGenerator", "builtin_generators", "default_generators", "describe_generators", "get_generator",
           "register"]
