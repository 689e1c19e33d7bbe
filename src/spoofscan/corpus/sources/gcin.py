"""gcin's Mandarin syllable pronunciations (Debian package gcin-voice), one male voice."""

from __future__ import annotations

from .base import RealClip, Source, has_frames


def find_gcin(roots: dict) -> list:
    """gcin-voice's recorded voice ``ogg/SYLLABLE/3.ogg``: every Mandarin syllable with each tone it
    takes, one speaker. The folder names the syllable in Zhuyin, which no built-in engine reads, so
    the clips have no text (copy-synthesis fakes only). Voice 5 (``5.ogg``) is left out: its identical
    durations and idealised tone contours are those of a singing synthesiser, not a recording."""
    base = roots["gcin-voice"] / "usr/share/gcin-voice/ogg"
    return [RealClip(f"gcin/{path.parent.name}/3.ogg", "gcin", str(path), "gcin-3", "zh")
            for path in sorted(base.glob("*/3.ogg")) if has_frames(path)]


SOURCE = Source(
    "gcin", ("gcin-voice",), find_gcin,
    "gcin-voice: Mandarin syllables, one voice (Debian package gcin-voice)",
    "GPL-3.0 or LGPL-3.0 (see licenses/gcin-voice.copyright)",
    "gcin-voice, Copyright 2014 Edward Der-Hua Liu.",
    chain="single-syllable pronunciation recordings, one male speaker, audible background noise, 44.1 kHz Vorbis")
