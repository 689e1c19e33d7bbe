"""Fish Fillets NG's spoken dialogue in Czech and Dutch, with the game scripts' lines as transcripts."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from .base import RealClip, Source, has_frames

FILLETS_LANGUAGES = ("cs", "nl")
_DIALOG = re.compile(
    r'dialog(Id|Str)\(\s*("(?:[^"\\]|\\.)*")(?:\s*,\s*("(?:[^"\\]|\\.)*"|nil|\w+)\s*,\s*("(?:[^"\\]|\\.)*"))?\s*\)',
    re.S)
_SPEAKER_OF_FONT = {"font_small": "smallfish", "font_big": "bigfish", "font_both": "bothfish", "": "other"}


def _dialogs(path: Path) -> dict:
    """``id -> (font, line)`` from one ``*dialogs_LANG.lua``: ``dialogId(id, font, english)`` then an
    optional ``dialogStr(line in LANG)``; the line is None where there is no ``dialogStr``."""
    out, current = {}, None
    for m in _DIALOG.finditer(path.read_text(encoding="utf-8", errors="replace")):
        if m.group(1) == "Id":
            current = m.group(2)[1:-1]
            out[current] = ((m.group(3) or "").strip('"'), None)
        elif current is not None:
            out[current] = (out[current][0], m.group(2)[1:-1].replace('\\"', '"'))
            current = None
    return out


def _lines(scripts: Path, language: str) -> tuple[dict, dict]:
    """Per level ``{level: {id: (font, line)}}`` and, for ids a level does not define, the first
    definition anywhere (the shared scripts first): ids such as ``rand-0-0`` repeat across levels."""
    per_level: dict = defaultdict(dict)
    for f in sorted(scripts.rglob(f"*dialogs_{language}.lua")):
        per_level[f.relative_to(scripts).parts[0]].update(_dialogs(f))
    anywhere: dict = dict(per_level.get("share", {}))
    for level in sorted(per_level):
        for key, value in per_level[level].items():
            anywhere.setdefault(key, value)
    return per_level, anywhere


def find_fillets(roots: dict) -> list:
    """Fish Fillets NG's dialogue ``sound/LEVEL/LANG/ID.ogg`` (packages ``fillets-ng-data-cs`` and
    ``-nl``) with the line from the game scripts (``fillets-ng-data``: ``script/**/*dialogs_LANG.lua``).

    The subtitle font names the character (``font_small`` the small fish, ``font_big`` the big
    fish, other fonts other characters): the speaker is ``fillets-LANG-CHARACTER``. Czech is the
    original 1998 studio dub; Dutch was recorded by volunteers for Fillets NG. Files whose id no
    script defines, and empty placeholder files, are left out.
    """
    scripts = roots["fillets-ng-data"] / "usr/share/games/fillets-ng/script"
    clips = []
    for language in FILLETS_LANGUAGES:
        per_level, anywhere = _lines(scripts, language)
        sound = roots[f"fillets-ng-data-{language}"] / "usr/share/games/fillets-ng/sound"
        for path in sorted(sound.rglob(f"{language}/*.ogg")):
            level = path.relative_to(sound).parts[0]
            entry = per_level[level].get(path.stem) or anywhere.get(path.stem)
            if entry is None or not has_frames(path):
                continue
            font, line = entry
            character = _SPEAKER_OF_FONT.get(font, font.replace("font_", ""))
            clips.append(RealClip(f"fillets/{path.relative_to(sound).as_posix()}", "fillets", str(path),
                                  f"fillets-{language}-{character}", language, line or None))
    return clips


SOURCE = Source(
    "fillets", ("fillets-ng-data", "fillets-ng-data-cs", "fillets-ng-data-nl"), find_fillets,
    "Fish Fillets NG: spoken dialogue in Czech and Dutch (Debian packages fillets-ng-data-cs, fillets-ng-data-nl; "
    "lines from fillets-ng-data)",
    "GPL-2.0 (see licenses/fillets-ng-data*.copyright)",
    "Fish Fillets NG, https://fillets.sourceforge.net: Copyright ALTAR interactive, Ivo Danihelka, Pavel "
    "Danihelka and contributors; Czech voices from ALTAR Interactive's original game, Dutch voices recorded "
    "for Fish Fillets NG.",
    chain="1998 professional studio dub (Czech, several actors) and a volunteer dub (Dutch), game dialogue, "
          "22 kHz Vorbis")
