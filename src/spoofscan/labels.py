"""Label names and the one class-index convention used everywhere.

Files and APIs that face the corpora say ``bonafide`` / ``spoof``; what faces people (CLI
text, web page) says ``real`` / ``fake``, ``partly fake`` for a clip whose mean says real but
that holds a run of fake windows (:mod:`spoofscan.segments`), or ``no speech`` for a clip
without speech. The network has one output, the logit of ``bonafide``: class index 1 =
bonafide, 0 = spoof, and scores are higher for bona fide.
"""

from __future__ import annotations

from .errors import SpoofscanError

BONAFIDE = "bonafide"
SPOOF = "spoof"
LABEL_INDEX = {SPOOF: 0, BONAFIDE: 1}
HUMAN_LABEL = {BONAFIDE: "real", SPOOF: "fake"}
# The label of a clip in which the voice-activity detector finds no speech: no verdict is given
# (its score and p_fake are None). Predictions say "real", "fake", "partly fake" or this.
NO_SPEECH = "no speech"
# The label of a clip whose mean score says real but in which a run of windows scores fake.
PARTLY_FAKE = "partly fake"

_ALIASES = {
    "bonafide": BONAFIDE, "bona-fide": BONAFIDE, "bona_fide": BONAFIDE, "bona fide": BONAFIDE,
    "real": BONAFIDE, "genuine": BONAFIDE, "human": BONAFIDE, "1": BONAFIDE,
    "spoof": SPOOF, "spoofed": SPOOF, "fake": SPOOF, "deepfake": SPOOF, "synthetic": SPOOF, "0": SPOOF,
}


def normalize_label(text: str, where: str = "") -> str:
    """Map the spellings found in corpora (``bona-fide``, ``real``, ``fake``...) to bonafide/spoof."""
    key = str(text).strip().lower()
    if key not in _ALIASES:
        at = f" in {where}" if where else ""
        raise SpoofscanError(f"unknown label {text!r}{at} (valid: {', '.join(sorted(_ALIASES))})")
    return _ALIASES[key]
