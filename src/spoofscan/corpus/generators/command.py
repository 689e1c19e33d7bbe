"""Any engine a user can run from a shell, plugged in by a command template."""

from __future__ import annotations

import os
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from ...config import config_from_dict
from ...errors import SpoofscanError, choice_error
from .base import NEEDS, Generator, Request, need_text, one_line, run_to_file


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
            raise SpoofscanError(f"command generator name {self.name!r} must be non-empty, without spaces, ',' or "
                                 "slashes")
        if self.needs not in NEEDS:
            raise choice_error(f"'needs' of command generator {self.name}", self.needs, NEEDS)
        if "{out}" not in self.command:
            raise SpoofscanError(f"command generator {self.name}: the template {self.command!r} must contain {{out}}")
        if self.needs == "audio" and "{source}" not in self.command:
            raise SpoofscanError(f"command generator {self.name} needs audio: its template must contain {{source}}")
        if not isinstance(self.languages, tuple):
            raise SpoofscanError(f"command generator {self.name}: languages must be a tuple of language codes, got "
                                 f"{self.languages!r} (CommandGenerator.from_dict takes a list)")

    @classmethod
    def from_dict(cls, d: dict) -> "CommandGenerator":
        """A CommandGenerator from a mapping of its fields (strict: an unknown key is an error)."""
        return config_from_dict(cls, d)

    @classmethod
    def field_values(cls, d: dict) -> dict:
        """``languages`` may be a list or None in a mapping."""
        return {**d, "languages": tuple(d.get("languages") or ())}

    def fingerprint(self) -> str:
        return self.command

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
        return run_to_file(self.name, lambda tmp, out: self._command(request, tmp, out), shell=True)

    def _command(self, request: Request, tmp: Path, out: Path) -> str:
        """The filled-in template (the source clip, if any, written into ``tmp`` first)."""
        values = {"out": str(out), "language": request.language or "", "speed": f"{request.speed:.3f}",
                  "seed": str(request.seed), "text": "", "source": ""}
        if self.needs == "text":
            values["text"] = need_text(request, self.name)
        else:
            if request.audio is None:
                raise SpoofscanError(f"generator {self.name} needs a source clip, got none")
            source = tmp / "source.wav"
            sf.write(str(source), np.clip(request.audio, -1, 1), int(request.rate), subtype="PCM_16")
            values["source"] = str(source)
            values["text"] = one_line(request.text or "")
        try:
            return self.command.format(**{k: shlex.quote(v) for k, v in values.items()})
        except (KeyError, IndexError, ValueError) as e:
            raise SpoofscanError(f"command generator {self.name}: bad template {self.command!r} ({e}); "
                                 "placeholders: {text} {language} {speed} {seed} {out} {source}") from None
