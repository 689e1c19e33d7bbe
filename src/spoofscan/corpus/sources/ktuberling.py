"""KTuberling's spoken words in many languages (Debian package ktuberling-data)."""

from __future__ import annotations

from ...audio import AUDIO_EXTENSIONS
from .base import RealClip, Source

_KTUBERLING_THEMES = ("egypt_", "moon_", "pizzeria_", "tv_", "butterflies_")


def find_ktuberling(roots: dict) -> list:
    """KTuberling's spoken words, ``sounds/LANG/WORD.*``; one speaker per language.

    Only the English file names are the spoken words (other languages reuse the English
    names), so only English clips get a transcript.
    """
    root = roots["ktuberling-data"] / "usr/share/ktuberling/sounds"
    clips = []
    for path in sorted(root.glob("*/*")):
        if path.suffix.lower() not in AUDIO_EXTENSIONS or not path.is_file():
            continue
        lang = path.parent.name
        text = None
        if lang == "en":
            word = path.stem
            for theme in _KTUBERLING_THEMES:
                word = word[len(theme):] if word.startswith(theme) else word
            text = word.replace("_", " ").replace("-", " ")
        rel = path.relative_to(root).as_posix()
        clips.append(RealClip(f"ktuberling/{rel}", "ktuberling", str(path), f"ktuberling-{lang}", lang, text))
    return clips


SOURCE = Source(
    "ktuberling", ("ktuberling-data",), find_ktuberling,
    "KTuberling sounds: spoken words in many languages (Debian package ktuberling-data)",
    "GPL-2.0-or-later (see licenses/ktuberling-data.copyright)",
    "Copyright 1999-2017 Eric Bischoff, Albert Astals Cid, the KDE Team and KDE's translators. "
    "https://apps.kde.org/ktuberling/",
    chain="KDE translators' recordings of single words, one voice per language, mixed rates")
