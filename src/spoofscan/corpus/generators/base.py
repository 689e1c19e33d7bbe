"""The generator interface (:class:`Generator`, :class:`Request`), the skeletons engines share
(:class:`CopySynthesisGenerator`, :class:`TextToSpeechGenerator`) and their helpers.

A generator turns a :class:`Request` (a text in a language, or a real source clip) into a
waveform at the engine's own sample rate. The corpus builder does everything else
(resampling, trimming, level, band limit), identically for real and fake clips, so a
generator never has to care about shortcuts.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ClassVar, Collection

import numpy as np
import soundfile as sf

from ...audio import SAMPLE_RATE, resample
from ...errors import SpoofscanError, choice_error
from .native import have_module

NEEDS = ("text", "audio")  # what a generator synthesises from
COMMAND_TIMEOUT = 120  # seconds one external synthesis may take


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
    rate: int = SAMPLE_RATE
    speed: float = 1.0
    seed: int = 0


class Generator:
    """A fake-speech engine configuration.

    Subclasses set ``name`` (unique, e.g. ``espeak-ng/m3``), ``engine`` (e.g. ``espeak-ng``)
    and ``needs`` (``"text"`` or ``"audio"``), and implement :meth:`is_available`,
    :meth:`synthesize` and, for text-to-speech, :meth:`supports`. A generator that runs on a
    model the corpus build trains (a neural vocoder) names its family in ``trained_vocoder``
    and implements :meth:`bound`. ``version`` goes into the builder's job keys (through
    :meth:`fingerprint`): bump it when the engine's output for the same request changes.
    """

    name: str = ""
    engine: str = ""
    needs: str = "text"
    licence: str = ""  # one line for ATTRIBUTION.md
    trained_vocoder: str = ""  # the vocoder family the corpus build trains for it (see vocoder_jobs); "": none
    version: ClassVar[int] = 0  # bump when the synthesis changes (it is then in the builder's job keys); 0: not

    @property
    def needs_description(self) -> str:
        """What it synthesises from, in words: the ``needs`` column of ``spoofscan corpus generators``."""
        return self.needs

    def bound(self, checkpoint: str | Path, key: str) -> "Generator":
        """This configuration with the vocoder the build trained for it (``checkpoint``, cache ``key``);
        only for a generator with a ``trained_vocoder``."""
        raise SpoofscanError(f"generator {self.name} runs on no trained vocoder")

    @property
    def family(self) -> str:
        """The family the configuration belongs to: the part of its name before ``/`` (its engine)."""
        return self.name.split("/")[0]

    def fingerprint(self) -> str:
        """Everything the output depends on besides the name, request and seed (part of the corpus
        builder's job keys): ``ENGINE-vN`` for a ``version`` N, a command template, a trained
        model's key... ``""`` for none."""
        return f"{self.engine}-v{self.version}" if self.version else ""

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

    def require(self) -> None:
        """Raise a SpoofscanError naming the generator and what to install when it cannot run here."""
        if not self.is_available():
            raise SpoofscanError(f"generator {self.name} cannot run here: {self.missing_hint()}")


class CopySynthesisGenerator(Generator):
    """The skeleton of a copy-synthesis engine: one configuration of it resynthesises a real clip.

    Subclasses (frozen dataclasses with a ``config`` field, or a ``config`` property) set
    ``engine``, ``licence``, ``configs`` (configuration name -> its settings), ``config_kind``
    (what an error calls a configuration), ``requires`` (the optional packages it runs on),
    ``install_hint``, optionally ``analysis_rate`` and ``version``, and implement
    :meth:`resynthesize`. :meth:`synthesize` checks the packages and the source clip, takes the
    clip to ``analysis_rate`` and draws every random number from the request's seed.
    """

    needs = "audio"
    configs: ClassVar[Collection] = {}
    config_kind: ClassVar[str] = "configuration"
    requires: ClassVar[tuple] = ()
    install_hint: ClassVar[str] = ""
    analysis_rate: ClassVar[int] = SAMPLE_RATE  # Hz, the rate the engine analyses and synthesises at

    config: str

    def __post_init__(self):
        if self.config not in self.configs:
            raise choice_error(self.config_kind, self.config, self.configs)

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"{self.engine}/{self.config}"

    @property
    def settings(self):
        """The settings of this configuration (``configs[config]``)."""
        return self.configs[self.config]

    def is_available(self) -> bool:
        return all(have_module(m) for m in self.requires)

    def missing_hint(self) -> str:
        return self.install_hint

    def synthesize(self, request: Request) -> tuple[np.ndarray, int]:
        self.require()
        if request.audio is None or len(request.audio) == 0:
            raise SpoofscanError(f"generator {self.name} needs a source clip, got none")
        x = resample(np.asarray(request.audio, np.float32), int(request.rate), self.analysis_rate)
        return self.resynthesize(x, np.random.default_rng(request.seed))

    def resynthesize(self, x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        """The fake made from the source clip ``x``: float32 (samples,) at :attr:`analysis_rate`.

        ``rng`` is seeded by the request: every random draw comes from it, in a fixed order.
        Returns the waveform, float32 (samples,) in [-1, 1], and its rate in Hz.
        """
        raise NotImplementedError


class TextToSpeechGenerator(Generator):
    """The skeleton of a text-to-speech program run once per clip with one of its voices.

    Subclasses (frozen dataclasses with a ``config`` field: the voice) set ``engine``,
    ``licence``, ``program`` (the executable looked up on PATH) and ``install_hint``, and
    implement :meth:`supports` and :meth:`command`.
    """

    needs = "text"
    program: ClassVar[str] = ""
    install_hint: ClassVar[str] = ""

    config: str

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"{self.engine}/{self.config}"

    def is_available(self) -> bool:
        return shutil.which(self.program) is not None

    def missing_hint(self) -> str:
        return self.install_hint

    def synthesize(self, request: Request) -> tuple[np.ndarray, int]:
        text = need_text(request, self.name)
        return run_to_file(self.name, lambda tmp, out: self.command(text, request, out))

    def command(self, text: str, request: Request, out: Path) -> list:
        """The argv that says ``text`` (one line) as ``request`` asks and writes the sound file ``out``."""
        raise NotImplementedError


# ---------------------------------------------------------------------------- helpers


def run_engine(argv_or_command, name: str, *, shell: bool = False) -> None:
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


def run_to_file(name: str, build: Callable[[Path, Path], object], *, shell: bool = False) -> tuple[np.ndarray, int]:
    """Run an engine that writes a sound file, in a temporary folder, and read what it wrote.

    ``build(folder, out)`` returns the command (argv list, or a string with ``shell=True``) that
    writes ``out``; it may put input files of its own in ``folder``.
    """
    with tempfile.TemporaryDirectory(prefix="spoofscan-gen-") as tmp:
        out = Path(tmp) / "out.wav"
        run_engine(build(Path(tmp), out), name, shell=shell)
        return read_output(out, name)


def read_output(path: Path, name: str) -> tuple[np.ndarray, int]:
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


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def need_text(request: Request, name: str) -> str:
    if not request.text or not one_line(request.text):
        raise SpoofscanError(f"generator {name} needs a text to say, got none")
    return one_line(request.text)
