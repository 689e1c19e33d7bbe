"""The ``spoofscan`` command: a thin layer over the library.

Each subcommand parses its flags, calls one library function and prints. Errors the
project raises on purpose (:class:`~spoofscan.errors.SpoofscanError`) are printed as one
line and exit with status 2; no traceback reaches the user for bad input.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path

from . import __version__
from .errors import SpoofscanError, missing_extra


# ---------------------------------------------------------------------------- predict

def _add_predict(sub):
    p = sub.add_parser("predict", help="score audio files: real or fake, with a timeline for long clips")
    p.add_argument("inputs", nargs="+", help="files, folders (searched recursively) or glob patterns")
    p.add_argument("--model", "-m", required=True, help="checkpoint (.safetensors) or exported model (.onnx)")
    p.add_argument("--format", choices=("table", "csv", "jsonl"), default="table")
    p.add_argument("--timeline", action="store_true", help="print the per-window timeline (table and csv: one row per window)")
    _add_detector_args(p)
    p.add_argument("--max-seconds", type=float, default=None, help="refuse files longer than this")
    p.add_argument("--output", "-o", default="-", help="write results here instead of standard output")
    p.set_defaults(func=_cmd_predict)


def _add_detector_args(p) -> None:
    """The flags that choose how a model runs (predict, evaluate, robustness, serve)."""
    from . import BACKENDS

    p.add_argument("--backend", choices=BACKENDS, default="auto",
                   help="torch (PyTorch checkpoint), onnx (exported model, ONNX Runtime, no torch needed) "
                        "or auto: by the model file's suffix (default)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (mps: torch backend only)")
    p.add_argument("--batch-size", type=int, default=32, help="windows per forward pass")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads (ONNX Runtime and its log-mel, or torch.set_num_threads); default: all cores")


def _load_detector(args, **kwargs):
    """The detector that :func:`_add_detector_args`' flags ask for (threads go to either backend)."""
    from . import load_detector

    return load_detector(args.model, device=args.device, backend=args.backend, batch_size=args.batch_size,
                         threads=args.threads, **kwargs)


def _cmd_predict(args) -> int:
    from .audio import expand_inputs
    from .fileio import refuse_overwrite

    files = expand_inputs(args.inputs)
    if not files:
        raise SpoofscanError(f"no audio files found in {args.inputs}")
    to_file = args.output != "-"
    if to_file:  # before any work: the output must not be one of the inputs, nor the model
        refuse_overwrite([args.output], [args.model, *files], "--output")
    det = _load_detector(args, max_seconds=args.max_seconds)
    if not to_file:
        failed = _write_predictions(det, files, args, sys.stdout)
    else:
        from .fileio import atomic_open

        with atomic_open(args.output, "w", newline="") as out:  # the file appears, whole, at the end
            failed = _write_predictions(det, files, args, out)
    if failed:
        print(f"{failed} of {len(files)} file(s) could not be scored", file=sys.stderr)
    return 1 if failed else 0


CSV_COLUMNS = ["file", "label", "p_fake", "score", "duration", "speech", "padded", "start", "end", "error"]


def _write_predictions(det, files: list, args, out) -> int:
    """Score ``files`` and write one row each (``--format``); returns how many failed.

    A clip without speech is written with the label ``no speech``: empty p_fake and score
    cells in CSV, ``-`` in the table, ``null`` in JSON; a window without speech likewise.
    """
    failed = 0
    writer = None
    if args.format == "table":
        out.write(f"{'label':<9} {'p_fake':>6} {'score':>8} {'seconds':>8} {'speech':>6}  file\n")
    for r in det.predict_many(files):
        failed += not r.ok
        if args.format == "jsonl":
            out.write(json.dumps(r.to_dict(timeline=args.timeline), allow_nan=False) + "\n")
        elif args.format == "csv":
            if writer is None:
                writer = csv.writer(out)
                writer.writerow(CSV_COLUMNS)
            if not r.ok:
                writer.writerow([r.source, "error", "", "", "", "", "", "", "", r.error])
                continue
            writer.writerow([r.source, r.label, _num(r.p_fake, ".4f", ""), _num(r.score, ".4f", ""), r.duration,
                             f"{r.speech:.3f}", str(r.padded).lower(), "", "", ""])
            for w in (r.timeline if args.timeline else ()):
                writer.writerow([r.source, "window", _num(w.p_fake, ".4f", ""), _num(w.score, ".4f", ""), "",
                                 f"{w.speech:.3f}", "", w.start, w.end, ""])
        else:
            if not r.ok:
                out.write(f"{'ERROR':<9} {'':>6} {'':>8} {'':>8} {'':>6}  {r.source}: {r.error}\n")
                continue
            note = " (padded: far shorter than one window)" if r.padded else ""
            out.write(f"{r.label:<9} {_num(r.p_fake, '6.3f', '-'):>6} {_num(r.score, '8.3f', '-'):>8} "
                      f"{r.duration:8.2f} {r.speech:6.2f}  {r.source}{note}\n")
            for w in (r.timeline if args.timeline else ()):
                out.write(f"{'':<9} {_num(w.p_fake, '6.3f', '-'):>6} {_num(w.score, '8.3f', '-'):>8} {'':>8} "
                          f"{w.speech:6.2f}    {w.start:7.2f}-{w.end:.2f} s\n")
        out.flush()
    return failed


def _num(value, spec: str, missing: str) -> str:
    """A number formatted with ``spec``, or ``missing`` for None (no speech, no verdict)."""
    return missing if value is None else format(value, spec)


# ---------------------------------------------------------------------------- info

def _add_info(sub):
    p = sub.add_parser("info", help="print a checkpoint's card (configs, calibration, training data, metrics)")
    p.add_argument("checkpoint", help="a .safetensors checkpoint or an exported .onnx model")
    p.add_argument("--json", action="store_true", help="the whole card as JSON")
    p.set_defaults(func=_cmd_info)


def _cmd_info(args) -> int:
    """Print a card, validated (:mod:`spoofscan.card`): a malformed one is a one-line error."""
    if Path(args.checkpoint).suffix.lower() == ".onnx":
        from .runtime import read_metadata

        meta = read_metadata(args.checkpoint)
        if args.json:
            print(json.dumps(meta, indent=2))
            return 0
        card = meta.get("card") or meta
        print(f"{args.checkpoint}: ONNX model, {meta['precision']}, exported from this checkpoint:")
    else:
        from .checkpoint import read_card

        card = read_card(args.checkpoint)
        if args.json:
            print(json.dumps(card, indent=2))
            return 0
    print(f"{args.checkpoint}: {card['format']} v{card['format_version']}, spoofscan {card['spoofscan_version']}, "
          f"created {card.get('created', '?')}")
    if isinstance(card.get("model"), dict):  # every field, whatever the architecture
        print("model      " + " ".join(f"{k}={tuple(v) if isinstance(v, list) else v}" for k, v in card["model"].items()))
    f = card["features"]
    frontend = f.get("frontend", "logmel")
    rows = f"{f['n_mels']} bands" + (f" -> {f.get('n_lfcc')} coefficients + deltas" if frontend == "lfcc" else "")
    print(f"features   {frontend} {rows} {f['fmin']:g}-{f['fmax']:g} Hz, n_fft={f['n_fft']} win={f['win_length']} "
          f"hop={f['hop_length']}, normalize={f['normalize']}, windows {f['window_seconds']:g} s every {f['hop_seconds']:g} s")
    c = card["calibration"]
    print(f"calibration llr = {c['a']:.4f} * score + {c['b']:.4f}; label fake when p_fake >= {card['threshold']}")
    for key in ("train", "metrics"):
        section = card.get(key)
        for k, v in (section.items() if isinstance(section, dict) else ()):
            print(f"{key:<10} {k}: {json.dumps(v) if isinstance(v, (dict, list)) else v}")
    return 0


# ---------------------------------------------------------------------------- train

def _add_train(sub):
    from .corpora import spec_help

    p = sub.add_parser("train", help="train a detector (runs unchanged under torchrun for several GPUs or nodes)",
                       epilog=spec_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="YAML or TOML file with TrainConfig fields; flags override it")
    p.add_argument("--train", help="training data spec CORPUS:PATH[:SUBSET], e.g. asvspoof2019la:/data/LA:train")
    p.add_argument("--dev", help="dev data spec (picks the best epoch and fits the calibration), e.g. asvspoof2019la:/data/LA:dev")
    p.add_argument("--out", help="run folder (default runs/default)")
    p.add_argument("--model", help="a preset: resnet18 (default), resnet10, small, tiny, resnet18-hybrid, small-hybrid, "
                                    "tiny-hybrid")
    p.add_argument("--frontend", help="logmel (default), linear (linear-frequency log spectrogram) or lfcc")
    p.add_argument("--init", help="random (default), imagenet, or a path to torchvision resnet18 weights (.pth)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--balance", help="loss (weighted BCE, default), sampler (balanced batches) or none")
    p.add_argument("--patience", type=int, help="epochs without a better dev EER before stopping")
    p.add_argument("--workers", type=int, dest="num_workers", help="DataLoader worker processes")
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="auto (default), cpu, cuda, mps")
    p.add_argument("--augment", help="augmentation preset: off (default), standard (the measured chain), rawboost, channel or full (replaces "
                                     "the config file's augment: mapping, where each effect can be set)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out exactly where it stopped")
    p.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")
    p.set_defaults(func=_cmd_train)


def _cmd_train(args) -> int:
    from .train import fit, load_train_config

    keys = ("train", "dev", "out", "model", "init", "epochs", "batch_size", "lr", "balance", "patience",
            "num_workers", "seed", "device", "augment")
    overrides = {k: getattr(args, k) for k in keys}
    if args.frontend:
        overrides["features"] = {"frontend": args.frontend}
    if args.quiet:
        overrides["progress"] = False
    if args.resume and args.config is None and (Path(args.out or "runs/default") / "config.json").is_file():
        args.config = str(Path(args.out or "runs/default") / "config.json")
    cfg = load_train_config(args.config, **overrides)
    if not cfg.train or not cfg.dev:
        raise SpoofscanError("train needs --train and --dev data specs (or a --config file that sets them)")
    result = fit(cfg, resume=args.resume)
    if result.best_epoch > 0 and int(os.environ.get("RANK", "0")) == 0:
        eer = result.metrics.get("dev_eer", float("nan"))
        print(f"best epoch {result.best_epoch}: dev EER {100 * eer:.2f} %  ->  {result.checkpoint}")
    return 0


# ---------------------------------------------------------------------------- evaluate

def _add_evaluate(sub):
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
    _add_detector_args(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_evaluate)


def _cmd_evaluate(args) -> int:
    from .corpora import parse_spec, load_records
    from .evaluate import evaluate, evaluate_scores, output_files, prepare_out_dir, read_asv_scores
    from .fileio import refuse_overwrite

    # before any work: no report file may be one of the inputs, and --out must be a folder
    inputs = [args.model, args.scores, args.asv_scores, args.calibration, parse_spec(args.protocol)[1]]
    refuse_overwrite(output_files(args.out, scored=args.model is not None), inputs, "a report file")
    prepare_out_dir(args.out)
    asv = read_asv_scores(args.asv_scores) if args.asv_scores else None
    if args.scores:
        calibration, threshold = None, 0.5
        if args.calibration:
            from .calibration import Calibration
            from .checkpoint import read_card

            card = read_card(args.calibration)
            calibration, threshold = Calibration.from_dict(card["calibration"]), card["threshold"]
        records = load_records(args.protocol, check_files=False)
        report = evaluate_scores(args.scores, records, args.out, calibration, threshold=threshold, asv_scores=asv)
    else:
        if args.calibration:
            raise SpoofscanError("--calibration goes with --scores; with --model the checkpoint's own calibration is used")
        records = load_records(args.protocol)
        detector = _load_detector(args)
        report = evaluate(detector, records, args.out, progress=not args.quiet, asv_scores=asv)
    m, c, acc = report["metrics"], report["counts"], report["accuracy"]
    print(f"EER {m['eer_percent']:.4f} % (threshold {m['eer_threshold']:.6g})  minDCF {m['min_dcf']:.4f}  "
          f"actDCF {m['act_dcf']:.4f}  Cllr {m['cllr']:.4f} bits "
          f"({'on calibrated LLRs' if report['llr'] == 'calibrated' else 'raw scores read as LLRs'})")
    if "min_tdcf" in m:
        print(f"min t-DCF {m['min_tdcf']:.4f} (ASVspoof 2019 cost model; ASV EER {100 * report['asv']['asv_eer']:.2f} %)")
    if acc:
        print(f"accuracy {100 * acc['accuracy']:.2f} % (balanced {100 * acc['balanced_accuracy']:.2f} %) "
              f"at p_fake >= {acc['threshold']:g}")
    failed = f"; {c['failures']} file(s) failed, excluded" if c["failures"] else ""
    silent = (f"; {c['no_speech']} without speech, scored on all their windows (listed in no_speech.txt)"
              if c.get("no_speech") else "")
    print(f"{c['trials']} trials ({c['bonafide']} bona fide, {c['spoof']} spoof){failed}{silent}")
    print(f"report: {Path(args.out) / 'report.md'} (+ report.json, det.png, hist.png); scores: {report['scores_file']}")
    return 0


# ---------------------------------------------------------------------------- robustness

def _add_robustness(sub):
    from .corpora import spec_help
    from .robustness import CONDITIONS, DEFAULT_JOBS, DEFAULT_SEED

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
    _add_detector_args(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_robustness)


def _cmd_robustness(args) -> int:
    from .corpora import load_records
    from .robustness import ROBUSTNESS_JSON, ROBUSTNESS_MD, ROBUSTNESS_PNG, SCORES_DIR, robustness

    records = load_records(args.data)
    detector = _load_detector(args)
    report = robustness(detector, records, args.out, conditions=args.conditions, seed=args.seed,
                        max_trials=args.max_trials, by=args.by, jobs=args.jobs, progress=not args.quiet,
                        data=args.data, model=args.model)
    c, s, t = report["counts"], report["summary"], report["timing"]
    print(f"{'condition':<12} {'EER %':>7} {'minDCF':>7} {'scored':>7} {'seconds':>8}")
    for name, e in report["conditions"].items():
        m = e["metrics"]
        eer, dcf = (f"{100 * m['eer']:.2f}", f"{m['min_dcf']:.4f}") if m else ("-", "-")
        lost = e["counts"]["no_score"] + e["counts"]["failed"]
        print(f"{name:<12} {eer:>7} {dcf:>7} {e['counts']['scored']:>7} {t['conditions'][name]['seconds']:>8.1f}"
              + (f"  ({lost} not scored)" if lost else ""))
    if s["mean_degraded_eer"] is not None:
        print(f"mean EER of the {len(s['degraded_conditions'])} degraded conditions: {100 * s['mean_degraded_eer']:.2f} %"
              f" (worst: {s['worst_condition']})")
    unreadable = f"; {c['unreadable']} unreadable file(s) left out" if c["unreadable"] else ""
    print(f"{c['readable']} trials ({c['bonafide']} bona fide, {c['spoof']} spoof){unreadable}; "
          f"{t['total_seconds']:.0f} s in all")
    out = Path(args.out)
    print(f"report: {out / ROBUSTNESS_MD} (+ {ROBUSTNESS_JSON}, {ROBUSTNESS_PNG}); scores: {out / SCORES_DIR}/")
    return 0


# ---------------------------------------------------------------------------- export

def _add_export(sub):
    p = sub.add_parser("export", help="export a checkpoint to ONNX (FP32 or static INT8) for the torch-free runtime")
    p.add_argument("checkpoint", help="the .safetensors checkpoint")
    p.add_argument("out", help="the .onnx file to write")
    p.add_argument("--format", choices=("onnx",), default="onnx")
    p.add_argument("--int8", action="store_true", help="static INT8 quantisation (QDQ, per-channel weights); needs --calibration")
    p.add_argument("--calibration", metavar="DATA_SPEC",
                   help="audio to calibrate INT8 activation ranges on, e.g. csv:manifest.csv:dev (both classes; the dev split)")
    p.add_argument("--calibration-windows", type=int, default=256, help="windows to calibrate on")
    p.add_argument("--tolerance", type=float, default=1e-4, help="largest accepted |logit difference| ONNX FP32 vs PyTorch")
    p.set_defaults(func=_cmd_export)


def _cmd_export(args) -> int:
    import math

    from .export import export_onnx
    from .fileio import refuse_overwrite

    if args.calibration and not args.int8:
        raise SpoofscanError("--calibration goes with --int8 (an FP32 export needs no calibration audio)")
    if not (math.isfinite(args.tolerance) and args.tolerance >= 0):
        raise SpoofscanError(f"--tolerance must be a finite number >= 0, got {args.tolerance}")
    if args.calibration_windows < 1:
        raise SpoofscanError(f"--calibration-windows must be >= 1, got {args.calibration_windows}")
    calibration_file = None
    if args.calibration:
        from .corpora import parse_spec

        calibration_file = parse_spec(args.calibration)[1]
    refuse_overwrite([args.out], [args.checkpoint, calibration_file], "the exported model")
    result = export_onnx(args.checkpoint, args.out, int8=args.int8, calibration=args.calibration,
                         calibration_windows=args.calibration_windows, tolerance=args.tolerance)
    print(result.summary())
    return 0


# ---------------------------------------------------------------------------- corpus

def _add_corpus(sub):
    p = sub.add_parser("corpus", help="build an offline real-vs-fake corpus (open recordings + local TTS) or audit one")
    csub = p.add_subparsers(dest="corpus_command", required=True)
    b = csub.add_parser("build", help="build (or complete) a corpus: real speech from Debian packages and/or "
                                      "your folder, content-matched fakes, shortcuts neutralised, train/dev/eval")
    b.add_argument("out", help="corpus folder (manifest.csv, audio/, ATTRIBUTION.md...)")
    b.add_argument("--size", help="tiny (a few dozen clips, CI), small (a few thousand, default) or full")
    b.add_argument("--real-dir", action="append", dest="real_dirs",
                   help="folder of real recordings (speaker = first sub-folder; a .txt beside a file is its "
                        "transcript); repeatable")
    b.add_argument("--real-language", help="language code of the --real-dir recordings (e.g. en)")
    b.add_argument("--sources", help="comma-separated package sources: tuxpaint, ktuberling, asterisk, or 'none' "
                                     "(default: the size's)")
    b.add_argument("--heldout-family", action="append", dest="heldout_families", metavar="FAMILY",
                   help="also write manifest-heldout-FAMILY.csv: the corpus with that fake family (e.g. world) left "
                        "out of train and dev, for leave-family-out evaluation; repeatable")
    b.add_argument("--jobs", type=int, help="worker processes (default: one per CPU)")
    b.add_argument("--config", help="YAML file with CorpusConfig fields (generators, command generators...); flags override it")
    b.add_argument("--cache", dest="cache_dir", help="download cache (default ~/.cache/spoofscan)")
    b.add_argument("--seed", type=int)
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.set_defaults(func=_cmd_corpus_build)
    c = csub.add_parser("check", help="shortcut audit: EER of one-number classifiers (duration, level, bandwidth, "
                                      "silence); fails when any is below the threshold")
    c.add_argument("out", help="corpus folder or manifest.csv")
    c.add_argument("--threshold", type=float, default=0.30, help="fail when a single-number EER is below this (fraction)")
    c.add_argument("--splits", default="train,dev,eval", help="splits to audit (comma-separated)")
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    c.set_defaults(func=_cmd_corpus_check)
    g = csub.add_parser("generators", help="list the fake-speech generators: name, family, what each needs, "
                                           "whether it runs here (else what to install), licence")
    g.add_argument("--size", default="small", help="show which split each generator serves in this size's "
                                                   "default corpus (tiny, small, full; default small)")
    g.add_argument("--json", action="store_true", help="print JSON instead of a table")
    g.set_defaults(func=_cmd_corpus_generators)


def _cmd_corpus_build(args) -> int:
    from .corpus import build_corpus_summary, load_corpus_config

    sources = None
    if args.sources is not None:
        sources = () if args.sources.strip().lower() == "none" else tuple(s.strip() for s in args.sources.split(",") if s.strip())
    overrides = {"out": args.out, "size": args.size, "real_dirs": tuple(args.real_dirs) if args.real_dirs else None,
                 "real_language": args.real_language, "sources": sources, "jobs": args.jobs,
                 "cache_dir": args.cache_dir, "seed": args.seed,
                 "heldout_families": tuple(args.heldout_families) if args.heldout_families else None}
    if args.quiet:
        overrides["progress"] = False
    summary = build_corpus_summary(load_corpus_config(args.config, **overrides))
    for split, c in summary.counts.items():
        gens = ", ".join(f"{g} {n}" for g, n in sorted(c["generators"].items()))
        print(f"{split:<5} {c['bonafide']:>5} real + {c['spoof']:>5} fake, {c['seconds'] / 60:.1f} min, "
              f"{len(c['speakers'])} speakers; fakes: {gens}")
    for family, v in summary.vocoders.items():
        if v.get("trained"):
            print(f"vocoder {family}: {v['steps']} steps on {v['clips']} held-back train clips, loss "
                  f"{v['loss_first']:.3f} -> {v['loss_last']:.3f}; copy-synthesis log-mel L1 on dev clips "
                  f"{v.get('mel_l1', float('nan')):.3f} (untrained {v.get('mel_l1_untrained', float('nan')):.3f})")
    print(f"{summary.built} pairs built, {summary.reused} already there, {summary.failed} could not be made; "
          f"{summary.seconds:.0f} s ({', '.join(f'{k} {v:.0f} s' for k, v in summary.timings.items())})")
    print(f"manifest: {summary.manifest}  (data specs csv:{summary.manifest}:train | :dev | :eval)")
    return 0


def _cmd_corpus_check(args) -> int:
    from .corpus.shortcuts import audit_corpus

    splits = [s.strip() for s in args.splits.split(",") if s.strip()]
    report = audit_corpus(args.out, splits=splits, threshold=args.threshold, progress=not args.quiet)
    print(report.table())
    if not report.passed:
        bad = ", ".join(f"{r['measure']} on {r['split']} ({100 * r['eer']:.1f} %)" for r in report.failures)
        print(f"shortcut audit FAILED: one number alone separates real from fake: {bad} "
              f"(threshold {100 * args.threshold:.0f} %)", file=sys.stderr)
        return 1
    if report.unjudged:
        print(f"too few clips to judge {', '.join(report.unjudged)} (fewer than {report.min_clips} per class)")
    print(f"shortcut audit passed: every single-number EER >= {100 * args.threshold:.0f} %"
          f"{' where judged' if report.unjudged else ''}")
    return 0


def _cmd_corpus_generators(args) -> int:
    from .corpus import SIZES
    from .corpus.generators import describe_generators
    from .errors import choice_error

    if args.size not in SIZES:
        raise choice_error("corpus size", args.size, SIZES)
    preset = SIZES[args.size]
    rows = describe_generators()
    for r in rows:
        r["split"] = ("train" if r["name"] in preset.train_generators else
                      "eval" if r["name"] in preset.eval_generators else "-")
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    columns = ("name", "family", "split", "needs", "status", "licence")
    table = [{**r, "status": "available" if r["available"] else r["install"]} for r in rows]
    widths = {c: max(len(c), *(len(str(r[c])) for r in table)) for c in columns[:-1]}
    print("  ".join(c.ljust(widths[c]) for c in columns[:-1]) + "  licence")
    for r in table:
        print("  ".join(str(r[c]).ljust(widths[c]) for c in columns[:-1]) + "  " + r["licence"])
    families = sorted({r["family"] for r in rows})
    print(f"{len(rows)} configurations in {len(families)} families; 'split': the role in the {args.size} corpus "
          "(train = train and dev, eval = eval only, - = not used by default)")
    return 0


# ---------------------------------------------------------------------------- vocoder

def _add_vocoder(sub):
    from .corpora import spec_help

    p = sub.add_parser("vocoder", help="train the small neural vocoders behind the corpus's neural fake families")
    vsub = p.add_subparsers(dest="vocoder_command", required=True)
    t = vsub.add_parser("train", help="train a vocoder (mel to waveform) on real speech: safetensors + JSON card, "
                                      "resumable, reproducible", epilog=spec_help(),
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("out", help="folder for vocoder.safetensors, last.safetensors (resume) and metrics.csv")
    t.add_argument("--data", action="append", required=True,
                   help="real speech: a folder of audio files or a data spec (its bona fide clips); repeatable")
    t.add_argument("--check", action="append", default=[],
                   help="clips held out of training for the listen-free check (folder or data spec); repeatable")
    t.add_argument("--family", default="vocos", help="vocos (Vocos-like, iSTFT head) or hifigan (HiFi-GAN-like)")
    t.add_argument("--size", default="small", help="small (fits a CPU) or full (wider, deeper)")
    t.add_argument("--steps", type=int, help="training steps (default: the size's corpus budget)")
    t.add_argument("--batch-size", type=int, help="crops per step (default: the size's corpus budget)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1; the weights depend on the "
                                                           "count, not on the machine's cores)")
    t.add_argument("--device", default="auto", help="auto (CUDA when there is one), cpu or cuda")
    t.add_argument("--resume", action="store_true", help="continue from OUT/last.safetensors")
    t.add_argument("--quiet", action="store_true", help="no per-step lines")
    t.set_defaults(func=_cmd_vocoder_train)


def _vocoder_clips(items: list) -> list:
    from .audio import load_audio
    from .corpora import load_records
    from .audio import audio_files
    from .labels import BONAFIDE

    paths = []
    for item in items:
        if Path(item).is_dir():
            paths += [str(p) for p in audio_files(Path(item))]
        else:
            paths += [r.path for r in load_records(item) if r.label == BONAFIDE]
    if not paths:
        raise SpoofscanError(f"no audio found in {', '.join(items)}")
    return [load_audio(p, min_seconds=0.0) for p in paths]


def _cmd_vocoder_train(args) -> int:
    from .corpus.vocoders import VOCODER_BUDGETS
    from .errors import choice_error
    from .vocoder import VOCODER_PRESETS, VocoderTrainConfig, train_vocoder

    if args.family not in VOCODER_PRESETS:
        raise choice_error("vocoder family", args.family, VOCODER_PRESETS)
    if args.size not in VOCODER_BUDGETS:
        raise choice_error("vocoder size", args.size, VOCODER_BUDGETS)
    budget = VOCODER_BUDGETS[args.size]
    train = VocoderTrainConfig(steps=args.steps or budget.steps, batch_size=args.batch_size or budget.batch_size,
                               segment_seconds=budget.segment_seconds, seed=args.seed, threads=args.threads,
                               device=args.device)
    waves = _vocoder_clips(args.data)
    check = _vocoder_clips(args.check) if args.check else []
    result = train_vocoder(waves, VOCODER_PRESETS[args.family][args.size], train, args.out, check_waves=check,
                           resume=args.resume, log=None if args.quiet else print)
    first, last = result.history[0], result.history[-1]
    print(f"loss {first['loss']:.4f} (steps 1-{first['step']}) -> {last['loss']:.4f} (to step {last['step']}); "
          f"{result.seconds:.0f} s")
    if result.metrics:
        print(f"listen-free check on {result.metrics['check_clips']} held-out clips: log-mel L1 of the copy-synthesis "
              f"{result.metrics['mel_l1']:.3f} (untrained vocoder {result.metrics['mel_l1_untrained']:.3f})")
    print(f"vocoder: {result.path}")
    return 0


# ---------------------------------------------------------------------------- quickstart

def _add_quickstart(sub):
    p = sub.add_parser("quickstart", help="build an offline corpus, train, evaluate and predict: a detector in one command")
    p.add_argument("--size", default="small", help="tiny (CI, under a minute), small (default, about 3,100 clips and "
                                                   "the small model: minutes on 2 CPU cores, see docs/QUICKSTART.md) or full (ResNet-18)")
    p.add_argument("--out", default="runs/quickstart", help="folder for the corpus, run, report (default runs/quickstart)")
    p.add_argument("--jobs", type=int, default=0, help="corpus-building processes (default: one per CPU)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N, mps")
    p.add_argument("--model", help="override the size's model preset (tiny, small, resnet10, resnet18, resnet18-hybrid...)")
    p.add_argument("--epochs", type=int, help="override the size's epochs")
    p.add_argument("--augment", help="override the size's augmentation preset (off, rawboost, channel, full...)")
    p.add_argument("--cache", dest="cache_dir", default="", help="download cache (default ~/.cache/spoofscan)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_quickstart)


def _cmd_quickstart(args) -> int:
    from .quickstart import run_quickstart

    run_quickstart(args.size, args.out, jobs=args.jobs, device=args.device, model=args.model, epochs=args.epochs,
                   augment=args.augment, cache_dir=args.cache_dir, progress=not args.quiet)
    return 0


# ---------------------------------------------------------------------------- serve

SERVE_MODULES = ("fastapi", "fastapi_offline", "uvicorn", "multipart", "python_multipart", "prometheus_client")


def _add_serve(sub):
    from .serve.settings import API_KEY_ENV, ServeSettings

    d = ServeSettings()
    p = sub.add_parser("serve", help="a web service and page: POST /v1/detect, the page at /, /metrics, /docs",
                       description=f"Serve a model over HTTP (FastAPI + uvicorn). With {API_KEY_ENV} set in the "
                                   f"environment, every /v1 route needs that key.")
    p.add_argument("--model", "-m", required=True, help="checkpoint (.safetensors) or exported model (.onnx; no torch needed)")
    _add_detector_args(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--max-seconds", type=float, default=d.max_seconds, help=f"longest clip accepted (default {d.max_seconds:g})")
    p.add_argument("--max-upload-mb", type=float, default=d.max_body_mb, help=f"largest request body in MiB (default {d.max_body_mb:g})")
    p.add_argument("--max-files", type=int, default=d.max_files, help=f"files per batch request (default {d.max_files})")
    p.add_argument("--max-pending", type=int, default=d.max_pending,
                   help=f"requests in hand at once; beyond, 503 with Retry-After (default {d.max_pending})")
    p.add_argument("--decode-threads", type=int, default=d.decode_threads, help=f"threads decoding uploads (default {d.decode_threads})")
    p.add_argument("--upload-timeout", type=float, default=d.upload_timeout,
                   help=f"seconds a request body may take to arrive; slower uploads get 408 (default {d.upload_timeout:g})")
    p.add_argument("--allow-public-without-key", action="store_true",
                   help=f"listen on a non-loopback --host without {API_KEY_ENV} (only behind a proxy that controls access)")
    p.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    p.set_defaults(func=_cmd_serve)


def _cmd_serve(args) -> int:
    from .serve.settings import API_KEY_ENV, ServeSettings, check_bind

    settings = ServeSettings(max_body_mb=args.max_upload_mb, max_seconds=args.max_seconds, max_files=args.max_files,
                             max_pending=args.max_pending, decode_threads=args.decode_threads,
                             upload_timeout=args.upload_timeout,
                             api_key=os.environ.get(API_KEY_ENV) or None,
                             allow_public_without_key=args.allow_public_without_key)
    check_bind(args.host, settings)  # before the model loads: a refusal should be instant
    try:
        import importlib

        importlib.import_module(".serve.app", __package__)  # FastAPI and friends: the serve extra
        from .serve import serve
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] in SERVE_MODULES:
            raise SpoofscanError(f"serve needs {e.name!r}, which is not installed: pip install 'spoofscan[serve]'") from None
        raise
    detector = _load_detector(args, max_seconds=args.max_seconds)
    serve(detector, settings, host=args.host, port=args.port, model_path=args.model, log_level=args.log_level)
    return 0


# ---------------------------------------------------------------------------- main

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spoofscan", description="Tell real human speech from fake speech.")
    parser.add_argument("--version", action="version", version=f"spoofscan {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_add_predict, _add_info, _add_train, _add_evaluate, _add_robustness, _add_export, _add_corpus,
                _add_vocoder, _add_quickstart, _add_serve):
        add(sub)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except SpoofscanError as e:
        print(f"spoofscan {args.command}: error: {e}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as e:  # an optional extra (torch, pyworld) that this install lacks
        error = missing_extra(e)
        if error is None:
            raise
        print(f"spoofscan {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`spoofscan predict ... | head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
