"""Warzone 2100's spoken messages (Debian package warzone2100-data), English, 11 kHz radio-style voices."""

from __future__ import annotations

import re
import zipfile

from .base import RealClip, Source
from .packages import extract_members

# folders of base.wz that hold speech; NEXUS (the game's AI villain) and the Collective are heavily
# processed voices that may be synthetic, and are left out
_SPEECH_DIRS = ("audio/memressp/", "audio/tutorial/", "audio/taunts/", "audio/countdown/", "audio/vtoltalk/",
                "audio/trnsppil/", "audio/extra/", "audio/proxmessages/", "sequenceaudio/")
_NOT_SPEECH = re.compile(r"(^|/)(laugh\d|haha\d|hahaha\d)\.ogg$")
_SPEAKERS = (("audio/memressp/cmndrvoc/", "commander"), ("audio/memressp/", "operator"), ("audio/extra/", "operator"),
             ("audio/tutorial/", "tutorial"), ("audio/countdown/", "countdown"), ("audio/vtoltalk/v-", "vtolpilot"),
             ("audio/trnsppil/", "transportpilot"), ("audio/proxmessages/", "briefing"), ("sequenceaudio/", "briefing"))


def _transcripts(z: zipfile.ZipFile) -> dict:
    """File name -> what is said: the comments of ``audio/audio.cfg`` (``audio "pcv331.ogg" ...
    /*Turret Selected*/``) and the tutorial's messages (``"audio": "tut1.ogg", ... "message": _("...")``)."""
    texts = {}
    cfg = z.read("audio/audio.cfg").decode("utf-8", "replace")
    for m in re.finditer(r'audio\s+"([^"]+\.ogg)"[^\n]*?/\*\s*(.+?)\s*\*/', cfg):
        name, comment = m.group(1), m.group(2)
        if re.fullmatch(r"\d", comment) and name.startswith("t-grnli"):
            comment = f"You will have a green light in {comment}"  # the comments abbreviate 4, 3, 2
        texts.setdefault(name, comment)
    if "script/tutorial.js" in z.namelist():
        js = z.read("script/tutorial.js").decode("utf-8", "replace")
        for m in re.finditer(r'"audio":\s*"([^"]+\.ogg)".*?"message":\s*_\("((?:[^"\\]|\\.)*)"\)', js):
            texts[m.group(1)] = m.group(2)
    return texts


def _speaker(member: str) -> str:
    if member.startswith("audio/taunts/"):
        return "taunt" + re.search(r"taunt(\d)", member).group(1)
    return next(name for prefix, name in _SPEAKERS if member.startswith(prefix))


def find_warzone2100(roots: dict) -> list:
    """Warzone 2100's voice messages inside ``base.wz`` (a zip, unpacked once beside it): the
    operator, the commander, pilots, taunts, countdowns, the tutorial and briefings. Texts from the
    game's sound configuration and tutorial script where they exist; laughs are left out."""
    root = roots["warzone2100-data"]
    archive = root / "usr/share/games/warzone2100/base.wz"
    with zipfile.ZipFile(archive) as z:
        members = sorted(m for m in z.namelist() if m.endswith(".ogg") and m.startswith(_SPEECH_DIRS)
                         and not _NOT_SPEECH.search(m))
        texts = _transcripts(z)
    folder = extract_members(archive, members, root)
    return [RealClip(f"warzone2100/{m}", "warzone2100", str(folder / m), f"warzone2100-{_speaker(m)}", "en",
                     texts.get(m.rsplit("/", 1)[-1])) for m in members]


SOURCE = Source(
    "warzone2100", ("warzone2100-data",), find_warzone2100,
    "Warzone 2100: spoken game messages in English (Debian package warzone2100-data)",
    "GPL-2.0-or-later (see licenses/warzone2100-data.copyright)",
    "Warzone 2100: Copyright 1999-2004 Eidos Interactive (Pumpkin Studios), 2005-2013 Warzone 2100 Project. "
    "https://wz2100.net",
    chain="1999 studio game voices, band-limited to about 5.5 kHz with radio-style processing, 11 kHz Vorbis")
