"""The robustness report: how a detector does when the audio went through a phone line, a
codec, noise or a room.

Every labelled clip of a data set is decoded once per condition, degraded by that condition
(:data:`spoofscan.evaluation.conditions.CONDITIONS`, a fixed list so that reports stay
comparable over time, seeded by (report seed, condition, trial) so that a report is exactly
repeatable) and scored through the detector's normal path
(:func:`spoofscan.evaluation.conditions.score_conditions`). For each condition the report gives
the EER and minDCF pooled and per generator (and per engine family when the records have a
``family`` column), the mean EER over the degraded conditions, and per-condition score files.

Clips that cannot be decoded are listed and left out of every condition alike. A degraded
clip the detector cannot score (a :class:`~spoofscan.detector.Failure`) or gives no score
(``score`` None; a clip without speech is still scored, as in evaluate) is counted and listed
for that condition and left out of that condition's metrics only, as
:func:`spoofscan.evaluation.evaluate.evaluate` leaves out files it cannot score.

Metrics are :mod:`spoofscan.evaluation.metrics`' official EER and minDCF (ASVspoof 5 cost model) via
:func:`spoofscan.evaluation.evaluate.build_report`; per-group EERs are
:func:`spoofscan.evaluation.evaluate.group_eers` (per generator: all bona fide trials against that
generator's spoof trials, the ASVspoof convention).

The report (what :func:`robustness` returns and ``robustness.json`` holds):

- ``spoofscan_version``, ``seed``, ``data`` (the spec), ``model`` (``path`` and the card's
  ``created``, ``model``, ``features``, ``train``), ``max_trials``
- ``condition_order``: the condition names, in order
- ``counts``: ``trials`` (after subsampling), ``readable``, ``bonafide``, ``spoof``
  (readable), ``unreadable``; ``unreadable``: ``[{"trial", "path", "error"}]``
- ``group_columns``: the columns broken down
- ``conditions``: ``{name: {"description", "effect", "setting", "value", "counts": {"trials",
  "scored", "bonafide", "spoof", "no_score", "failed"}, "no_score": [trial...], "failed":
  [{"trial", "error"}], "metrics", "accuracy", "groups"}}`` where ``effect``, ``setting`` and
  ``value`` are :meth:`spoofscan.evaluation.conditions.Condition.describe`'s, ``metrics``
  (``eer``, ``eer_percent``, ``eer_threshold``, ``min_dcf``, ``min_dcf_threshold``, ``act_dcf``,
  ``act_dcf_threshold``, ``cllr``) and ``accuracy`` are those of
  :func:`spoofscan.evaluation.evaluate.build_report`, and ``groups`` is
  :func:`spoofscan.evaluation.evaluate.group_eers` over ``group_columns``; ``metrics`` is None when a
  class has no scored trial
- ``summary``: ``eer`` and ``min_dcf`` ``{condition: value}``, ``clean_eer``,
  ``degraded_conditions``, ``mean_degraded_eer`` and ``mean_degraded_min_dcf`` (means over
  every condition but ``clean``), ``worst_condition``, and ``groups``: ``{column: {value:
  {"eer": {condition: eer}, "mean_degraded_eer"}}}``
- ``timing`` (the one part that differs between runs): ``setup_seconds``,
  ``decode_seconds``, ``audio_seconds`` (of the readable clips), ``jobs``, ``total_seconds``
  (before writing), and ``conditions``: ``{name: {"seconds", "cpu_seconds", "degrade_seconds"}}``:
  wall time, CPU time of the scoring process (the model's threads included), and CPU time
  spent decoding and degrading (in whichever process did it)

EERs are fractions.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..errors import SpoofscanError, choice_error
from ..fileio import atomic_write_text, refuse_overwrite
from ..labels import BONAFIDE, SPOOF
from ..seeding import stable_seed
from ..version import __version__
from .conditions import CLEAN, DEFAULT_SEED, Condition, score_conditions, select_conditions
from .evaluate import build_report
from .report import examples, number, percent, plot_robustness, prepare_out_dir, table, write_json
from .scores import check_trial_names, write_scores

ROBUSTNESS_JSON = "robustness.json"
ROBUSTNESS_MD = "robustness.md"
ROBUSTNESS_PNG = "robustness.png"
SCORES_DIR = "scores"  # scores/CONDITION.txt: 'trial score' lines, readable by `spoofscan evaluate --scores`

DEFAULT_JOBS = 1  # one process degrades audio while this one runs the model (see docs/BENCHMARKS.md)
GROUP_COLUMNS = ("generator", "attack", "family")  # broken down when the records have them
GENERATOR_COLUMNS = ("generator", "attack")  # the first one present stratifies --max-trials


# ---------------------------------------------------------------------------- entry point


def robustness(detector, records: Sequence, out_dir: str | Path, *, conditions: Iterable[str] | str | None = None,
               seed: int = DEFAULT_SEED, max_trials: int | None = None, by: Sequence[str] | None = None,
               jobs: int = DEFAULT_JOBS, progress: bool = True, data: str | None = None,
               model: str | None = None) -> dict:
    """Score ``records`` under each channel condition with ``detector`` and write the report.

    Parameters
    ----------
    detector : a :class:`spoofscan.detector.Detector` (any backend)
    records : labelled :class:`spoofscan.datasets.Record` s (``spoofscan.datasets.load_records(spec)``)
    out_dir : receives ``robustness.json``, ``robustness.md``, ``robustness.png`` and
        ``scores/CONDITION.txt`` (``trial score`` lines of the clips scored under it)
    conditions : names from :data:`spoofscan.evaluation.conditions.CONDITION_NAMES` (None: all);
        always run in that order
    seed : the report seed: the noise and rooms each clip gets (:func:`spoofscan.evaluation.conditions.degrade`)
    max_trials : score a :func:`stratified_subset` of this many records (None: all)
    by : grouping columns for per-group EERs (default: ``generator``/``attack`` and ``family`` when present)
    jobs : processes decoding and degrading audio beside the model (0: none, all in this process)
    progress : progress bars on standard error
    data, model : the data spec and model file, recorded in the report

    Returns
    -------
    The report, as written to ``robustness.json`` (see the module docstring). Unreadable files
    are left out of every condition; a clip the detector fails on or gives no score under a
    condition is left out of that condition only.
    """
    start = time.perf_counter()
    records = list(records)
    check_trial_names(records)
    selected = select_conditions(conditions)
    prepare_out_dir(out_dir)  # before the scoring: an --out that is a file is refused at once
    by = group_columns(records, by)
    records = _subset(records, max_trials, seed)
    unreadable, results, timing = score_conditions(detector, records, selected, seed=seed, jobs=jobs,
                                                   progress=progress)
    readable = _readable(records, unreadable)
    card = getattr(detector, "card", None) or {}
    report = build_robustness_report(
        readable, results, selected, unreadable=unreadable, by=by, calibration=getattr(detector, "calibration", None),
        threshold=getattr(detector, "threshold", 0.5), seed=seed, data=data, max_trials=max_trials,
        model={"path": model, **{k: card[k] for k in ("created", "model", "features", "train") if k in card}})
    report["timing"] = {**timing, "jobs": jobs, "total_seconds": time.perf_counter() - start,
                        "conditions": {name: {"seconds": r.seconds, "cpu_seconds": r.cpu_seconds,
                                              "degrade_seconds": r.degrade_seconds} for name, r in results.items()}}
    write_robustness(report, results, out_dir)
    return report


def _subset(records: list, max_trials: int | None, seed: int) -> list:
    """The records to score: a :func:`stratified_subset` of ``max_trials`` (None: all), with both classes."""
    if max_trials is not None:
        if max_trials < 1:
            raise SpoofscanError(f"max_trials must be >= 1, got {max_trials}")
        records = stratified_subset(records, max_trials, seed)
    labels = {r.label for r in records}
    if labels != {BONAFIDE, SPOOF}:
        raise SpoofscanError(f"the robustness report needs labelled trials of both classes, got {sorted(labels)}")
    return records


def _readable(records: list, unreadable: list) -> list:
    """The records that could be decoded (the others are named on standard error); an error if none."""
    if unreadable:
        print(f"{len(unreadable)} of {len(records)} files could not be decoded and are left out of every condition "
              f"(listed in {ROBUSTNESS_JSON}): {examples([r.trial for r, _ in unreadable])}", file=sys.stderr)
    bad = {r.trial for r, _ in unreadable}
    readable = [r for r in records if r.trial not in bad]
    if not readable:
        raise SpoofscanError(f"none of the {len(records)} files could be decoded: "
                             f"{examples([f'{r.trial} ({e})' for r, e in unreadable])}")
    return readable


# ---------------------------------------------------------------------------- subsampling


def generator_column(records: Sequence) -> str | None:
    """The records' generator column (``generator``, else ``attack``), or None."""
    return next((c for c in GENERATOR_COLUMNS if any(c in r.groups for r in records)), None)


def stratified_subset(records: Sequence, n: int, seed: int = DEFAULT_SEED) -> list:
    """At most ``n`` records, drawn within strata of (label, generator) in proportion to their sizes.

    Quotas are proportional, rounded by largest remainder, with at least one record per
    stratum; within a stratum the records with the smallest stable hash of (``seed``, trial)
    are kept, so the choice does not depend on the records' order. The input order is kept.
    Raises SpoofscanError when ``n`` is smaller than the number of strata.
    """
    records = list(records)
    if n >= len(records):
        return records
    column = generator_column(records)
    strata: dict[tuple, list] = {}
    for r in records:
        strata.setdefault((r.label, str(r.groups.get(column, "-")) if column else "-"), []).append(r)
    if n < len(strata):
        raise SpoofscanError(f"--max-trials {n} is fewer than the {len(strata)} strata of label and "
                             f"{column or 'label'}: every one needs a trial (use at least {len(strata)})")
    exact = {key: n * len(rs) / len(records) for key, rs in strata.items()}
    quota = {key: max(1, math.floor(v)) for key, v in exact.items()}
    by_remainder = sorted(strata, key=lambda key: (-(exact[key] - math.floor(exact[key])), key))
    for key in by_remainder:
        if sum(quota.values()) >= n:
            break
        if quota[key] < len(strata[key]):
            quota[key] += 1
    while sum(quota.values()) > n:  # the at-least-one rule overshot: take from the largest quotas
        key = max(quota, key=lambda k: (quota[k], k))
        quota[key] -= 1
    keep = set()
    for key, rs in strata.items():
        ranked = sorted(rs, key=lambda r: stable_seed("subsample", seed, r.trial))
        keep.update(r.trial for r in ranked[:quota[key]])
    return [r for r in records if r.trial in keep]


# ---------------------------------------------------------------------------- the report


def group_columns(records: Sequence, by: Sequence[str] | None = None) -> list[str]:
    """The grouping columns to break the EER down by: ``by`` checked against the records'
    columns (SpoofscanError naming them), or by default those of :data:`GROUP_COLUMNS` they have."""
    columns = list(dict.fromkeys(c for r in records for c in r.groups))
    if by is None:
        return [c for c in GROUP_COLUMNS if c in columns]
    for column in by:
        if column not in columns:
            raise choice_error("grouping column", column, columns or ["(the records have none)"])
    return list(dict.fromkeys(by))


def build_robustness_report(records: Sequence, results: dict, conditions: Sequence[Condition], *,
                            unreadable: Sequence = (), by: Sequence[str] | None = None, calibration=None,
                            threshold: float = 0.5, seed: int = DEFAULT_SEED, data: str | None = None,
                            model: dict | None = None, max_trials: int | None = None) -> dict:
    """The report (JSON-ready, see the module docstring; no ``timing``) from the scores of each condition.

    Parameters
    ----------
    records : the readable records that were scored
    results : ``{condition name: ConditionScores}`` (:func:`spoofscan.evaluation.conditions.score_conditions`)
    conditions : the conditions, in report order
    unreadable : ``[(record, reason)]`` left out of every condition
    by : grouping columns to break the EER down by (default: those of :data:`GROUP_COLUMNS`
        the records have)
    calibration, threshold : the detector's, for actDCF, Cllr and the accuracy (see
        :func:`spoofscan.evaluation.evaluate.build_report`)
    seed, data, model, max_trials : recorded in the report (``model``: a dict)
    """
    records = list(records)
    by = group_columns(records, by)
    grouped = [replace(r, groups={c: r.groups.get(c, "-") for c in by}) for r in records]
    entries = {c.name: _condition_entry(c, results[c.name], grouped, calibration, threshold) for c in conditions}
    n_bona = sum(r.label == BONAFIDE for r in records)
    return {
        "spoofscan_version": __version__,
        "seed": seed,
        "data": data,
        "model": model,
        "max_trials": max_trials,
        "condition_order": [c.name for c in conditions],
        "counts": {"trials": len(records) + len(unreadable), "readable": len(records), "bonafide": n_bona,
                   "spoof": len(records) - n_bona, "unreadable": len(unreadable)},
        "unreadable": [{"trial": r.trial, "path": r.path, "error": e} for r, e in unreadable],
        "group_columns": by,
        "conditions": entries,
        "summary": _summary(entries, by),
    }


def _condition_entry(condition: Condition, res, records: list, calibration, threshold: float) -> dict:
    """One condition's part of the report (``conditions[name]``) from its ConditionScores ``res``."""
    scored = [r for r in records if r.trial in res.scores]
    bona = sum(r.label == BONAFIDE for r in scored)
    spoof = sum(r.label == SPOOF for r in scored)
    entry = {
        **condition.describe(),
        "counts": {"trials": len(records), "scored": len(scored), "bonafide": bona, "spoof": spoof,
                   "no_score": len(res.no_score), "failed": len(res.failed)},
        "no_score": sorted(res.no_score),
        "failed": [{"trial": t, "error": e} for t, e in sorted(res.failed.items())],
        "metrics": None,
        "accuracy": None,
        "groups": {},
    }
    if bona and spoof:
        rep = build_report(scored, res.scores, calibration, threshold=threshold)
        entry["metrics"], entry["accuracy"], entry["groups"] = rep["metrics"], rep["accuracy"], rep["groups"]
    return entry


def _eer(entry: dict):
    return entry["metrics"]["eer"] if entry["metrics"] else None


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _summary(entries: dict, by: Sequence[str]) -> dict:
    degraded = [name for name in entries if name != CLEAN]
    eer = {name: _eer(e) for name, e in entries.items()}
    min_dcf = {name: (e["metrics"]["min_dcf"] if e["metrics"] else None) for name, e in entries.items()}
    with_eer = [name for name in entries if eer[name] is not None]
    groups = {}
    for column in by:
        values: dict[str, dict] = {}
        for name, e in entries.items():
            for row in e["groups"].get(column, {}).get("values", []):
                values.setdefault(row["value"], {})[name] = row["eer"]
        groups[column] = {value: {"eer": {name: by_condition.get(name) for name in entries},
                                  "mean_degraded_eer": _mean(by_condition.get(name) for name in degraded)}
                          for value, by_condition in sorted(values.items())}
    return {
        "eer": eer,
        "min_dcf": min_dcf,
        "clean_eer": eer.get(CLEAN),
        "degraded_conditions": degraded,
        "mean_degraded_eer": _mean(eer[name] for name in degraded),
        "mean_degraded_min_dcf": _mean(min_dcf[name] for name in degraded),
        "worst_condition": max(with_eer, key=lambda name: eer[name]) if with_eer else None,
        "groups": groups,
    }


# ---------------------------------------------------------------------------- writing


def check_robustness_folder(out_dir: str | Path, conditions: Iterable[str] | str | None, inputs: Sequence) -> Path:
    """Before any work: refuse a report folder where a report file would overwrite one of
    ``inputs`` (paths; None ignored), or that is a file; then create it."""
    names = [ROBUSTNESS_JSON, ROBUSTNESS_MD, ROBUSTNESS_PNG]
    names += [f"{SCORES_DIR}/{c.name}.txt" for c in select_conditions(conditions)]
    refuse_overwrite([Path(out_dir) / name for name in names], inputs, "a report file")
    return prepare_out_dir(out_dir)


def write_robustness(report: dict, results: dict | None, out_dir: str | Path) -> dict[str, Path]:
    """Write ``robustness.json``, ``robustness.md``, ``robustness.png`` and, with ``results``
    (``{condition: ConditionScores}``), ``scores/CONDITION.txt``. Returns the paths by kind."""
    out_dir = prepare_out_dir(out_dir)
    paths = {"json": out_dir / ROBUSTNESS_JSON, "markdown": out_dir / ROBUSTNESS_MD, "plot": out_dir / ROBUSTNESS_PNG}
    write_json(report, paths["json"])
    atomic_write_text(paths["markdown"], robustness_markdown(report))
    plot_robustness(report, paths["plot"])
    for name, res in (results or {}).items():
        trials = sorted(res.scores)
        write_scores(out_dir / SCORES_DIR / f"{name}.txt", trials, [res.scores[t] for t in trials])
    return paths


def robustness_markdown(report: dict) -> str:
    """The report as Markdown: one row per condition, then the EER per group value and condition."""
    return "\n".join(_conditions_markdown(report) + _groups_markdown(report))


def _conditions_markdown(report: dict) -> list[str]:
    summary, c, model = report["summary"], report["counts"], report.get("model") or {}
    lines = ["# spoofscan robustness report", ""]
    if model.get("path"):
        lines.append(f"Model: `{model['path']}`" + (f" (created {model['created']})" if model.get("created") else "") + ".")
    if report.get("data"):
        lines.append(f"Data: `{report['data']}`" + (f", a stratified subset of {report['max_trials']} trials"
                                                     if report.get("max_trials") else "") + ".")
    lines += [f"Trials: {c['readable']} ({c['bonafide']} bona fide, {c['spoof']} spoof)"
              + (f"; {c['unreadable']} file(s) could not be decoded and are left out of every condition: "
                 + examples([u["trial"] for u in report["unreadable"]]) if c["unreadable"] else "")
              + f". Seed {report['seed']}.", ""]
    rows = []
    for name, e in report["conditions"].items():
        m, n = e["metrics"] or {}, e["counts"]
        rows.append([name, e["description"], n["scored"], n["no_score"], n["failed"], percent(m.get("eer")),
                     number(m.get("min_dcf")), number(m.get("act_dcf"))])
    degraded = summary["degraded_conditions"]
    if degraded:
        rows.append([f"**mean of the {len(degraded)} degraded**", "", "", "", "",
                     f"**{percent(summary['mean_degraded_eer'])}**", number(summary["mean_degraded_min_dcf"]), ""])
    lines += table(["condition", "what", "scored", "no score", "failed", "EER %", "minDCF", "actDCF"], rows, "llrrrrrr")
    return lines + ["", "EER: official ASVspoof algorithm; minDCF/actDCF: ASVspoof 5 cost model (actDCF on the model's "
                    "calibration, fitted on clean dev audio, so it also shows calibration drift). \"no score\": the "
                    "detector gave no score (e.g. no speech found); \"failed\": it could not score the degraded clip; "
                    "both are left out of that condition's metrics.", ""]


def _groups_markdown(report: dict) -> list[str]:
    conditions, summary = report["conditions"], report["summary"]
    names, degraded = list(conditions), bool(summary["degraded_conditions"])
    lines = []
    for column, values in summary["groups"].items():
        mode = next((e["groups"][column]["mode"] for e in conditions.values() if column in e["groups"]), "all_bonafide")
        how = ("all bona fide trials against each value's spoof trials" if mode == "all_bonafide"
               else "the bona fide and spoof trials of each value")
        mean = ["mean degraded"] if degraded else []
        rows = [["*pooled*", *(percent(summary["eer"][name]) for name in names),
                 *([percent(summary["mean_degraded_eer"])] if degraded else [])]]
        rows += [[value, *(percent(by_condition["eer"][name]) for name in names),
                  *([percent(by_condition["mean_degraded_eer"])] if degraded else [])]
                 for value, by_condition in values.items()]
        lines += [f"## EER % by {column}", "", f"EER of {how}, under each condition.", "",
                  *table([column, *names, *mean], rows, "l" + "r" * (len(names) + degraded)), ""]
    return lines
