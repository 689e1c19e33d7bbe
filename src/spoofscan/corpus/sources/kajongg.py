"""Kajongg's spoken calls and tile names in English and German (Debian package kajongg)."""

from __future__ import annotations

import re

from .base import RealClip, Source, has_frames

_NUMBERS = ("", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_SUITS = {"b": "bamboo", "c": "character", "s": "stone"}
_WORDS = {"pung": "pung", "chow": "chow", "kong": "kong", "mahjongg": "mah jongg", "nochoice": "no choice",
          "originalcall": "original call", "dangerousgame": "dangerous game",
          "violatesoriginalcall": "violates original call", "db": "white dragon", "dg": "green dragon",
          "dr": "red dragon", "we": "east", "ws": "south", "ww": "west", "wn": "north"}


def english_words(stem: str) -> str | None:
    """The words an English Kajongg file says, from its name: ``b1`` -> ``bamboo one``."""
    if stem in _WORDS:
        return _WORDS[stem]
    m = re.fullmatch(r"([bcs])([1-9])", stem)
    return f"{_SUITS[m.group(1)]} {_NUMBERS[int(m.group(2))]}" if m else None


def find_kajongg(roots: dict) -> list:
    """Kajongg's voices ``voices/{male1,male2,female1,female2}`` (English) and ``voices/de/...``
    (German): one speaker per voice folder. English clips get their words from the file name."""
    base = roots["kajongg"] / "usr/share/kajongg/voices"
    clips = []
    for folder in sorted(p for p in base.rglob("*") if p.is_dir() and any(p.glob("*.ogg"))):
        rel = folder.relative_to(base).as_posix()
        language = "de" if rel.startswith("de/") else "en"
        for path in sorted(folder.glob("*.ogg")):
            if has_frames(path):
                text = english_words(path.stem) if language == "en" else None
                clips.append(RealClip(f"kajongg/{rel}/{path.name}", "kajongg", str(path),
                                      f"kajongg-{language}-{folder.name}", language, text))
    return clips


SOURCE = Source(
    "kajongg", ("kajongg",), find_kajongg,
    "Kajongg: spoken Mah Jongg calls in English and German (Debian package kajongg)",
    "GPL-2.0-or-later (see licenses/kajongg.copyright and the COPYRIGHT file of each voice)",
    "Kajongg voices Copyright Wolfgang Rohdewald <wolfgang@rohdewald.de> (KDE Kajongg, "
    "https://apps.kde.org/kajongg/).",
    chain="quiet home recordings with a consumer microphone, stereo 44.1 kHz Vorbis")
