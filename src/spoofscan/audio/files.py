"""File discovery: what a user names (files, folders, glob patterns) to audio file paths."""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Iterable

from ..errors import SpoofscanError

AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".mp4", ".webm",
                    ".wma", ".aif", ".aiff", ".au", ".amr", ".3gp", ".mka", ".oga")
GLOB_CHARACTERS = "*?["



def expand_inputs(inputs: Iterable[str]) -> list[str]:
    """The audio file paths that a user's inputs name, in order.

    - a path that exists is taken as a path, whatever characters it holds (``take[1].wav``);
      a folder gives its audio files (:func:`audio_files`, recursive), and a folder that
      cannot be listed is kept as an item so that it is reported with the reason;
    - a name that does not exist but holds ``*``, ``?`` or ``[`` is a glob pattern (``**``
      recursive); matched folders are expanded like folders;
    - any other name is kept, so that the caller reports it as a failure (no such file).

    Raises :class:`SpoofscanError` for a pattern that matches nothing or a folder holding no
    audio file: a name that selects nothing is a mistake, not an empty selection.
    """
    out: list[str] = []
    for item in inputs:
        item = str(item)
        if os.path.lexists(item):
            paths = [item]
        elif any(ch in item for ch in GLOB_CHARACTERS):
            paths = sorted(glob.glob(item, recursive=True))
            if not paths:
                raise SpoofscanError(f"{item!r} matches no file (and no file has that name)")
        else:
            out.append(item)
            continue
        before = len(out)
        for path in paths:
            if os.path.isdir(path):
                unreadable: list = []
                out.extend(str(p) for p in audio_files(Path(path), unreadable=unreadable))
                out.extend(str(p) for p in unreadable)
            else:
                out.append(path)
        if len(out) == before:
            raise SpoofscanError(f"{item!r}: no audio files in it (extensions: {', '.join(AUDIO_EXTENSIONS)})")
    return out


def audio_files(folder: Path, unreadable: list | None = None) -> list[Path]:
    """Audio files under ``folder`` by extension (:data:`AUDIO_EXTENSIONS`), recursive and sorted
    (a folder's own files, then its sub-folders), skipping hidden files and folders (such as
    macOS ``._x.wav`` resource forks).

    Symbolic links to folders are followed, each folder listed once (a link loop ends there).
    A dangling link or link loop with an audio extension is listed like a file, so that
    reading it reports why. A sub-folder that cannot be listed raises :class:`SpoofscanError`,
    or, when ``unreadable`` is a list, is appended to it and the rest is still listed.
    """
    found: list[Path] = []
    seen: set = set()  # (device, inode) of the folders listed
    stack = [Path(folder)]
    while stack:
        here = stack.pop()
        try:
            st = os.stat(here)
            entries = sorted(os.scandir(here), key=lambda e: e.name)
        except OSError as e:
            if unreadable is None:
                raise SpoofscanError(f"cannot list folder {str(here)!r}: {e.strerror}") from None
            unreadable.append(here)
            continue
        if (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        subfolders = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                is_dir = entry.is_dir()  # follows symbolic links
            except OSError:  # a link loop: not a folder
                is_dir = False
            if is_dir:
                subfolders.append(Path(entry.path))
            elif os.path.splitext(entry.name)[1].lower() in AUDIO_EXTENSIONS:
                found.append(Path(entry.path))
        stack.extend(reversed(subfolders))
    return found
