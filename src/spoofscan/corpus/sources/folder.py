"""Your own recordings: a folder of real speech (``--real-dir``)."""

from __future__ import annotations

from pathlib import Path

from ...audio import AUDIO_EXTENSIONS, audio_files
from ...errors import SpoofscanError
from .base import RealClip


def find_real_dir(folder: str | Path, language: str = "") -> list:
    """Real recordings under ``folder`` (recursive); speaker = first sub-folder, text = ``.txt`` beside the
    file. Each folder is a source of its own, ``dir-NAME`` (its recording chain may differ from the others')."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise SpoofscanError(f"--real-dir {str(root)!r} is not a folder")
    clips = []
    for path in audio_files(root):
        rel = path.relative_to(root)
        speaker = rel.parts[0] if len(rel.parts) > 1 else root.name
        txt = path.with_suffix(".txt")
        text = txt.read_text(encoding="utf-8", errors="replace").strip() if txt.is_file() else None
        clips.append(RealClip(f"realdir/{root.name}/{rel.as_posix()}", f"dir-{root.name}", str(path),
                              f"{root.name}-{speaker}", language, text or None))
    if not clips:
        raise SpoofscanError(f"--real-dir {root}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) found")
    return clips


