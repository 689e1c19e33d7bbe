"""Asterisk's telephone prompts in five languages (Debian packages asterisk-core-sounds-*), with transcripts."""

from __future__ import annotations

import gzip
from pathlib import Path

from .base import RealClip, Source

ASTERISK_LANGUAGES = ("en", "es", "fr", "it", "ru")


def _asterisk_transcripts(root: Path, lang: str) -> dict:
    """``relative/name`` -> text from ``core-sounds-LANG.txt.gz`` (lines ``name: text``); prompts whose
    text is a bracketed or parenthesised description (tones, beeps, silence) are not speech and left out."""
    found = sorted(root.rglob(f"core-sounds-{lang}.txt*"))
    if not found:
        return {}
    opener = gzip.open if found[0].suffix == ".gz" else open
    with opener(found[0], "rt", encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    out = {}
    for line in lines:
        if line.startswith(";") or ":" not in line:
            continue
        name, _, text = line.partition(":")
        text = text.strip()
        if text and not text.startswith(("[", "(")):  # "[ascending tones]", "(beep)", "(3 seconds of silence)"
            out[name.strip()] = text
    return out


def find_asterisk(roots: dict) -> list:
    """Asterisk core prompts (G.722, 16 kHz) with the transcripts shipped beside them.

    The sound folder names the voice (``en_US_f_Allison``, ``es_MX_f_Allison``,
    ``fr_CA_f_June``, ``it_IT_m_Carlo``, ``ru_RU_f_IvrvoiceRU``): the speaker is the last
    part. Prompts without a transcript (tones, silence) are left out.
    """
    clips = []
    for lang in ASTERISK_LANGUAGES:
        texts = _asterisk_transcripts(roots[f"asterisk-core-sounds-{lang}"], lang)
        base = roots[f"asterisk-core-sounds-{lang}-g722"] / "usr/share/asterisk/sounds"
        for voice_dir in sorted(p for p in base.iterdir() if p.is_dir()):
            speaker = "asterisk-" + voice_dir.name.split("_")[-1]
            for path in sorted(voice_dir.rglob("*.g722")):
                rel = path.relative_to(voice_dir).with_suffix("").as_posix()
                if rel in texts:
                    clips.append(RealClip(f"asterisk/{lang}/{rel}", "asterisk", str(path), speaker, lang,
                                          texts[rel], codec="g722"))
    return clips


SOURCE = Source(
    "asterisk", tuple(p for lang in ASTERISK_LANGUAGES
                      for p in (f"asterisk-core-sounds-{lang}", f"asterisk-core-sounds-{lang}-g722")),
    find_asterisk,
    "Asterisk core sound prompts in en, es, fr, it, ru (Debian packages asterisk-core-sounds-*-g722, "
    "transcripts from asterisk-core-sounds-*)",
    "English and Spanish (Allison Smith) and French (June Wallack): CC-BY-SA-3.0; Italian (Carlo Flora) "
    "and Russian (Maxim Topal): CC-BY-3.0 (see licenses/asterisk-core-sounds-*.copyright)",
    "English and Spanish recorded by Allison Smith (http://www.theivrvoice.com), financial contributions "
    "by Digium, Inc.; French recorded by June Wallack (http://www.junewallack.com), translated by Clod "
    "Patry, Kristopher Lalletti and June Wallack, financial contributions by Digium, Unlimitel and BGM "
    "Informatique; Italian recorded by Carlo Flora (http://www.carloflora.com), translated by Silvia "
    "Petrin; Russian provided by Maxim Topal (http://www.ivrvoice.ru).",
    chain="professional voice talent in a studio, telephone prompts, 16 kHz G.722")
