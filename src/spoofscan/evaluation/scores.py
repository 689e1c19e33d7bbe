"""Score files: ``trial score`` lines (what the ASVspoof 2021 and 5 scorers read), the 4-column
ASVspoof 2019 CM format, the organisers' ASV scores, and pairing scores with a protocol."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import SpoofscanError
from ..fileio import atomic_write
from ..labels import BONAFIDE, SPOOF
from .report import examples

# Scores beyond this magnitude are refused when read: no system's score is that large, and
# ±1e308 would overflow the means, spreads and plot ranges of the report into Inf.
MAX_ABS_SCORE = 1e100
ASV_KEYS = ("target", "nontarget", "spoof")


def write_scores(path: str | Path, trials: Sequence[str], scores: Sequence[float]) -> None:
    """Write ``trial score`` lines (atomically). Scores keep full precision (round-trip repr).

    Raises :class:`SpoofscanError` for a trial name containing whitespace (it would break
    the format), a non-finite score, or lengths that differ.
    """
    if len(trials) != len(scores):
        raise SpoofscanError(f"write_scores: {len(trials)} trials but {len(scores)} scores")
    lines = []
    for trial, score in zip(trials, scores):
        trial = str(trial)
        if not trial or any(ch.isspace() for ch in trial):
            raise SpoofscanError(f"trial name {trial!r} is empty or contains whitespace: "
                                 f"score files are 'trial score' lines")
        score = float(score)
        if not math.isfinite(score):
            raise SpoofscanError(f"score of trial {trial!r} is {score}")
        lines.append(f"{trial} {score!r}\n")

    def write(tmp):
        with open(tmp, "w") as f:
            f.writelines(lines)

    atomic_write(path, write)


def read_scores(path: str | Path) -> dict[str, float]:
    """Read a score file into ``{trial: score}``.

    Accepts ``trial score`` lines (ASVspoof 2021 / 5) and the 4-column ASVspoof 2019 CM
    format ``trial attack key score`` (the score is the last column). Blank lines and a
    byte-order mark are skipped. A line with another number of columns, a score that is not
    a finite number (or beyond ±:data:`MAX_ABS_SCORE`), or a trial listed twice raises
    :class:`SpoofscanError` naming the file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise SpoofscanError(f"score file {str(path)!r} not found")
    scores: dict[str, float] = {}
    first_line: dict[str, int] = {}
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        for n, line in enumerate(f, start=1):
            cols = line.split()
            if not cols:
                continue
            where = f"{path}:{n}"
            if len(cols) not in (2, 4):
                raise SpoofscanError(f"{where}: expected 'trial score' or 'trial attack key score', "
                                     f"got {len(cols)} columns: {line.strip()[:80]!r}")
            trial, text = cols[0], cols[-1]
            try:
                score = float(text)
            except ValueError:
                raise SpoofscanError(f"{where}: score {text!r} of trial {trial!r} is not a number") from None
            if not math.isfinite(score):
                raise SpoofscanError(f"{where}: score of trial {trial!r} is {text}")
            if abs(score) > MAX_ABS_SCORE:
                raise SpoofscanError(f"{where}: score {text} of trial {trial!r} is beyond ±{MAX_ABS_SCORE:g}, "
                                     f"which no system's score reaches (a corrupt file?)")
            if trial in scores:
                raise SpoofscanError(f"{where}: trial {trial!r} is listed twice (first on line {first_line[trial]})")
            scores[trial] = score
            first_line[trial] = n
    if not scores:
        raise SpoofscanError(f"score file {str(path)!r} holds no scores")
    return scores


def read_asv_scores(path: str | Path) -> dict[str, np.ndarray]:
    """Read the organisers' ASV scores (ASVspoof 2019 ``ASVspoof2019.LA.asv.{dev,eval}.gi.trl.scores.txt``).

    Lines are ``source key score`` with key ``target``, ``nontarget`` or ``spoof`` (the key
    is read from the second-to-last column and the score from the last). Returns
    ``{"target": array, "nontarget": array, "spoof": array}``; errors name the file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise SpoofscanError(f"ASV score file {str(path)!r} not found")
    found: dict[str, list] = {key: [] for key in ASV_KEYS}
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        for n, line in enumerate(f, start=1):
            cols = line.split()
            if not cols:
                continue
            if len(cols) < 2 or cols[-2] not in found:
                raise SpoofscanError(f"{path}:{n}: expected 'source key score' with key one of "
                                     f"{', '.join(ASV_KEYS)}, got {line.strip()[:80]!r}")
            try:
                score = float(cols[-1])
            except ValueError:
                raise SpoofscanError(f"{path}:{n}: ASV score {cols[-1]!r} is not a number") from None
            if not abs(score) <= MAX_ABS_SCORE:
                raise SpoofscanError(f"{path}:{n}: ASV score {cols[-1]} is not finite or beyond ±{MAX_ABS_SCORE:g}")
            found[cols[-2]].append(score)
    empty = [key for key in ASV_KEYS if not found[key]]
    if empty:
        raise SpoofscanError(f"ASV score file {str(path)!r} has no {' / '.join(empty)} trials (t-DCF needs all three)")
    return {key: np.array(v, dtype=np.float64) for key, v in found.items()}


def check_trial_names(records: Sequence) -> None:
    """Raise :class:`SpoofscanError` when a trial name is empty, holds whitespace (score files are
    ``trial score`` lines) or appears twice; call it before scoring anything."""
    spaced = [r.trial for r in records if not r.trial or any(ch.isspace() for ch in r.trial)]
    if spaced:
        raise SpoofscanError(f"{len(spaced)} trial name(s) are empty or contain whitespace, which a score file "
                             f"cannot hold: {examples(spaced)} (give the protocol a trial column without spaces)")
    _check_unique([r.trial for r in records])


def _check_unique(trials: Sequence[str]) -> None:
    seen: set = set()
    twice = [t for t in trials if t in seen or seen.add(t)]
    if twice:
        raise SpoofscanError(f"{len(twice)} trial(s) appear more than once in the protocol: {examples(twice)}")


def join_scores(records: Sequence, scores: dict[str, float], source: str = "the scores"):
    """Pair every record with its score.

    Returns ``(labels, values, extra)``: the records' labels and scores in record order (a
    float64 array) and the number of scores that belong to no record (ignored).
    Raises :class:`SpoofscanError` when records have no score, a trial is listed twice in
    the records, or a label is neither bona fide nor spoof.
    """
    if not records:
        raise SpoofscanError("the protocol has no trials")
    trials = [r.trial for r in records]
    _check_unique(trials)
    missing = [t for t in trials if t not in scores]
    if missing:
        raise SpoofscanError(f"{len(missing)} of {len(trials)} trials have no score in {source}: {examples(missing)}")
    labels = [r.label for r in records]
    odd = sorted({lab for lab in labels if lab not in (BONAFIDE, SPOOF)})
    if odd:
        raise SpoofscanError(f"unexpected label(s) {odd} in the protocol (valid: {BONAFIDE}, {SPOOF})")
    values = np.array([scores[t] for t in trials], dtype=np.float64)
    return labels, values, len(scores) - len(trials)


def class_scores(records: Sequence, scores: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """The scores of the bona fide and of the spoof records, float64 arrays in record order."""
    bona = np.array([scores[r.trial] for r in records if r.label == BONAFIDE], dtype=np.float64)
    spoof = np.array([scores[r.trial] for r in records if r.label == SPOOF], dtype=np.float64)
    return bona, spoof
