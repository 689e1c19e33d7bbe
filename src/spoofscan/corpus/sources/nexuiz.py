"""Nexuiz's team-chat voices and announcer (Debian package nexuiz-data), English."""

from __future__ import annotations

import re
import zipfile

from .base import RealClip, Source
from .packages import extract_members


def find_nexuiz(roots: dict) -> list:
    """Nexuiz's team-chat lines ``sound/player/CHARACTER/coms/*.ogg`` and the male announcer, inside
    ``data.pk3`` (a zip, unpacked once beside it). Taunts (often laughs), pain and death sounds and the
    vocoded announcer are left out; no texts."""
    root = roots["nexuiz-data"]
    archive = root / "usr/share/games/nexuiz/data/data.pk3"
    with zipfile.ZipFile(archive) as z:
        members = sorted(m for m in z.namelist() if m.endswith((".ogg", ".wav"))
                         and (re.match(r"sound/player/[^/]+/coms/", m) or m.startswith("sound/announcer/male/"))
                         and not re.search(r"/taunt\d*\.(ogg|wav)$", m))
    folder = extract_members(archive, members, root)
    return [RealClip(f"nexuiz/{m}", "nexuiz", str(folder / m),
                     "nexuiz-announcer" if m.startswith("sound/announcer/") else f"nexuiz-{m.split('/')[2]}", "en")
            for m in members]


SOURCE = Source(
    "nexuiz", ("nexuiz-data",), find_nexuiz,
    "Nexuiz: player and announcer voices in English (Debian package nexuiz-data)",
    "GPL-2.0-or-later (see licenses/nexuiz-data.copyright)",
    "Nexuiz, Copyright 2002-2009 Alientrap / Lee Vermeulen; player voices by Michael \"Tenshihan\" Quinn and "
    "other contributors, announcer voices by Amos \"torus\" Dudley.",
    chain="volunteer game voices, some with effects, 44.1/48 kHz Vorbis")
