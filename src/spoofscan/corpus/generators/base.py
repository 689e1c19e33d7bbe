"""The generator interface (:class:`Generator`, :class:`Request`) and the helpers engines share.

A generator turns a :class:`Request` (a text in a language, or a real source clip) into a
waveform at the engine's own sample rate. The corpus builder does everything else
(resampling, trimming, level, band limit), identically for real and fake clips, so a
generator never has to care about shortcuts.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf

from ...audio import SAMPLE_RATE
from ...errors import SpoofscanError

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
    :meth:`synthesize` and, for text-to-speech, :meth:`supports`.
    """

    name: str = ""
    engine: str = ""
    needs: str = "text"
    licence: str = ""  # one line for ATTRIBUTION.md

    @property
    def family(self) -> str:
        """The family the configuration belongs to: the part of its name before ``/`` (its engine)."""
        return self.name.split("/")[0]

    def fingerprint(self) -> str:
        """Everything the output depends on besides the name, request and seed (part of the corpus
        builder's job keys): a command template, a trained model's key... ``""`` for none."""
        return ""

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
