"""pocketsphinx's test recordings (Debian package pocketsphinx-testdata): read speech with transcripts."""

from __future__ import annotations

import re
from pathlib import Path

from .base import RealClip, Source

# the headerless 16 kHz recordings: goforward says the test grammar's sentence; the others have no
# transcript (numbers is a digit string; something's words are not given by the package)
_RAW_TEXT = {"goforward": "go forward ten meters"}


def _transcripts(path: Path) -> dict:
    """``utterance id -> text`` from a Sphinx ``.transcription`` file (``<s> words </s> (id)`` lines)."""
    out = {}
    for line in path.read_text(errors="replace").splitlines():
        m = re.match(r"^\s*(?:<s>)?(.*?)(?:</s>)?\s*\(([^)]+)\)\s*$", line)
        if m:
            out[m.group(2).strip()] = m.group(1).strip()
    return out


def find_pocketsphinx(roots: dict) -> list:
    """pocketsphinx-testdata: LibriVox read speech and a card-game grammar test (WAV, with
    transcripts) and three headerless 16 kHz recordings (``.raw``). The TIDIGITS file (an LDC
    corpus) is left out."""
    base = roots["pocketsphinx-testdata"] / "usr/share/pocketsphinx/test/data"
    clips = []
    for sub in ("librivox", "cards"):
        texts = {k: v for t in sorted((base / sub).glob("*transcription")) for k, v in _transcripts(t).items()}
        for path in sorted((base / sub).glob("*.wav")):
            clips.append(RealClip(f"pocketsphinx/{sub}/{path.name}", "pocketsphinx", str(path),
                                  f"pocketsphinx-{sub}", "en", texts.get(path.stem)))
    for path in sorted(base.glob("*.raw")):
        clips.append(RealClip(f"pocketsphinx/{path.name}", "pocketsphinx", str(path), "pocketsphinx-raw", "en",
                              _RAW_TEXT.get(path.stem), codec="pcm_s16le_16k"))
    return clips


SOURCE = Source(
    "pocketsphinx", ("pocketsphinx-testdata",), find_pocketsphinx,
    "pocketsphinx test data: read speech in English (Debian package pocketsphinx-testdata)",
    "BSD-2-Clause; the LibriVox excerpts are in the public domain (see licenses/pocketsphinx-testdata.copyright)",
    "Copyright 1995-2014 Carnegie Mellon University, 2014-2015 Alpha Cephei Inc. (CMU Sphinx); LibriVox "
    "recording of Sense and Sensibility, chapter 1 (public domain).",
    chain="an audiobook read at home and coded as 64 kbit/s MP3 (LibriVox), and close-talk 16 kHz test recordings")
