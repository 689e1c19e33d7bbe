"""`spoofscan evaluate` and `spoofscan robustness`."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import SpoofscanError
from .common import add_detector_args, load_detector_from_args


def add_evaluate(sub):
    p = sub.add_parser("evaluate", help="score a protocol and report EER, minDCF, actDCF, Cllr, per-group EER and plots",
                       description="Score a protocol with a model (--model), or report on an existing score file "
                                   "of any system (--scores: 'trial score' lines, or the 4-column 2019 format).")
    p.add_argument("--protocol", "-p", required=True,
                   help="data spec CORPUS:PATH[:SUBSET], e.g. asvspoof2019la:/data/LA:eval or csv:manifest.csv:eval")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--model", "-m", help="checkpoint (.safetensors) or exported model (.onnx) to score the audio with")
    what.add_argument("--scores", help="existing score file to report on (no model, no audio needed)")
    p.add_argument("--out", "-o", required=True, help="folder for scores.txt, report.json, report.md, det.png, hist.png")
    p.add_argument("--calibration", metavar="CKPT",
                   help="with --scores: take the calibration and threshold from this checkpoint's card "
                        "(actDCF, Cllr and accuracy on calibrated LLRs)")
    p.add_argument("--asv-scores", metavar="FILE",
                   help="the organisers' ASV scores (ASVspoof 2019 LA, e.g. ASVspoof2019.LA.asv.eval.gi.trl.scores.txt): "
                        "adds the min t-DCF")
    add_detector_args(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_evaluate)


def _cmd_evaluate(args) -> int:
    from ..datasets import load_records, parse_spec
    from ..evaluation.evaluate import calibration_from_card, check_report_folder, evaluate, evaluate_scores
    from ..evaluation.scores import read_asv_scores

    # before any work: no report file may be one of the inputs, and --out must be a folder
    inputs = [args.model, args.scores, args.asv_scores, args.calibration, parse_spec(args.protocol)[1]]
    check_report_folder(args.out, inputs, scored=args.model is not None)
    asv = read_asv_scores(args.asv_scores) if args.asv_scores else None
    if args.scores:
        calibration, threshold = calibration_from_card(args.calibration) if args.calibration else (None, 0.5)
        records = load_records(args.protocol, check_files=False)
        report = evaluate_scores(args.scores, records, args.out, calibration, threshold=threshold, asv_scores=asv)
    else:
        if args.calibration:
            raise SpoofscanError("--calibration goes with --scores; with --model the checkpoint's own calibration is used")
        records = load_records(args.protocol)
        detector = load_detector_from_args(args)
        report = evaluate(detector, records, args.out, progress=not args.quiet, asv_scores=asv)
    _print_evaluation(report, args.out)
    return 0


def _print_evaluation(report: dict, out: str) -> None:
    from ..evaluation.evaluate import REPORT_MD
    from ..evaluation.report import percent

    m, c, acc = report["metrics"], report["counts"], report["accuracy"]
    print(f"EER {m['eer_percent']:.4f} % (threshold {m['eer_threshold']:.6g})  minDCF {m['min_dcf']:.4f}  "
          f"actDCF {m['act_dcf']:.4f}  Cllr {m['cllr']:.4f} bits "
          f"({'on calibrated LLRs' if report['llr'] == 'calibrated' else 'raw scores read as LLRs'})")
    if "min_tdcf" in m:
        print(f"min t-DCF {m['min_tdcf']:.4f} (ASVspoof 2019 cost model; "
              f"ASV EER {percent(report['asv']['asv_eer'])} %)")
    if acc:
        print(f"accuracy {percent(acc['accuracy'])} % (balanced {percent(acc['balanced_accuracy'])} %) "
              f"at p_fake >= {acc['threshold']:g}")
    failed = f"; {c['failures']} file(s) failed, excluded" if c["failures"] else ""
    silent = (f"; {c['no_speech']} without speech, scored on all their windows (listed in no_speech.txt)"
              if c.get("no_speech") else "")
    print(f"{c['trials']} trials ({c['bonafide']} bona fide, {c['spoof']} spoof){failed}{silent}")
    partial = report.get("partial")
    if partial:
        e, b, k = partial["segment_eer"], partial["boundaries"], partial["clip_eer"]
        print(f"partly fake: segment EER {percent(e['frame'])} % (20-ms frames), {percent(e['window'])} % (window cells); "
              f"boundaries within {partial['tolerance_seconds']:g} s: precision {percent(b['precision'])} %, "
              f"recall {percent(b['recall'])} %; clip EER {percent(k['mean'])} % (mean), "
              f"{percent(k['verdict'])} % (segment verdict); {partial['counts']['spliced']} spliced clip(s)")
    print(f"report: {Path(out) / REPORT_MD} (+ report.json, det.png, hist.png); scores: {report['scores_file']}")


def add_robustness(sub):
    from ..datasets import spec_help
    from ..evaluation.conditions import CONDITIONS, DEFAULT_SEED
    from ..evaluation.robustness import DEFAULT_JOBS

    conditions = "\n".join(f"  {c.name:<12} {c.description}" for c in CONDITIONS)
    p = sub.add_parser("robustness", help="EER and minDCF under codecs, phone lines, noise and rooms (table, JSON, plot)",
                       description="Score labelled data under a fixed list of channel conditions, each clip degraded "
                                   "with a seed of (--seed, condition, trial), and report the EER and minDCF per "
                                   "condition, pooled and per generator and family.",
                       epilog=f"conditions (in report order):\n{conditions}\n\n{spec_help()}",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", "-m", required=True, help="checkpoint (.safetensors) or exported model (.onnx)")
    p.add_argument("--data", "-d", required=True,
                   help="labelled data spec CORPUS:PATH[:SUBSET], e.g. csv:runs/quickstart/corpus/manifest.csv:eval")
    p.add_argument("--out", "-o", required=True,
                   help="folder for robustness.md, robustness.json, robustness.png and scores/CONDITION.txt")
    p.add_argument("--conditions", help="comma-separated subset of the conditions (default: all; run in the list's order)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"the noise and rooms each clip gets (default {DEFAULT_SEED})")
    p.add_argument("--max-trials", type=int, help="score a seeded subset of this many trials, stratified by label and generator")
    p.add_argument("--by", action="append", metavar="COLUMN",
                   help="grouping column for per-group EERs (repeatable; default: generator or attack, and family)")
    p.add_argument("--jobs", type=int, default=DEFAULT_JOBS,
                   help=f"processes decoding and degrading audio beside the model (0: all in one process; "
                        f"default {DEFAULT_JOBS})")
    add_detector_args(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_robustness)


def _cmd_robustness(args) -> int:
    from ..datasets import load_records, parse_spec
    from ..evaluation.report import number, percent
    from ..evaluation.robustness import (ROBUSTNESS_JSON, ROBUSTNESS_MD, ROBUSTNESS_PNG, SCORES_DIR,
                                         check_robustness_folder, robustness)

    # before any work: the conditions exist, --out is a folder and no report file is an input
    check_robustness_folder(args.out, args.conditions, [args.model, parse_spec(args.data)[1]])
    records = load_records(args.data)
    detector = load_detector_from_args(args)
    report = robustness(detector, records, args.out, conditions=args.conditions, seed=args.seed,
                        max_trials=args.max_trials, by=args.by, jobs=args.jobs, progress=not args.quiet,
                        data=args.data, model=args.model)
    c, s, t = report["counts"], report["summary"], report["timing"]
    print(f"{'condition':<12} {'EER %':>7} {'minDCF':>7} {'scored':>7} {'seconds':>8}")
    for name, e in report["conditions"].items():
        m = e["metrics"] or {}
        eer, dcf = percent(m.get("eer")), number(m.get("min_dcf"))
        lost = e["counts"]["no_score"] + e["counts"]["failed"]
        print(f"{name:<12} {eer:>7} {dcf:>7} {e['counts']['scored']:>7} {t['conditions'][name]['seconds']:>8.1f}"
              + (f"  ({lost} not scored)" if lost else ""))
    if s["mean_degraded_eer"] is not None:
        print(f"mean EER of the {len(s['degraded_conditions'])} degraded conditions: "
              f"{percent(s['mean_degraded_eer'])} %"
              f" (worst: {s['worst_condition']})")
    unreadable = f"; {c['unreadable']} unreadable file(s) left out" if c["unreadable"] else ""
    print(f"{c['readable']} trials ({c['bonafide']} bona fide, {c['spoof']} spoof){unreadable}; "
          f"{t['total_seconds']:.0f} s in all")
    out = Path(args.out)
    print(f"report: {out / ROBUSTNESS_MD} (+ {ROBUSTNESS_JSON}, {ROBUSTNESS_PNG}); scores: {out / SCORES_DIR}/")
    return 0
