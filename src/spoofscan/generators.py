"""Fake-speech generators for the offline corpus: one small interface, four engines.

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

import functools
import glob
import importlib.util
import os
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf

from .errors import SpoofscanError, choice_error

NEEDS = ("text", "audio")  # what a generator synthesises from
COMMAND_TIMEOUT = 120  # seconds one external synthesis may take
WORLD_RATE = 16_000  # Hz, the rate WORLD analyses and synthesises at
WORLD_SHIFT_SEMITONES = (2.0, 5.0)  # range of the |F0 shift| of the *-shift configurations
ESPEAK_WPM = 175  # eSpeak NG's default speaking rate, words per minute
ESPEAK_WPM_RANGE = (80, 450)
ESPEAK_PITCH_RANGE = (35, 65)  # per-clip base pitch drawn from this range (eSpeak's 0-99 scale)
ESPEAK_ALIASES = {"nn": "nb", "no": "nb", "ca@valencia": "ca", "sr@latin": "sr", "sr@ijekavianlatin": "sr",
                  "sr@ijekavian": "sr", "pt_br": "pt-br", "en_gb": "en-gb", "en_au": "en", "en_us": "en-us"}
FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")
ESPEAK_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
                   "klatt", "klatt2", "klatt3", "klatt4", "croak")


@dataclass(frozen=True)
class Request:
    """What to synthesise.

    text : the words to say (text-to-speech generators)
    language : the text's language as in the corpus (``fr``, ``pt_BR``, ``en``; ``""`` unknown)
    audio : a real source clip, float32 mono (samples,) at ``rate`` Hz (copy-synthesis)
    rate : sample rate of ``audio`` in Hz
    speed : speaking-rate factor, 1 = the engine's normal pace, 1.2 = 20 % faster
    seed : per-clip seed for any random choice the engine makes (pitch, F0 shift)
    """

    text: str | None = None
    language: str = ""
    audio: np.ndarray | None = None
    rate: int = WORLD_RATE
    speed: float = 1.0
    seed: int = 0


class Generator:
    """A fake-speech engine configuration.

    Subclasses set ``name`` (unique, e.g. ``espeak-ng/m3``), ``engine`` (e.g. ``espeak-ng``)
    and ``needs`` (``"text"`` or ``"audio"``), and implement :meth:`is_available`,
    :meth:`synthesize` and, for text-to-speech, :meth:`supports`.
    """

    name: str = ""
    engine: str = ""
    needs: str = "text"
    licence: str = ""  # one line for ATTRIBUTION.md

    def is_available(self) -> bool:
        """Whether the engine can run on this machine (program or module installed)."""
        raise NotImplementedError

    def missing_hint(self) -> str:
        """What to install when :meth:`is_available` is false."""
        return f"install {self.engine}"

    def supports(self, language: str) -> bool:
        """Whether it can speak ``language`` (always true for copy-synthesis)."""
        return True

    def synthesize(self, request: Request) -> tuple[np.ndarray, int]:
        """Synthesise one clip.

        Returns
        -------
        waveform : float32 (samples,), mono, in [-1, 1]
        rate : its sample rate in Hz (the engine's own; the corpus builder resamples)

        Raises
        ------
        SpoofscanError : the engine failed or produced no audio (names the generator and why).
        """
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


# ---------------------------------------------------------------------------- helpers


def _run(argv_or_command, name: str, *, shell: bool = False) -> None:
    """Run an engine; raise SpoofscanError naming the generator and its stderr on failure."""
    try:
        done = subprocess.run(argv_or_command, shell=shell, capture_output=True, timeout=COMMAND_TIMEOUT,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise SpoofscanError(f"generator {name}: no result after {COMMAND_TIMEOUT} s") from None
    except OSError as e:
        raise SpoofscanError(f"generator {name}: cannot run ({e.strerror})") from None
    if done.returncode != 0:
        err = done.stderr.decode(errors="replace").strip().splitlines()
        raise SpoofscanError(f"generator {name}: exit status {done.returncode}"
                             f"{': ' + err[-1][:200] if err else ''}")


def _run_to_file(name: str, build: Callable[[Path, Path], object], *, shell: bool = False) -> tuple[np.ndarray, int]:
    """Run an engine that writes a sound file, in a temporary folder, and read what it wrote.

    ``build(folder, out)`` returns the command (argv list, or a string with ``shell=True``) that
    writes ``out``; it may put input files of its own in ``folder``.
    """
    with tempfile.TemporaryDirectory(prefix="spoofscan-gen-") as tmp:
        out = Path(tmp) / "out.wav"
        _run(build(Path(tmp), out), name, shell=shell)
        return _read_output(out, name)


def _read_output(path: Path, name: str) -> tuple[np.ndarray, int]:
    """Read an engine's output file as float32 mono; raise if missing, empty or silent."""
    if not path.is_file() or path.stat().st_size == 0:
        raise SpoofscanError(f"generator {name}: wrote no audio to {path.name}")
    try:
        x, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:  # libsndfile's own error types
        raise SpoofscanError(f"generator {name}: output is not readable audio ({e})") from None
    x = x.mean(axis=1, dtype=np.float32)
    if x.size == 0 or not np.isfinite(x).all() or not np.any(x):
        raise SpoofscanError(f"generator {name}: output is empty, silent or not finite")
    return x, int(rate)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _need_text(request: Request, name: str) -> str:
    if not request.text or not _one_line(request.text):
        raise SpoofscanError(f"generator {name} needs a text to say, got none")
    return _one_line(request.text)


# ---------------------------------------------------------------------------- eSpeak NG


@functools.lru_cache(maxsize=1)
def espeak_languages() -> frozenset:
    """Language codes eSpeak NG has voices for (``espeak-ng --voices``), lower case; empty if absent."""
    exe = shutil.which("espeak-ng")
    if not exe:
        return frozenset()
    try:
        out = subprocess.run([exe, "--voices"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    codes = {line.split()[1].lower() for line in out.splitlines()[1:] if len(line.split()) > 1}
    bases = {code.split("-")[0] for code in codes}  # "fr" for "fr-fr": eSpeak NG resolves bare languages
    return frozenset(codes | bases)


def espeak_voice(language: str) -> str | None:
    """The eSpeak NG voice for a corpus language code (``pt_BR`` -> ``pt-br``, ``nn`` -> ``nb``), or None."""
    if not language:
        return None
    known = espeak_languages()
    code = language.strip().lower()
    for candidate in (ESPEAK_ALIASES.get(code), code.replace("_", "-"), code.split("@")[0].replace("_", "-"),
                      code.split("_")[0].split("@")[0]):
        if candidate and candidate in known:
            return candidate
    return None


@dataclass(frozen=True, repr=False)
class EspeakGenerator(Generator):
    """eSpeak NG with one voice variant; the language follows the request; pitch drawn per clip."""

    variant: str = "m3"
    engine: str = "espeak-ng"
    needs: str = "text"
    licence: str = "eSpeak NG (GPL-3.0-or-later), https://github.com/espeak-ng/espeak-ng"

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"espeak-ng/{self.variant}"

    def is_available(self) -> bool:
        return shutil.which("espeak-ng") is not None

    def missing_hint(self) -> str:
        return "install eSpeak NG (Debian/Ubuntu: apt-get install espeak-ng)"

    def supports(self, language: str) -> bool:
        return espeak_voice(language) is not None

    def synthesize(self, request: Request) -> tuple[np.ndarray, int]:
        text = _need_text(request, self.name)
        voice = espeak_voice(request.language)
        if voice is None:
            raise SpoofscanError(f"generator {self.name}: no eSpeak NG voice for language {request.language!r}")
        rng = np.random.default_rng(request.seed)
        pitch = int(rng.integers(ESPEAK_PITCH_RANGE[0], ESPEAK_PITCH_RANGE[1] + 1))
        wpm = int(np.clip(round(ESPEAK_WPM * request.speed), *ESPEAK_WPM_RANGE))
        return _run_to_file(self.name, lambda tmp, out: ["espeak-ng", "-v", f"{voice}+{self.variant}", "-s", str(wpm),
                                                         "-p", str(pitch), "-w", str(out), "--", text])


# ---------------------------------------------------------------------------- Flite


@dataclass(frozen=True, repr=False)
class FliteGenerator(Generator):
    """CMU Flite with one of its built-in English voices."""

    voice: str = "slt"
    engine: str = "flite"
    needs: str = "text"
    licence: str = "CMU Flite (BSD-style licence), http://www.festvox.org/flite/"

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"flite/{self.voice}"

    def is_available(self) -> bool:
        return shutil.which("flite") is not None

    def missing_hint(self) -> str:
        return "install Flite (Debian/Ubuntu: apt-get install flite)"

    def supports(self, language: str) -> bool:
        return (language or "").lower().split("_")[0].split("-")[0] == "en"

    def synthesize(self, request: Request) -> tuple[np.ndarray, int]:
        text = _need_text(request, self.name)
        stretch = 1.0 / max(request.speed, 1e-3)
        return _run_to_file(self.name, lambda tmp, out: ["flite", "-voice", self.voice, "--setf",
                                                         f"duration_stretch={stretch:.3f}", "-t", text, "-o", str(out)])


# ---------------------------------------------------------------------------- WORLD


def load_pyworld():
    """Import pyworld, or return None when it is not installed.

    pyworld 0.3.5's ``__init__`` imports ``pkg_resources`` only to read its own version;
    setuptools 81+ no longer ships that module. When that import fails, the compiled
    extension (which holds every function) is loaded directly.
    """
    try:
        import pyworld

        return pyworld
    except ModuleNotFoundError as e:
        if e.name != "pkg_resources":
            return None
    spec = importlib.util.find_spec("pyworld")
    folders = list(spec.submodule_search_locations or []) if spec else []
    libs = [f for d in folders for f in glob.glob(os.path.join(d, "pyworld*.so")) + glob.glob(os.path.join(d, "pyworld*.pyd"))]
    if not libs:
        return None
    ext_spec = importlib.util.spec_from_file_location("pyworld", libs[0])
    module = importlib.util.module_from_spec(ext_spec)
    ext_spec.loader.exec_module(module)
    return module


@functools.lru_cache(maxsize=1)
def _pyworld():
    return load_pyworld()


@dataclass(frozen=True, repr=False)
class WorldGenerator(Generator):
    """WORLD vocoder copy-synthesis of a real clip: analyse (F0, envelope, aperiodicity), resynthesise.

    method : ``dio`` (DIO + StoneMask refinement) or ``harvest``
    shift : shift F0 by 2-5 semitones up or down (drawn per clip from the request's seed)
    """

    method: str = "dio"
    shift: bool = False
    engine: str = "world"
    needs: str = "audio"
    licence: str = "WORLD vocoder (modified BSD) via pyworld (MIT), https://github.com/mmorise/World"

    def __post_init__(self):
        if self.method not in ("dio", "harvest"):
            raise choice_error("WORLD F0 method", self.method, ("dio", "harvest"))

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"world/{self.method}{'-shift' if self.shift else ''}"

    def is_available(self) -> bool:
        return _pyworld() is not None

    def missing_hint(self) -> str:
        return "install pyworld (pip install 'spoofscan[corpus]', needs a C compiler)"

    def synthesize(self, request: Request) -> tuple[np.ndarray, int]:
        pw = _pyworld()
        if pw is None:
            raise SpoofscanError(f"generator {self.name}: pyworld is not installed ({self.missing_hint()})")
        if request.audio is None or len(request.audio) == 0:
            raise SpoofscanError(f"generator {self.name} needs a source clip, got none")
        from .audio import resample

        x = resample(np.asarray(request.audio, np.float32), int(request.rate), WORLD_RATE).astype(np.float64)
        if self.method == "dio":
            f0, t = pw.dio(x, WORLD_RATE)
            f0 = pw.stonemask(x, f0, t, WORLD_RATE)
        else:
            f0, t = pw.harvest(x, WORLD_RATE)
        if not np.any(f0 > 0):
            raise SpoofscanError(f"generator {self.name}: no voiced frame found in the source clip")
        sp = pw.cheaptrick(x, f0, t, WORLD_RATE)
        ap = pw.d4c(x, f0, t, WORLD_RATE)
        if self.shift:
            rng = np.random.default_rng(request.seed)
            semitones = rng.uniform(*WORLD_SHIFT_SEMITONES) * rng.choice((-1.0, 1.0))
            f0 = f0 * 2.0 ** (semitones / 12.0)
        y = pw.synthesize(f0, sp, ap, WORLD_RATE).astype(np.float32)
        if not np.isfinite(y).all() or not np.any(y):
            raise SpoofscanError(f"generator {self.name}: synthesis produced no finite audio")
        return y, WORLD_RATE


# ---------------------------------------------------------------------------- user commands


@dataclass(frozen=True, repr=False)
class CommandGenerator(Generator):
    """Any engine run by a shell command template.

    The template's placeholders are filled with shell-quoted values: ``{text}`` (the words),
    ``{language}``, ``{speed}`` (rate factor, 1 = normal), ``{seed}``, ``{out}`` (the audio
    file the command must write, ``.wav``; any format libsndfile reads is fine) and, for
    ``needs="audio"`` (voice conversion, vocoders), ``{source}`` (a 16-bit WAV of the real
    clip). Example: ``mytts --text {text} --lang {language} --out {out}``.

    name : the configuration name written to the manifest (no spaces)
    languages : languages it can speak (empty: any)
    """

    name: str = ""
    command: str = ""
    needs: str = "text"
    languages: tuple = ()
    engine: str = "command"
    licence: str = "user-supplied engine (see its own licence)"

    def __post_init__(self):
        if not self.name or any(c.isspace() or c in ",/\\" for c in self.name):
            raise SpoofscanError(f"command generator name {self.name!r} must be non-empty, without spaces, ',' or slashes")
        if self.needs not in NEEDS:
            raise choice_error(f"'needs' of command generator {self.name}", self.needs, NEEDS)
        if "{out}" not in self.command:
            raise SpoofscanError(f"command generator {self.name}: the template {self.command!r} must contain {{out}}")
        if self.needs == "audio" and "{source}" not in self.command:
            raise SpoofscanError(f"command generator {self.name} needs audio: its template must contain {{source}}")
        object.__setattr__(self, "languages", tuple(self.languages or ()))

    def program(self) -> str:
        words = shlex.split(self.command)
        return words[0] if words else ""

    def is_available(self) -> bool:
        prog = self.program()
        return bool(prog) and (shutil.which(prog) is not None or os.access(prog, os.X_OK))

    def missing_hint(self) -> str:
        return f"the program {self.program()!r} of command generator {self.name} is not on PATH"

    def supports(self, language: str) -> bool:
        if not self.languages:
            return True
        code = (language or "").lower()
        return any(code == lang.lower() or code.split("_")[0] == lang.lower() for lang in self.languages)

    def synthesize(self, request: Request) -> tuple[np.ndarray, int]:
        return _run_to_file(self.name, lambda tmp, out: self._command(request, tmp, out), shell=True)

    def _command(self, request: Request, tmp: Path, out: Path) -> str:
        """The filled-in template (the source clip, if any, written into ``tmp`` first)."""
        values = {"out": str(out), "language": request.language or "", "speed": f"{request.speed:.3f}",
                  "seed": str(request.seed), "text": "", "source": ""}
        if self.needs == "text":
            values["text"] = _need_text(request, self.name)
        else:
            if request.audio is None:
                raise SpoofscanError(f"generator {self.name} needs a source clip, got none")
            source = tmp / "source.wav"
            sf.write(str(source), np.clip(request.audio, -1, 1), int(request.rate), subtype="PCM_16")
            values["source"] = str(source)
            values["text"] = _one_line(request.text or "")
        try:
            return self.command.format(**{k: shlex.quote(v) for k, v in values.items()})
        except (KeyError, IndexError, ValueError) as e:
            raise SpoofscanError(f"command generator {self.name}: bad template {self.command!r} ({e}); "
                                 "placeholders: {text} {language} {speed} {seed} {out} {source}") from None


# ---------------------------------------------------------------------------- registry


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
