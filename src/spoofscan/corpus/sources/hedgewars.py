"""Hedgewars' hedgehog voice packs (Debian package hedgewars-data): short acted lines in five languages."""

from __future__ import annotations

import re
from collections import defaultdict

from .base import RealClip, Source, fingerprint, has_frames, near_copies

PACKS = {  # pack -> language (packs named Default_<locale> follow the game's locale names)
    "Default": "en", "Classic": "en", "British": "en", "Mobster": "en", "Pirate": "en", "Surfer": "en",
    "HillBilly": "en", "Russian": "en", "Default_es": "es", "Default_pl": "pl", "Russian_pl": "pl",
    "Default_ru": "ru", "Default_uk": "uk",
}  # left out: Robot (a processed voice that may be synthetic) and Singer (sung)
_NOT_WORDS = re.compile(r"^(Laugh|PoisonCough|PoisonMoan|Ooff\d|Ow\d|Jump\d|Firepunch\d|Hmm)$")


def find_hedgewars(roots: dict) -> list:
    """Hedgewars voice packs ``Data/Sounds/voices/PACK/EVENT.ogg``: one recording session per pack,
    so the speaker is the pack. No transcripts (the event name says what a line means, not its
    words). Grunts, coughs, laughs and jumps are left out, and a line that is a (re-encoded) copy of
    one already taken for the same event (packs reuse each other's files) is left out, the Default
    pack being taken first."""
    base = roots["hedgewars-data"] / "usr/share/games/hedgewars/Data/Sounds/voices"
    clips, taken = [], defaultdict(list)  # event -> fingerprints of the lines taken
    for pack in sorted(PACKS, key=lambda p: (p != "Default", p)):
        for path in sorted((base / pack).glob("*.ogg")):
            if _NOT_WORDS.match(path.stem) or not has_frames(path):
                continue
            sample = fingerprint(path)
            if any(near_copies(sample, other) for other in taken[path.stem.lower()]):
                continue
            taken[path.stem.lower()].append(sample)
            clips.append(RealClip(f"hedgewars/{pack}/{path.name}", "hedgewars", str(path), f"hedgewars-{pack}",
                                  PACKS[pack]))
    return clips


SOURCE = Source(
    "hedgewars", ("hedgewars-data",), find_hedgewars,
    "Hedgewars: hedgehog voice packs in English, Polish, Ukrainian, Russian and Spanish (Debian package "
    "hedgewars-data)",
    "GFDL-1.3 with no invariant sections and no cover texts (see licenses/hedgewars-data.copyright)",
    "Hedgewars, https://hedgewars.org: sounds Copyright 2004-2006 Andrey Korotaev; voices by Stephen "
    "Alexander; Default_pl and Russian_pl voice sets by MTG90PL; HillBilly voice set by sloan2189.",
    chain="volunteers' home and USB-microphone recordings, acted and accented voices, 44.1 kHz Vorbis")
