"""Partly fake clips: a speaker's real utterances with one or two of them replaced by their fakes.

The attack that PartialSpoof and Half-Truth study: a fake sentence spliced into a real
recording. After the pairs are built, each spliced clip strings together 3-6 processed
utterances of one speaker from one split (its real clips, each cut to its speech), separated by
pauses taken from the clips' own edge silence, and replaces one or two of them (never all) by the
same utterance's copy-synthesis fake: the same speaker, the same words, a different voice engine.
So that the splice is no tell:

- it starts with its first recording's leading silence and ends with its last one's trailing
  silence, so its edges are as long as every other clip's;
- every junction, real to real as well as real to fake, gets the same short raised-cosine
  cross-fade (:data:`CROSSFADE_SECONDS`);
- a fake utterance is scaled to the RMS of the real one it replaces (both measured on speech);
- only pairs of one channel (wideband or narrowband) are joined, so the bandwidth does not
  change at a splice.

A spliced clip is a ``spoof`` trial (family ``splice``, kind ``partial``, generator
``splice/FAKE-GENERATOR``) whose fake passages are its ``segments``: ``(start, end)`` seconds,
written into the manifest. Training crops of it are labelled by what they overlap
(:func:`spoofscan.training.data.crop_label`); evaluation scores the passages
(:mod:`spoofscan.evaluation.partial`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Mapping

import numpy as np
import soundfile as sf

from ..audio import SAMPLE_RATE
from ..fileio import atomic_write
from ..labels import BONAFIDE, SPOOF
from ..seeding import stable_seed
from .audit import active_span

FAMILY = "splice"
KIND = "partial"
UTTERANCES = (3, 6)  # utterances per spliced clip, a uniform draw
REPLACED = (1, 2)  # of which this many are fakes (never all: at least two stay real)
PAUSE_SECONDS = (0.15, 0.6)  # silence between two utterances
CROSSFADE_SECONDS = 0.02  # at every junction
MARGIN_SECONDS = 0.03  # speech margin kept around each utterance's active span
SPLICE_VERSION = 3  # in every spliced clip's job key: bump when the recipe changes (3: the pairs' job keys too)


def plan_splices(rows: list, share: float, seed: int, pair_jobs: Mapping[str, str] | None = None) -> list:
    """The spliced clips to make from built pair rows: a list of ``{"job", "trial", "split", "parts"}``
    with ``parts`` the (real row, fake row or None) of each utterance, in order.

    ``pair_jobs`` (a pair's real trial -> its job key in the build state) goes into each spliced
    clip's job key, so a pair that is made again (its generator changed) makes its spliced clips again.

    Per split and speaker (and channel), pairs whose fake is copy-synthesis are shuffled by a
    stable hash and cut into groups of 3-6; ``share`` of the split's copy-synthesis pairs (rounded)
    become spliced clips, each group at most once, as far as the speakers' groups go (with the
    default 70 % text-to-speech, about 3 % of all pairs). Every choice depends only on the rows and ``seed``.
    """
    pairs = _copy_pairs(rows)
    by_group: dict = {}
    for real, fake in pairs:
        by_group.setdefault((real["split"], real["speaker"], real["channel"]), []).append((real, fake))
    per_split: dict = {}
    for real, _ in pairs:
        per_split[real["split"]] = per_split.get(real["split"], 0) + 1
    quota = {split: round(share * n) for split, n in per_split.items()}
    plans = []
    for (split, speaker, channel), members in sorted(by_group.items()):
        members.sort(key=lambda p: stable_seed(seed, "splice-order", p[0]["trial"]))
        rng = np.random.default_rng(stable_seed(seed, "splice", split, speaker, channel))
        while len(members) >= UTTERANCES[0] and quota.get(split, 0) > 0:
            n = int(rng.integers(UTTERANCES[0], min(UTTERANCES[1], len(members)) + 1))
            group, members = members[:n], members[n:]
            replaced = set(rng.choice(n, size=int(rng.integers(REPLACED[0], min(REPLACED[1], n - 2) + 1)),
                                      replace=False).tolist())
            parts = [(real, fake if i in replaced else None) for i, (real, fake) in enumerate(group)]
            plans.append(_splice_plan(split, parts, seed, pair_jobs or {}))
            quota[split] -= 1
    return plans


def _copy_pairs(rows: list) -> list:
    """(real row, fake row) of every built pair whose fake re-synthesises its real clip, in trial order."""
    by_pair: dict = {}
    for r in rows:
        by_pair.setdefault(r.get("pair"), {})[r["label"]] = r
    out = [(p[BONAFIDE], p[SPOOF]) for p in by_pair.values()
           if BONAFIDE in p and SPOOF in p and p[SPOOF].get("kind") == "copy"]
    return sorted(out, key=lambda p: p[0]["trial"])


def _splice_plan(split: str, parts: list, seed: int, pair_jobs: Mapping[str, str]) -> dict:
    key = json.dumps([SPLICE_VERSION, seed, [(r["trial"], f["trial"] if f else None, pair_jobs.get(r.get("pair"), ""))
                                             for r, f in parts]])
    job = "splice-" + hashlib.sha256(key.encode()).hexdigest()[:20]
    return {"job": job, "trial": "splice_" + job[7:19], "split": split, "parts": parts}


def build_splice(plan: dict, out: Path, seed: int) -> list:
    """Make one spliced clip (see :func:`plan_splices`) under ``out``; returns its manifest row."""
    rng = np.random.default_rng(stable_seed(seed, "splice-audio", plan["trial"]))
    pieces, fakes = [], []
    for i, (real, fake) in enumerate(plan["parts"]):
        voice, lead, trail = _utterance(out / real["path"])
        if fake is not None:
            replacement, _, _ = _utterance(out / fake["path"])
            voice = replacement * np.float32(_rms(voice) / max(_rms(replacement), 1e-9))
        if i:  # the pause before an utterance: its own recording's edge silence, repeated to length (zeros for none)
            pieces.append(np.resize(lead, int(rng.uniform(*PAUSE_SECONDS) * SAMPLE_RATE)).astype(np.float32))
        else:  # the clip starts as every processed clip does: with its first recording's edge silence
            pieces.append(lead)
        if fake is not None:
            fakes.append(len(pieces))
        pieces.append(voice)
    pieces.append(trail)  # and ends with its last recording's
    y, starts = _join(pieces)
    segments = [(starts[j] / SAMPLE_RATE, (starts[j] + len(pieces[j])) / SAMPLE_RATE) for j in fakes]
    peak = float(np.max(np.abs(y))) or 1.0
    y = (y * np.float32(min(1.0, 0.99 / peak))).astype(np.float32)
    rel = Path("audio") / plan["split"] / f"{plan['trial']}.flac"
    atomic_write(out / rel, lambda tmp: sf.write(tmp, y, SAMPLE_RATE, format="FLAC", subtype="PCM_16"))
    return _row(plan, rel, y, segments)


def _utterance(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A processed clip's speech (its active span with a margin), its leading and its trailing
    silence (each empty where it has none), float32 16 kHz."""
    x, _ = sf.read(str(path), dtype="float32")
    first, end = active_span(x)
    margin = int(MARGIN_SECONDS * SAMPLE_RATE)
    a, b = max(0, first - margin), min(len(x), end + margin)
    return x[a:b].copy(), x[:a], x[b:]


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0


def _join(pieces: list) -> tuple[np.ndarray, list]:
    """Concatenate with a raised-cosine cross-fade of :data:`CROSSFADE_SECONDS` at every junction
    (shorter where a piece is shorter): each piece overlaps the one before by its fade, so the
    length is the sum of the pieces' lengths less the fades. Returns the signal and the sample
    where each piece starts in it (its fade-in included)."""
    out = pieces[0].astype(np.float32)
    starts = [0]
    for piece in pieces[1:]:
        n = min(int(CROSSFADE_SECONDS * SAMPLE_RATE), len(out) // 2, len(piece) // 2)
        ramp = (0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / max(n, 1))).astype(np.float32)
        piece = piece.astype(np.float32).copy()
        if n:
            piece[:n] = out[len(out) - n:] * (1 - ramp) + piece[:n] * ramp
            out = out[:len(out) - n]
        starts.append(len(out))
        out = np.concatenate([out, piece])
    return out, starts


def _row(plan: dict, rel: Path, y: np.ndarray, segments: list) -> dict:
    from ..datasets.records import format_segments

    real = plan["parts"][0][0]
    fakes = [f for _, f in plan["parts"] if f is not None]
    return {
        "trial": plan["trial"], "path": rel.as_posix(), "label": SPOOF, "split": plan["split"],
        "source": real["source"], "speaker": real["speaker"], "language": real["language"],
        "generator": f"{FAMILY}/{fakes[0]['generator']}", "kind": KIND, "channel": real["channel"],
        "codec": "mixed", "seconds": round(len(y) / SAMPLE_RATE, 3), "segments": format_segments(segments),
        "text": "", "origin": ";".join(r["trial"] for r, _ in plan["parts"]), "pair": plan["trial"],
        "fake_families": ";".join(sorted({f["generator"].split("/")[0] for f in fakes})),
    }
