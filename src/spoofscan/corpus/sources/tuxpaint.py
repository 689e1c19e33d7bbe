"""Tux Paint's spoken stamp descriptions (Debian package tuxpaint-stamps-default), with transcripts."""

from __future__ import annotations

import re
from pathlib import Path

from .base import RealClip, Source

_TUX_NAME = re.compile(r"^(?P<stem>.+?)_desc(?:_(?P<lang>[A-Za-z]{2,3}(?:_[A-Z]{2})?(?:@\w+)?))?\.ogg(?:\.ogg)?$")


def _tuxpaint_texts(txt: Path) -> dict:
    """Language -> description from a Tux Paint stamp ``.txt``: line 1 is English, then ``LANG.utf8=TEXT``."""
    texts: dict = {}
    try:
        lines = txt.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return texts
    for line in lines:
        line = line.strip()
        if not line:
            continue
        m = re.match(r"^([A-Za-z_@]+)\.utf8=(.*)$", line)
        if m:
            texts[m.group(1)] = m.group(2).strip()
        elif "en" not in texts and "=" not in line:
            texts["en"] = line
    return texts


def find_tuxpaint(roots: dict) -> list:
    """Tux Paint stamp descriptions ``NAME_desc[_LANG].ogg``; transcript from ``NAME.txt``.

    The recordings of one language were made by its translation team's volunteers, so the
    speaker is recorded as ``tuxpaint-LANG``.
    """
    root = roots["tuxpaint-stamps-default"] / "usr/share/tuxpaint/stamps"
    clips = []
    for path in sorted(root.rglob("*_desc*.ogg")):
        m = _TUX_NAME.match(path.name)
        if not m:
            continue
        lang = m.group("lang") or "en"
        text = _tuxpaint_texts(path.with_name(m.group("stem") + ".txt")).get(lang)
        rel = path.relative_to(root).as_posix()
        clips.append(RealClip(f"tuxpaint/{rel}", "tuxpaint", str(path), f"tuxpaint-{lang}", lang, text or None))
    return clips


SOURCE = Source(
    "tuxpaint", ("tuxpaint-stamps-default",), find_tuxpaint,
    "Tux Paint stamps: spoken descriptions (Debian package tuxpaint-stamps-default)",
    "GPL-2.0 (see licenses/tuxpaint-stamps-default.copyright)",
    "Copyright 2002-2022 Bill Kendrick and the Tux Paint contributors; descriptions recorded by "
    "Tux Paint's volunteer translators. https://tuxpaint.org/",
    chain="volunteers' home recordings of read descriptions, many languages, 44.1 kHz Vorbis")
