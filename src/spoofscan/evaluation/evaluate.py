"""Evaluation: score a protocol, then report the official metrics overall and per group.

Two ways in:

- :func:`evaluate` runs a detector over every record's audio, writes ``scores.txt``
  (``trial score`` lines, what the ASVspoof 2021 and 5 scorers read) and the report;
- :func:`evaluate_scores` reads an existing score file of any system and writes the same
  report, no model needed.

The report (:func:`build_report`) holds the EER and its threshold, minDCF, actDCF and Cllr
(ASVspoof 5 cost model), the ASVspoof 2019 min t-DCF when the organisers' ASV scores are
given, the accuracy of the calibrated decision when a calibration is known, the counts, and
the EER broken down by every grouping column of the records (attack, codec, vocoder,
speaker...), and for a protocol with partly fake clips (records with ``segments``) the
segment-level metrics of :mod:`.partial`. :func:`write_report` writes it as ``report.json``, ``report.md``, a DET curve
``det.png`` and score histograms ``hist.png`` (with :mod:`.report`); score files are read
and written by :mod:`.scores`.

Per-group EER follows the ASVspoof convention. For a column on which every bona fide trial
has the same value (``attack``: bona fide rows say ``-``), each value's EER pits **all**
bona fide trials against that value's spoof trials. For a column that splits bona fide too
(``codec``, ``speaker``, ``gender``), both classes are filtered to the value. A value with
no trial of one of the two classes gets no EER and is listed under ``skipped``. Columns
with more than :data:`MAX_GROUP_VALUES` values (speakers, typically) are summarised: the
:data:`WORST_SHOWN` values with the highest EER plus the mean, median, min and max EER.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from ..calibration import Calibration
from ..errors import SpoofscanError
from ..fileio import atomic_write_text, refuse_overwrite
from ..labels import BONAFIDE
from ..progress import progress_bar
from ..version import __version__
from .metrics import (C_FA, C_MISS, P_SPOOF, accuracy_at, asv_error_rates, compute_act_dcf, compute_cllr, compute_eer,
                      compute_min_dcf, compute_tdcf)
from .report import percent, plot_det, plot_histograms, prepare_out_dir, table, write_json
from .scores import check_trial_names, class_scores, join_scores, read_scores, write_scores

SCORES_FILE = "scores.txt"
FAILURES_FILE = "failures.txt"
NO_SPEECH_FILE = "no_speech.txt"
REPORT_JSON = "report.json"
REPORT_MD = "report.md"
DET_PNG = "det.png"
HIST_PNG = "hist.png"

MAX_GROUP_VALUES = 50  # a column with more values than this is summarised
WORST_SHOWN = 10  # values listed (highest EER first) for a summarised column


# ---------------------------------------------------------------------------- report


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
    asv_scores : the organisers' ASV scores (:func:`.scores.read_asv_scores`, ASVspoof 2019 LA); with
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

    EER and accuracies are fractions; thresholds are in raw score units but ``act_dcf_threshold``.
    """
    labels, values, extra = join_scores(records, scores, source)
    is_bona = np.array([lab == BONAFIDE for lab in labels])
    bona, spoof = values[is_bona], values[~is_bona]
    if bona.size == 0 or spoof.size == 0:
        raise SpoofscanError(f"the protocol needs trials of both classes (got {bona.size} bona fide, {spoof.size} spoof)")
    metrics, asv = _metrics(bona, spoof, calibration, asv_scores)
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


def _metrics(bona: np.ndarray, spoof: np.ndarray, calibration: Calibration | None,
             asv_scores: dict | None) -> tuple[dict, dict | None]:
    """The report's ``metrics`` and ``asv`` (see :func:`build_report`) from the raw scores per class."""
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
    return metrics, asv


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
    write_json(report, paths["json"])
    atomic_write_text(paths["markdown"], report_markdown(report))
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


def output_files(out_dir: str | Path, scored: bool = True) -> list[Path]:
    """Every file :func:`evaluate` (``scored``) or :func:`evaluate_scores` may write in ``out_dir``."""
    names = [REPORT_JSON, REPORT_MD, DET_PNG, HIST_PNG]
    if scored:
        names += [SCORES_FILE, FAILURES_FILE, NO_SPEECH_FILE]
    return [Path(out_dir) / name for name in names]


def check_report_folder(out_dir: str | Path, inputs: Sequence, scored: bool = True) -> Path:
    """Before any work: refuse a report folder where a report file (:func:`output_files`) would
    overwrite one of ``inputs`` (paths; None ignored), then create the folder (an error if it is a file)."""
    refuse_overwrite(output_files(out_dir, scored=scored), inputs, "a report file")
    return prepare_out_dir(out_dir)


def calibration_from_card(checkpoint: str | Path) -> tuple[Calibration, float]:
    """The calibration and decision threshold a checkpoint's card holds."""
    from ..checkpoint import read_card

    card = read_card(checkpoint)
    return Calibration.from_dict(card["calibration"]), card["threshold"]


def report_markdown(report: dict) -> str:
    """The report as Markdown: the headline metrics, the counts, the partly fake clips' metrics
    (when there are), then one table per grouping column."""
    from .partial import partial_markdown

    partial = partial_markdown(report["partial"]) if report.get("partial") else []
    return "\n".join(_headline_markdown(report) + partial + _groups_markdown(report))


def _headline_markdown(report: dict) -> list[str]:
    m, c, cm = report["metrics"], report["counts"], report["cost_model"]
    llr_note = ("calibrated LLRs (calibration llr = a * score + b, a = {a:.4g}, b = {b:.4g})".format(**report["calibration"])
                if report["llr"] == "calibrated" else "raw scores read as LLRs (no calibration given)")
    rows = [["EER", f"{m['eer_percent']:.4f} %"], ["EER threshold (score)", f"{m['eer_threshold']:.6g}"],
            ["minDCF", f"{m['min_dcf']:.4f}"], ["actDCF", f"{m['act_dcf']:.4f}"], ["Cllr", f"{m['cllr']:.4f} bits"]]
    if "min_tdcf" in m:
        rows.append([f"min t-DCF (ASVspoof 2019, organisers' ASV: EER {percent(report['asv']['asv_eer'])} %)",
                     f"{m['min_tdcf']:.4f}"])
    acc = report.get("accuracy")
    if acc:
        rows += [[f"accuracy (fake when p_fake >= {acc['threshold']:g})", f"{percent(acc['accuracy'])} %"],
                 ["balanced accuracy", f"{percent(acc['balanced_accuracy'])} %"],
                 ["bona fide called real", f"{percent(acc['bonafide_correct'])} %"],
                 ["spoof called fake", f"{percent(acc['spoof_correct'])} %"]]
    return ["# spoofscan evaluation report", "", *table(["metric", "value"], rows, "ll"), "",
            f"Trials: {c['trials']} ({c['bonafide']} bona fide, {c['spoof']} spoof)"
            + (f"; {c['extra_scores']} score(s) of trials outside the protocol ignored" if c["extra_scores"] else "")
            + (f"; {c['failures']} file(s) could not be scored and are excluded (see {FAILURES_FILE})"
               if c.get("failures") else "")
            + (f"; {c['no_speech']} clip(s) without speech, scored on all their windows and counted "
               f"(see {NO_SPEECH_FILE})" if c.get("no_speech") else "")
            + ".",
            "",
            f"EER: official ASVspoof algorithm (no interpolation); score higher = more bona fide. "
            f"minDCF/actDCF: ASVspoof 5 cost model P_spoof = {cm['p_spoof']}, C_miss = {cm['c_miss']:g}, "
            f"C_fa = {cm['c_fa']:g}; actDCF and Cllr on {llr_note}.", ""]


def _groups_markdown(report: dict) -> list[str]:
    lines = []
    for column, g in report["groups"].items():
        how = ("all bona fide vs the spoof of each value" if g["mode"] == "all_bonafide"
               else "bona fide and spoof of each value")
        lines += [f"## EER and minDCF by {column}", "", f"EER and minDCF of {how}."]
        if g["summarised"]:
            s = g["summary"]
            lines += [f"{s['values']} values: mean EER {percent(s['eer_mean'])} %, "
                      f"median {percent(s['eer_median'])} %, min {percent(s['eer_min'])} %, "
                      f"max {percent(s['eer_max'])} %; the {len(g['values'])} highest:"]
        rows = [[r["value"], r["bonafide"], r["spoof"], percent(r["eer"]), f"{r['min_dcf']:.4f}"] for r in g["values"]]
        lines += ["", *table([column, "bona fide", "spoof", "EER %", "minDCF"], rows, "lrrrr")]
        if g["skipped"]:
            lines += ["", "No EER (a class is missing): " + ", ".join(
                f"{s['value']} ({s['bonafide']} bona fide, {s['spoof']} spoof)" for s in g["skipped"])]
        lines.append("")
    return lines


# ---------------------------------------------------------------------------- entry points


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
    write_report(report, out_dir, *class_scores(records, scores))
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

    When some records have ``segments`` (fake passages: partly fake clips), the report's
    ``partial`` holds :func:`.partial.partial_report` (segment EERs, boundary precision and
    recall, the clip EER of the segment verdict).

    Clips in which the voice-activity detector finds no speech still get a score, from all
    their windows (the official scorers need a score for every trial, and dropping them
    would flatter the EER): they are counted in ``counts.no_speech``, named in the report's
    ``no_speech`` list and in ``no_speech.txt`` (``trial<TAB>path<TAB>speech fraction``).
    """
    records = list(records)
    check_trial_names(records)  # now, not after scoring every file
    outputs = output_files(out_dir)
    names = {p.name for p in outputs}  # audio named like a report file is rare: compare only those (a stat each)
    refuse_overwrite(outputs, [r.path for r in records if Path(r.path).name in names], "a report file")
    out_dir = prepare_out_dir(out_dir)
    keep = any(r.segments for r in records)  # timelines are kept only for the partly fake metrics
    scores, failures, silent, kept = _score_files(detector, records, progress, keep)
    scored = [r for r in records if r.trial in scores]
    write_scores(out_dir / SCORES_FILE, [r.trial for r in scored], [scores[r.trial] for r in scored])
    _write_trial_list(out_dir / FAILURES_FILE, failures)
    _write_trial_list(out_dir / NO_SPEECH_FILE, silent)
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
    if keep:
        from .partial import partial_report

        report["partial"] = partial_report(scored, kept, detector.segment_rule)
    if detector.card:
        report["model"] = {k: detector.card.get(k) for k in ("created", "model", "train") if k in detector.card}
    write_report(report, out_dir, *class_scores(scored, scores))
    return report


def _score_files(detector, records: Sequence, progress: bool, keep: bool = False) -> tuple[dict, list, list, dict]:
    """Score every record's file: ``({trial: score}, [(record, reason)] failed, [(record, speech fraction)]
    scored on all their windows for want of speech, {trial: Prediction} if ``keep`` else {})``."""
    from ..labels import NO_SPEECH

    scores: dict[str, float] = {}
    failures: list[tuple] = []
    silent: list[tuple] = []
    kept: dict = {}
    results = detector.predict_many([r.path for r in records], score_no_speech=True)
    bar = progress_bar(total=len(records), unit="file", desc="evaluate", enabled=progress)
    try:
        for record, result in zip(records, results, strict=True):
            if result.ok:
                scores[record.trial] = result.score
                if keep:
                    kept[record.trial] = result
                if result.label == NO_SPEECH:
                    silent.append((record, result.speech))
            else:
                failures.append((record, result.error))
            bar.update(1)
    finally:
        bar.close()
    return scores, failures, silent, kept


def _write_trial_list(path: Path, rows: list) -> None:
    """``trial<TAB>path<TAB>what`` lines of ``(record, what)`` rows; with none, no file (one left by an
    earlier run into the same folder is removed: it would mislead)."""
    if rows:
        atomic_write_text(path, "".join(f"{r.trial}\t{r.path}\t{what}\n" for r, what in rows))
    elif path.is_file():
        path.unlink()
