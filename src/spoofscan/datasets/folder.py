"""A folder of your own: `real/` and `fake/` (or `bonafide/` and `spoof/`) sub-folders."""

from __future__ import annotations

from pathlib import Path

from ..audio import AUDIO_EXTENSIONS, audio_files
from ..errors import SpoofscanError
from ..labels import BONAFIDE, SPOOF
from .records import NOT_APPLICABLE, Record, finish_records, require_dir

FOLDER_CLASSES = {"real": BONAFIDE, "bonafide": BONAFIDE, "bona-fide": BONAFIDE,
                  "bona_fide": BONAFIDE, "fake": SPOOF, "spoof": SPOOF}
"""Class sub-folder names (case-insensitive) that :func:`load_folder` reads, with their label."""


def load_folder(root) -> list:
    """A folder with class sub-folders ``real/`` + ``fake/`` or ``bonafide/`` + ``spoof/``.

    Folder names are matched case-insensitively (see :data:`FOLDER_CLASSES`); other
    sub-folders are ignored. Audio files (any extension in
    :data:`spoofscan.audio.AUDIO_EXTENSIONS`) are found recursively; hidden files
    (``.``-prefixed, e.g. macOS ``._x.wav``) are skipped. Trial id: the path relative to
    ``root`` with ``/`` separators (``fake/elevenlabs/x.wav``).

    Group ``source``: the first folder below the class folder (``fake/elevenlabs/x.wav`` ->
    ``elevenlabs``; a file directly in the class folder -> ``-``). The column is present only
    when some file sits in such a sub-folder.
    """
    root = require_dir(Path(root).expanduser(), "data folder")
    classes = sorted((child, FOLDER_CLASSES[child.name.lower()]) for child in root.iterdir()
                     if child.is_dir() and child.name.lower() in FOLDER_CLASSES)
    if not classes:
        found = sorted(c.name for c in root.iterdir() if c.is_dir() and not c.name.startswith("."))
        raise SpoofscanError(
            f"{root}: no class sub-folders (need real/ + fake/ or bonafide/ + spoof/; "
            f"found: {', '.join(found) or 'none'})")
    entries = []
    for folder, label in classes:
        for path in audio_files(folder):
            parts = path.relative_to(folder).parts
            source = parts[0] if len(parts) > 1 else NOT_APPLICABLE
            entries.append((path.relative_to(root).as_posix(), str(path), label, source))
    if not entries:
        names = ", ".join(folder.name for folder, _ in classes)
        raise SpoofscanError(f"{root}: no audio files in {names} "
                             f"(extensions: {', '.join(AUDIO_EXTENSIONS)})")
    with_source = any(source != NOT_APPLICABLE for *_, source in entries)
    records = [Record(trial, path, label, {"source": source} if with_source else {})
               for trial, path, label, source in entries]
    return finish_records(records, str(root))
