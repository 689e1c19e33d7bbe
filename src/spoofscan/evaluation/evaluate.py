"""Evaluation: score a protocol, then report the official metrics overall and per group.

Two ways in:

- :func:`evaluate` runs a detector over every record's audio, writes ``scores.txt``
  (``trial score`` lines, what the ASVspoof 2021 and 5 scorers read) and the report;
- :func:`evaluate_scores` reads an existing score file of any system and writes the same
  report, no model needed.

The report (:func:`build_report`) holds the EER and its threshold, minDCF, actDCF and Cllr
(ASVspoof 5 cost model), the ASVspoof 2019 min t-DCF when the organisers' ASV scores are
given, the accuracy of the calibrated decision when a calibration is known, the counts, and the EER broken down by every grouping column of the records
(attack, codec, vocoder, speaker...). :func:`write_report` writes it as ``report.json``,
``report.md``, a DET curve ``det.png`` and score histograms ``hist.png``.

Per-group EER follows the ASVspoof convention. For a column on which every bona fide trial
has the same value (``attack``: bona fide rows say ``-``), each value's EER pits **all**
bona fide trials against that value's spoof trials. For a column that splits bona fide too
(``codec``, ``speaker``, ``gender``), both classes are filtered to the value. A value with
no trial of one of the two classes gets no EER and is listed under ``skipped``. Columns
with more than :data:`MAX_GROUP_VALUES` values (speakers, typically) are summarised: the
:data:`WORST_SHOWN` values with the highest EER plus the mean, median, min and max EER.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from .. import __version__
from ..calibration import Calibration
from ..errors import SpoofscanError
from ..fileio import atomic_write, atomic_write_text, refuse_overwrite
from ..labels import BONAFIDE, SPOOF
from .metrics import (C_FA, C_MISS, P_SPOOF, accuracy_at, asv_error_rates, compute_act_dcf, compute_cllr, compute_eer,
                      compute_min_dcf, compute_tdcf, det_curve)

SCORES_FILE = "scores.txt"
FAILURES_FILE = "failures.txt"
NO_SPEECH_FILE = "no_speech.txt"
REPORT_JSON = "report.json"
REPORT_MD = "report.md"
DET_PNG = "det.png"
HIST_PNG = "hist.png"

MAX_GROUP_VALUES = 50  # a column with more values than this is summarised
WORST_SHOWN = 10  # values listed (highest EER first) for a summarised column
EXAMPLES_SHOWN = 5  # trial names quoted in error messages
# Scores beyond this magnitude are refused when read: no system's score is that large, and
# ±1e308 would overflow the means, spreads and plot ranges of the report into Inf.
MAX_ABS_SCORE = 1e100


# ---------------------------------------------------------------------------- score files


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
            raise SpoofscanError(f"trial name {trial!r} is empty or contains whitespace: score files are 'trial score' lines")
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


ASV_KEYS = ("target", "nontarget", "spoof")


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


# ---------------------------------------------------------------------------- report


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
    seen: set = set()
    twice = [t for t in trials if t in seen or seen.add(t)]
    if twice:
        raise SpoofscanError(f"{len(twice)} trial(s) appear more than once in the protocol: {_examples(twice)}")
    missing = [t for t in trials if t not in scores]
    if missing:
        raise SpoofscanError(f"{len(missing)} of {len(trials)} trials have no score in {source}: {_examples(missing)}")
    labels = [r.label for r in records]
    odd = sorted({lab for lab in labels if lab not in (BONAFIDE, SPOOF)})
    if odd:
        raise SpoofscanError(f"unexpected label(s) {odd} in the protocol (valid: {BONAFIDE}, {SPOOF})")
    values = np.array([scores[t] for t in trials], dtype=np.float64)
    return labels, values, len(scores) - len(trials)


def check_trial_names(records: Sequence) -> None:
    """Raise :class:`SpoofscanError` when a trial name is empty, holds whitespace (score files are
    ``trial score`` lines) or appears twice; call it before scoring anything."""
    spaced = [r.trial for r in records if not r.trial or any(ch.isspace() for ch in r.trial)]
    if spaced:
        raise SpoofscanError(f"{len(spaced)} trial name(s) are empty or contain whitespace, which a score file "
                             f"cannot hold: {_examples(spaced)} (give the protocol a trial column without spaces)")
    seen: set = set()
    twice = [r.trial for r in records if r.trial in seen or seen.add(r.trial)]
    if twice:
        raise SpoofscanError(f"{len(twice)} trial(s) appear more than once in the protocol: {_examples(twice)}")


def build_report(records: Sequence, scores: dict[str, float], calibration: Calibration | None = None, *,
                 threshold: float = 0.5, source: str = "the scores", asv_scores: dict | None = None) -> dict:
    """Compute every metric for ``records`` (:class:`spoofscan.datasets.Record`) scored by ``scores``.

    Parameters
    ----------
    records : the protocol; each record's ``label`` and ``groups`` are used
    scores : ``{trial: score}``, higher = more bona fide; scores of trials not in ``records`` are
        ignored and counted in ``counts.extra_scores``
    calibration : maps raw scores to LLRs and p_fake (the detector's). With it, actDCF and
        Cllr are computed on the calibrated LLRs and the accuracy of ``fake when p_fake >=
        threshold`` is reported; without it, actDCF and Cllr read the raw scores as LLRs (as
        the ASVspoof 5 scorer does) and there is no accuracy. ``llr`` in the report says which.
    threshold : the p_fake decision threshold (the checkpoint's, 0.5 by default)
    source : how to name the scores in error messages (a file name)
    asv_scores : the organisers' ASV scores (:func:`read_asv_scores`, ASVspoof 2019 LA); with
        them the report adds ``metrics.min_tdcf`` (2019 legacy t-DCF) and ``asv`` (the ASV's
        EER, threshold and error rates)

    Returns
    -------
    A JSON-ready dict:

    - ``counts``: ``trials``, ``bonafide``, ``spoof``, ``extra_scores`` (ignored), ``failures``
      (files :func:`evaluate` could not read; 0 here), ``no_speech`` (clips :func:`evaluate`
      found no speech in, scored on all their windows; 0 here)
    - ``metrics``: ``eer`` (fraction), ``eer_percent``, ``eer_threshold``, ``min_dcf``,
      ``min_dcf_threshold``, ``act_dcf``, ``act_dcf_threshold`` (LLR units), ``cllr`` (bits),
      and with ``asv_scores`` ``min_tdcf``, ``min_tdcf_threshold``
    - ``asv``: :func:`spoofscan.evaluation.metrics.asv_error_rates`, or None without ``asv_scores``
    - ``accuracy``: :func:`spoofscan.evaluation.metrics.accuracy_at` of the calibrated decision, or None
    - ``llr``: ``"calibrated"`` or ``"raw"``; ``calibration``: ``{"a", "b"}`` or None
    - ``cost_model``: ``p_spoof``, ``c_miss``, ``c_fa``
    - ``score_summary``: per class ``mean``, ``std``, ``min``, ``max`` of the raw scores
    - ``groups``: per grouping column, see :func:`group_eers`

    EER and accuracies are fractions; thresholds are in raw score units except
    ``act_dcf_threshold``.
    """
    labels, values, extra = join_scores(records, scores, source)
    is_bona = np.array([lab == BONAFIDE for lab in labels])
    bona, spoof = values[is_bona], values[~is_bona]
    if bona.size == 0 or spoof.size == 0:
        raise SpoofscanError(f"the protocol needs trials of both classes (got {bona.size} bona fide, {spoof.size} spoof)")

    eer, eer_threshold = compute_eer(bona, spoof)
    min_dcf, min_dcf_threshold = compute_min_dcf(bona, spoof)
    if calibration is not None:
        bona_llr, spoof_llr = calibration.llr(bona), calibration.llr(spoof)
    else:
        bona_llr, spoof_llr = bona, spoof
    act_dcf, act_threshold = compute_act_dcf(bona_llr, spoof_llr)
    metrics = {
        "eer": eer,
        "eer_percent": 100.0 * eer,
        "eer_threshold": eer_threshold,
        "min_dcf": min_dcf,
        "min_dcf_threshold": min_dcf_threshold,
        "act_dcf": act_dcf,
        "act_dcf_threshold": act_threshold,
        "cllr": compute_cllr(bona_llr, spoof_llr),
    }
    asv = None
    if asv_scores is not None:
        asv = asv_error_rates(asv_scores["target"], asv_scores["nontarget"], asv_scores["spoof"])
        metrics["min_tdcf"], metrics["min_tdcf_threshold"] = compute_tdcf(bona, spoof, asv)
    accuracy = None
    if calibration is not None:
        accuracy = accuracy_at(calibration.p_fake(bona), calibration.p_fake(spoof), threshold)

    return {
        "spoofscan_version": __version__,
        "counts": {"trials": len(labels), "bonafide": int(bona.size), "spoof": int(spoof.size),
                   "extra_scores": int(extra), "failures": 0, "no_speech": 0},
        "metrics": metrics,
        "accuracy": accuracy,
        "llr": "calibrated" if calibration is not None else "raw",
        "calibration": calibration.to_dict() if calibration is not None else None,
        "cost_model": {"p_spoof": P_SPOOF, "c_miss": C_MISS, "c_fa": C_FA},
        "asv": asv,
        "score_summary": {"bonafide": _summary(bona), "spoof": _summary(spoof)},
        "groups": group_eers(records, values),
    }


def group_eers(records: Sequence, values: np.ndarray) -> dict:
    """The EER per value of every grouping column (see the module docstring for the convention).

    Returns ``{column: {"mode", "values": [{"value", "bonafide", "spoof", "eer", "eer_threshold",
    "min_dcf"}...],
    "skipped": [{"value", "bonafide", "spoof"}...], "summarised": bool, "summary"}}`` with
    ``mode`` ``"all_bonafide"`` or ``"filtered"``; values are sorted by name, or by EER
    (highest first) when the column is summarised.
    """
    columns: list[str] = []
    for r in records:
        for key in r.groups:
            if key not in columns:
                columns.append(key)
    out = {}
    for column in columns:
        bona_at: dict[str, list[int]] = {}  # value -> indices of its bona fide trials
        spoof_at: dict[str, list[int]] = {}
        for i, r in enumerate(records):
            value = str(r.groups.get(column, "-"))
            (bona_at if r.label == BONAFIDE else spoof_at).setdefault(value, []).append(i)
        all_bona = len(bona_at) <= 1
        every_bona = values[[i for idx in bona_at.values() for i in idx]]
        names = sorted(spoof_at) if all_bona else sorted(set(bona_at) | set(spoof_at))
        rows, skipped = [], []
        for name in names:
            bona = every_bona if all_bona else values[bona_at.get(name, [])]
            spoof = values[spoof_at.get(name, [])]
            if bona.size == 0 or spoof.size == 0:
                skipped.append({"value": name, "bonafide": int(bona.size), "spoof": int(spoof.size)})
                continue
            eer, thr = compute_eer(bona, spoof)
            rows.append({"value": name, "bonafide": int(bona.size), "spoof": int(spoof.size),
                         "eer": eer, "eer_threshold": thr, "min_dcf": compute_min_dcf(bona, spoof)[0]})
        entry = {"mode": "all_bonafide" if all_bona else "filtered", "values": rows, "skipped": skipped,
                 "summarised": False, "summary": None}
        if len(rows) > MAX_GROUP_VALUES:
            eers = np.array([row["eer"] for row in rows])
            entry["summarised"] = True
            entry["summary"] = {"values": len(rows), "eer_mean": float(eers.mean()),
                                "eer_median": float(np.median(eers)), "eer_min": float(eers.min()),
                                "eer_max": float(eers.max())}
            entry["values"] = sorted(rows, key=lambda row: -row["eer"])[:WORST_SHOWN]
        out[column] = entry
    return out


def _summary(x: np.ndarray) -> dict:
    return {"mean": float(x.mean()), "std": float(x.std()), "min": float(x.min()), "max": float(x.max())}


def _examples(items: Sequence[str]) -> str:
    shown = ", ".join(map(str, items[:EXAMPLES_SHOWN]))
    return shown + (", ..." if len(items) > EXAMPLES_SHOWN else "")


# ---------------------------------------------------------------------------- writing


def write_report(report: dict, out_dir: str | Path, bona_scores=None, spoof_scores=None) -> dict[str, Path]:
    """Write ``report.json`` and ``report.md`` to ``out_dir``, and with the scores the plots.

    Parameters
    ----------
    report : from :func:`build_report`
    bona_scores, spoof_scores : 1-D arrays of raw scores per class; when given, ``det.png``
        (DET curve on normal-deviate axes with the EER point) and ``hist.png`` (score
        histograms per class with the EER threshold) are drawn too.

    Returns ``{"json": path, "markdown": path, "det": path, "hist": path}`` (plots if drawn).
    """
    out_dir = prepare_out_dir(out_dir)
    paths = {"json": out_dir / REPORT_JSON, "markdown": out_dir / REPORT_MD}
    try:
        text = json.dumps(report, indent=2, allow_nan=False) + "\n"
    except ValueError:  # a NaN or Inf somewhere: never write one into a report
        raise SpoofscanError(f"the report holds a non-finite number at {_non_finite(report)}; nothing written") from None
    atomic_write_text(paths["json"], text)
    md = report_markdown(report)
    atomic_write_text(paths["markdown"], md)
    if bona_scores is not None and spoof_scores is not None:
        bona = np.asarray(bona_scores, dtype=np.float64)
        spoof = np.asarray(spoof_scores, dtype=np.float64)
        if not (np.isfinite(bona).all() and np.isfinite(spoof).all()):
            raise SpoofscanError("non-finite scores cannot be plotted; no plot written")
        paths["det"] = out_dir / DET_PNG
        paths["hist"] = out_dir / HIST_PNG
        plot_det(bona, spoof, report["metrics"]["eer"], paths["det"])
        plot_histograms(bona, spoof, report["metrics"]["eer_threshold"], paths["hist"])
    return paths


def prepare_out_dir(out_dir: str | Path) -> Path:
    """The report folder, created if missing; an error if the path is a file."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise SpoofscanError(f"--out {str(out_dir)!r} is a file; give a folder for the report")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SpoofscanError(f"cannot create the report folder {str(out_dir)!r}: {e.strerror or e}") from None
    return out_dir


def output_files(out_dir: str | Path, scored: bool = True) -> list[Path]:
    """Every file :func:`evaluate` (``scored``) or :func:`evaluate_scores` may write in ``out_dir``."""
    names = [REPORT_JSON, REPORT_MD, DET_PNG, HIST_PNG]
    if scored:
        names += [SCORES_FILE, FAILURES_FILE, NO_SPEECH_FILE]
    return [Path(out_dir) / name for name in names]


def _non_finite(value, at: str = "report") -> str:
    """The key path of the first NaN or Inf in a JSON-like value."""
    if isinstance(value, float) and not math.isfinite(value):
        return at
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, (list, tuple)) else ()
    for key, item in items:
        found = _non_finite(item, f"{at}[{key!r}]")
        if found:
            return found
    return ""


def report_markdown(report: dict) -> str:
    """The report as Markdown: the headline metrics, the counts, then one table per grouping column."""
    m, c = report["metrics"], report["counts"]
    lines = ["# spoofscan evaluation report", ""]
    llr_note = ("calibrated LLRs (calibration llr = a * score + b, a = {a:.4g}, b = {b:.4g})".format(**report["calibration"])
                if report["llr"] == "calibrated" else "raw scores read as LLRs (no calibration given)")
    lines += ["| metric | value |", "|---|---|",
              f"| EER | {m['eer_percent']:.4f} % |",
              f"| EER threshold (score) | {m['eer_threshold']:.6g} |",
              f"| minDCF | {m['min_dcf']:.4f} |",
              f"| actDCF | {m['act_dcf']:.4f} |",
              f"| Cllr | {m['cllr']:.4f} bits |"]
    if "min_tdcf" in m:
        lines.append(f"| min t-DCF (ASVspoof 2019, organisers' ASV: EER {100 * report['asv']['asv_eer']:.2f} %) "
                     f"| {m['min_tdcf']:.4f} |")
    acc = report.get("accuracy")
    if acc:
        lines += [f"| accuracy (fake when p_fake >= {acc['threshold']:g}) | {100 * acc['accuracy']:.2f} % |",
                  f"| balanced accuracy | {100 * acc['balanced_accuracy']:.2f} % |",
                  f"| bona fide called real | {100 * acc['bonafide_correct']:.2f} % |",
                  f"| spoof called fake | {100 * acc['spoof_correct']:.2f} % |"]
    cm = report["cost_model"]
    lines += ["",
              f"Trials: {c['trials']} ({c['bonafide']} bona fide, {c['spoof']} spoof)"
              + (f"; {c['extra_scores']} score(s) of trials outside the protocol ignored" if c["extra_scores"] else "")
              + (f"; {c['failures']} file(s) could not be scored and are excluded (see {FAILURES_FILE})" if c.get("failures") else "")
              + (f"; {c['no_speech']} clip(s) without speech, scored on all their windows and counted "
                 f"(see {NO_SPEECH_FILE})" if c.get("no_speech") else "")
              + ".",
              "",
              f"EER: official ASVspoof algorithm (no interpolation); score higher = more bona fide. "
              f"minDCF/actDCF: ASVspoof 5 cost model P_spoof = {cm['p_spoof']}, C_miss = {cm['c_miss']:g}, "
              f"C_fa = {cm['c_fa']:g}; actDCF and Cllr on {llr_note}.", ""]
    for column, g in report["groups"].items():
        how = ("all bona fide vs the spoof of each value" if g["mode"] == "all_bonafide"
               else "bona fide and spoof of each value")
        lines += [f"## EER and minDCF by {column}", "", f"EER and minDCF of {how}."]
        if g["summarised"]:
            s = g["summary"]
            lines += [f"{s['values']} values: mean EER {100 * s['eer_mean']:.2f} %, median {100 * s['eer_median']:.2f} %, "
                      f"min {100 * s['eer_min']:.2f} %, max {100 * s['eer_max']:.2f} %; the {len(g['values'])} highest:"]
        lines += ["", f"| {column} | bona fide | spoof | EER % | minDCF |", "|---|---:|---:|---:|---:|"]
        lines += [f"| {row['value']} | {row['bonafide']} | {row['spoof']} | {100 * row['eer']:.2f} | {row['min_dcf']:.4f} |"
                  for row in g["values"]]
        if g["skipped"]:
            lines += ["", "No EER (a class is missing): " + ", ".join(
                f"{s['value']} ({s['bonafide']} bona fide, {s['spoof']} spoof)" for s in g["skipped"])]
        lines.append("")
    return "\n".join(lines)


def _probit(p: np.ndarray) -> np.ndarray:
    """Standard normal quantile, elementwise (stdlib NormalDist; p clipped into the open interval)."""
    from statistics import NormalDist

    inv = NormalDist().inv_cdf
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.array([inv(v) for v in p.ravel()]).reshape(p.shape)


def plot_det(bona: np.ndarray, spoof: np.ndarray, eer: float, path: str | Path) -> None:
    """DET curve (miss vs false alarm) on normal-deviate axes, with the EER point marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frr, far, _ = det_curve(bona, spoof)
    # keep the corners of the staircase only: points where one of the two rates changes
    frr_moves = np.diff(frr) != 0  # each step moves FRR (a bona fide rejected) or FAR (a spoof)
    keep = np.ones(len(frr), dtype=bool)
    keep[1:-1] = frr_moves[:-1] != frr_moves[1:]
    ticks = np.array([0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8])
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    ax.plot(_probit(far[keep]), _probit(frr[keep]), lw=1.5, label="DET")
    ax.plot(_probit([eer]), _probit([eer]), "o", color="C3", label=f"EER {100 * eer:.2f} %")
    lo, hi = _probit([0.0005])[0], _probit([0.9])[0]
    ax.plot([lo, hi], [lo, hi], ":", color="grey", lw=0.8)
    ax.set_xticks(_probit(ticks))
    ax.set_xticklabels([f"{100 * t:g}" for t in ticks])
    ax.set_yticks(_probit(ticks))
    ax.set_yticklabels([f"{100 * t:g}" for t in ticks])
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("spoof accepted as bona fide (FAR, %)")
    ax.set_ylabel("bona fide rejected (FRR, %)")
    ax.set_title("DET curve")
    ax.grid(True, lw=0.3)
    ax.legend(loc="upper right")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    plt.close(fig)


def plot_histograms(bona: np.ndarray, spoof: np.ndarray, threshold: float, path: str | Path) -> None:
    """Score histograms of the two classes (densities) with the EER threshold as a vertical line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    both = np.concatenate([bona, spoof])
    lo, hi = float(both.min()), float(both.max())
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    bins = np.linspace(lo, hi, 61)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist(bona, bins=bins, density=True, alpha=0.55, color="C0", label=f"bona fide (real), n={bona.size}")
    ax.hist(spoof, bins=bins, density=True, alpha=0.55, color="C3", label=f"spoof (fake), n={spoof.size}")
    ax.axvline(threshold, color="k", ls="--", lw=1, label=f"EER threshold {threshold:.4g}")
    ax.set_xlabel("score (higher = more bona fide)")
    ax.set_ylabel("density")
    ax.set_title("Score distributions")
    ax.legend()
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    plt.close(fig)


# ---------------------------------------------------------------------------- entry points


def _class_scores(records: Sequence, scores: dict[str, float]):
    bona = np.array([scores[r.trial] for r in records if r.label == BONAFIDE], dtype=np.float64)
    spoof = np.array([scores[r.trial] for r in records if r.label == SPOOF], dtype=np.float64)
    return bona, spoof


def evaluate_scores(score_file: str | Path, records: Sequence, out_dir: str | Path,
                    calibration: Calibration | None = None, *, threshold: float = 0.5,
                    asv_scores: dict | None = None) -> dict:
    """Report on an existing score file (any system's): ``trial score`` or 2019 4-column lines.

    Writes the report files to ``out_dir`` and returns the report (see :func:`build_report`
    for ``calibration``, ``threshold`` and ``asv_scores``). The report never overwrites the
    score file.
    """
    refuse_overwrite(output_files(out_dir, scored=False), [score_file], "a report file")
    scores = read_scores(score_file)
    report = build_report(records, scores, calibration, threshold=threshold, source=str(score_file),
                          asv_scores=asv_scores)
    report["scores_file"] = str(score_file)
    write_report(report, out_dir, *_class_scores(records, scores))
    return report


def evaluate(detector, records: Sequence, out_dir: str | Path, *, progress: bool = True,
             asv_scores: dict | None = None) -> dict:
    """Score every record's audio with ``detector`` and report.

    Parameters
    ----------
    detector : a :class:`spoofscan.detector.Detector` (its ``predict_many`` streams the
        files; its calibration and threshold give actDCF, Cllr and the accuracy)
    records : the protocol (:class:`spoofscan.datasets.Record` list)
    out_dir : receives ``scores.txt``, ``failures.txt`` (only if some file could not be
        scored), ``no_speech.txt`` (only if some clip has no speech), ``report.json``,
        ``report.md``, ``det.png``, ``hist.png``
    progress : show a progress bar on standard error
    asv_scores : the organisers' ASV scores, for the min t-DCF (see :func:`build_report`)

    Files that cannot be read are excluded from the metrics, listed in ``failures.txt``
    (``trial<TAB>path<TAB>reason``) and counted in ``counts.failures``; the report is
    written as long as both classes keep at least one scored trial.

    Clips in which the voice-activity detector finds no speech still get a score, from all
    their windows (the official scorers need a score for every trial, and dropping them
    would flatter the EER): they are counted in ``counts.no_speech``, named in the report's
    ``no_speech`` list and in ``no_speech.txt`` (``trial<TAB>path<TAB>speech fraction``).
    """
    from tqdm import tqdm

    from ..labels import NO_SPEECH

    records = list(records)
    check_trial_names(records)  # now, not after scoring every file
    outputs = output_files(out_dir)
    names = {p.name for p in outputs}  # audio named like a report file is rare: compare only those (a stat each)
    refuse_overwrite(outputs, [r.path for r in records if Path(r.path).name in names], "a report file")
    out_dir = prepare_out_dir(out_dir)
    scores: dict[str, float] = {}
    failures: list[tuple] = []
    silent: list[tuple] = []
    results = detector.predict_many([r.path for r in records], score_no_speech=True)
    bar = tqdm(total=len(records), unit="file", desc="evaluate", file=sys.stderr, disable=not progress)
    try:
        for record, result in zip(records, results, strict=True):
            if result.ok:
                scores[record.trial] = result.score
                if result.label == NO_SPEECH:
                    silent.append((record, result.speech))
            else:
                failures.append((record, result.error))
            bar.update(1)
    finally:
        bar.close()
    scored = [r for r in records if r.trial in scores]
    write_scores(out_dir / SCORES_FILE, [r.trial for r in scored], [scores[r.trial] for r in scored])
    for name, rows in ((FAILURES_FILE, failures), (NO_SPEECH_FILE, silent)):
        path = out_dir / name
        if rows:
            text = "".join(f"{r.trial}\t{r.path}\t{what}\n" for r, what in rows)
            atomic_write_text(path, text)
        elif path.is_file():  # from an earlier run into the same folder: it would mislead
            path.unlink()
    if failures:
        print(f"{len(failures)} of {len(records)} files could not be scored (listed in {out_dir / FAILURES_FILE})",
              file=sys.stderr)
    if not scored:
        raise SpoofscanError(f"none of the {len(records)} files could be scored (reasons in {out_dir / FAILURES_FILE})")
    report = build_report(scored, scores, detector.calibration, threshold=detector.threshold, asv_scores=asv_scores)
    report["counts"]["failures"] = len(failures)
    report["counts"]["no_speech"] = len(silent)
    report["no_speech"] = [r.trial for r, _ in silent]
    report["scores_file"] = str(out_dir / SCORES_FILE)
    if detector.card:
        report["model"] = {k: detector.card.get(k) for k in ("created", "model", "train") if k in detector.card}
    write_report(report, out_dir, *_class_scores(scored, scores))
    return report
